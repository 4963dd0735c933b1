"""The evidence verbs' computations: confirm, fidelity, zero-cost proxies, statistics."""
