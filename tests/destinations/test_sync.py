"""The sync engine against the real Mailchimp stand-in, over HTTP, with a real DuckDB file."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from destination_helpers import member_row, query, write_members
from tailor.destinations import Member, Outcome, TagChange
from tailor.destinations.files import export_audiences
from tailor.destinations.mailchimp import MailchimpError
from tailor.destinations.sync import sync_destination

BATCH = "POST /lists/{list_id}"
PUT = "PUT /lists/{list_id}/members/{hash}"
SEGMENTS = "GET /lists/{list_id}/segments"  # tags are static segments, read once a run
SEGMENT_NEW = "POST /lists/{list_id}/segments"
SEGMENT_BATCH = "POST /lists/{list_id}/segments/{segment_id}"
MERGE_GET = "GET /lists/{list_id}/merge-fields"
MERGE_POST = "POST /lists/{list_id}/merge-fields"
BATCHES = "POST /batches"
BATCH_STATUS = "GET /batches/{batch_id}"
BATCH_RESULTS = "GET /batch-results/{batch_id}"


def tags_of(standin, email: str) -> set[str]:
    member = standin.member(email)
    return {t["name"] for t in member["tags"]} if member else set()


def state(warehouse: Path) -> dict[tuple[str, str], tuple]:
    rows = query(
        warehouse,
        "select audience, customer_id, status, last_error, email "
        "from main.sync_state where destination = 'mailchimp'",
    )
    return {(a, c): (s, e, m) for a, c, s, e, m in rows}


def test_first_sync_adds_everyone_then_rerun_sends_nothing(
    warehouse, standin, counts, make_destination
):
    rows = [member_row(i) for i in range(40)]
    rows += [member_row(i, "lapsed", "Lapsed") for i in range(30, 60)]  # 30..39 in both
    write_members(warehouse, rows)

    report = sync_destination(warehouse, make_destination(), run_id="run-1")

    assert report.audiences["frequent_buyers"].adds == 40
    assert report.audiences["lapsed"].adds == 30
    assert report.totals().failed == 0 and report.failures == []
    listed = standin.stats()  # every request the sync made, by template
    assert listed[BATCH] == 2  # one batch per audience
    assert listed[MERGE_POST] == 2  # ORDERS and SPENT did not exist yet
    assert listed[SEGMENT_NEW] == 2 and listed[SEGMENTS] == 1  # both tags were new
    assert listed[SEGMENT_BATCH] == 2  # one per (audience batch, tag), not per member
    # The contacts in both audiences were upserted once, not twice.
    assert listed.get(PUT, 0) == 0

    for i in range(60):
        m = standin.member(f"customer{i:05d}@mail.tailor-shop.com")
        assert m is not None and m["status"] == "subscribed"
        assert m["merge_fields"]["FNAME"] == f"First{i}"
        assert m["merge_fields"]["ORDERS"] == str(i % 7)
        assert m["merge_fields"]["SPENT"] == f"{i * 3.5:.2f}"
        expected = ({"Frequent buyers"} if i < 40 else set()) | ({"Lapsed"} if i >= 30 else set())
        assert tags_of(standin, m["email_address"]) == expected
    assert len(standin._lists["5d1e2f3a4b"]["members"]) == 60

    runs = query(
        warehouse,
        "select audience, adds, failed, status from main.sync_runs "
        "where run_id = 'run-1' order by audience",
    )
    assert runs == [("frequent_buyers", 40, 0, "success"), ("lapsed", 30, 0, "success")]

    counts.mark()
    again = sync_destination(warehouse, make_destination(), run_id="run-2")
    assert counts.since_mark() == {}  # not even a merge-field lookup
    assert again.totals().unchanged == 70
    assert again.totals().adds == again.totals().updates == again.totals().removals == 0


def test_one_changed_merge_field_sends_exactly_one_update(
    warehouse, standin, counts, make_destination
):
    rows = [member_row(i) for i in range(50)]
    write_members(warehouse, rows)
    sync_destination(warehouse, make_destination(), run_id="r1")

    rows[7] = member_row(7, orders=99)
    write_members(warehouse, rows)
    counts.mark()
    report = sync_destination(warehouse, make_destination(), run_id="r2")

    assert counts.since_mark() == {MERGE_GET: 1, PUT: 1}
    assert report.audiences["frequent_buyers"].updates == 1
    assert report.audiences["frequent_buyers"].unchanged == 49
    assert standin.member("customer00007@mail.tailor-shop.com")["merge_fields"]["ORDERS"] == "99"
    assert standin.member("customer00008@mail.tailor-shop.com")["merge_fields"]["ORDERS"] == "1"


def test_a_row_leaving_its_segment_gets_its_tag_set_inactive(
    warehouse, standin, counts, make_destination
):
    rows = [member_row(i) for i in range(10)] + [member_row(3, "lapsed", "Lapsed")]
    write_members(warehouse, rows)
    sync_destination(warehouse, make_destination(), run_id="r1")
    email = "customer00003@mail.tailor-shop.com"
    assert tags_of(standin, email) == {"Frequent buyers", "Lapsed"}

    write_members(
        warehouse,
        [r for r in rows if r["customer_id"] != "c00003" or r["audience"] != "frequent_buyers"],
    )
    counts.mark()
    report = sync_destination(warehouse, make_destination(), run_id="r2")

    assert counts.since_mark() == {SEGMENTS: 1, SEGMENT_BATCH: 1}
    assert report.audiences["frequent_buyers"].removals == 1
    member = standin.member(email)
    assert member["status"] == "subscribed"  # the contact stays
    assert tags_of(standin, email) == {"Lapsed"}
    assert state(warehouse)[("frequent_buyers", "c00003")][0] == "removed"

    # Coming back is an add again, with the tag.
    write_members(warehouse, rows)
    report = sync_destination(warehouse, make_destination(), run_id="r3")
    assert report.audiences["frequent_buyers"].adds == 1
    assert tags_of(standin, email) == {"Frequent buyers", "Lapsed"}


def test_invalid_addresses_fail_alone_and_are_retried(warehouse, standin, counts, make_destination):
    bad = {
        17: "bad..dots@mail.tailor-shop.com",
        250: "no-tld@localhost",
        444: "someone@shop.invalid",
    }
    rows = [member_row(i, email=bad.get(i)) for i in range(500)]
    write_members(warehouse, rows)

    report = sync_destination(warehouse, make_destination(), run_id="r1")
    first = counts.since_mark()

    c = report.audiences["frequent_buyers"]
    assert (c.adds, c.failed) == (497, 3)
    assert sorted(f.customer_id for f in report.failures) == ["c00017", "c00250", "c00444"]
    for f in report.failures:
        assert "looks fake or invalid, please enter a real email address" in f.message
        assert "@" in f.email and "***" in f.email  # masked
    st = state(warehouse)
    assert sum(1 for s in st.values() if s[0] == "synced") == 497
    failed = {k: v for k, v in st.items() if v[0] == "failed"}
    assert set(failed) == {("frequent_buyers", f"c{i:05d}") for i in bad}
    assert all("looks fake or invalid" in v[1] for v in failed.values())
    assert len(standin._lists["5d1e2f3a4b"]["members"]) == 497
    # 500 members: 1 merge-field lookup, 2 merge fields created, 1 batch, 1 tag created,
    # and 1 call tagging the 497.
    assert first == {
        MERGE_GET: 1,
        MERGE_POST: 2,
        BATCH: 1,
        SEGMENTS: 1,
        SEGMENT_NEW: 1,
        SEGMENT_BATCH: 1,
    }

    counts.mark()
    retry = sync_destination(warehouse, make_destination(), run_id="r2")
    # Only the 3 failed rows, again; their tag's segment is looked up (beside the merge
    # fields) before the batch that would tag them.
    assert counts.since_mark() == {MERGE_GET: 1, SEGMENTS: 1, BATCH: 1}
    c = retry.audiences["frequent_buyers"]
    assert (c.adds, c.updates, c.unchanged, c.failed) == (0, 0, 497, 3)
    assert "3 failed" in retry.summary()
    assert query(
        warehouse,
        "select count(*) from main.sync_state where status = 'failed' and last_run_id = 'r2'",
    ) == [(3,)]


def test_an_unsubscribed_member_is_never_resubscribed(warehouse, standin, counts, make_destination):
    rows = [member_row(i) for i in range(5)]
    write_members(warehouse, rows)
    sync_destination(warehouse, make_destination(), run_id="r1")
    gone = "customer00002@mail.tailor-shop.com"
    standin.set_status(gone, "unsubscribed")  # they clicked "unsubscribe"
    # Someone who unsubscribed before Tailor ever synced them:
    standin.set_status("customer00001@mail.tailor-shop.com", "cleaned")

    rows[2] = member_row(2, orders=42)
    rows.append(member_row(2, "lapsed", "Lapsed", orders=42))  # a new audience, same contact
    write_members(warehouse, rows)
    report = sync_destination(warehouse, make_destination(), run_id="r2")

    assert report.totals().failed == 0
    member = standin.member(gone)
    assert member["status"] == "unsubscribed"
    assert member["merge_fields"]["ORDERS"] == "42"  # data still kept current
    assert tags_of(standin, gone) == {"Frequent buyers", "Lapsed"}
    assert standin.member("customer00001@mail.tailor-shop.com")["status"] == "cleaned"


def test_an_existing_esp_contact_keeps_its_status_when_first_added(
    warehouse, standin, make_destination
):
    email = "customer00000@mail.tailor-shop.com"
    # Already in the ESP, unsubscribed, before Tailor knew about them.
    dest = make_destination()
    dest.upsert_members([Member("x", email, "subscribed", {})])
    standin.set_status(email, "unsubscribed")
    write_members(warehouse, [member_row(0), member_row(1, status="transactional")])

    report = sync_destination(warehouse, make_destination(), run_id="r1")

    assert report.audiences["frequent_buyers"].adds == 2
    assert standin.member(email)["status"] == "unsubscribed"
    assert standin.member(email)["merge_fields"]["FNAME"] == "First0"
    assert standin.member("customer00001@mail.tailor-shop.com")["status"] == "transactional"


class Recording:
    """Wraps a destination; records every member and tag change it is asked to send, and
    raises (as a crash would) when asked to upsert after `crash_after` batches."""

    def __init__(self, inner, log: Counter, crash_after: int | None = None):
        self.inner, self.log, self.crash_after = inner, log, crash_after
        self.name, self.batch_size = inner.name, inner.batch_size
        self.batches = 0

    def prepare(self, merge_tags, tags=()):
        self.inner.prepare(merge_tags, tags)

    def upsert_members(self, members: Sequence[Member]) -> list[Outcome]:
        if self.crash_after is not None and self.batches >= self.crash_after:
            raise RuntimeError("worker killed")
        self.batches += 1
        self.log.update(f"upsert {m.email}" for m in members)
        return self.inner.upsert_members(members)

    def set_tags(self, changes: Sequence[TagChange]) -> list[Outcome]:
        self.log.update(f"tag {c.email} {c.tag} {c.active}" for c in changes)
        return self.inner.set_tags(changes)

    def close(self) -> None:
        self.inner.close()


def test_a_crash_between_batches_then_a_rerun_sends_everyone_exactly_once(
    warehouse, standin, make_destination
):
    rows = [member_row(i) for i in range(250)]
    write_members(warehouse, rows)
    sent: Counter = Counter()

    crashing = Recording(make_destination(batch_size=100, parallel_batches=1), sent, crash_after=1)
    with pytest.raises(RuntimeError, match="worker killed"):
        sync_destination(warehouse, crashing, run_id="r1")
    assert query(warehouse, "select status from main.sync_runs where run_id = 'r1'") == [
        ("failed",)
    ]
    assert query(warehouse, "select count(*) from main.sync_state where status = 'synced'") == [
        (100,)
    ]

    report = sync_destination(
        warehouse,
        Recording(make_destination(batch_size=100, parallel_batches=1), sent),
        run_id="r2",
    )
    assert report.audiences["frequent_buyers"].adds == 150
    assert report.audiences["frequent_buyers"].unchanged == 100
    assert len(sent) == 500 and set(sent.values()) == {1}  # 250 upserts + 250 tags, once each
    stats = standin.stats()
    assert stats[BATCH] == 3 and stats[SEGMENT_BATCH] == 3 and stats.get(PUT, 0) == 0
    assert len(standin._lists["5d1e2f3a4b"]["members"]) == 250


def test_a_crash_with_batches_in_flight_still_commits_those_acknowledged(
    warehouse, standin, make_destination
):
    rows = [member_row(i) for i in range(250)]
    write_members(warehouse, rows)
    sent: Counter = Counter()
    crashing = Recording(make_destination(batch_size=50), sent, crash_after=3)
    crashing.pipeline_depth = 3  # three batches on the wire; the fourth dies on sending
    with pytest.raises(RuntimeError, match="worker killed"):
        sync_destination(warehouse, crashing, run_id="r1")
    # The three batches in flight when the fourth failed were acknowledged: committed.
    assert query(warehouse, "select count(*) from main.sync_state where status = 'synced'") == [
        (150,)
    ]

    report = sync_destination(
        warehouse, Recording(make_destination(batch_size=50), sent), run_id="r2"
    )
    assert report.audiences["frequent_buyers"].adds == 100
    assert len(sent) == 500 and set(sent.values()) == {1}  # 250 upserts + 250 tags, once each


def test_updates_go_as_batch_operations_within_max_connections(
    warehouse, standin, counts, make_destination
):
    write_members(warehouse, [member_row(i) for i in range(80)])
    sync_destination(warehouse, make_destination(), run_id="r1")
    standin.latency = 0.01  # long enough for requests to overlap
    write_members(warehouse, [member_row(i, orders=50 + i) for i in range(80)])
    counts.mark()
    report = sync_destination(
        warehouse, make_destination(max_connections=4, batch_operations=20), run_id="r2"
    )
    assert report.totals().updates == 80 and report.totals().failed == 0
    # 80 known contacts: 4 batch operations of 20 upserts, each submitted, polled, read.
    assert counts.since_mark() == {MERGE_GET: 1, BATCHES: 4, BATCH_STATUS: 4, BATCH_RESULTS: 4}
    assert 2 <= counts.peak_connections() <= 4
    assert standin.member("customer00079@mail.tailor-shop.com")["merge_fields"]["ORDERS"] == "129"
    assert standin.member("customer00079@mail.tailor-shop.com")["status"] == "subscribed"


def test_pipelined_groups_stay_within_max_connections(warehouse, standin, counts, make_destination):
    write_members(warehouse, [member_row(i) for i in range(120)])
    standin.latency = 0.01
    dest = make_destination(max_connections=3, batch_size=10, parallel_batches=3, pipeline_depth=3)
    report = sync_destination(warehouse, dest, run_id="r1")
    assert report.totals().adds == 120 and report.totals().failed == 0
    assert counts.peak_connections() == 3  # 9 calls could be in flight; the limit holds
    assert query(warehouse, "select count(*) from main.sync_state where status = 'synced'") == [
        (120,)
    ]


def test_too_many_merge_fields_fail_before_anything_is_sent(
    warehouse, standin, counts, make_destination
):
    merge = {f"FIELD{n}": "x" for n in range(26)}  # 5 defaults + 26 > 30
    row = member_row(1)
    row["merge_fields"] = json.dumps(merge)
    write_members(warehouse, [row])
    with pytest.raises(MailchimpError, match="allows 30 per audience"):
        sync_destination(warehouse, make_destination(), run_id="r1")
    assert counts.since_mark() == {MERGE_GET: 1, SEGMENTS: 1}  # the two look-ups, no write
    assert query(warehouse, "select count(*) from main.sync_state") == [(0,)]


def test_dry_run_reports_and_sends_nothing(warehouse, counts, make_destination):
    write_members(warehouse, [member_row(i) for i in range(12)])
    report = sync_destination(warehouse, make_destination(), run_id="d1", dry_run=True)
    assert report.audiences["frequent_buyers"].adds == 12
    assert counts.since_mark() == {}
    assert query(
        warehouse,
        "select count(*) from information_schema.tables "
        "where table_name in ('sync_state', 'sync_runs')",
    ) == [(0,)]
    assert "12 added" in report.summary()


def test_an_email_change_moves_the_tag(warehouse, standin, make_destination):
    rows = [member_row(i) for i in range(3)]
    write_members(warehouse, rows)
    sync_destination(warehouse, make_destination(), run_id="r1")
    rows[1] = member_row(1, email="new.address@mail.tailor-shop.com")
    write_members(warehouse, rows)
    report = sync_destination(warehouse, make_destination(), run_id="r2")
    assert report.audiences["frequent_buyers"].updates == 1
    assert tags_of(standin, "customer00001@mail.tailor-shop.com") == set()
    assert tags_of(standin, "new.address@mail.tailor-shop.com") == {"Frequent buyers"}


def test_csv_export_one_file_per_audience(warehouse, tmp_path):
    rows = [member_row(i) for i in (3, 1, 2)] + [member_row(5, "lapsed", "Lapsed")]
    rows[0]["first_name"] = None
    write_members(warehouse, rows)
    out = tmp_path / "export"

    paths = export_audiences(warehouse, out)

    assert set(paths) == {"frequent_buyers", "lapsed"}
    assert paths["lapsed"] == out / "lapsed.csv"
    with paths["frequent_buyers"].open(newline="", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    assert table[0] == [
        "customer_id",
        "email",
        "first_name",
        "last_name",
        "FNAME",
        "LNAME",
        "ORDERS",
        "SPENT",
    ]
    assert [r[0] for r in table[1:]] == ["c00001", "c00002", "c00003"]
    assert table[3][2] == "" and table[3][4] == "First3"  # null first_name, merge value kept
    assert table[1][6:] == ["1", "3.50"]
    before = {name: p.read_bytes() for name, p in paths.items()}
    again = export_audiences(warehouse, out)
    assert {name: p.read_bytes() for name, p in again.items()} == before
    assert sorted(p.name for p in out.iterdir()) == ["frequent_buyers.csv", "lapsed.csv"]


def test_a_bad_row_mid_stream_keeps_what_was_sent_and_the_rerun_sends_the_rest_once(
    warehouse, standin, make_destination
):
    """Rows are planned as they stream to the destination: a row that cannot be read
    stops the run with a clear error, after the batches already acknowledged are
    committed; once it is fixed, a re-run sends only what is left, each member once."""
    rows = [member_row(i) for i in range(250)]
    rows[180]["merge_fields"] = json.dumps(["not", "an", "object"])
    write_members(warehouse, rows)
    sent: Counter = Counter()

    dest = Recording(make_destination(batch_size=50), sent)
    dest.pipeline_depth = 2
    with pytest.raises(ValueError, match="must hold a JSON object"):
        sync_destination(warehouse, dest, run_id="r1")
    synced = query(warehouse, "select count(*) from main.sync_state where status = 'synced'")
    assert synced[0][0] >= 100 and synced[0][0] % 50 == 0  # whole batches, none of row 180's
    assert query(warehouse, "select status from main.sync_runs where run_id = 'r1'") == [
        ("failed",)
    ]

    rows[180] = member_row(180)
    write_members(warehouse, rows)
    report = sync_destination(
        warehouse, Recording(make_destination(batch_size=50), sent), run_id="r2"
    )
    assert report.audiences["frequent_buyers"].adds == 250 - synced[0][0]
    assert len(sent) == 500 and set(sent.values()) == {1}  # 250 upserts + 250 tags, once each
    assert len(standin._lists["5d1e2f3a4b"]["members"]) == 250


def test_rows_are_read_in_slices_of_a_table_as_a_view_streams_them(warehouse, monkeypatch):
    """A table is read a slice of row ids at a time (so the run holds no read open while
    the state is written); a view, which has no row ids, in one stream. Both give every
    row of the audience once, in the table's order, whatever the audiences' shares."""
    import duckdb
    from tailor.destinations import sync

    rows = [member_row(i, "a" if i % 5 else "b", "A" if i % 5 else "B") for i in range(3000)]
    write_members(warehouse, rows)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(
            "delete from main.audience_members where customer_id between 'c01000' and 'c01499'"
        )
        monkeypatch.setattr(sync, "FIRST_CHUNK", 70)
        monkeypatch.setattr(sync, "READ_CHUNK", 130)
        sliced = {a: [r.customer_id for r in sync._member_rows(con, a)] for a in ("a", "b")}
        con.execute("alter table main.audience_members rename to members_table")
        con.execute("create view main.audience_members as select * from main.members_table")
        streamed = {a: [r.customer_id for r in sync._member_rows(con, a)] for a in ("a", "b")}
    finally:
        con.close()
    kept = [r for r in rows if not "c01000" <= r["customer_id"] <= "c01499"]
    for audience in ("a", "b"):
        expected = [r["customer_id"] for r in kept if r["audience"] == audience]
        assert sliced[audience] == expected
        assert streamed[audience] == expected
