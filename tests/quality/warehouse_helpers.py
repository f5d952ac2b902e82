"""Real warehouses for the gate's tests: the generator's store, landed with the real
landing writer and built with the real dbt project."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from tailor import quality, transform
from tailor.settings import HISTORY_START
from tailor.sources.landing import LandingWriter

from sandbox.generate import generate

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
FILES = [
    ("shopify", "customers", "shopify_customers.jsonl", "updatedAt"),
    ("shopify", "orders", "shopify_orders.jsonl", "updatedAt"),
    ("hubspot", "contacts", "hubspot_contacts.jsonl", "properties.lastmodifieddate"),
]


def land(store: Path, landing: Path, as_of: datetime = AS_OF) -> None:
    """Every generated record into this run's landing files (a full refresh)."""
    for source, entity, name, updated_field in FILES:
        with (
            open(store / name) as f,
            LandingWriter(
                landing, source, entity, HISTORY_START, as_of, updated_field=updated_field
            ) as writer,
        ):
            writer.write_page(json.loads(line) for line in f if line.strip())


def build_warehouse(root: Path, customers: int = 300, seed: int = 3) -> tuple[Path, Path]:
    """(warehouse, landing) built from a generated store with one invalid email."""
    store, landing, warehouse = root / "store", root / "landing", root / "warehouse.duckdb"
    generate(store, customers=customers, seed=seed, as_of=AS_OF, invalid_emails=1)
    land(store, landing)
    transform.build(AS_OF, warehouse=warehouse, landing=landing)
    return warehouse, landing


def copy_warehouse(warehouse: Path, to: Path) -> Path:
    shutil.copy(warehouse, to)
    return to


def materialise(warehouse: Path, view: str) -> None:
    """Turn a staging view into a table of the same rows, so a test can corrupt them (most
    staging models are tables already)."""
    with duckdb.connect(str(warehouse)) as con:
        kind = con.execute(
            "select table_type from information_schema.tables where table_name = ?", [view]
        ).fetchall()
        if kind == [("BASE TABLE",)]:
            return
        quality.register_udfs(con)
        con.execute(f"create table {view}__rows as select * from {view}")
        con.execute(f"drop view {view}")
        con.execute(f"alter table {view}__rows rename to {view}")
