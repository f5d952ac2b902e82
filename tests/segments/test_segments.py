"""Each seed segment, built by dbt from a generated store, equals the same rule computed
directly with pandas from the generator's files, at several as_of moments."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
import segment_direct as direct
from segment_helpers import AS_OFS, rows

SIMPLE = {
    "seg_frequent_buyers": direct.frequent_buyers,
    "seg_recent_purchasers": direct.recent_purchasers,
    "seg_high_engagement": direct.high_engagement,
    "seg_category_interest": direct.category_interest,
    "seg_inactive_14d": direct.inactive,
    "seg_viewed_not_bought": direct.viewed_not_bought,
    "seg_ny_product_clickers": direct.ny_product_clickers,
}


@pytest.fixture(scope="module")
def stores(store: dict, built: dict[datetime, Path]) -> dict[datetime, direct.Store]:
    return {as_of: direct.Store(store["store"], warehouse) for as_of, warehouse in built.items()}


def members(warehouse: Path, model: str) -> set[str]:
    return {r[0] for r in rows(warehouse, f"select customer_id from {model}")}


@pytest.mark.parametrize("as_of", AS_OFS, ids=lambda d: d.strftime("%m%dT%H"))
@pytest.mark.parametrize("model", sorted(SIMPLE))
def test_segment_equals_the_direct_computation(
    model: str, as_of: datetime, stores: dict, built: dict
) -> None:
    compute: Callable = SIMPLE[model]
    expected = compute(stores[as_of], as_of)
    assert members(built[as_of], model) == expected


def test_the_data_exercises_every_segment(stores: dict, built: dict) -> None:
    """Guards the comparisons above against passing on empty sets."""
    for model, compute in SIMPLE.items():
        sizes = [len(compute(stores[a], a)) for a in AS_OFS]
        assert any(sizes), f"{model} is empty at every as_of"
    carts = [len(direct.abandoned_cart(stores[a], a)) for a in AS_OFS]
    assert any(carts)


@pytest.mark.parametrize("as_of", AS_OFS, ids=lambda d: d.strftime("%m%dT%H"))
def test_abandoned_carts_with_their_value(as_of: datetime, stores: dict, built: dict) -> None:
    expected = direct.abandoned_cart(stores[as_of], as_of)
    found = dict(rows(built[as_of], "select customer_id, cart_value from seg_abandoned_cart"))
    assert set(found) == set(expected)
    for customer, value in found.items():
        assert float(value) == pytest.approx(expected[customer])
    for count, items in rows(
        built[as_of], "select cart_item_count, cart_items from seg_abandoned_cart"
    ):
        assert count >= 1 and items


@pytest.mark.parametrize("as_of", AS_OFS, ids=lambda d: d.strftime("%m%dT%H"))
def test_lifecycle_segments_partition_the_profiles(as_of: datetime, built: dict) -> None:
    warehouse = built[as_of]
    stages = dict(rows(warehouse, "select customer_id, lifecycle_stage from dim_customers"))
    seen: dict[str, str] = {}
    for stage in ("new", "active", "lapsed", "churned", "prospect"):
        for customer in members(warehouse, f"seg_lifecycle_{stage}"):
            assert customer not in seen, f"{customer} is {seen[customer]} and {stage}"
            seen[customer] = stage
    assert seen == stages


def test_every_member_row_says_why(built: dict) -> None:
    warehouse = built[AS_OFS[0]]
    models = [r[0] for r in rows(warehouse, "select distinct model from segment_runs")]
    assert len(models) >= 13
    for model in models:
        assert rows(
            warehouse, f"select count(*) from {model} where reason is null or reason = ''"
        ) == [(0,)]


def test_merge_fields_are_the_declared_ones_and_fit_mailchimp(built: dict, stores: dict) -> None:
    from tailor.destinations.audiences import load_audiences

    as_of = AS_OFS[0]
    warehouse = built[as_of]
    specs = {
        r[0]: r[1] for r in rows(warehouse, "select distinct audience, model from segment_runs")
    }
    manifest = load_audiences(Path(warehouse).parent / "target" / "manifest.json")
    assert set(manifest) == set(specs)
    thanked = direct.recent_purchasers(stores[as_of], as_of)
    found = rows(warehouse, "select audience, customer_id, merge_fields from audience_members")
    assert found
    audiences_of: dict[str, set[str]] = {}
    for audience, customer, _ in found:
        audiences_of.setdefault(customer, set()).add(audience)
    for audience, customer, raw in found:
        fields = json.loads(raw)
        # One body per person: the merge fields of all the person's audiences.
        wanted = set().union(*(manifest[a].merge_fields for a in audiences_of[customer]))
        assert set(fields) == wanted, (audience, customer)
        for tag, value in fields.items():
            assert isinstance(value, str) and len(value) <= 255, (audience, tag)
            if tag not in ("LNAME", "LASTORDER"):
                assert value.strip(), (audience, tag)
        if "BANNER" in fields:
            assert fields["BANNER"] == ("THANKYOU" if customer in thanked else "NEWARRIVAL")
    nameless = rows(
        warehouse,
        "select count(*) from dim_customers join audience_merge_fields using (customer_id) "
        "where coalesce(trim(first_name), '') = '' and fname <> 'valued customer'",
    )
    assert nameless == [(0,)]
