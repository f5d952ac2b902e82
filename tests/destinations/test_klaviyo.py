"""The sync engine against the real Klaviyo stand-in, over HTTP, with a real DuckDB file."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from destination_helpers import member_row, query, write_members
from tailor.destinations import Contact, Member, Outcome, TagChange
from tailor.destinations.audiences import AudienceSpec
from tailor.destinations.klaviyo import KlaviyoConfig, KlaviyoDestination
from tailor.destinations.sync import sync_destination

from sandbox.klaviyo import KlaviyoStandIn
from sandbox.server import DEFAULT_KLAVIYO_KEY, SandboxServer

IMPORT = "POST /profile-bulk-import-jobs"
JOB = "GET /profile-bulk-import-jobs/{job_id}"
ERRORS = "GET /profile-bulk-import-jobs/{job_id}/import-errors"
LOOKUP = "GET /profiles"
SUBSCRIBE = "POST /profile-subscription-bulk-create-jobs"
UNSUBSCRIBE = "POST /profile-subscription-bulk-delete-jobs"
LIST_ADD = "POST /lists/{list_id}/relationships/profiles"
LIST_REMOVE = "DELETE /lists/{list_id}/relationships/profiles"
DELETION = "POST /data-privacy-deletion-jobs"


def email(i: int) -> str:
    return f"customer{i:05d}@mail.tailor-shop.com"


@pytest.fixture
def klaviyo(server: SandboxServer) -> KlaviyoStandIn:
    return server.klaviyo


@pytest.fixture
def make_klaviyo(server: SandboxServer) -> Iterator[Callable[..., KlaviyoDestination]]:
    made: list[KlaviyoDestination] = []

    def make(**overrides: Any) -> KlaviyoDestination:
        config = KlaviyoConfig(api_key=DEFAULT_KLAVIYO_KEY, base_url=server.url, **overrides)
        made.append(KlaviyoDestination(config))
        return made[-1]

    yield make
    for dest in made:
        dest.close()


class Sent:
    """Requests the stand-in served since the mark, by template."""

    def __init__(self, standin: KlaviyoStandIn):
        self.standin = standin
        self.mark()

    def mark(self) -> None:
        self._base = Counter(self.standin.stats())

    def since(self) -> dict[str, int]:
        return dict(Counter(self.standin.stats()) - self._base)


def test_first_sync_builds_lists_and_consent_then_rerun_sends_nothing(
    warehouse, klaviyo, make_klaviyo
):
    rows = [member_row(i) for i in range(40)]
    rows += [member_row(i, "lapsed", "Lapsed") for i in range(30, 60)]  # 30..39 in both
    rows += [member_row(60, status="transactional")]
    write_members(warehouse, rows)

    report = sync_destination(warehouse, make_klaviyo(), run_id="r1")

    assert report.totals().adds == 71 and report.totals().failed == 0
    sent = klaviyo.stats()
    assert sent[IMPORT] == 2  # one job per audience batch
    assert sent[SUBSCRIBE] == 2 and sent[LIST_ADD] == 2
    # The contacts in both audiences were imported and subscribed once.
    assert {k for k, n in klaviyo.writes.items() if n != 1} == set()
    for i in range(60):
        p = klaviyo.profile(email(i))
        assert p["first_name"] == f"First{i}" and p["properties"]["ORDERS"] == str(i % 7)
        assert p["consent"] == "SUBSCRIBED"
        expected = ({"Frequent buyers"} if i < 40 else set()) | ({"Lapsed"} if i >= 30 else set())
        assert set(p["lists"]) == expected
    assert klaviyo.profile(email(60))["consent"] == "NEVER_SUBSCRIBED"  # transactional only

    sent = Sent(klaviyo)
    again = sync_destination(warehouse, make_klaviyo(), run_id="r2")
    assert sent.since() == {}
    assert again.totals().unchanged == 71


def test_one_changed_property_sends_one_update(warehouse, klaviyo, make_klaviyo):
    write_members(warehouse, [member_row(i) for i in range(30)])
    sync_destination(warehouse, make_klaviyo(), run_id="r1")
    write_members(warehouse, [member_row(i, orders=99 if i == 7 else None) for i in range(30)])
    writes = Counter(klaviyo.writes)
    sent = Sent(klaviyo)

    report = sync_destination(warehouse, make_klaviyo(), run_id="r2")

    assert report.totals().updates == 1 and report.totals().unchanged == 29
    assert set(sent.since()) <= {IMPORT, JOB} and sent.since()[IMPORT] == 1
    assert dict(klaviyo.writes - writes) == {f"import {email(7)}": 1}
    assert klaviyo.profile(email(7))["properties"]["ORDERS"] == "99"


def test_leaving_a_segment_removes_list_membership(warehouse, klaviyo, make_klaviyo):
    rows = [member_row(i) for i in range(10)] + [member_row(2, "lapsed", "Lapsed")]
    write_members(warehouse, rows)
    sync_destination(warehouse, make_klaviyo(), run_id="r1")
    write_members(warehouse, rows[:-1])  # 2 leaves "lapsed", stays in "frequent_buyers"
    sent = Sent(klaviyo)

    report = sync_destination(warehouse, make_klaviyo(), run_id="r2", force=True)

    assert report.audiences["lapsed"].removals == 1
    assert sent.since()[LIST_REMOVE] == 1
    assert klaviyo.profile(email(2))["lists"] == ["Frequent buyers"]
    assert klaviyo.profile(email(2))["consent"] == "SUBSCRIBED"  # leaving is not unsubscribing


def test_invalid_emails_fail_alone_and_the_rest_sync(warehouse, klaviyo, make_klaviyo):
    rows = [member_row(i) for i in range(20)]
    rows[4]["email"] = "no-at-sign.mail.tailor-shop.com"
    rows[11]["email"] = "two@@mail.tailor-shop.com"
    write_members(warehouse, rows)

    report = sync_destination(warehouse, make_klaviyo(), run_id="r1")

    counts = report.audiences["frequent_buyers"]
    assert counts.adds == 18 and counts.failed == 2
    assert {f.customer_id for f in report.failures} == {"c00004", "c00011"}
    assert all("Invalid email" in f.message for f in report.failures)
    failed = query(
        warehouse,
        "select customer_id, last_error from main.sync_state where status = 'failed'",
    )
    assert sorted(c for c, _ in failed) == ["c00004", "c00011"]
    assert all("Invalid email" in e for _, e in failed)
    # Klaviyo quotes the refused address; Tailor keeps and logs it masked only.
    assert not any("two@@mail" in e or "no-at-sign.mail" in e for _, e in failed)
    assert not any("two@@mail" in f.message for f in report.failures)
    assert klaviyo.stats()[ERRORS] == 1
    for i in set(range(20)) - {4, 11}:
        assert klaviyo.profile(email(i))["lists"] == ["Frequent buyers"]


class Recording:
    """Passes calls to a destination, counting members sent; raises (as a killed worker
    would) when asked to upsert after `crash_after` batches."""

    def __init__(self, inner: KlaviyoDestination, crash_after: int | None = None):
        self.inner, self.crash_after = inner, crash_after
        self.name, self.batch_size = inner.name, inner.batch_size
        self.batches = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def upsert_members(self, members: Sequence[Member]) -> list[Outcome]:
        if self.crash_after is not None and self.batches >= self.crash_after:
            raise RuntimeError("worker killed")
        self.batches += 1
        return self.inner.upsert_members(members)

    def set_tags(self, changes: Sequence[TagChange]) -> list[Outcome]:
        return self.inner.set_tags(changes)


def test_a_crash_between_batches_then_a_rerun_sends_each_profile_once(
    warehouse, klaviyo, make_klaviyo
):
    write_members(warehouse, [member_row(i) for i in range(50)])
    with pytest.raises(RuntimeError, match="worker killed"):
        sync_destination(warehouse, Recording(make_klaviyo(batch_size=20), 2), run_id="r1")
    assert query(warehouse, "select count(*) from main.sync_state where status = 'synced'") == [
        (40,)
    ]

    report = sync_destination(warehouse, Recording(make_klaviyo(batch_size=20)), run_id="r2")

    assert report.audiences["frequent_buyers"].adds == 10
    assert report.audiences["frequent_buyers"].unchanged == 40
    assert set(klaviyo.writes.values()) == {1} and len(klaviyo.writes) == 100  # import+subscribe
    assert klaviyo.stats()[LIST_ADD] == 3
    assert all(klaviyo.profile(email(i))["lists"] == ["Frequent buyers"] for i in range(50))


def test_a_property_that_becomes_empty_is_unset_explicitly(warehouse, klaviyo, make_klaviyo):
    write_members(warehouse, [member_row(i) for i in range(3)])
    sync_destination(warehouse, make_klaviyo(), run_id="r1")
    rows = [member_row(i) for i in range(3)]
    merge = json.loads(rows[1]["merge_fields"])
    merge["ORDERS"] = None  # the warehouse lost the value
    rows[1]["merge_fields"] = json.dumps(merge)
    write_members(warehouse, rows)

    sync_destination(warehouse, make_klaviyo(), run_id="r2")

    assert "ORDERS" not in klaviyo.profile(email(1))["properties"]
    assert klaviyo.profile(email(1))["properties"]["SPENT"] == "3.50"
    assert klaviyo.profile(email(0))["properties"]["ORDERS"] == "0"


def test_on_leave_clear_unsets_and_delete_deletes_but_keeps_opt_outs(
    warehouse, klaviyo, make_klaviyo
):
    rows = [member_row(i) for i in range(6)] + [member_row(i, "vip", "VIP") for i in range(6)]
    write_members(warehouse, rows)
    specs = {
        "frequent_buyers": AudienceSpec(
            "frequent_buyers", "Frequent buyers", on_leave="clear", merge_fields=("ORDERS",)
        ),
        "vip": AudienceSpec("vip", "VIP", on_leave="delete"),
    }
    sync_destination(warehouse, make_klaviyo(), run_id="r1", audiences=specs)
    klaviyo.set_consent(email(2), "UNSUBSCRIBED")  # the person opted out in Klaviyo
    leaving = {"c00001", "c00002"}
    write_members(warehouse, [r for r in rows if r["customer_id"] not in leaving])

    report = sync_destination(warehouse, make_klaviyo(), run_id="r2", audiences=specs, force=True)

    assert report.totals().removals == 4 and report.totals().failed == 0
    assert klaviyo.profile(email(1)) is None  # deleted
    kept = klaviyo.profile(email(2))  # deleting it would forget the opt-out
    assert kept is not None and kept["consent"] == "UNSUBSCRIBED" and kept["lists"] == []
    assert "ORDERS" not in kept["properties"]
    assert klaviyo.stats()[DELETION] == 1
    assert klaviyo.profile(email(3))["properties"]["ORDERS"] == "3"


def test_nobody_unsubscribed_in_klaviyo_is_resubscribed(warehouse, klaviyo, make_klaviyo):
    write_members(warehouse, [member_row(i) for i in range(5)])
    sync_destination(warehouse, make_klaviyo(), run_id="r1")
    klaviyo.set_consent(email(1), "UNSUBSCRIBED")
    write_members(warehouse, [member_row(i) for i in range(5) if i != 1])
    sync_destination(warehouse, make_klaviyo(), run_id="r2")  # 1 leaves every audience
    write_members(warehouse, [member_row(i, orders=5) for i in range(8)])  # 1 is back, 5-7 new

    report = sync_destination(warehouse, make_klaviyo(), run_id="r3")

    assert report.totals().failed == 0
    assert klaviyo.resubscribed == 0
    assert klaviyo.profile(email(1))["consent"] == "UNSUBSCRIBED"
    assert klaviyo.profile(email(1))["lists"] == ["Frequent buyers"]
    assert klaviyo.profile(email(6))["consent"] == "SUBSCRIBED"


def test_revoked_consent_unsubscribes_and_erasure_deletes(warehouse, klaviyo, make_klaviyo):
    import duckdb

    write_members(warehouse, [member_row(i) for i in range(6)])
    sync_destination(warehouse, make_klaviyo(), run_id="r1")
    write_members(warehouse, [member_row(i) for i in range(6) if i not in (1, 2)])
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(
            "create table main.dim_customers as select * from (values "
            "('c00001', 'unsubscribed'), ('c00003', 'subscribed')) t(customer_id, "
            "email_consent_state)"
        )
        con.execute(f"create table main.erasure_requests as select '{email(2)}' as email")
    finally:
        con.close()

    report = sync_destination(warehouse, make_klaviyo(), run_id="r2", force=True)

    assert report.unsubscribed == 1 and report.erased == 1
    assert klaviyo.profile(email(1))["consent"] == "UNSUBSCRIBED"
    assert klaviyo.profile(email(2)) is None
    assert klaviyo.stats()[UNSUBSCRIBE] == 1
    again = Sent(klaviyo)
    sync_destination(warehouse, make_klaviyo(), run_id="r3", force=True)
    assert again.since() == {}


def test_the_default_pace_keeps_under_the_rate_limits(warehouse, klaviyo, make_klaviyo):
    import duckdb

    write_members(warehouse, [member_row(i) for i in range(10)])
    sync_destination(warehouse, make_klaviyo(), run_id="r1")
    # Eight erasures are eight deletion jobs, on an endpoint that allows 3 a second.
    write_members(warehouse, [member_row(i) for i in range(8, 10)])
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(
            "create table main.erasure_requests as select unnest(?::varchar[]) as email",
            [[email(i) for i in range(8)]],
        )
    finally:
        con.close()
    dest = make_klaviyo(max_connections=4)
    started = time.monotonic()

    report = sync_destination(warehouse, dest, run_id="r2")

    assert report.erased == 8 and klaviyo.stats()[DELETION] == 8
    assert dict(klaviyo.throttled) == {}  # not one 429
    assert dest.waited_for_rate_limits > 0
    assert time.monotonic() - started >= 2.0  # 8 calls at <= 3 a second


def test_429_and_5xx_are_retried_honouring_retry_after(warehouse, klaviyo, make_klaviyo):
    klaviyo.inject_faults(0.3, seed=3)
    write_members(warehouse, [member_row(i) for i in range(8)])
    started = time.monotonic()

    report = sync_destination(warehouse, make_klaviyo(batch_size=4), run_id="r1")

    assert sum(klaviyo.faults_injected.values()) >= 2
    assert report.totals().adds == 8 and report.totals().failed == 0
    assert time.monotonic() - started >= 1.0 or not klaviyo.faults_injected["429"]
    klaviyo.inject_faults(0.0)
    assert all(klaviyo.profile(email(i))["lists"] == ["Frequent buyers"] for i in range(8))


def test_the_steady_budget_is_read_from_the_rate_limit_headers(klaviyo, make_klaviyo, monkeypatch):
    import sandbox.klaviyo

    monkeypatch.setitem(sandbox.klaviyo.TIERS, "S", (3, 4))  # 4 deletion jobs a minute
    dest = make_klaviyo()
    before = time.monotonic()
    outcomes = dest.erase_members([Contact(email(i), email(i)) for i in range(4)])
    assert all(o.ok for o in outcomes)
    pacer = dest._pacers["POST /api/data-privacy-deletion-jobs"]
    # The fourth answer said 0 remaining: the next call waits for the window's reset, at
    # least a second after that answer (the window may end a second later) and within a
    # minute. (Compared with the clock before the calls: a busy machine may take more
    # than that second to return.)
    assert pacer.remaining == 0
    assert before + 1 <= pacer.reset_at <= time.monotonic() + 60
    assert dict(klaviyo.throttled) == {}


def test_slow_jobs_are_polled_and_every_import_error_page_is_read(warehouse, klaviyo, make_klaviyo):
    klaviyo.job_seconds = 0.3  # the job is still processing at the first polls
    rows = [member_row(i) for i in range(130)]
    for row in rows[:110]:
        row["email"] = row["email"].replace("@", "@@")
    write_members(warehouse, rows)

    report = sync_destination(warehouse, make_klaviyo(), run_id="r1")

    assert report.audiences["frequent_buyers"].adds == 20
    assert report.audiences["frequent_buyers"].failed == 110
    assert klaviyo.stats()[JOB] >= 2 and klaviyo.stats()[ERRORS] == 2  # 100 a page


def test_import_jobs_stay_under_five_megabytes(warehouse, klaviyo, make_klaviyo):
    rows = [member_row(i) for i in range(60)]
    for row in rows:
        merge = json.loads(row["merge_fields"])
        merge["NOTES"] = "n" * 90_000  # 60 x 90 KB is over 5 MB for one job
        row["merge_fields"] = json.dumps(merge)
    write_members(warehouse, rows)

    report = sync_destination(warehouse, make_klaviyo(), run_id="r1")

    assert report.totals().adds == 60 and report.totals().failed == 0
    assert klaviyo.stats()[IMPORT] == 2
    assert len(klaviyo.profile(email(59))["properties"]["NOTES"]) == 90_000
