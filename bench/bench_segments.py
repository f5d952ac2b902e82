"""The segments, merge fields and audience_members at scale, built by the real dbt
project from the synthetic landing files of bench_facts (4 orders, 20 collector calls,
5 email activities and 0.3 checkouts per customer).

`dbt build` of seeds and models (no data tests) builds everything once; the figures are
the seconds of each segment and merge-field model and of audience_members (the model
run) from run_results.json, the whole build's seconds, and the segments' rows.
`TAILOR_BENCH_SEGMENTS_CUSTOMERS` sets the scale (default 100,000).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.bench_facts import AS_OF, _write_landing

DEFAULT_CUSTOMERS = 100_000


def run(record: Callable[..., None]) -> None:
    import duckdb
    from tailor import transform

    customers = int(os.environ.get("TAILOR_BENCH_SEGMENTS_CUSTOMERS", DEFAULT_CUSTOMERS))
    with tempfile.TemporaryDirectory(prefix="tailor-bench-segments-") as tmp:
        root = Path(tmp)
        _write_landing(root / "landing", customers)
        warehouse = root / "warehouse.duckdb"
        started = time.monotonic()
        transform.run_dbt(
            "build",
            AS_OF,
            warehouse=warehouse,
            landing=root / "landing",
            extra_args=[
                "--target-path", str(root / "target"), "--log-path", str(root / "logs"),
                "--resource-type", "seed", "--resource-type", "model",
            ],
        )  # fmt: skip
        record("segments.dbt_build_seconds", time.monotonic() - started, "s", customers=customers)
        results = json.loads((root / "target" / "run_results.json").read_text())["results"]
        seconds = {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results}
        mine = [
            m
            for m in seconds
            if m.startswith(("seg_", "int_merge_fields__"))
            or m in ("audience_merge_fields", "audience_members")
        ]
        for model in sorted(mine):
            record(f"segments.{model}_seconds", seconds[model], "s", customers=customers)
        record(
            "segments.all_segment_models_seconds",
            sum(seconds[m] for m in mine if m.startswith("seg_")),
            "s",
            customers=customers,
        )
        with duckdb.connect(str(warehouse), read_only=True) as con:
            members = con.execute("select sum(segment_rows) from segment_runs").fetchone()[0]
        # Segment rows before consent: the synthetic customers carry no marketing consent,
        # so audience_members itself stays empty at this scale.
        record("segments.segment_rows", members or 0, "rows", customers=customers)
