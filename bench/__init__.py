"""Benchmarks (not timed tests): ``python -m bench --out bench/results.json``. See ``bench/README.md``."""
