"""Shopify bulk operations against the stand-in over real HTTP: a full refresh through bulk
lands the same bytes as paging, expired result URLs are refreshed, one operation at a time."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from tailor.connections import ApiConnection, parse_connection
from tailor.settings import HISTORY_START
from tailor.sources import shopify, shopify_bulk

from sandbox import local
from sandbox.faults import FaultConfig
from sandbox.generate import generate
from sandbox.server import SandboxServer, serve_in_thread
from sandbox.shopify_bulk import PREFIX

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    store = tmp_path_factory.mktemp("store")
    generate(store, customers=400, seed=11, as_of=AS_OF)
    with serve_in_thread(store) as running:
        yield running


def conn_for(server: SandboxServer, **extra: object) -> ApiConnection:
    spec = json.loads(local.connection_env(server.url)["AIRFLOW_CONN_SHOPIFY"])
    spec["extra"] = {"bulk_poll_initial": 0.05, "bulk_poll_max": 0.2, **extra}
    return parse_connection("shopify", json.dumps(spec))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("entity", ["customers", "orders"])
def test_a_bulk_full_load_lands_the_same_bytes_as_paging(
    server: SandboxServer, entity: str, tmp_path: Path
) -> None:
    paged_conn = conn_for(server, bulk_full_refresh="false")
    bulk_conn = conn_for(server, bulk_min_records=0)
    assert not shopify_bulk.uses_bulk(paged_conn, entity, HISTORY_START, AS_OF)
    assert shopify_bulk.uses_bulk(bulk_conn, entity, HISTORY_START, AS_OF)
    assert not shopify_bulk.uses_bulk(bulk_conn, entity, datetime(2026, 11, 19, tzinfo=UTC), AS_OF)

    before = len(server.shopify.bulk._ops)
    paged = shopify.extract(paged_conn, entity, HISTORY_START, AS_OF, tmp_path / "paged")
    bulk = shopify.extract(bulk_conn, entity, HISTORY_START, AS_OF, tmp_path / "bulk")
    assert len(server.shopify.bulk._ops) == before + 1  # the second went through bulk
    assert bulk.rows == paged.rows > 100
    assert bulk.path.name == paged.path.name
    assert sha(bulk.path) == sha(paged.path)
    assert [p.name for p in (tmp_path / "bulk").iterdir()] == ["shopify"]  # no work files left


def test_the_bulk_query_keeps_the_paged_fields_and_drops_paging() -> None:
    query = shopify_bulk.bulk_query(shopify.ENTITIES["orders"], HISTORY_START, AS_OF)
    assert "pageInfo" not in query and "first" not in query and "$" not in query
    assert "updated_at:<'2026-11-20T00:00:00Z'" in query
    assert "lineItems {" in query and "originalUnitPriceSet" in query


def test_an_expired_result_url_is_refreshed(server: SandboxServer, tmp_path: Path) -> None:
    conn = conn_for(server, bulk_min_records=0)
    query = shopify_bulk.bulk_query(shopify.ENTITIES["customers"], HISTORY_START, AS_OF)
    server.shopify.bulk.url_ttl = 0.3
    try:
        with shopify.client_for(conn) as client:
            operation = shopify_bulk._Operation(conn, client)
            op = operation.wait(operation.start(query))
            assert op["status"] == "COMPLETED" and op["url"]
            time.sleep(0.5)
            assert requests.get(op["url"], timeout=5).status_code == 403
            refused = server.shopify.bulk.expired_refusals
            server.shopify.bulk.url_ttl = 60
            operation.download(op, tmp_path / "result.jsonl")
    finally:
        server.shopify.bulk.url_ttl = 7 * 86_400
    assert operation.url_refreshes == 1
    assert server.shopify.bulk.expired_refusals == refused + 1
    lines = (tmp_path / "result.jsonl").read_text().splitlines()
    assert len(lines) == int(op["objectCount"]) > 100


def test_a_second_bulk_operation_waits_for_the_running_one(
    server: SandboxServer, tmp_path: Path
) -> None:
    conn = conn_for(server, bulk_min_records=0)
    query = shopify_bulk.bulk_query(shopify.ENTITIES["customers"], HISTORY_START, AS_OF)
    server.shopify.bulk.gate.clear()  # operations stay RUNNING
    try:
        with shopify.client_for(conn) as client:
            first = shopify_bulk._Operation(conn, client).start(query)
            mutation = {"query": shopify_bulk.RUN_MUTATION, "variables": {"query": query}}
            refused = client.post_json(shopify.GRAPHQL_PATH, mutation)
        [error] = refused["data"]["bulkOperationRunQuery"]["userErrors"]
        assert error["code"] == "OPERATION_IN_PROGRESS" and first in error["message"]

        landed: list = []
        waiting = threading.Thread(
            target=lambda: landed.append(shopify_bulk.extract_full(conn, "orders", AS_OF, tmp_path))
        )
        waiting.start()
        time.sleep(0.5)
        assert not landed, "the second operation must wait while the first runs"
    finally:
        server.shopify.bulk.gate.set()
    waiting.join(timeout=60)
    assert landed and landed[0].rows > 100


def test_a_failed_operation_is_reported_not_landed(server: SandboxServer, tmp_path: Path) -> None:
    conn = conn_for(server, bulk_min_records=0)
    server.shopify.bulk.fail_after = 50
    try:
        with pytest.raises(shopify_bulk.BulkError, match="FAILED.*INTERNAL_SERVER_ERROR"):
            shopify_bulk.extract_full(conn, "customers", AS_OF, tmp_path)
        with shopify.client_for(conn) as client:
            current = shopify_bulk._Operation(conn, client).current()
    finally:
        server.shopify.bulk.fail_after = None
    assert current["partialDataUrl"] and current["url"] is None
    assert not list(tmp_path.rglob("*.parquet"))


def test_bulk_rules_are_enforced_with_shopify_user_errors(server: SandboxServer) -> None:
    conn = conn_for(server)
    cases = {
        "{ shop { name } }": "at least one connection",
        "{ customers { edges { node { idx } } } }": "Field 'idx' doesn't exist",
        "{ orders { edges { node { name lineItems { nodes { id } } } } } }": "select the 'id'",
    }
    with shopify.client_for(conn) as client:
        for query, message in cases.items():
            body = {"query": shopify_bulk.RUN_MUTATION, "variables": {"query": query}}
            answer = client.post_json(shopify.GRAPHQL_PATH, body)
            [error] = answer["data"]["bulkOperationRunQuery"]["userErrors"]
            assert error["code"] == "INVALID" and message in error["message"]


def test_a_download_cut_or_refused_is_retried(server: SandboxServer, tmp_path: Path) -> None:
    faults = FaultConfig(rate=0.6, kinds=("reset", "truncate", "503"), seed=3, prefixes=(PREFIX,))
    with serve_in_thread(server.data_dir, faults=faults) as faulty:
        got = shopify_bulk.extract_full(conn_for(faulty), "orders", AS_OF, tmp_path / "faulty")
        injected = sum(faulty.faults.injected.values())
    want = shopify_bulk.extract_full(conn_for(server), "orders", AS_OF, tmp_path / "clean")
    assert injected >= 2, "the download must have met faults"
    assert got.rows == want.rows > 0
    assert sha(got.path) == sha(want.path)
