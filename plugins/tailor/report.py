"""A short, human summary of what a run built and sent, read back from its outputs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from tailor import settings
from tailor.sources.landing import stamp


def _landed(landing: Path, as_of: datetime | None) -> list[tuple[str, str, int, int]]:
    """(source, entity, rows in the files ending at as_of, files) per source and entity."""
    import pyarrow.parquet as pq

    rows = []
    for entity_dir in sorted(p for p in landing.glob("*/*") if p.is_dir()):
        files = sorted(entity_dir.glob("*.parquet"))
        if as_of is not None:
            files = [f for f in files if f.stem.endswith(f"__{stamp(as_of)}")]
        count = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        rows.append((entity_dir.parent.name, entity_dir.name, count, len(files)))
    return rows


def _query(con: Any, sql: str) -> list[tuple]:
    try:
        return con.sql(sql).fetchall()
    except Exception:  # noqa: BLE001 - a table a stage has not written yet
        return []


def collect(
    as_of: datetime | None = None, warehouse: Path | None = None, landing: Path | None = None
) -> dict[str, Any]:
    import duckdb

    warehouse = warehouse or settings.warehouse_path()
    summary: dict[str, Any] = {"landed": _landed(landing or settings.landing_dir(), as_of)}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        summary["customers"] = (_query(con, "select count(*) from dim_customers") or [(0,)])[0][0]
        summary["multi_source"] = (
            _query(con, "select count(*) from dim_customers where source_count > 1") or [(0,)]
        )[0][0]
        summary["quarantined"] = _query(
            con,
            "select source, reason, count(*) from quarantine_customer_records "
            "group by all order by all",
        )
        summary["segments"] = _query(
            con, "select audience, count(*) from audience_members group by all order by all"
        )
        summary["quality"] = _query(
            con,
            """
            select count(*) filter (where success),
                   count(*) filter (where not success and is_critical),
                   count(*) filter (where not success and not is_critical), any_value(run_id)
            from quality_runs
            where run_id = (select run_id from quality_runs order by checked_at desc limit 1)
        """,
        )
        summary["sync"] = _query(
            con,
            """
            select destination, audience, adds, updates, removals, unchanged, failed
            from sync_runs
            where run_id = (select run_id from sync_runs order by started_at desc limit 1)
            order by destination, audience
        """,
        )
    return summary


def render(summary: dict[str, Any]) -> str:
    lines = ["Landed (rows in this interval's files):"]
    lines += [f"  {s}/{e}: {n} rows" for s, e, n, _ in summary["landed"]] or ["  nothing"]
    lines.append(
        f"Customers: {summary['customers']} profiles "
        f"({summary['multi_source']} merged from several sources)"
    )
    for source, reason, n in summary["quarantined"]:
        lines.append(f"  quarantined: {n} {source} record(s), {reason}")
    lines.append("Audience members (with consent) per segment:")
    lines += [f"  {a}: {n}" for a, n in summary["segments"]] or ["  none"]
    if summary["quality"]:
        ok, critical, warnings, run_id = summary["quality"][0]
        lines.append(
            f"Expectations: {ok} passed, {critical} critical failed, "
            f"{warnings} warnings (run {run_id})"
        )
    lines.append("Sync (adds/updates/removals/unchanged/errors):")
    lines += [
        f"  {d} {a}: {ad}/{up}/{rm}/{un}/{f}" for d, a, ad, up, rm, un, f in summary["sync"]
    ] or ["  nothing synced yet"]
    return "\n".join(lines)
