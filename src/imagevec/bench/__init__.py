"""User-facing benchmarks (``imagevec bench ...``) and the random-weight models they time."""
