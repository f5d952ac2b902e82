"""Products, abandoned checkouts and Mailchimp email activity: extracted over real HTTP from
the sandbox into landing files, exactly, under paging, faults and malformed records."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from tailor import sources
from tailor.connections import ApiConnection, parse_connection
from tailor.sources import contracts, mailchimp_activity, parallel_pages, shopify
from tailor.sources.landing import LandingWriter

from sandbox import local
from sandbox.faults import TRANSPORT_KINDS, FaultConfig
from sandbox.generate import generate
from sandbox.server import SandboxServer, serve_in_thread

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
HISTORY = datetime(2000, 1, 1, tzinfo=UTC)
WEEK = (AS_OF - timedelta(days=7), AS_OF)
FAST_RETRIES = {"retry_backoff_initial": 0.02}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("catalogue_store")
    generate(out, customers=800, seed=5, as_of=AS_OF)
    return out


def connections(server: SandboxServer, **extra: object) -> dict[str, ApiConnection]:
    env = local.connection_env(server.url)
    conns = {}
    for name in ("shopify", "mailchimp"):
        spec = json.loads(env[f"AIRFLOW_CONN_{name.upper()}"])
        spec["extra"] = {**spec.get("extra", {}), **extra}
        conns[name] = parse_connection(name, json.dumps(spec))
    return conns


@pytest.fixture(scope="module")
def sandbox(store: Path) -> Iterator[SandboxServer]:
    with serve_in_thread(store) as server:
        yield server


@pytest.fixture(scope="module")
def conns(sandbox: SandboxServer) -> dict[str, ApiConnection]:
    return connections(sandbox)


def jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def landed(path: Path) -> dict[str, dict]:
    with duckdb.connect() as con:
        rows = con.sql(f"select id, payload from read_parquet('{path}')").fetchall()
    return {rid: json.loads(payload) for rid, payload in rows}


@pytest.mark.parametrize(
    ("entity", "file", "window"),
    [
        ("products", "shopify_products.jsonl", (HISTORY, AS_OF)),
        ("products", "shopify_products.jsonl", WEEK),
        ("abandoned_checkouts", "shopify_abandoned_checkouts.jsonl", WEEK),
        ("abandoned_checkouts", "shopify_abandoned_checkouts.jsonl", (HISTORY, AS_OF)),
    ],
)
def test_an_interval_lands_exactly_its_products_and_checkouts(
    entity: str, file: str, window: tuple, store: Path, conns: dict, tmp_path: Path
) -> None:
    result = shopify.extract(conns["shopify"], entity, *window, tmp_path)
    want = {r["id"]: r for r in jsonl(store / file) if window[0] <= ts(r["updatedAt"]) < window[1]}
    got = landed(result.path)
    assert want and set(got) == set(want) and result.rows == len(want)
    customers = {c["id"]: c for c in jsonl(store / "shopify_customers.jsonl")}
    for rid, payload in got.items():
        record = want[rid]
        assert payload["updatedAt"] == record["updatedAt"]
        if entity == "products":
            assert payload["productType"] == record["productType"]
            assert [v["sku"] for v in payload["variants"]["nodes"]] == [
                v["sku"] for v in record["variants"]
            ]
        else:
            assert payload["customer"]["email"] == customers[record["customer"]["id"]]["email"]
            assert len(payload["lineItems"]["nodes"]) == len(record["lineItems"])
            assert payload["completedAt"] == record["completedAt"]
    again = shopify.extract(conns["shopify"], entity, *window, tmp_path)
    assert again.path.read_bytes() == result.path.read_bytes()


def expected_activity(store: Path, start: datetime, end: datetime) -> set[str]:
    return {
        mailchimp_activity.activity_id(
            r["campaign_id"], r["email_address"], r["action"], r["timestamp"]
        )
        for r in jsonl(store / "mailchimp_email_activity.jsonl")
        if start <= ts(r["timestamp"]) < end
    }


@pytest.mark.parametrize("window", [WEEK, (HISTORY, AS_OF)])
def test_email_activity_lands_every_action_whatever_the_page_size(
    window: tuple, store: Path, conns: dict, tmp_path: Path
) -> None:
    want = expected_activity(store, *window)
    big = mailchimp_activity.extract(
        conns["mailchimp"], "email_activity", *window, tmp_path / "big"
    )
    small = mailchimp_activity.extract(
        conns["mailchimp"], "email_activity", *window, tmp_path / "small", page_size=37
    )
    assert want and set(landed(big.path)) == want and big.rows == len(want)
    assert small.path.read_bytes() == big.path.read_bytes()
    rows = landed(big.path).values()
    actions = {r["action"] for r in rows}
    assert {"open", "click", "unsub"} <= actions <= {"open", "click", "bounce", "unsub"}
    assert all(
        set(r) >= {"campaign_id", "list_id", "email_address", "type", "url", "ip"} for r in rows
    )


def test_email_activity_goes_over_several_connections_and_lands_the_same(
    store: Path, sandbox: SandboxServer, tmp_path: Path
) -> None:
    window = WEEK
    sandbox.mailchimp.latency, sandbox.mailchimp._peak = 0.01, 0  # requests take a moment
    try:
        parallel = mailchimp_activity.extract(
            connections(sandbox)["mailchimp"], "email_activity", *window, tmp_path / "p", 37
        )
        peak = sandbox.mailchimp._peak
    finally:
        sandbox.mailchimp.latency = 0.0
    one = connections(sandbox, max_connections=1)["mailchimp"]
    sequential = mailchimp_activity.extract(one, "email_activity", *window, tmp_path / "s")
    assert peak > 1  # pages were in flight at once
    assert parallel.rows == len(expected_activity(store, *window))
    assert parallel.path.read_bytes() == sequential.path.read_bytes()


def test_pages_of_a_list_that_grows_while_it_is_read_are_all_handed_back() -> None:
    """Offsets planned from the first page's total; the list then grows by 30 entries, and
    paging goes on past the plan until the end, in order."""
    items = [{"n": n} for n in range(250)]
    asked: list[int] = []

    def fetch(path: str, params: dict) -> dict:
        asked.append(params["offset"])
        if len(asked) == 2:
            items.extend({"n": n} for n in range(250, 280))
        page = items[params["offset"] : params["offset"] + params["count"]]
        return {"entries": page, "total_items": len(items)}

    listing = parallel_pages.Listing("/list", "entries", {})
    got = [
        item["n"]
        for _, page in parallel_pages.ParallelPages(fetch, [listing], 100, 10, connections=3)
        for item in page
    ]
    assert parallel_pages.planned_offsets(250, 100, 10) == [90, 180]
    assert sorted(set(got)) == list(range(280)) and asked[:3] == [0, 90, 180]


def test_email_activity_reads_only_campaigns_within_the_lookback(
    store: Path, conns: dict, tmp_path: Path
) -> None:
    conn = conns["mailchimp"]
    short = ApiConnection(
        conn.conn_id,
        conn.base_url,
        conn.login,
        conn.password,
        {**conn.extra, "activity_lookback_days": 0},
    )
    result = mailchimp_activity.extract(short, "email_activity", *WEEK, tmp_path)
    sent = {c["id"]: ts(c["send_time"]) for c in jsonl(store / "mailchimp_campaigns.jsonl")}
    got = landed(result.path).values()
    assert got and all(sent[r["campaign_id"]] >= WEEK[0] for r in got)


def test_the_dispatcher_knows_the_new_entities(
    conns: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert {"products", "abandoned_checkouts"} <= set(sources.ENTITIES["shopify"])
    assert sources.ENTITIES["mailchimp"] == ("email_activity",)
    env = local.connection_env(conns["mailchimp"].base_url)
    monkeypatch.setenv("AIRFLOW_CONN_MAILCHIMP", env["AIRFLOW_CONN_MAILCHIMP"])
    result = sources.extract("mailchimp", "email_activity", *WEEK, tmp_path)
    assert result.rows > 0 and result.path.parent == tmp_path / "mailchimp" / "email_activity"


def land_all(conns: dict, root: Path) -> list:
    return [
        shopify.extract(conns["shopify"], "products", HISTORY, AS_OF, root),
        shopify.extract(conns["shopify"], "abandoned_checkouts", *WEEK, root),
        mailchimp_activity.extract(
            conns["mailchimp"], "email_activity", *WEEK, root, page_size=100
        ),
    ]


def test_under_ten_percent_faults_the_new_entities_land_what_a_clean_run_lands(
    store: Path, conns: dict, tmp_path: Path
) -> None:
    clean = land_all(conns, tmp_path / "clean")
    config = FaultConfig(rate=0.1, kinds=TRANSPORT_KINDS, seed=3, retry_after=0, slow_seconds=0.05)
    with serve_in_thread(store, faults=config) as server:
        faulty = land_all(connections(server, **FAST_RETRIES), tmp_path / "faulty")
        assert server.faults and sum(server.faults.injected.values()) >= 3
    for want, got in zip(clean, faulty, strict=True):
        assert want.rows > 0 and got.quarantined == 0
        assert got.path.read_bytes() == want.path.read_bytes()


def test_malformed_checkouts_and_campaigns_are_quarantined_with_their_reason(
    store: Path, conns: dict, tmp_path: Path
) -> None:
    clean_checkouts = shopify.extract(
        conns["shopify"], "abandoned_checkouts", HISTORY, AS_OF, tmp_path / "clean"
    )
    clean_activity = mailchimp_activity.extract(
        conns["mailchimp"], "email_activity", HISTORY, AS_OF, tmp_path / "clean"
    )
    config = FaultConfig(rate=0.3, kinds=("malformed",), seed=5)
    with serve_in_thread(store, faults=config) as server:
        bad = connections(server)
        checkouts = shopify.extract(
            bad["shopify"], "abandoned_checkouts", HISTORY, AS_OF, tmp_path / "bad"
        )
        activity = mailchimp_activity.extract(
            bad["mailchimp"], "email_activity", HISTORY, AS_OF, tmp_path / "bad"
        )
    assert checkouts.quarantined > 0
    assert checkouts.rows + checkouts.quarantined == clean_checkouts.rows
    quarantined = jsonl(checkouts.quarantine_path)
    assert {q["reason"].split(" ")[0] for q in quarantined} <= {"required", "id", "updatedAt"}
    assert set(landed(checkouts.path)) < set(landed(clean_checkouts.path))
    # a campaign whose id is broken cannot be reported on: it is quarantined, the rest lands
    assert activity.quarantined > 0
    broken = jsonl(activity.quarantine_path)
    assert all("send_time" in q["payload"] for q in broken)
    assert all(q["reason"].startswith(("required field id", "id must be")) for q in broken)
    kept = landed(activity.path)
    assert 0 < len(kept) < clean_activity.rows
    assert set(kept) < set(landed(clean_activity.path))


def test_an_activity_row_that_breaks_the_contract_is_quarantined(tmp_path: Path) -> None:
    good = mailchimp_activity._row(
        "abc123",
        "list1",
        "a@example.com",
        {"action": "open", "timestamp": "2026-11-19T10:00:00+00:00"},
    )
    no_email = mailchimp_activity._row(
        "abc123", "list1", None, {"action": "open", "timestamp": "2026-11-19T10:00:00+00:00"}
    )
    bad_time = mailchimp_activity._row(
        "abc123", "list1", "b@example.com", {"action": "click", "timestamp": "yesterday"}
    )
    with LandingWriter(
        tmp_path,
        "mailchimp",
        "email_activity",
        *WEEK,
        updated_field="timestamp",
        contract=contracts.MAILCHIMP_EMAIL_ACTIVITY,
    ) as writer:
        writer.write_page([good, no_email, bad_time])
    result = writer.result()
    assert result.rows == 1 and result.quarantined == 2
    reasons = sorted(q["reason"] for q in jsonl(result.quarantine_path))
    assert reasons == [
        "required field email_address is missing",
        "timestamp is not an ISO-8601 instant: 'yesterday'",
    ]


def test_the_api_root_comes_from_the_host_or_the_keys_data_centre() -> None:
    by_key = parse_connection("mailchimp", json.dumps({"password": "abc-us21"}))
    assert mailchimp_activity.api_root(by_key) == "https://us21.api.mailchimp.com/3.0"
    by_host = parse_connection(
        "mailchimp", json.dumps({"host": "127.0.0.1", "port": 9, "schema": "http"})
    )
    assert mailchimp_activity.api_root(by_host) == "http://127.0.0.1:9/3.0"


def test_a_checkout_window_past_the_paging_cap_is_split_and_lands_everything(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cap = 150  # the real cap is 25,000; both sides are shrunk to keep the test small
    total = len(jsonl(store / "shopify_abandoned_checkouts.jsonl"))
    assert total > 2 * cap
    with serve_in_thread(store) as server:
        conn = connections(server)["shopify"]
        whole = shopify.extract(conn, "abandoned_checkouts", HISTORY, AS_OF, tmp_path / "whole")
        server.shopify.paging_cap = cap
        monkeypatch.setattr(shopify, "PAGING_CAP", cap)
        split = shopify.extract(conn, "abandoned_checkouts", HISTORY, AS_OF, tmp_path / "split")
    assert whole.rows == split.rows == total
    # checkouts page by id (their sort keys have no UPDATED_AT), so rows follow the windows
    assert landed(split.path) == landed(whole.path)


def test_an_action_repeated_within_a_second_lands_once(store: Path, tmp_path: Path) -> None:
    # Mailchimp lists two identical opens in the same second as two items of one member,
    # so the repeat is in the same page as the first
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    activity = copy / "mailchimp_email_activity.jsonl"
    lines = activity.read_text(encoding="utf-8").splitlines()
    repeated = next(line for line in lines if json.loads(line)["action"] == "open")
    activity.write_text("\n".join([*lines, repeated]) + "\n", encoding="utf-8")
    with serve_in_thread(copy) as server:
        result = mailchimp_activity.extract(
            connections(server)["mailchimp"], "email_activity", HISTORY, AS_OF, tmp_path / "out"
        )
    ids = duckdb.sql(f"select id from read_parquet('{result.path}')").fetchall()
    want = expected_activity(store, HISTORY, AS_OF)
    assert result.rows == len(ids) == len(set(ids)) == len(want)
