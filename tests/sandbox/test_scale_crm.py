"""At S1 the sandbox makes HubSpot contacts and Mailchimp email activity on demand: the
clients land exactly a window's made records, pages are valid, and the same index always gives
the same record. Mailchimp's stored reports page the same with `since` as without the index."""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests
from tailor.connections import parse_connection
from tailor.sources import hubspot, mailchimp_activity

from sandbox import local
from sandbox.mailchimp_reports import StoredActivity
from sandbox.scale_hubspot import SyntheticContacts
from sandbox.scale_mailchimp import SyntheticReports
from sandbox.server import SandboxServer

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
UNLIMITED = {"searches_per_second": 0, "requests_per_10_seconds": 0}


@pytest.fixture(scope="module")
def s1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    empty = tmp_path_factory.mktemp("s1_store")
    with SandboxServer(empty, scale="s1").start() as server:
        yield server


def _conn(url: str, name: str, **extra: object) -> Any:
    spec = json.loads(local.connection_env(url)[f"AIRFLOW_CONN_{name.upper()}"])
    spec["extra"] = {**spec.get("extra", {}), **extra}
    return parse_connection(name, json.dumps(spec))


def _column(path: Path, name: str) -> list[Any]:
    return [r[0] for r in duckdb.sql(f"select {name} from read_parquet('{path}')").fetchall()]


def test_contacts_are_made_on_demand_and_deterministic() -> None:
    one, two = SyntheticContacts.named("s1"), SyntheticContacts.named("s1")
    assert one.count == 600_000
    assert one.contact(123_456) == two.contact(123_456) != one.contact(123_457)
    ids = [int(one.contact(i)["id"]) for i in (0, 1, 599_999)]
    assert ids == sorted(ids) and ids == [one.ids[i] for i in (0, 1, 599_999)]
    stamps = [one.contact(i)["properties"]["lastmodifieddate"] for i in range(0, 600_000, 997)]
    assert stamps == sorted(stamps)


def test_the_client_lands_exactly_a_windows_contacts(s1: SandboxServer, tmp_path: Path) -> None:
    # 30 days hold more than the search's 10,000-result cap: the client splits the window
    start = AS_OF - timedelta(days=30)
    made = SyntheticContacts.named("s1")
    low = bisect.bisect_left(range(made.count), start.timestamp(), key=made.modified_at)
    high = bisect.bisect_left(range(made.count), AS_OF.timestamp(), key=made.modified_at)
    result = hubspot.extract(
        _conn(s1.url, "hubspot", **UNLIMITED), "contacts", start, AS_OF, tmp_path
    )
    landed = _column(result.path, "id")
    assert high - low > hubspot.SEARCH_RESULT_CAP
    assert sorted(landed, key=int) == [made.contact(i)["id"] for i in range(low, high)]
    assert result.quarantined == 0


def test_contacts_list_pages_and_reads(s1: SandboxServer) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {local.HUBSPOT_TOKEN}"
    contacts = f"{s1.url}/crm/v3/objects/contacts"
    seen, after = [], None
    for _ in range(3):
        params = {"limit": 100, **({"after": after} if after else {})}
        body = session.get(contacts, params=params, timeout=30).json()
        seen += [c["id"] for c in body["results"]]
        after = body["paging"]["next"]["after"]
        assert body["paging"]["next"]["link"].startswith(s1.url)
    assert len(seen) == len(set(seen)) == 300 and seen == sorted(seen, key=int)
    assert after == str(SyntheticContacts.named("s1").ids[300])
    one = session.get(f"{contacts}/{seen[42]}", timeout=30).json()
    by_email = session.get(
        f"{contacts}/{one['properties']['email'].upper()}",
        params={"idProperty": "email"},
        timeout=30,
    ).json()
    assert by_email["id"] == one["id"] == seen[42]
    assert session.get(f"{contacts}/{int(seen[0]) + 1}", timeout=30).status_code == 404
    refused = session.post(
        f"{contacts}/search",
        json={"filterGroups": [{"filters": [{"propertyName": "city", "value": "Austin"}]}]},
        timeout=30,
    )
    assert refused.status_code == 400


