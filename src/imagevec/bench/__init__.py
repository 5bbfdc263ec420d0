"""Benchmarks (``imagevec bench ...``), random-weight models and evidence runners."""
