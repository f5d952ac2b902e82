"""Contracts decide what lands; what breaks one is quarantined with its reason, nothing lost."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from tailor.sources import contracts
from tailor.sources.landing import LandingWriter

START, END = datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)
GOOD = {
    "id": "gid://shopify/Customer/1",
    "createdAt": "2026-11-01T10:00:00Z",
    "updatedAt": "2026-11-19T08:30:00Z",
    "tags": ["vip"],
    "numberOfOrders": "3",
    "amountSpent": {"amount": "12.50", "currencyCode": "USD"},
}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": None}, "required field id is missing"),
        ({"id": 7}, "id must be a string, got int"),
        ({"id": "gid://shopify/Order/1"}, "does not match"),
        ({"updatedAt": "19/11/2026"}, "updatedAt is not an ISO-8601 instant"),
        ({"createdAt": None}, "required timestamp createdAt is missing"),
        ({"tags": "vip"}, "tags must be a list, got str"),
        ({"numberOfOrders": True}, "numberOfOrders must be a string or an integer, got bool"),
        ({"amountSpent": {"amount": 12.5}}, "amountSpent.amount must be a string, got float"),
    ],
)
def test_a_broken_record_is_named_with_its_reason(change: dict, reason: str) -> None:
    assert contracts.SHOPIFY_CUSTOMERS.violation(GOOD) is None
    assert reason in (contracts.SHOPIFY_CUSTOMERS.violation({**GOOD, **change}) or "")


def test_bad_records_are_quarantined_and_unknown_fields_are_kept(tmp_path: Path) -> None:
    new_field = {**GOOD, "id": "gid://shopify/Customer/2", "loyaltyTier": {"name": "gold"}}
    broken = {**GOOD, "id": "gid://shopify/Customer/3", "updatedAt": "soon"}
    with LandingWriter(
        tmp_path, "shopify", "customers", START, END, "updatedAt", contracts.SHOPIFY_CUSTOMERS
    ) as writer:
        writer.write_page([GOOD, new_field, broken, "not a record"])  # type: ignore[list-item]
    result = writer.result()
    assert (result.rows, result.quarantined) == (2, 2)
    with duckdb.connect() as con:
        rows = con.sql(f"select id, payload from read_parquet('{result.path}')").fetchall()
    payloads = {rid: json.loads(payload) for rid, payload in rows}
    assert payloads["gid://shopify/Customer/2"]["loyaltyTier"] == {"name": "gold"}
    assert result.quarantine_path is not None
    lines = [json.loads(x) for x in result.quarantine_path.read_text().splitlines()]
    assert [line["reason"] for line in lines] == [
        "updatedAt is not an ISO-8601 instant: 'soon'",
        "record is str, not an object",
    ]
    assert lines[0]["payload"] == broken and lines[0]["id"] == "gid://shopify/Customer/3"
    # a clean re-run of the interval removes its stale quarantine file
    with LandingWriter(
        tmp_path, "shopify", "customers", START, END, "updatedAt", contracts.SHOPIFY_CUSTOMERS
    ) as writer:
        writer.write_page([GOOD])
    assert writer.result().quarantined == 0 and not result.quarantine_path.exists()


def test_a_crash_leaves_neither_landing_nor_quarantine(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError),
        LandingWriter(
            tmp_path, "shopify", "customers", START, END, "updatedAt", contracts.SHOPIFY_CUSTOMERS
        ) as writer,
    ):
        writer.write_page([GOOD, {**GOOD, "id": None}])
        raise RuntimeError("the API went away")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
