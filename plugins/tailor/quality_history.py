"""The gate's memory: `quality_runs` (every expectation's outcome per run) and
`quality_metrics` (each table's whole-table figures per run, the next run's baseline)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RUNS_COLUMNS = {
    "run_id": "varchar",
    "checked_at": "timestamp",
    "suite": "varchar",
    "expectation": "varchar",
    "column_name": "varchar",
    "is_critical": "boolean",
    "success": "boolean",
    "observed_value": "varchar",
    "unexpected_count": "bigint",
    "unexpected_sample": "varchar",
    "as_of": "timestamp",
    "layer": "varchar",
    "coverage": "varchar",
    "table_rows": "bigint",
    "report_path": "varchar",
}


def _ensure_tables(con: Any) -> None:
    columns = ", ".join(f"{name} {kind}" for name, kind in RUNS_COLUMNS.items())
    con.execute(f"create table if not exists quality_runs ({columns})")
    # Warehouses from before a column existed get it added, not rebuilt.
    for name, kind in RUNS_COLUMNS.items():
        con.execute(f"alter table quality_runs add column if not exists {name} {kind}")
    con.execute("""
        create table if not exists quality_metrics (
            run_id varchar, checked_at timestamp, as_of timestamp, layer varchar,
            table_name varchar, metric varchar, value double, value_text varchar)
    """)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def record(
    warehouse: Path,
    run_id: str,
    as_of: datetime,
    layers: tuple[str, ...],
    report: Any,
    tables: list[Any],
) -> None:
    """Replace this run's rows for these layers (a re-run of the gate is idempotent)."""
    import duckdb
    import pandas as pd

    checked_at = datetime.now(UTC).replace(tzinfo=None)  # when it was checked, not what
    as_of_naive = as_of.astimezone(UTC).replace(tzinfo=None)
    runs = pd.DataFrame(
        [
            {
                "run_id": run_id,
                "checked_at": checked_at,
                "suite": o.suite,
                "expectation": o.expectation,
                "column_name": o.column,
                "is_critical": o.critical,
                "success": o.success,
                "observed_value": o.observed,
                "unexpected_count": o.unexpected_count,
                "unexpected_sample": json.dumps(o.unexpected_sample, default=str),
                "as_of": as_of_naive,
                "layer": o.layer,
                "coverage": o.coverage,
                "table_rows": o.table_rows,
                "report_path": str(report.report_path) if report.report_path else None,
            }
            for o in report.outcomes
        ],
        columns=list(RUNS_COLUMNS),
    )
    metrics = pd.DataFrame(
        [
            {
                "run_id": run_id,
                "checked_at": checked_at,
                "as_of": as_of_naive,
                "layer": t.layer,
                "table_name": t.table,
                "metric": name,
                "value": _number(value),
                "value_text": None if value is None else str(value),
            }
            for t in tables
            for name, value in t.metrics.items()
        ],
        columns=[
            "run_id",
            "checked_at",
            "as_of",
            "layer",
            "table_name",
            "metric",
            "value",
            "value_text",
        ],
    )
    marks = ", ".join("?" for _ in layers)
    with duckdb.connect(str(warehouse)) as con:
        _ensure_tables(con)
        con.execute("begin")
        con.execute(
            f"delete from quality_runs where run_id = ? and layer in ({marks})", [run_id, *layers]
        )
        con.execute(
            f"delete from quality_metrics where run_id = ? and layer in ({marks})",
            [run_id, *layers],
        )
        con.register("runs_frame", runs)
        con.register("metrics_frame", metrics)
        con.execute("insert into quality_runs by name select * from runs_frame")
        con.execute("insert into quality_metrics by name select * from metrics_frame")
        con.execute("commit")


def tables(warehouse: Path) -> frozenset[str]:
    """Every table and view in the warehouse (none if it does not exist yet)."""
    import duckdb

    if not warehouse.exists():
        return frozenset()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.sql(
            "select table_name from duckdb_tables() union select view_name from duckdb_views()"
        ).fetchall()
    return frozenset(r[0] for r in rows)


def previous_metrics(warehouse: Path, run_id: str, as_of: datetime) -> dict[tuple[str, str], float]:
    """(table, metric) -> value from the latest other run, up to as_of, that failed no
    critical expectation: a bad run never becomes the baseline."""
    import duckdb

    if not warehouse.exists():
        return {}
    as_of_naive = as_of.astimezone(UTC).replace(tzinfo=None)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = {r[0] for r in con.sql("select table_name from duckdb_tables()").fetchall()}
        if not {"quality_runs", "quality_metrics"} <= tables:
            return {}
        rows = con.execute(
            """
            with passed as (
                select run_id, max(as_of) as as_of, max(checked_at) as checked_at
                from quality_runs
                where run_id <> ? and as_of <= ?
                group by run_id
                having count(*) filter (where is_critical and not success) = 0
            ),
            latest as (
                select m.table_name, m.metric, m.value,
                       row_number() over (partition by m.table_name, m.metric
                                          order by p.as_of desc, p.checked_at desc) as n
                from quality_metrics m join passed p using (run_id)
                where m.value is not null
            )
            select table_name, metric, value from latest where n = 1
            """,
            [run_id, as_of_naive],
        ).fetchall()
    return {(t, m): v for t, m, v in rows}


def last_runs(warehouse: Path, runs: int = 7) -> dict[str, Any]:
    """The last run's outcomes and, per run, its counts: what `tailor quality` prints."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = {r[0] for r in con.sql("select table_name from duckdb_tables()").fetchall()}
        if "quality_runs" not in tables:
            return {"last": [], "trend": []}
        trend = con.execute(
            """
            select run_id, max(as_of) as as_of, max(checked_at) as checked_at,
                   count(*) filter (where success) as passed,
                   count(*) filter (where not success and is_critical) as critical_failed,
                   count(*) filter (where not success and not is_critical) as warnings,
                   any_value(report_path) filter (where report_path is not null) as report
            from quality_runs group by run_id order by checked_at desc limit ?
            """,
            [runs],
        ).fetchall()
        last = []
        if trend:
            last = con.execute(
                """
                select layer, suite, expectation, column_name, is_critical, success,
                       observed_value, unexpected_count, unexpected_sample, coverage
                from quality_runs where run_id = ?
                order by success, not is_critical, layer, suite, expectation, column_name
                """,
                [trend[0][0]],
            ).fetchall()
        rows = {}
        if "quality_metrics" in tables and trend:
            ids = [t[0] for t in trend]
            marks = ", ".join("?" for _ in ids)
            for run, table, value in con.execute(
                f"""select run_id, table_name, value from quality_metrics
                    where metric = 'row_count' and run_id in ({marks})""",
                ids,
            ).fetchall():
                rows.setdefault(run, {})[table] = value
    return {"last": last, "trend": trend, "row_counts": rows}
