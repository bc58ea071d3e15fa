"""sr-scale's benchmark suite (not part of the product): `python -m bench.run`, see docs/performance.md."""
