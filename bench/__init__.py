"""Benchmarks at scale. `python -m bench` runs every `bench/bench_*.py` and writes
`bench/results.json`; `python -m bench NAME ...` runs only those modules and updates their
figures in place.

A benchmark module defines `run(record)` and calls `record(name, value, unit, **params)`
once per figure. Names are stable over time (`<area>.<what>`), so results can be compared
from one run to the next; a comparison with a peer is a ratio measured in the same run.
"""


def peak_mb() -> float:
    """This process's peak resident memory in MB. VmHWM starts afresh at exec, while
    ru_maxrss carries over the peak of the parent that forked a child benchmark."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
