"""Benchmarks of the runtime: `python -m bench [--quick]` (see bench/README.md)."""
