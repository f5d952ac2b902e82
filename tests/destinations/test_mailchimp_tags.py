"""Mailchimp tags are set in bulk through static segments, over real HTTP to the stand-in."""

from __future__ import annotations

from collections.abc import Sequence

import requests
from destination_helpers import KEY, member_row, query, write_members
from tailor.destinations import Member, Outcome, TagChange
from tailor.destinations.sync import sync_destination

from sandbox.mailchimp import LIST_ID

SEGMENTS = "GET /lists/{list_id}/segments"
SEGMENT_NEW = "POST /lists/{list_id}/segments"
SEGMENT_BATCH = "POST /lists/{list_id}/segments/{segment_id}"
MEMBER_TAGS = "POST /lists/{list_id}/members/{hash}/tags"


def email(i: int) -> str:
    return f"customer{i:05d}@mail.tailor-shop.com"


def segment(server, name: str) -> dict:
    """The static segment named `name`, as the API lists it."""
    page = requests.get(
        f"{server.url}/3.0/lists/{LIST_ID}/segments",
        params={"type": "static", "count": 1000},
        auth=("tailor", KEY),
        timeout=10,
    ).json()
    return next(s for s in page["segments"] if s["name"] == name)


def tags_of(standin, address: str) -> set[str]:
    return {t["name"] for t in standin.member(address)["tags"]}


def test_tags_go_through_static_segments_in_one_call_per_batch(
    warehouse, server, standin, counts, make_destination
):
    rows = [member_row(i) for i in range(120)]
    rows += [member_row(i, "lapsed", "Lapsed") for i in range(100, 150)]
    write_members(warehouse, rows)

    report = sync_destination(warehouse, make_destination(), run_id="r1")

    assert report.totals().adds == 170 and report.totals().failed == 0
    sent = counts.since_mark()
    # Both tags were found missing once and created; one call tags each audience's batch.
    assert sent[SEGMENTS] == 1 and sent[SEGMENT_NEW] == 2 and sent[SEGMENT_BATCH] == 2
    assert MEMBER_TAGS not in sent
    assert segment(server, "Frequent buyers")["member_count"] == 120
    assert segment(server, "Lapsed")["member_count"] == 50
    assert tags_of(standin, email(110)) == {"Frequent buyers", "Lapsed"}
    assert tags_of(standin, email(5)) == {"Frequent buyers"}

    # A later run finds the existing segments instead of creating them again.
    write_members(warehouse, rows + [member_row(200)])
    counts.mark()
    sync_destination(warehouse, make_destination(), run_id="r2")
    sent = counts.since_mark()
    assert sent[SEGMENTS] == 1 and sent[SEGMENT_BATCH] == 1 and SEGMENT_NEW not in sent
    assert segment(server, "Frequent buyers")["member_count"] == 121


def test_leaving_an_audience_takes_the_member_out_of_the_static_segment(
    warehouse, server, standin, counts, make_destination
):
    rows = [member_row(i) for i in range(10)] + [member_row(3, "lapsed", "Lapsed")]
    write_members(warehouse, rows)  # 3 leaves both audiences, 4 its only one
    sync_destination(warehouse, make_destination(), run_id="r1")

    write_members(warehouse, [r for r in rows if r["customer_id"] not in ("c00003", "c00004")])
    counts.mark()
    report = sync_destination(warehouse, make_destination(), run_id="r2", force=True)

    assert report.audiences["frequent_buyers"].removals == 2
    assert report.audiences["lapsed"].removals == 1
    assert counts.since_mark() == {SEGMENTS: 1, SEGMENT_BATCH: 2}
    assert tags_of(standin, email(3)) == set() and tags_of(standin, email(4)) == set()
    assert standin.member(email(3))["status"] == "subscribed"  # untagged, not removed
    assert segment(server, "Frequent buyers")["member_count"] == 8
    assert segment(server, "Lapsed")["member_count"] == 0
    states = query(
        warehouse,
        "select customer_id, status from main.sync_state "
        "where customer_id in ('c00003', 'c00004') order by audience, customer_id",
    )
    assert states == [("c00003", "removed"), ("c00004", "removed"), ("c00003", "removed")]


