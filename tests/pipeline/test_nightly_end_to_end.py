"""`tailor_nightly` then `tailor_audience_sync`, end to end through Airflow, against the
sandbox APIs.

One generated store (with one invalid email) is extracted, built (one cosmos task per
dbt model), gated and synced; the results are compared with direct computations over the
generated files. A second sync must send nothing new; a failed gate emits no audiences
asset, so nothing downstream is scheduled.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from sandbox.generate import generate
from sandbox.server import serve_in_thread
from tests.pipeline import spine_helpers as h

pytestmark = pytest.mark.e2e

CUSTOMERS = 800
AUDIENCES_URI = "tailor://warehouse/audiences"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("store")
    generate(out, customers=CUSTOMERS, seed=11, as_of=h.AS_OF, invalid_emails=1)
    return out


@pytest.fixture(scope="module")
def sandbox(store: Path) -> Iterator[str]:
    with serve_in_thread(store) as server:
        yield server.url


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, sandbox: str) -> dict:
    """One nightly run, then the audience sync twice, with ESP request counts around the
    second sync."""
    home = tmp_path_factory.mktemp("airflow")
    data = tmp_path_factory.mktemp("data")
    env = h.airflow_environment(
        home, data, sandbox, TAILOR_DBT_MANIFEST=str(data / "dbt" / "manifest.json")
    )
    h.migrate(env)
    nightly_ok, nightly_out = h.run_nightly(env, log=data / "nightly.log")
    assert nightly_ok, nightly_out[-4000:]
    first_ok, first_out = h.run_audience_sync(env, log=data / "sync1.log")
    assert first_ok, first_out[-4000:]
    requests_before = h.esp_request_count(sandbox)
    second_ok, second_out = h.run_audience_sync(env, log=data / "sync2.log")
    assert second_ok, second_out[-4000:]
    return {
        "data": data,
        "warehouse": data / "warehouse.duckdb",
        "second_run_requests": h.esp_request_count(sandbox) - requests_before,
        "nightly_states": h.task_states(nightly_out),
        "audience_events": h.asset_events(env, AUDIENCES_URI),
        "env": env,
        "home": home,
    }


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(sql).fetchall()


def test_every_task_succeeds_and_lands_one_file_per_source_and_entity(runs: dict) -> None:
    from tailor.sources import ENTITIES

    states = runs["nightly_states"]
    assert set(states.values()) == {"success"}, states
    landing = runs["data"] / "landing"
    files = sorted(p.relative_to(landing).as_posix() for p in landing.rglob("*.parquet"))
    assert files == sorted(
        f"{source}/{entity}/20000101T000000Z__20261120T000000Z.parquet"
        for source, entities in ENTITIES.items()
        for entity in entities
    )
    assert not list(landing.rglob("*.tmp")), "no temporary file may be left behind"


def test_dbt_runs_as_one_task_per_model_grouped_by_layer(runs: dict) -> None:
    """Rendered by cosmos from the manifest: every model ran as its own task, each layer
    ended with its tests, and the gate's asset was emitted once."""
    from tailor.airflow_support import manifest

    layout = manifest.layout(manifest.read(Path(runs["env"]["TAILOR_DBT_MANIFEST"])))
    states = runs["nightly_states"]
    for layer, models in layout.models.items():
        for model in models:
            ran = {states.get(f"{layer}.{model}_{kind}") for kind in ("run", "seed")}
            assert "success" in ran, (layer, model)
        assert any(t.startswith(f"{layer}.") and t.endswith("_test") for t in states), layer
    assert "dbt_build" not in states
    assert runs["audience_events"] == 1


def test_one_profile_per_distinct_valid_email(runs: dict, store: Path) -> None:
    expected = h.truth_emails(store)
    rows = query(runs["warehouse"], "select email from dim_customers")
    assert len(rows) == len(expected)
    assert {r[0] for r in rows} == expected


def test_segments_match_a_direct_computation(runs: dict, store: Path) -> None:
    direct = h.direct_segments(store)
    assert direct["frequent_buyers"], "the generated store must have frequent buyers"
    for model, audience in [
        ("seg_frequent_buyers", "frequent_buyers"),
        ("seg_recent_purchasers", "recent_purchasers"),
    ]:
        rows = query(
            runs["warehouse"],
            f"select c.email from {model} s join dim_customers c using (customer_id)",
        )
        assert {r[0] for r in rows} == direct[audience], model


