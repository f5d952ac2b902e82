"""Audiences as CSV files: the destination for ESPs Tailor has no API client for.

One file per audience, `<audience>.csv`: customer_id, email, first_name, last_name, then
one column per merge field (sorted by tag), rows ordered by customer_id, so the same
warehouse always gives byte-identical files. Each file is written under a temporary
name and renamed into place: a reader never sees half a file.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
from pathlib import Path

BASE_COLUMNS = ["customer_id", "email", "first_name", "last_name"]
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def export_audiences(warehouse_path: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """Write one CSV per audience of `main.audience_members`; returns audience -> path."""
    import duckdb

    con = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        rows = con.execute(
            "select audience, customer_id, email, first_name, last_name, merge_fields "
            "from main.audience_members order by audience, customer_id"
        ).fetchall()
    finally:
        con.close()

    by_audience: dict[str, list[tuple]] = {}
    for row in rows:
        by_audience.setdefault(row[0], []).append(row[1:])

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for audience, members in sorted(by_audience.items()):
        if not _SAFE_NAME.match(audience) or audience.startswith("."):
            raise ValueError(f"audience name {audience!r} cannot be used as a file name")
        parsed = [json.loads(m[4]) if m[4] else {} for m in members]
        tags = sorted({tag for values in parsed for tag in values})
        path = out / f"{audience}.csv"
        fd, tmp = tempfile.mkstemp(prefix=f".{audience}.", suffix=".tmp", dir=out)
        try:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(BASE_COLUMNS + tags)
                for (customer_id, email, first, last, _), values in zip(
                    members, parsed, strict=True
                ):
                    writer.writerow(
                        [customer_id, email, first or "", last or ""]
                        + [_text(values.get(tag)) for tag in tags]
                    )
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written[audience] = path
    return written


def _text(value: object) -> str:
    return "" if value is None else str(value)
