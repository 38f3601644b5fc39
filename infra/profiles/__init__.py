"""Continuous profiles of the gateways: the local platform's profile store (a receiver of the Pyroscope
agent's pushes that keeps each profile as pprof in the object store), flame graphs and their diffs, and the
`streamgate profile` commands."""
