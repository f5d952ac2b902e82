"""Extraction against the sandbox APIs over real HTTP, into real landing files."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import graphql
import pytest
from tailor.connections import parse_connection
from tailor.sources import hubspot, shopify

from sandbox import local
from sandbox.generate import generate
from sandbox.server import serve_in_thread

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
SCHEMA = local.ROOT / "sandbox" / "schemas" / "admin_schema_2025-01.json.gz"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("store")
    generate(out, customers=800, seed=5, as_of=AS_OF)
    return out


@pytest.fixture(scope="module")
def conns(store: Path) -> Iterator[dict]:
    with serve_in_thread(store) as server:
        env = local.connection_env(server.url)
        yield {
            name: parse_connection(name, env[f"AIRFLOW_CONN_{name.upper()}"])
            for name in ("shopify", "hubspot")
        }


def landed(path: Path) -> list[tuple]:
    with duckdb.connect() as con:
        return con.sql(f"select id, updated_at from read_parquet('{path}') order by id").fetchall()


def expected_ids(store: Path, file: str, updated, start: datetime, end: datetime) -> set[str]:
    ids = set()
    with open(store / file) as f:
        for line in f:
            record = json.loads(line)
            ts = datetime.fromisoformat(updated(record).replace("Z", "+00:00"))
            if start <= ts < end:
                ids.add(str(record["id"]))
    return ids


@pytest.mark.parametrize(
    "query",
    [
        *(entity.query for entity in shopify.ENTITIES.values()),
        *(entity.count_query for entity in shopify.ENTITIES.values()),
    ],
)
def test_every_shopify_query_is_valid_against_the_real_schema(query: str) -> None:
    schema = graphql.build_client_schema(json.loads(gzip.decompress(SCHEMA.read_bytes()))["data"])
    assert graphql.validate(schema, graphql.parse(query)) == []


@pytest.mark.parametrize(
    ("module", "source", "entity", "file", "updated"),
    [
        (shopify, "shopify", "customers", "shopify_customers.jsonl", lambda r: r["updatedAt"]),
        (shopify, "shopify", "orders", "shopify_orders.jsonl", lambda r: r["updatedAt"]),
        (
            hubspot,
            "hubspot",
            "contacts",
            "hubspot_contacts.jsonl",
            lambda r: r["properties"]["lastmodifieddate"],
        ),
    ],
)
def test_an_interval_lands_exactly_its_records_and_reruns_byte_for_byte(
    module, source, entity, file, updated, store: Path, conns: dict, tmp_path: Path
) -> None:
    start, end = AS_OF - timedelta(days=7), AS_OF
    result = module.extract(conns[source], entity, start, end, tmp_path)
    want = expected_ids(store, file, updated, start, end)
    assert want, "the window must hold records"
    assert {row[0] for row in landed(result.path)} == want
    assert result.rows == len(want)
    first = result.path.read_bytes()
    again = module.extract(conns[source], entity, start, end, tmp_path)
    assert again.path == result.path and again.path.read_bytes() == first
    assert [p.name for p in result.path.parent.iterdir()] == [result.path.name]


def test_a_full_history_lands_every_record(store: Path, conns: dict, tmp_path: Path) -> None:
    result = shopify.extract(
        conns["shopify"], "orders", datetime(2000, 1, 1, tzinfo=UTC), AS_OF, tmp_path
    )
    with open(store / "shopify_orders.jsonl") as f:
        assert result.rows == sum(1 for _ in f)
    # A page of orders with their line items exceeds Shopify's cost limit at 250 per page:
    # the client shrinks its page size instead of failing.
    assert result.pages > 1


def test_a_failed_extraction_leaves_no_file(conns: dict, tmp_path: Path) -> None:
    bad = parse_connection(
        "shopify", json.dumps({"host": conns["shopify"].base_url, "password": "wrong-token"})
    )
    with pytest.raises(Exception, match="401"):
        shopify.extract(bad, "customers", AS_OF - timedelta(days=1), AS_OF, tmp_path)
    assert list(tmp_path.rglob("*")) == [tmp_path / "shopify", tmp_path / "shopify" / "customers"]