class ArchivesOneAfterUpsert:
    """A destination whose contact `victim` is archived in Mailchimp (by someone in its UI)
    between the upsert and the tagging, so that the tag batch reports it as unknown."""

    def __init__(self, inner, server, victim: str):
        self.inner, self.server, self.victim = inner, server, victim
        self.name, self.batch_size = inner.name, inner.batch_size

    def prepare(self, merge_tags, tags=()):
        self.inner.prepare(merge_tags, tags)

    def upsert_members(self, members: Sequence[Member]) -> list[Outcome]:
        outcomes = self.inner.upsert_members(members)
        from sandbox.mailchimp import subscriber_hash

        url = f"{self.server.url}/3.0/lists/{LIST_ID}/members/{subscriber_hash(self.victim)}"
        assert requests.delete(url, auth=("ui", KEY), timeout=10).status_code == 204
        return outcomes

    def set_tags(self, changes: Sequence[TagChange]) -> list[Outcome]:
        return self.inner.set_tags(changes)

    def close(self) -> None:
        self.inner.close()


def test_an_address_the_tag_batch_refuses_fails_alone_and_is_retried(
    warehouse, server, standin, make_destination
):
    write_members(warehouse, [member_row(i) for i in range(20)])
    dest = ArchivesOneAfterUpsert(make_destination(), server, email(7))

    report = sync_destination(warehouse, dest, run_id="r1")

    c = report.audiences["frequent_buyers"]
    assert (c.adds, c.failed) == (19, 1)
    [failure] = report.failures
    assert failure.customer_id == "c00007" and "not a member of this audience" in failure.message
    assert email(7) not in failure.email  # masked
    assert query(
        warehouse,
        "select customer_id, status, last_error from main.sync_state where status <> 'synced'",
    ) == [("c00007", "failed", "Email address is not a member of this audience")]
    assert segment(server, "Frequent buyers")["member_count"] == 19

    # The next run upserts the contact again (which restores it) and tags it.
    retry = sync_destination(warehouse, make_destination(), run_id="r2")
    assert retry.audiences["frequent_buyers"].updates == 1 and retry.totals().failed == 0
    assert standin.member(email(7))["status"] == "subscribed"
    assert tags_of(standin, email(7)) == {"Frequent buyers"}


def test_more_than_500_tag_changes_are_split_and_sent_in_parallel(
    server, standin, counts, make_destination
):
    dest = make_destination(max_connections=4)
    n = 1_201
    members = [
        Member(f"c{i}", email(i), "subscribed", {"FNAME": f"F{i}"}, known=False) for i in range(n)
    ]
    assert all(o.ok for o in dest.upsert_members(members))
    standin.latency = 0.05  # long enough for the segment calls to overlap
    counts.mark()

    adds = [TagChange(f"c{i}", email(i), "VIP", True) for i in range(n)]
    outcomes = dest.set_tags(adds + [TagChange("x", "nobody@mail.tailor-shop.com", "VIP", True)])

    assert [o.key for o in outcomes[:n]] == [c.key for c in adds]
    assert all(o.ok for o in outcomes[:n])
    assert not outcomes[n].ok and "not a member" in outcomes[n].error
    # 1,202 addresses: calls of 500, 500 and 202, at most 4 at a time, after one creation.
    assert counts.since_mark() == {SEGMENTS: 1, SEGMENT_NEW: 1, SEGMENT_BATCH: 3}
    assert 2 <= counts.peak_connections() <= 4
    assert segment(server, "VIP")["member_count"] == n

    removals = [TagChange(f"c{i}", email(i), "VIP", False) for i in range(0, n, 2)]
    gone = [TagChange("y", "nobody@mail.tailor-shop.com", "VIP", False)]
    never = [TagChange("z", email(1), "Never created", False)]
    assert all(o.ok for o in dest.set_tags(removals + gone + never))  # nothing to take off
    assert segment(server, "VIP")["member_count"] == n // 2
    assert tags_of(standin, email(0)) == set() and tags_of(standin, email(1)) == {"VIP"}
    assert "Never created" not in {s for s in standin._lists[LIST_ID]["tags"]}


def test_the_last_word_per_contact_and_tag_wins(standin, make_destination):
    dest = make_destination()
    dest.upsert_members([Member("c1", email(1), "subscribed", {}, known=False)])
    outcomes = dest.set_tags(
        [
            TagChange("c1", email(1), "Lapsed", True),
            TagChange("c1", email(1).upper(), "Lapsed", False),
            TagChange("c1", email(1), "VIP", True),
        ]
    )
    assert [o.ok for o in outcomes] == [True, True, True]
    assert tags_of(standin, email(1)) == {"VIP"}