def test_audience_members_are_segment_members_with_consent(runs: dict, store: Path) -> None:
    direct = h.direct_segments(store)
    sendable = h.sendable_emails(store)
    for audience, emails in direct.items():
        rows = query(
            runs["warehouse"], f"select email from audience_members where audience = '{audience}'"
        )
        assert {r[0] for r in rows} == emails & sendable, audience


def test_the_esp_holds_exactly_the_audience_members(runs: dict, sandbox: str) -> None:
    rows = query(
        runs["warehouse"],
        """
        select email, list(esp_tag order by esp_tag), any_value(merge_fields)
        from audience_members group by email
    """,
    )
    members = h.esp_members(sandbox)
    assert set(members) == {r[0] for r in rows}
    for email, tags, merge_fields in rows:
        member = members[email]
        assert sorted(t["name"] for t in member["tags"]) == tags
        assert member["status"] == "subscribed"
        for tag, value in json.loads(merge_fields).items():
            assert str(member["merge_fields"].get(tag)) == value, (tag, email)


def test_a_second_run_sends_nothing_new(runs: dict) -> None:
    assert runs["second_run_requests"] == 0
    rows = query(
        runs["warehouse"],
        """
        select sum(adds + updates + removals + failed), sum(unchanged) from sync_runs
        where run_id = (select run_id from sync_runs order by started_at desc limit 1)
    """,
    )
    sent, unchanged = rows[0]
    assert sent == 0 and unchanged > 0


def test_the_invalid_email_is_quarantined_and_reported(runs: dict, store: Path) -> None:
    quarantined = query(
        runs["warehouse"], "select source, reason, email_raw from quarantine_customer_records"
    )
    assert len(quarantined) == 1
    source, reason, raw = quarantined[0]
    assert (source, reason) == ("shopify", "invalid email")
    assert raw and raw.strip().lower() not in h.truth_emails(store)

    from tailor import report

    text = report.render(report.collect(h.AS_OF, runs["warehouse"], runs["data"] / "landing"))
    assert "quarantined: 1 shopify record(s), invalid email" in text


def test_a_failed_critical_expectation_stops_the_sync(
    runs: dict, tmp_path: Path, store: Path
) -> None:
    """A suite that cannot pass: the gate fails and emits no audiences asset, so the sync is
    never scheduled. This run has no manifest: dbt runs as the single dbt_build task."""
    suites = tmp_path / "expectations"
    suites.mkdir()
    shutil.copy(Path(__file__).parent / "failing_suite.py", suites / "suites.py")
    data = tmp_path / "data"
    events_before = h.asset_events(runs["env"], AUDIENCES_URI)
    with serve_in_thread(store) as fresh_sandbox:
        env = h.airflow_environment(
            runs["home"],
            data,
            fresh_sandbox.url,
            TAILOR_EXPECTATIONS_DIR=str(suites),
            TAILOR_DBT_MANIFEST=str(tmp_path / "missing" / "manifest.json"),
        )
        ok, output = h.run_nightly(env, log=tmp_path / "run.log")
        assert not ok
        states = h.task_states(output)
        assert states.get("dbt_build") == "success", states
        assert states.get("quality_gate") == "failed", states
        assert "expect_table_row_count_to_be_between" in output
        assert h.asset_events(env, AUDIENCES_URI) == events_before
        # The nightly reads Mailchimp's activity reports; it never writes a member.
        assert h.esp_members(fresh_sandbox.url) == {}
    recorded = query(
        data / "warehouse.duckdb", "select expectation, success from quality_runs where is_critical"
    )
    assert ("expect_table_row_count_to_be_between", False) in recorded


def test_the_abandoned_cart_dag_rebuilds_its_segment_and_emits_audiences(runs: dict) -> None:
    """After the nightly, one 15-minute run: it lands its interval, rebuilds the segment and
    what is built from it, gates them, and emits the audiences asset once more."""
    end = h.AS_OF
    ok, output = h.run_dag(runs["env"], "tailor_abandoned_cart", end, log=runs["data"] / "cart.log")
    assert ok, output[-4000:]
    states = h.task_states(output)
    assert set(states.values()) == {"success"}, states
    landing = runs["data"] / "landing" / "shopify"
    interval = "20261119T234500Z__20261120T000000Z.parquet"
    for entity in ("abandoned_checkouts", "orders", "customers"):
        assert (landing / entity / interval).exists(), entity
    assert h.asset_events(runs["env"], AUDIENCES_URI) == runs["audience_events"] + 1
    rebuilt = query(
        runs["warehouse"],
        "select count(*) from audience_members where audience = 'abandoned_cart'",
    )
    direct = query(runs["warehouse"], "select count(*) from seg_abandoned_cart")
    assert rebuilt[0][0] <= direct[0][0]
