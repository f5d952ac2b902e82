"""A segment added as a SQL file and its YAML, in a copy of the project, becomes an
audience with no Python change: dbt builds it into audience_members, the sync's loader
finds it in the manifest, and `tailor segments` lists and shows it."""

from __future__ import annotations

import json
import re

import pytest
from segment_helpers import rows
from tailor import cli, transform
from tailor.destinations.audiences import load_audiences
from tailor.redact import mask_email

JOURNEYS = "('abandoned_cart', 'category_interest', 'inactive_14d', 'viewed_not_bought')"


def test_the_manifest_declares_the_new_audience(rebuilt: dict) -> None:
    specs = load_audiences(rebuilt["project"] / "target" / "manifest.json")
    spec = specs["big_spenders"]
    assert (spec.model, spec.tag, spec.on_leave) == ("seg_big_spenders", "Big spenders", "delete")
    assert (spec.priority_group, spec.priority, spec.merge_fields) == (
        "journey", 120, ("FNAME", "SPENT", "RECS")
    )  # fmt: skip


def test_audience_members_holds_the_new_segment(rebuilt: dict) -> None:
    warehouse = rebuilt["warehouse"]
    spenders = {r[0] for r in rows(warehouse, "select customer_id from seg_big_spenders")}
    sent = rows(
        warehouse,
        "select customer_id, merge_fields from audience_members where audience = 'big_spenders'",
    )
    assert sent and {r[0] for r in sent} <= spenders
    assert all(set(json.loads(r[1])) >= {"FNAME", "SPENT", "RECS"} for r in sent)
    # The highest priority of its group: nobody it holds is in another journey.
    both = rows(
        warehouse,
        "select count(*) from audience_members a join audience_members b using (customer_id) "
        f"where a.audience = 'big_spenders' and b.audience in {JOURNEYS}",
    )
    assert both == [(0,)]


def test_tailor_segments_lists_and_shows_it(rebuilt: dict, capsys: pytest.CaptureFixture) -> None:
    warehouse = rebuilt["warehouse"]
    spenders = rows(warehouse, "select count(*) from seg_big_spenders")[0][0]
    sent = rows(
        warehouse,
        "select customer_id, email from audience_members where audience = 'big_spenders' "
        "order by customer_id",
    )
    with transform.environment(rebuilt["env"]):
        assert cli.main(["segments"]) == 0
        listing = capsys.readouterr().out.splitlines()
        assert cli.main(["segments", "show", "big_spenders", "--limit", "3"]) == 0
        shown = capsys.readouterr().out
    table = {cells[0]: cells for cells in (re.split(r"\s{2,}", x) for x in listing)}
    # audience, tag, group, segment, members, change, as_of, refreshed
    assert table["big_spenders"][1:6] == [
        "Big spenders", "journey:120", str(spenders), str(len(sent)), "-"
    ]  # fmt: skip
    assert table["frequent_buyers"][5] == "+0"  # rebuilt on the same data
    assert f"{len(sent)} members" in shown and "SPENT:" in shown
    for customer_id, email in sent[:3]:
        assert customer_id in shown and mask_email(email) in shown
    for _, email in sent:
        assert email not in shown
