"""Shopify stops paging a connection at 25,000 objects: windows that hold more are split."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from tailor.connections import parse_connection
from tailor.sources import shopify

from sandbox import local
from sandbox.generate import generate
from sandbox.server import serve_in_thread

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
HISTORY = datetime(2000, 1, 1, tzinfo=UTC)
CAP = 150  # the real cap is 25,000; both sides are shrunk to keep the test small


def test_a_window_past_the_paging_cap_is_split_and_lands_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    generate(store, customers=400, seed=13, as_of=AS_OF)
    with open(store / "shopify_customers.jsonl") as fh:
        total = sum(1 for _ in fh)
    assert total > 2 * CAP
    with serve_in_thread(store) as server:
        conn = parse_connection("shopify", local.connection_env(server.url)["AIRFLOW_CONN_SHOPIFY"])
        whole = shopify.extract(conn, "customers", HISTORY, AS_OF, tmp_path / "uncapped")
        server.shopify.paging_cap = CAP
        # a client that trusts hasNextPage alone silently stops at the cap
        monkeypatch.setattr(shopify, "PAGING_CAP", 10 * total)
        naive = shopify.extract(conn, "customers", HISTORY, AS_OF, tmp_path / "naive")
        assert naive.rows == CAP
        monkeypatch.setattr(shopify, "PAGING_CAP", CAP)
        split = shopify.extract(conn, "customers", HISTORY, AS_OF, tmp_path / "split")
    assert whole.rows == split.rows == total
    assert split.path.read_bytes() == whole.path.read_bytes()
