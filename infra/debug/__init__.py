"""`streamgate debug`: the gateways' debug probes and debug tokens, through their admin API."""
