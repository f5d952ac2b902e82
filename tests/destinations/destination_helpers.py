"""Helpers for the destination tests: audience rows, a warehouse writer, request counts."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # `sandbox/` is a top-level folder, not an installed package
    sys.path.insert(0, str(REPO_ROOT))

from sandbox.server import DEFAULT_MAILCHIMP_KEY  # noqa: E402

KEY = DEFAULT_MAILCHIMP_KEY

AUDIENCE_MEMBERS_DDL = """
create or replace table main.audience_members (
    audience varchar, esp_tag varchar, customer_id varchar, email varchar,
    email_status varchar, first_name varchar, last_name varchar, merge_fields varchar,
    reason varchar
)
"""


class Counts:
    """Request counts from the stand-in's `/3.0/_sandbox/stats`, over real HTTP."""

    def __init__(self, url: str):
        self.url = url + "/3.0/_sandbox/stats"
        self.mark()

    def now(self) -> Counter[str]:
        return Counter(requests.get(self.url, timeout=10).json()["requests"])

    def mark(self) -> None:
        self._base = self.now()

    def since_mark(self) -> dict[str, int]:
        return dict(self.now() - self._base)

    def peak_connections(self) -> int:
        return requests.get(self.url, timeout=10).json()["peak_connections"]


def member_row(
    i: int,
    audience: str = "frequent_buyers",
    esp_tag: str = "Frequent buyers",
    *,
    email: str | None = None,
    status: str = "subscribed",
    orders: int | None = None,
) -> dict[str, Any]:
    first, last = f"First{i}", f"Last{i}"
    merge = {
        "FNAME": first,
        "LNAME": last,
        "ORDERS": str(orders if orders is not None else i % 7),
        "SPENT": f"{i * 3.5:.2f}",
    }
    return {
        "audience": audience,
        "esp_tag": esp_tag,
        "customer_id": f"c{i:05d}",
        "email": email or f"customer{i:05d}@mail.tailor-shop.com",
        "email_status": status,
        "first_name": first,
        "last_name": last,
        "merge_fields": json.dumps(merge),
        "reason": "test",
    }


def write_members(warehouse: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Replace `audience_members` in the warehouse with these rows (bulk, via pandas)."""
    import duckdb
    import pandas as pd

    columns = [
        "audience",
        "esp_tag",
        "customer_id",
        "email",
        "email_status",
        "first_name",
        "last_name",
        "merge_fields",
        "reason",
    ]
    frame = pd.DataFrame(list(rows), columns=columns)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(AUDIENCE_MEMBERS_DDL)
        con.register("rows_df", frame)
        con.execute(f"insert into main.audience_members select {', '.join(columns)} from rows_df")
    finally:
        con.close()


def query(warehouse: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()
