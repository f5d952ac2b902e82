"""Extraction against a sandbox that fails the way real APIs and networks do.

For every fault kind, an extraction under a 10% fault rate lands exactly the bytes a
fault-free extraction lands; malformed records go to quarantine with their reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from tailor.connections import ApiConnection, parse_connection
from tailor.sources import hubspot, shopify

from sandbox import local
from sandbox.faults import KINDS, TRANSPORT_KINDS, FaultConfig
from sandbox.generate import generate
from sandbox.server import SandboxServer, serve_in_thread

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
ORDERS_WINDOW = (AS_OF - timedelta(days=45), AS_OF)
CONTACTS_WINDOW = (datetime(2000, 1, 1, tzinfo=UTC), AS_OF)
CONTACTS_PAGE = 25  # small pages: enough requests for a 10% fault rate to bite
FAST_RETRIES = {"retry_backoff_initial": 0.02, "searches_per_second": 0}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("faulty_store")
    generate(out, customers=600, seed=11, as_of=AS_OF)
    return out


def connections(server: SandboxServer, **extra: object) -> dict[str, ApiConnection]:
    env = local.connection_env(server.url)
    conns = {}
    for name in ("shopify", "hubspot"):
        spec = json.loads(env[f"AIRFLOW_CONN_{name.upper()}"])
        spec["extra"] = {**spec.get("extra", {}), **extra}
        conns[name] = parse_connection(name, json.dumps(spec))
    return conns


def land_both(conns: dict[str, ApiConnection], root: Path) -> tuple:
    orders = shopify.extract(conns["shopify"], "orders", *ORDERS_WINDOW, root)
    contacts = hubspot.extract(
        conns["hubspot"], "contacts", *CONTACTS_WINDOW, root, page_size=CONTACTS_PAGE
    )
    return orders, contacts


@pytest.fixture(scope="module")
def baseline(store: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    with serve_in_thread(store) as server:
        return land_both(connections(server, **FAST_RETRIES), tmp_path_factory.mktemp("clean"))


@pytest.fixture
def faulty(store: Path, request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    config = FaultConfig(rate=0.1, kinds=(request.param,), seed=3, retry_after=0, slow_seconds=0.05)
    with serve_in_thread(store, faults=config) as server:
        yield server


@pytest.mark.parametrize("faulty", TRANSPORT_KINDS, indirect=True)
def test_under_faults_an_extraction_lands_what_a_clean_one_lands(
    faulty: SandboxServer, baseline: tuple, tmp_path: Path
) -> None:
    results = land_both(connections(faulty, **FAST_RETRIES), tmp_path)
    kind = faulty.faults.config.kinds[0] if faulty.faults else None
    assert faulty.faults and faulty.faults.injected.get(kind, 0) >= 2, "faults must be injected"
    for clean, got in zip(baseline, results, strict=True):
        assert clean.rows > 0
        assert got.path.read_bytes() == clean.path.read_bytes()
        assert got.quarantined == 0


def read_quarantine(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("faulty", ["malformed"], indirect=True)
def test_malformed_records_are_quarantined_with_their_reason_and_the_rest_lands(
    faulty: SandboxServer, baseline: tuple, tmp_path: Path
) -> None:
    results = land_both(connections(faulty, **FAST_RETRIES), tmp_path)
    for clean, got in zip(baseline, results, strict=True):
        assert got.quarantined > 0
        assert got.rows + got.quarantined == clean.rows
        assert got.quarantine_path and got.quarantine_path.parent.parent.parent.name == (
            "_quarantine"
        )
        rows = read_quarantine(got.quarantine_path)
        assert len(rows) == got.quarantined
        reasons = {r["reason"].split(" ")[0] for r in rows}
        assert reasons <= {"required", "id", "updatedAt"}, reasons
        assert all(r["payload"] and r["source"] == got.source for r in rows)
        with duckdb.connect() as con:
            landed = {
                r[0] for r in con.sql(f"select id from read_parquet('{got.path}')").fetchall()
            }
            clean_ids = {
                r[0] for r in con.sql(f"select id from read_parquet('{clean.path}')").fetchall()
            }
        assert landed < clean_ids
        named = {r["id"] for r in rows if isinstance(r["id"], str)}
        assert named <= clean_ids - landed
        # a re-run replaces the landing and its quarantine with the same bytes
        first = (got.path.read_bytes(), got.quarantine_path.read_bytes())
    again = land_both(connections(faulty, **FAST_RETRIES), tmp_path)
    assert (again[1].path.read_bytes(), again[1].quarantine_path.read_bytes()) == first


def test_every_fault_kind_is_known_to_the_server_cli() -> None:
    assert set(TRANSPORT_KINDS) | {"malformed"} == set(KINDS)
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultConfig(rate=0.1, kinds=("gremlins",))
