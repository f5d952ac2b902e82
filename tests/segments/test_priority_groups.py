"""Within a priority group a person lands only in the highest-priority segment."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from segment_helpers import AS_OFS, rows
from tailor.destinations.audiences import load_audiences


@pytest.mark.parametrize("as_of", AS_OFS, ids=lambda d: d.strftime("%m%dT%H"))
def test_each_person_is_in_the_best_segment_of_each_group(as_of: datetime, built: dict) -> None:
    warehouse = built[as_of]
    specs = load_audiences(Path(warehouse).parent / "target" / "manifest.json")
    groups = {s.priority_group for s in specs.values() if s.priority_group}
    assert groups, "no segment declares a priority_group"
    subscribed = {
        r[0]
        for r in rows(
            warehouse,
            "select customer_id from dim_customers "
            "where email_consent_state = 'subscribed' and email is not null",
        )
    }
    sent = {}
    for audience, customer in rows(warehouse, "select audience, customer_id from audience_members"):
        sent.setdefault(audience, set()).add(customer)
    overlaps = 0
    for group in groups:
        in_group = sorted(
            (s for s in specs.values() if s.priority_group == group),
            key=lambda s: (-s.priority, s.name),
        )
        expected: dict[str, str] = {}
        for spec in in_group:
            for (customer,) in rows(warehouse, f"select customer_id from {spec.model}"):
                if customer not in subscribed:
                    continue
                if customer in expected:
                    overlaps += 1
                    continue
                expected[customer] = spec.name
        got: dict[str, str] = {}
        for spec in in_group:
            for customer in sent.get(spec.name, set()):
                assert customer not in got, f"{customer} in {got[customer]} and {spec.name}"
                got[customer] = spec.name
        assert got == expected
    if as_of == AS_OFS[0]:
        assert overlaps, "the data should put someone in two segments of a group"


def test_the_highest_priority_wins_after_a_rebuild(rebuilt: dict) -> None:
    """People put in several journey segments by hand land in the best one, and each
    build's as_of gets one snapshot of every segment in segment_runs."""
    people = rebuilt["journeys"]
    found = dict(
        rows(
            rebuilt["warehouse"],
            "select customer_id, audience from audience_members where audience in "
            "('abandoned_cart', 'viewed_not_bought', 'category_interest', 'inactive_14d', "
            "'big_spenders') and customer_id in (?, ?, ?)",
            list(people),
        )
    )
    assert found == people
    snapshots = rows(
        rebuilt["warehouse"],
        "select as_of, count(*), count(distinct run_id) from segment_runs group by 1 order by 1",
    )
    audiences = rows(rebuilt["warehouse"], "select count(distinct audience) from audience_members")
    assert [(a.date().isoformat(), n, r) for a, n, r in snapshots] == [
        ("2026-11-20", audiences[0][0] - 1, 1),  # the first build, before big_spenders
        ("2026-11-21", audiences[0][0], 1),
    ]