def _expected_activity(made: SyntheticReports, start: datetime) -> set[tuple[str, ...]]:
    """(campaign, email, action, timestamp) of every event in [start, AS_OF) of the campaigns
    the client reads (sent from the lookback before `start`), from the made records."""
    since = start.timestamp() - 1
    lookback = (start - timedelta(days=mailchimp_activity.LOOKBACK_DAYS)).timestamp()
    want = set()
    for campaign_id, activity in made.activity.items():
        if activity.send < lookback:
            continue
        first = bisect.bisect_right(range(activity.active), since, key=activity.last_at)
        for k in range(first, activity.active):
            email = activity.email(k)
            for at, item in activity.events(k):
                if at >= start.timestamp():
                    want.add((campaign_id, email, item["action"], item["timestamp"]))
        for k in range(activity.unsubscribes):
            unsub = activity.unsubscribe(k)
            if start.isoformat() <= unsub["timestamp"]:
                want.add((campaign_id, unsub["email_address"], "unsub", unsub["timestamp"]))
    return want


def test_the_client_lands_exactly_a_windows_email_activity(
    s1: SandboxServer, tmp_path: Path
) -> None:
    start = AS_OF - timedelta(hours=12)
    result = mailchimp_activity.extract(
        _conn(s1.url, "mailchimp"), "email_activity", start, AS_OF, tmp_path
    )
    landed = [json.loads(p) for p in _column(result.path, "payload")]
    rows = [(r["campaign_id"], r["email_address"], r["action"], r["timestamp"]) for r in landed]
    want = _expected_activity(SyntheticReports.named("s1"), start)
    assert len(want) > 10_000 and result.quarantined == 0
    assert len(rows) == len(set(rows)) and set(rows) == want


def test_activity_pages_are_contiguous_and_deterministic(s1: SandboxServer) -> None:
    made = SyntheticReports.named("s1")
    campaign_id = list(made.campaigns)[-2]
    activity = made.activity[campaign_id]
    since = datetime.fromtimestamp(activity.last_at(activity.active // 2), UTC)
    url = f"{s1.url}/3.0/reports/{campaign_id}/email-activity"

    def page(offset: int) -> dict[str, Any]:
        params = {"count": 1000, "offset": offset, "since": since.isoformat()}
        return requests.get(url, params=params, auth=("x", local.MAILCHIMP_KEY), timeout=30).json()

    first, second = page(0), page(1000)
    assert page(1000) == second
    assert (
        first["total_items"] == second["total_items"] == activity.active - activity.active // 2 - 1
    )
    addresses = [m["email_address"] for m in first["emails"] + second["emails"]]
    assert len(addresses) == len(set(addresses)) == 2000
    for member in first["emails"] + second["emails"]:
        assert member["activity"] and all(
            a["timestamp"] > since.isoformat() for a in member["activity"]
        )
        for a in member["activity"]:
            assert ("url" in a) == (a["action"] == "click")
            assert ("type" in a) == (a["action"] == "bounce")
    unsubs = requests.get(
        f"{s1.url}/3.0/reports/{campaign_id}/unsubscribed",
        params={"count": 1000},
        auth=("x", local.MAILCHIMP_KEY),
        timeout=30,
    ).json()
    assert unsubs["total_items"] == len(unsubs["unsubscribes"]) == activity.unsubscribes


def test_stored_activity_pages_as_a_plain_filter_would() -> None:
    members = [
        {
            "email_id": f"{i:032x}",
            "email_address": f"m{i}@example.com",
            "list_id": "L",
            "rows": [(float(t), {"action": "open", "timestamp": str(t)}) for t in times],
        }
        for i, times in enumerate([(5, 1), (2,), (9, 3, 4), (), (7, 8)])
    ]
    stored = StoredActivity("C", members)
    for since in (None, 0.0, 1.0, 2.0, 4.5, 8.0, 9.0):
        kept = [
            (
                m["email_address"],
                [i["timestamp"] for t, i in m["rows"] if since is None or t > since],
            )
            for m in members
        ]
        kept = [(email, times) for email, times in kept if times]
        for offset, count in ((0, 10), (1, 2), (3, 5)):
            total, entries = stored.page(since, offset, count)
            served = [json.loads(e) for e in entries]
            assert total == len(kept)
            assert [
                (m["email_address"], [a["timestamp"] for a in m["activity"]]) for m in served
            ] == kept[offset : offset + count]
