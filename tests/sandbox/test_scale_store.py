"""The scale store makes its records on demand: the client lands exactly the records of a
window, paged or through a bulk operation, and the same index always gives the same record."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
from tailor.connections import parse_connection
from tailor.sources import shopify

from sandbox import local
from sandbox.scale import SyntheticShop
from sandbox.server import SandboxServer

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
HISTORY = datetime(2000, 1, 1, tzinfo=UTC)


def _conn(url: str, **extra: object) -> object:
    spec = json.loads(local.connection_env(url)["AIRFLOW_CONN_SHOPIFY"])
    spec["extra"] = {**spec.get("extra", {}), **extra}
    return parse_connection("shopify", json.dumps(spec))


def _ids(path: Path) -> list[str]:
    return [r[0] for r in duckdb.sql(f"select id from read_parquet('{path}')").fetchall()]


def test_the_client_lands_exactly_a_windows_made_records(tmp_path: Path) -> None:
    shop = SyntheticShop(customers=400, orders_per_customer=2)
    start = AS_OF - timedelta(days=200)
    expected = [
        shop.customer(i)["id"]
        for i in range(shop.n_customers)
        if start.timestamp() <= shop.customers.updated_at(i) < AS_OF.timestamp()
    ]
    assert shop.customer(17) == shop.customer(17) and shop.order(5) == shop.order(5)
    (tmp_path / "empty").mkdir()
    with SandboxServer(tmp_path / "empty", scale=shop).start() as server:
        paged = shopify.extract(
            _conn(server.url, bulk_full_refresh=False), "customers", start, AS_OF, tmp_path / "a"
        )
        bulk = shopify.extract(
            _conn(server.url, bulk_min_records=0), "orders", HISTORY, AS_OF, tmp_path / "b"
        )
    assert 0 < len(expected) < shop.n_customers
    assert sorted(_ids(paged.path)) == sorted(expected) and paged.quarantined == 0
    assert bulk.rows == shop.n_orders and bulk.quarantined == 0
    assert len(set(_ids(bulk.path))) == shop.n_orders
