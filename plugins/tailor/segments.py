"""What the segments hold: `tailor segments` and `tailor segments show NAME`.

Audiences come from dbt's manifest (the segment models' `meta.audience`); sizes come from
`main.segment_runs`, which every dbt build writes, one row per as_of and segment (the
on-run-end hook in macros/tailor_segments.sql; a rebuild of the same as_of replaces its
rows), and members from `audience_members`. "Change" compares the newest as_of with the
one before it. Emails are only ever shown masked.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tailor.destinations.audiences import AudienceSpec, load_audiences
from tailor.redact import mask_email

RUNS_SQL = """
select audience, as_of, recorded_at, segment_rows, members,
       row_number() over (partition by audience order by as_of desc) as age
from main.segment_runs
qualify age <= 2
"""
SAMPLE_SQL = """
select customer_id, email, reason, merge_fields
from main.audience_members
where audience = ?
order by customer_id
limit ?
"""


@dataclass
class SegmentStatus:
    audience: str
    model: str
    tag: str
    priority_group: str | None
    priority: int
    segment_rows: int | None = None  # people the segment selects, at the last run
    members: int | None = None  # rows sent (after priority groups and consent)
    members_change: int | None = None  # since the run before; None without one
    segment_change: int | None = None
    as_of: datetime | None = None
    last_refresh: datetime | None = None


@dataclass
class SegmentSample:
    audience: str
    tag: str
    merge_fields: tuple[str, ...]
    members: int
    rows: list[dict[str, Any]] = field(default_factory=list)  # emails masked


def _table_exists(con: Any, name: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'main' and table_name = ?",
            [name],
        ).fetchone()[0]
    )


def _connect(warehouse: Path) -> Any:
    import duckdb

    if not Path(warehouse).exists():
        raise FileNotFoundError(f"{warehouse} does not exist: run `tailor build` first")
    return duckdb.connect(str(warehouse), read_only=True)


def list_segments(warehouse: Path, manifest: Path) -> list[SegmentStatus]:
    """Every declared audience with its size at the newest as_of built and the change
    since the as_of before; audiences never built yet have no sizes."""
    specs = load_audiences(manifest)
    runs: dict[str, dict[int, tuple]] = {}
    with _connect(warehouse) as con:
        if _table_exists(con, "segment_runs"):
            for audience, as_of, recorded, rows, members, age in con.execute(RUNS_SQL).fetchall():
                runs.setdefault(audience, {})[age] = (as_of, recorded, rows, members)
    statuses = []
    for name, spec in sorted(specs.items()):
        status = _status(spec)
        last, previous = runs.get(name, {}).get(1), runs.get(name, {}).get(2)
        if last is not None:
            status.as_of, status.last_refresh, status.segment_rows, status.members = last
        if last is not None and previous is not None:
            status.segment_change = last[2] - previous[2]
            status.members_change = last[3] - previous[3]
        statuses.append(status)
    return statuses


def _status(spec: AudienceSpec) -> SegmentStatus:
    return SegmentStatus(spec.name, spec.model, spec.tag, spec.priority_group, spec.priority)


def show_segment(warehouse: Path, manifest: Path, name: str, limit: int = 10) -> SegmentSample:
    """A sample of an audience's members with their merge fields, emails masked."""
    specs = load_audiences(manifest)
    spec = specs.get(name) or next((s for s in specs.values() if s.model == name), None)
    if spec is None:
        raise LookupError(f"no segment {name!r}; known: {', '.join(sorted(specs))}")
    if limit < 1:
        raise ValueError("limit must be at least 1")
    with _connect(warehouse) as con:
        if not _table_exists(con, "audience_members"):
            raise FileNotFoundError("audience_members is not built: run `tailor build` first")
        total = con.execute(
            "select count(*) from main.audience_members where audience = ?", [spec.name]
        ).fetchone()[0]
        found = con.execute(SAMPLE_SQL, [spec.name, limit]).fetchall()
    rows = [
        {
            "customer_id": customer_id,
            "email": mask_email(email),
            "reason": reason,
            "merge_fields": json.loads(merge) if merge else {},
        }
        for customer_id, email, reason, merge in found
    ]
    return SegmentSample(spec.name, spec.tag, spec.merge_fields, total, rows)


def _number(value: int | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+d}" if signed else str(value)


def render_list(statuses: list[SegmentStatus]) -> str:
    header = ("audience", "tag", "group", "segment", "members", "change", "as_of", "refreshed")
    table = [header]
    for s in statuses:
        group = f"{s.priority_group}:{s.priority}" if s.priority_group else "-"
        table.append(
            (
                s.audience,
                s.tag,
                group,
                _number(s.segment_rows),
                _number(s.members),
                _number(s.members_change, signed=True),
                s.as_of.isoformat(sep=" ") if s.as_of else "never built",
                s.last_refresh.isoformat(sep=" ", timespec="seconds") if s.last_refresh else "",
            )
        )
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


def render_sample(sample: SegmentSample) -> str:
    lines = [
        f"{sample.audience} (tag {sample.tag!r}): {sample.members} members; "
        f"merge fields {', '.join(sample.merge_fields) or 'none'}"
    ]
    for row in sample.rows:
        lines.append(f"  {row['customer_id']}  {row['email']}  {row['reason']}")
        for tag, value in row["merge_fields"].items():
            lines.append(f"      {tag}: {value}")
    if sample.members > len(sample.rows):
        lines.append(f"  ... and {sample.members - len(sample.rows)} more")
    return "\n".join(lines)


def as_dicts(items: list[Any]) -> list[dict[str, Any]]:
    return [asdict(i) for i in items]
