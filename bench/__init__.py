"""Benchmarks: each ``bench_*.py`` prints figures and ratios against a baseline measured in the same run."""
