"""Benchmarks (not tests): run `python bench/ingest.py` or `python bench/latency.py`."""
