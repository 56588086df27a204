"""Benchmarks: `python -m bench NAME --json` measures the project and a baseline in one run."""
