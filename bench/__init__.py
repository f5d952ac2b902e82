"""Benchmarks at scale. `python -m bench` runs every `bench/bench_*.py` and writes
`bench/results.json`; `python -m bench NAME ...` runs only those modules and updates their
figures in place.

A benchmark module defines `run(record)` and calls `record(name, value, unit, **params)`
once per figure. Names are stable over time (`<area>.<what>`), so results can be compared
from one run to the next; a comparison with a peer is a ratio measured in the same run.
"""
