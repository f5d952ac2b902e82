"""The sync engine's rules: the safety stop, what leaving means per audience, consent revoked
in a source, erasure, the dry-run plan and retries under injected faults."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from destination_helpers import member_row, query, write_members
from tailor.destinations.audiences import AudienceSpec
from tailor.destinations.sync import SafetyStop, sync_destination

SEGMENTS = "GET /lists/{list_id}/segments"  # tags are static segments, read once a run
SEGMENT_BATCH = "POST /lists/{list_id}/segments/{segment_id}"
PATCH = "PATCH /lists/{list_id}/members/{hash}"
DELETE = "DELETE /lists/{list_id}/members/{hash}"
ERASE = "POST /lists/{list_id}/members/{hash}/actions/delete-permanent"
MERGE_GET = "GET /lists/{list_id}/merge-fields"


def email(i: int) -> str:
    return f"customer{i:05d}@mail.tailor-shop.com"


def run_sql(warehouse: Path, *statements: str) -> None:
    import duckdb

    con = duckdb.connect(str(warehouse))
    try:
        for sql in statements:
            con.execute(sql)
    finally:
        con.close()


def test_the_safety_stop_fires_before_anything_is_sent_unless_forced(
    warehouse, standin, counts, make_destination
):
    rows = [member_row(i) for i in range(100)]
    write_members(warehouse, rows)
    sync_destination(warehouse, make_destination(), run_id="r1")

    write_members(warehouse, rows[:70] + [member_row(500)])  # a broken load: 30% gone
    counts.mark()
    with pytest.raises(SafetyStop, match=r"would remove 30 of 100 members \(30%\)"):
        sync_destination(warehouse, make_destination(), run_id="r2")
    assert counts.since_mark() == {}  # not even the one add
    assert query(warehouse, "select status from main.sync_runs where run_id = 'r2'") == [
        ("stopped",)
    ]
    assert len(standin._lists["5d1e2f3a4b"]["members"]) == 100

    plan = sync_destination(warehouse, make_destination(), run_id="d", dry_run=True)
    assert plan.stopped and "STOPPED" in plan.summary()
    # A higher limit, or force, lets it through.
    sync_destination(warehouse, make_destination(), run_id="r3", max_removal_share=0.5)
    assert len([m for m in standin._lists["5d1e2f3a4b"]["members"].values() if m["tags"]]) == 71
    write_members(warehouse, rows[:10])
    report = sync_destination(warehouse, make_destination(), run_id="r4", force=True)
    assert report.audiences["frequent_buyers"].removals == 61


def test_leaving_clears_merge_fields_or_archives_as_the_audience_says(
    warehouse, standin, counts, make_destination
):
    rows = [member_row(i) for i in range(10)]
    rows += [member_row(i, "vip", "VIP") for i in range(10)]
    rows += [member_row(3, "lapsed", "Lapsed")]  # 3 stays in another audience
    write_members(warehouse, rows)
    specs = {
        "frequent_buyers": AudienceSpec(
            "frequent_buyers", "Frequent buyers", on_leave="clear", merge_fields=("ORDERS",)
        ),
        "vip": AudienceSpec("vip", "VIP", on_leave="delete"),
    }
    sync_destination(warehouse, make_destination(), run_id="r1", audiences=specs)

    keep = [
        r
        for r in rows
        if not (
            r["customer_id"] in ("c00001", "c00003") and r["audience"] in ("frequent_buyers", "vip")
        )
    ]
    write_members(warehouse, keep)
    counts.mark()
    report = sync_destination(warehouse, make_destination(), run_id="r2", audiences=specs)

    assert report.audiences["frequent_buyers"].removals == 2
    assert report.audiences["vip"].removals == 2
    # 1 left both audiences: untagged twice, its ORDERS cleared, then archived.
    # 3 is still in "lapsed": untagged only, neither cleared nor archived.
    # Untagging is one segment call per audience for both.
    assert counts.since_mark() == {SEGMENTS: 1, SEGMENT_BATCH: 2, PATCH: 1, DELETE: 1}
    gone = standin.member(email(1))
    assert gone["status"] == "archived" and gone["merge_fields"]["ORDERS"] == ""
    stays = standin.member(email(3))
    assert stays["status"] == "subscribed" and stays["merge_fields"]["ORDERS"] == "3"
    assert {t["name"] for t in stays["tags"]} == {"Lapsed"}


def test_a_consent_revoked_in_a_source_unsubscribes_in_the_esp(
    warehouse, standin, counts, make_destination
):
    rows = [member_row(i) for i in range(10)]
    write_members(warehouse, rows)
    sync_destination(warehouse, make_destination(), run_id="r1")
    # Customer 4 unsubscribed in Shopify: dbt drops them from audience_members, and
    # dim_customers says why.
    run_sql(
        warehouse,
        "create table main.dim_customers as select 'c' || lpad(i::varchar, 5, '0') as "
        "customer_id, case when i = 4 then 'unsubscribed' else 'subscribed' end as "
        "email_consent_state from range(10) t(i)",
    )
    write_members(warehouse, [r for r in rows if r["customer_id"] != "c00004"])
    counts.mark()
    report = sync_destination(warehouse, make_destination(), run_id="r2")

    assert report.audiences["frequent_buyers"].removals == 1
    assert counts.since_mark() == {SEGMENTS: 1, SEGMENT_BATCH: 1, PATCH: 1}
    assert standin.member(email(4))["status"] == "unsubscribed"
    assert standin.member(email(5))["status"] == "subscribed"


def test_a_row_that_may_not_be_sent_is_skipped_and_counted(warehouse, standin, make_destination):
    write_members(warehouse, [member_row(0), member_row(1, status="unsubscribed")])
    report = sync_destination(warehouse, make_destination(), run_id="r1")
    c = report.audiences["frequent_buyers"]
    assert (c.adds, c.skipped) == (1, 1)
    assert standin.member(email(1)) is None
    assert query(warehouse, "select skipped from main.sync_runs") == [(1,)]


def test_an_erasure_request_deletes_permanently_once_and_forever(
    warehouse, standin, counts, make_destination, tmp_path
):
    rows = [member_row(i) for i in range(6)] + [member_row(2, "lapsed", "Lapsed")]
    write_members(warehouse, rows)
    sync_destination(warehouse, make_destination(), run_id="r1")
    run_sql(
        warehouse,
        "create table main.erasure_requests (email varchar, requested_at timestamptz)",
        f"insert into main.erasure_requests values ('{email(2).upper()}', now())",
    )
    never_synced = tmp_path / "erase.csv"
    never_synced.write_text("email\nnobody@mail.tailor-shop.com\n", encoding="utf-8")
    counts.mark()
    # dbt has not caught up: the person is still in audience_members. They are skipped.
    report = sync_destination(warehouse, make_destination(), run_id="r2", erasure_file=never_synced)

    assert report.erased == 2
    assert counts.since_mark() == {ERASE: 2}
    assert standin.member(email(2)) is None
    assert report.totals().skipped == 2 and report.totals().removals == 0
    st = query(
        warehouse, "select count(*), count(email) from main.sync_state where status = 'erased'"
    )
    assert st == [(2, 0)]  # both audiences' rows, the address no longer kept
    assert query(warehouse, "select count(*) from main.sync_erasures") == [(2,)]
    hashes = query(warehouse, "select email_hash from main.sync_erasures")
    assert all("@" not in h[0] for h in hashes)

    counts.mark()
    again = sync_destination(warehouse, make_destination(), run_id="r3", erasure_file=never_synced)
    assert counts.since_mark() == {} and again.erased == 0
    assert standin.member(email(2)) is None


def test_dry_run_prints_counts_and_a_masked_sample_per_action(warehouse, counts, make_destination):
    rows = [member_row(i) for i in range(20)]
    write_members(warehouse, rows)
    sync_destination(warehouse, make_destination(), run_id="r1")
    rows = rows[1:]  # one removal
    rows[0] = member_row(1, orders=77)  # one update
    rows.append(member_row(99))  # one add
    write_members(warehouse, rows)
    counts.mark()

    plan = sync_destination(warehouse, make_destination(), run_id="d", dry_run=True)

    assert counts.since_mark() == {}
    c = plan.audiences["frequent_buyers"]
    assert (c.adds, c.updates, c.removals, c.unchanged) == (1, 1, 1, 18)
    assert plan.samples["frequent_buyers"]["add"] == ["c***@mail.tailor-shop.com"]
    text = plan.summary()
    assert "remove: c***@mail.tailor-shop.com" in text
    assert "customer00" not in text  # masked


def test_429_and_5xx_are_retried_honouring_retry_after(
    warehouse, standin, counts, make_destination
):
    standin.inject_faults(0.25, seed=7, retry_after=1)
    write_members(warehouse, [member_row(i) for i in range(30)])
    started = time.monotonic()
    report = sync_destination(warehouse, make_destination(max_connections=3), run_id="r1")
    elapsed = time.monotonic() - started

    injected = standin.faults_injected
    assert injected["429"] >= 1 and injected["500"] + injected["503"] >= 1
    assert report.totals().adds == 30 and report.totals().failed == 0
    for i in range(30):
        assert {t["name"] for t in standin.member(email(i))["tags"]} == {"Frequent buyers"}
    # Each 429/503 asked for one second: the client waited at least that long.
    assert elapsed >= 1.0
    standin.inject_faults(0.0)
    counts.mark()
    sync_destination(warehouse, make_destination(), run_id="r2")
    assert counts.since_mark() == {}
