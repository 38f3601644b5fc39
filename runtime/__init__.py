"""StreamGate runtime: the gateway service and the libraries it is built from."""
