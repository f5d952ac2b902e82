"""The generator's catalogue and behaviour: products, abandoned checkouts, collector events,
Mailchimp campaigns and email activity, consistent with the store and with each other."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, get_named_type

from sandbox.generate import CATALOG, generate
from sandbox.shopify import admin_schema

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)  # as in conftest.sandbox_data
NEW_FILES = [
    "shopify_products.jsonl",
    "shopify_abandoned_checkouts.jsonl",
    "events.jsonl",
    "mailchimp_campaigns.jsonl",
    "mailchimp_email_activity.jsonl",
]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def data(sandbox_data: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = {name: _jsonl(sandbox_data / name) for name in NEW_FILES}
    loaded["customers"] = _jsonl(sandbox_data / "shopify_customers.jsonl")
    loaded["orders"] = _jsonl(sandbox_data / "shopify_orders.jsonl")
    loaded["manifest"] = json.loads((sandbox_data / "manifest.json").read_text())
    return loaded


def test_new_files_are_byte_identical_for_the_same_arguments(tmp_path: Path) -> None:
    generate(tmp_path / "a", customers=300, seed=4, as_of=AS_OF)
    generate(tmp_path / "b", customers=300, seed=4, as_of=AS_OF)
    for name in NEW_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def _check_shape(value: Any, gql_type: Any, path: str) -> None:
    """Every stored key is a field of the 2025-01 type at that place (connections as lists)."""
    if value is None:
        assert not isinstance(gql_type, GraphQLNonNull), f"{path} is null but non-null"
        return
    inner = gql_type.of_type if isinstance(gql_type, GraphQLNonNull) else gql_type
    named = get_named_type(inner)
    if isinstance(inner, GraphQLList) or named.name.endswith("Connection"):
        item_type = (
            inner.of_type
            if isinstance(inner, GraphQLList)
            else named.fields["nodes"].type.of_type.of_type
        )
        for i, item in enumerate(value):
            _check_shape(item, item_type, f"{path}[{i}]")
        return
    if isinstance(named, GraphQLObjectType):
        assert isinstance(value, dict), path
        for key, item in value.items():
            assert key in named.fields, f"{path}.{key} is not a field of {named.name}"
            _check_shape(item, named.fields[key].type, f"{path}.{key}")


@pytest.mark.parametrize(
    ("file", "type_name"),
    [
        ("shopify_products.jsonl", "Product"),
        ("shopify_abandoned_checkouts.jsonl", "AbandonedCheckout"),
    ],
)
def test_stored_records_use_only_fields_of_the_2025_01_schema(
    data: dict[str, Any], file: str, type_name: str
) -> None:
    schema = admin_schema()
    for record in data[file][:200] + data[file][-200:]:
        _check_shape(record, GraphQLNonNull(schema.get_type(type_name)), type_name)


def test_products_are_the_catalogue_that_orders_reference(data: dict[str, Any]) -> None:
    products = data["shopify_products.jsonl"]
    assert len(products) == sum(len(items) for _, items in CATALOG)
    by_id = {p["id"]: p for p in products}
    skus = {v["sku"]: p for p in products for v in p["variants"]}
    for order in data["orders"]:
        first = _ts(order["createdAt"])
        for line in order["lineItems"]:
            product = by_id[line["product"]["id"]]
            assert product["productType"] == line["product"]["productType"]
            assert skus[line["sku"]]["id"] == product["id"]
            assert _ts(product["createdAt"]) <= first
    for product in products:
        assert product["productType"] in [c for c, _ in CATALOG]
        assert product["productType"] in [c["title"] for c in product["collections"]]
        assert _ts(product["createdAt"]) <= _ts(product["updatedAt"]) < AS_OF


def test_checkouts_are_abandoned_some_completed_later_some_recently(
    data: dict[str, Any],
) -> None:
    checkouts = data["shopify_abandoned_checkouts.jsonl"]
    customers = {c["id"]: c for c in data["customers"]}
    variants = {v["id"] for p in data["shopify_products.jsonl"] for v in p["variants"]}
    orders_at = defaultdict(set)
    for order in data["orders"]:
        orders_at[order["customer"]["id"]].add(order["createdAt"])
    completed = [c for c in checkouts if c["completedAt"]]
    open_ = [c for c in checkouts if not c["completedAt"]]
    assert 0.2 < len(completed) / len(checkouts) < 0.8
    for checkout in checkouts:
        customer = customers[checkout["customer"]["id"]]
        assert _ts(customer["createdAt"]) <= _ts(checkout["createdAt"])
        assert _ts(checkout["createdAt"]) <= _ts(checkout["updatedAt"]) < AS_OF
        total = sum(
            round(float(li["originalUnitPriceSet"]["shopMoney"]["amount"]) * 100) * li["quantity"]
            for li in checkout["lineItems"]
        )
        assert round(float(checkout["totalPriceSet"]["shopMoney"]["amount"]) * 100) == total
        assert all(li["variant"]["id"] in variants for li in checkout["lineItems"])
    for checkout in completed:  # a recovered cart became an order at its completion
        assert checkout["completedAt"] in orders_at[checkout["customer"]["id"]]
    day_ago = AS_OF - timedelta(days=1)
    recent = {c["customer"]["id"] for c in open_ if _ts(c["createdAt"]) >= day_ago}
    later_order = {
        cid for cid in recent if any(_ts(t) > day_ago for t in orders_at[cid])
    }  # an upper bound on who bought since
    truth = data["manifest"]["counts"]["customers_with_open_checkout_last_24h"]
    assert len(recent) - len(later_order) <= truth <= len(recent)
    assert truth >= 5


def test_events_are_track_and_identify_calls_in_the_last_60_days(data: dict[str, Any]) -> None:
    events = data["events.jsonl"]
    assert len(events) == data["manifest"]["counts"]["events"]
    ids = [e["messageId"] for e in events]
    assert len(set(ids)) == len(ids)
    names = Counter(e["event"] for e in events if e["type"] == "track")
    assert set(names) == {
        "Page Viewed",
        "Product Viewed",
        "Product Added",
        "Checkout Started",
        "Order Completed",
    }
    assert names["Product Viewed"] > names["Product Added"] > names["Order Completed"] > 0
    customers = {c["id"].rsplit("/", 1)[-1] for c in data["customers"]}
    earliest = AS_OF - timedelta(days=61)
    for e in events:
        assert earliest <= _ts(e["timestamp"]) < AS_OF
        assert e["userId"] is None or e["userId"] in customers
        if e["type"] == "track":
            assert e["context"]["device"]["type"] in ("mobile", "desktop", "tablet")
        else:
            assert e["type"] == "identify" and e["userId"] and "@" in e["traits"]["email"]
    orders = {o["id"].rsplit("/", 1)[-1]: o for o in data["orders"]}
    for e in events:
        if e.get("event") == "Order Completed":
            order = orders[e["properties"]["order_id"]]
            assert order["customer"]["id"].endswith("/" + e["userId"])


def test_anonymous_visits_are_identified_later(data: dict[str, Any]) -> None:
    events = data["events.jsonl"]  # sorted by time
    anonymous_before: set[str] = set()
    identified_later = set()
    for e in events:
        if e["type"] == "track" and e["userId"] is None:
            anonymous_before.add(e["anonymousId"])
        elif e["type"] == "identify" and e["anonymousId"] in anonymous_before:
            identified_later.add(e["anonymousId"])
    truth = data["manifest"]["counts"]["event_anonymous_ids_identified_later"]
    assert len(identified_later) == truth > 50
    # and some visitors never identify
    identified = {e["anonymousId"] for e in events if e["type"] == "identify"}
    assert anonymous_before - identified


def test_people_view_the_categories_they_buy_and_keep_to_one_device(
    data: dict[str, Any],
) -> None:
    viewed: set[tuple[str, str]] = set()
    bought: set[tuple[str, str]] = set()
    devices: dict[str, Counter[str]] = defaultdict(Counter)
    users = set()
    for e in data["events.jsonl"]:
        if e["type"] != "track" or e["userId"] is None:
            continue
        users.add(e["userId"])
        devices[e["userId"]][e["context"]["device"]["type"]] += 1
        if e["event"] == "Product Viewed":
            viewed.add((e["userId"], e["properties"]["category"]))
    for o in data["orders"]:
        uid = o["customer"]["id"].rsplit("/", 1)[-1]
        if uid in users and not o["cancelledAt"]:
            bought.update((uid, li["product"]["productType"]) for li in o["lineItems"])
    pairs = {(u, c) for u in users for c, _ in CATALOG}
    rate_viewed = len(bought & viewed) / len(viewed)
    rate_not_viewed = len(bought & (pairs - viewed)) / len(pairs - viewed)
    assert rate_viewed > 2 * rate_not_viewed, (rate_viewed, rate_not_viewed)
    busy = [c for c in devices.values() if sum(c.values()) >= 10]
    top_share = sum(max(c.values()) / sum(c.values()) for c in busy) / len(busy)
    assert top_share > 0.75, top_share


def test_campaigns_and_activity_have_realistic_rates(data: dict[str, Any]) -> None:
    campaigns = data["mailchimp_campaigns.jsonl"]
    activity = data["mailchimp_email_activity.jsonl"]
    customers = {c["email"]: c for c in data["customers"]}
    sent_at = {c["id"]: _ts(c["send_time"]) for c in campaigns}
    assert 14 <= len(campaigns) <= 20
    assert all(AS_OF - timedelta(days=61) <= t < AS_OF for t in sent_at.values())
    sends = sum(c["emails_sent"] for c in campaigns)
    actions = Counter(a["action"] for a in activity)
    unique_opens = len(
        {(a["campaign_id"], a["email_address"]) for a in activity if a["action"] == "open"}
    )
    assert 0.15 < unique_opens / sends < 0.40
    assert 0.005 < actions["bounce"] / sends < 0.02
    assert 0.0005 < actions["unsub"] / sends < 0.01
    assert actions["click"] < actions["open"]
    for a in activity:
        customer = customers[a["email_address"]]
        assert customer["emailMarketingConsent"]["marketingState"] == "SUBSCRIBED"
        assert sent_at[a["campaign_id"]] <= _ts(a["timestamp"]) < AS_OF
        assert (a["url"] is not None) == (a["action"] == "click")
        assert (a["type"] in ("hard", "soft")) == (a["action"] == "bounce")
    for c in campaigns:
        assert c["report_summary"]["unique_opens"] <= c["emails_sent"]


def test_some_people_are_highly_engaged_in_the_last_week(data: dict[str, Any]) -> None:
    week = AS_OF - timedelta(days=7)
    opens: Counter[str] = Counter()
    clicks: Counter[str] = Counter()
    for a in data["mailchimp_email_activity.jsonl"]:
        if _ts(a["timestamp"]) >= week and a["action"] == "open":
            opens[a["email_address"]] += 1
        elif _ts(a["timestamp"]) >= week and a["action"] == "click":
            clicks[a["email_address"]] += 1
    engaged = {e for e, n in opens.items() if n > 5 and clicks[e] > 2}
    assert len(engaged) == data["manifest"]["counts"]["email_highly_engaged_7d"] >= 5
