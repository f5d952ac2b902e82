"""The data generator: deterministic, realistic, shaped like the real APIs, with ground truth."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, get_named_type

from sandbox.generate import generate
from sandbox.shopify import admin_schema

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)  # as in conftest.sandbox_data
CUSTOMERS = 3000
REPO_ROOT = Path(__file__).resolve().parents[2]

FILES = [
    "shopify_customers.jsonl",
    "shopify_orders.jsonl",
    "hubspot_contacts.jsonl",
    "truth.csv",
    "manifest.json",
]
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _truth(path: Path) -> list[dict[str, str]]:
    with (path / "truth.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_same_arguments_give_byte_identical_files(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(first, customers=400, seed=11, as_of=AS_OF, invalid_emails=5)
    generate(second, customers=400, seed=11, as_of=AS_OF, invalid_emails=5)
    generate(other, customers=400, seed=12, as_of=AS_OF, invalid_emails=5)
    for name in FILES:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert (first / "shopify_customers.jsonl").read_bytes() != (
        other / "shopify_customers.jsonl"
    ).read_bytes()


def test_cli_writes_the_same_files_as_the_function(tmp_path: Path) -> None:
    generate(tmp_path / "fn", customers=200, seed=3, as_of=AS_OF)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sandbox.generate",
            "--customers",
            "200",
            "--seed",
            "3",
            "--as-of",
            "2026-11-20T00:00:00Z",
            "--out",
            str(tmp_path / "cli"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout)["shopify_customers"] == 200
    for name in FILES:
        assert (tmp_path / "fn" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()


def test_counts_and_manifest(sandbox_data: Path) -> None:
    customers = _jsonl(sandbox_data / "shopify_customers.jsonl")
    orders = _jsonl(sandbox_data / "shopify_orders.jsonl")
    contacts = _jsonl(sandbox_data / "hubspot_contacts.jsonl")
    manifest = json.loads((sandbox_data / "manifest.json").read_text())
    counts = manifest["counts"]
    assert manifest["arguments"] == {
        "customers": CUSTOMERS,
        "seed": 7,
        "as_of": "2026-11-20T00:00:00Z",
        "invalid_emails": 0,
    }
    assert len(customers) == counts["shopify_customers"] == CUSTOMERS
    assert len(orders) == counts["shopify_orders"]
    assert len(contacts) == counts["hubspot_contacts"]
    assert 2 * CUSTOMERS < len(orders) < 6 * CUSTOMERS
    # records sorted by numeric id, ids unique
    for records in (customers, orders, contacts):
        ids = [int(str(r["id"]).rsplit("/", 1)[-1]) for r in records]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # ~15% of people exist only in the CRM
    assert 0.13 < counts["hubspot_only_people"] / counts["people"] < 0.17
    cancelled = sum(1 for o in orders if o["cancelledAt"])
    assert 0.015 < cancelled / len(orders) < 0.05


def test_truth_covers_every_record_and_overlap_is_about_half(sandbox_data: Path) -> None:
    truth = _truth(sandbox_data)
    customers = _jsonl(sandbox_data / "shopify_customers.jsonl")
    contacts = _jsonl(sandbox_data / "hubspot_contacts.jsonl")
    by_source = defaultdict(dict)
    for row in truth:
        by_source[row["source"]][row["source_id"]] = row
    assert set(by_source["shopify"]) == {c["id"] for c in customers}
    assert set(by_source["hubspot"]) == {c["id"] for c in contacts}
    assert len(truth) == len(customers) + len(contacts)

    store_people = {r["person_id"] for r in by_source["shopify"].values()}
    crm_people = {r["person_id"] for r in by_source["hubspot"].values()}
    assert len(store_people) == len(customers)  # one store customer per person
    assert len(crm_people) == len(contacts)
    overlap = len(store_people & crm_people)
    assert 0.4 < overlap / len(customers) < 0.6

    # truth emails are the trimmed, lower-cased source emails
    for c in customers:
        assert by_source["shopify"][c["id"]]["email_normalized"] == c["email"].strip().lower()
    for c in contacts:
        expected = c["properties"]["email"].strip().lower()
        assert by_source["hubspot"][c["id"]]["email_normalized"] == expected


def test_crm_copies_differ_a_little_from_the_store(sandbox_data: Path) -> None:
    truth = _truth(sandbox_data)
    customers = {c["id"]: c for c in _jsonl(sandbox_data / "shopify_customers.jsonl")}
    contacts = {c["id"]: c for c in _jsonl(sandbox_data / "hubspot_contacts.jsonl")}
    person_store = {
        r["person_id"]: customers[r["source_id"]] for r in truth if r["source"] == "shopify"
    }
    pairs = [
        (person_store[r["person_id"]], contacts[r["source_id"]])
        for r in truth
        if r["source"] == "hubspot" and r["person_id"] in person_store
    ]
    case_changed = sum(
        1
        for s, h in pairs
        if h["properties"]["email"] != s["email"]
        and h["properties"]["email"].strip().lower() == s["email"]
    )
    typos = sum(
        1
        for s, h in pairs
        if (h["properties"]["firstname"], h["properties"]["lastname"])
        != (s["firstName"], s["lastName"])
    )
    other_phone_format = sum(
        1
        for s, h in pairs
        if s["phone"] and h["properties"]["phone"] and h["properties"]["phone"] != s["phone"]
    )
    assert 0.2 < case_changed / len(pairs) < 0.5
    assert 0.06 < typos / len(pairs) < 0.14
    assert other_phone_format / sum(1 for s, _ in pairs if s["phone"]) > 0.5
    for s, h in pairs:  # a typo is one letter, never a different person
        for a, b in (
            (s["firstName"], h["properties"]["firstname"]),
            (s["lastName"], h["properties"]["lastname"]),
        ):
            assert abs(len(a) - len(b)) <= 1 and a[0] == b[0]


def test_invalid_emails_option(tmp_path: Path) -> None:
    counts = generate(tmp_path, customers=300, seed=5, as_of=AS_OF, invalid_emails=12)
    assert counts["invalid_emails"] == 12
    customers = {c["id"]: c for c in _jsonl(tmp_path / "shopify_customers.jsonl")}
    truth = [r for r in _truth(tmp_path) if r["source"] == "shopify"]
    invalid = [r for r in truth if r["email_normalized"] == ""]
    assert len(invalid) == 12 and len(truth) == 300  # truth still lists them
    for row in invalid:
        assert not EMAIL_RE.match(customers[row["source_id"]]["email"])
    for row in truth:
        if row["email_normalized"]:
            assert EMAIL_RE.match(customers[row["source_id"]]["email"])


def test_timestamps_are_consistent_and_never_after_as_of(sandbox_data: Path) -> None:
    customers = _jsonl(sandbox_data / "shopify_customers.jsonl")
    orders = _jsonl(sandbox_data / "shopify_orders.jsonl")
    contacts = _jsonl(sandbox_data / "hubspot_contacts.jsonl")
    start = AS_OF - timedelta(days=3 * 365 + 61)
    last_order: dict[str, datetime] = {}
    for o in orders:
        created, updated = _ts(o["createdAt"]), _ts(o["updatedAt"])
        assert start <= created <= updated <= AS_OF
        assert _ts(o["processedAt"]) == created
        if o["cancelledAt"]:
            assert created <= _ts(o["cancelledAt"]) <= updated
        cid = o["customer"]["id"]
        last_order[cid] = max(last_order.get(cid, created), created)
    for c in customers:
        created, updated = _ts(c["createdAt"]), _ts(c["updatedAt"])
        assert start <= created <= updated <= AS_OF
        if c["id"] in last_order:
            assert updated >= last_order[c["id"]] >= created
    for c in contacts:
        p = c["properties"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", p["createdate"])
        assert p["createdate"] == c["createdAt"] and p["lastmodifieddate"] == c["updatedAt"]
        assert _ts(c["createdAt"]) <= _ts(c["updatedAt"]) <= AS_OF
    # order names follow creation order, as a store numbers them
    assert [o["name"] for o in orders] == [f"#{1001 + i}" for i in range(len(orders))]


def test_customer_totals_match_their_orders(sandbox_data: Path) -> None:
    customers = _jsonl(sandbox_data / "shopify_customers.jsonl")
    orders = _jsonl(sandbox_data / "shopify_orders.jsonl")
    count: Counter[str] = Counter()
    spent: Counter[str] = Counter()
    for o in orders:
        cents = round(float(o["totalPriceSet"]["shopMoney"]["amount"]) * 100)
        lines = sum(
            round(float(li["originalUnitPriceSet"]["shopMoney"]["amount"]) * 100) * li["quantity"]
            for li in o["lineItems"]
        )
        assert cents == lines and 1 <= len(o["lineItems"]) <= 4
        count[o["customer"]["id"]] += 1
        if not o["cancelledAt"]:
            spent[o["customer"]["id"]] += cents
    for c in customers:
        assert c["numberOfOrders"] == str(count[c["id"]])
        assert c["amountSpent"] == {"amount": f"{spent[c['id']] / 100:.2f}", "currencyCode": "USD"}
    product_types = {li["product"]["productType"] for o in orders for li in o["lineItems"]}
    assert product_types == {"Outdoor Gear", "Apparel", "Footwear", "Home", "Beauty", "Electronics"}


def test_segment_activity_targets_hold(sandbox_data: Path) -> None:
    """On 3,000 customers: 15-30% ordered in the last 30 days, 2-5% more than 3 times."""
    orders = _jsonl(sandbox_data / "shopify_orders.jsonl")
    window = AS_OF - timedelta(days=30)
    recent: Counter[str] = Counter(
        o["customer"]["id"]
        for o in orders
        if not o["cancelledAt"] and window <= _ts(o["createdAt"]) < AS_OF
    )
    ordered = len(recent) / CUSTOMERS
    frequent = sum(1 for n in recent.values() if n > 3) / CUSTOMERS
    assert 0.15 <= ordered <= 0.30, ordered
    assert 0.02 <= frequent <= 0.05, frequent
    per_customer = Counter(o["customer"]["id"] for o in orders)
    assert sum(1 for n in per_customer.values() if n >= 10) > 0.03 * CUSTOMERS  # a long tail
    assert CUSTOMERS - len(per_customer) > 0.15 * CUSTOMERS  # and many who never ordered


def test_consent_and_crm_fields(sandbox_data: Path) -> None:
    customers = _jsonl(sandbox_data / "shopify_customers.jsonl")
    states = Counter(c["emailMarketingConsent"]["marketingState"] for c in customers)
    share = {k: v / len(customers) for k, v in states.items()}
    assert 0.58 < share["SUBSCRIBED"] < 0.72 and 0.15 < share["NOT_SUBSCRIBED"] < 0.25
    assert 0.06 < share["UNSUBSCRIBED"] < 0.14 and 0.02 < share["PENDING"] < 0.08
    for c in customers:
        assert re.fullmatch(r"\+\d{10,14}", c["phone"]) if c["phone"] else True
        assert c["defaultAddress"]["countryCodeV2"] in {"US", "CA", "GB", "DE"}
    contacts = _jsonl(sandbox_data / "hubspot_contacts.jsonl")
    for c in contacts:
        assert all(v is None or isinstance(v, str) for v in c["properties"].values())
        assert c["properties"]["hs_object_id"] == c["id"] and c["archived"] is False
    optout = sum(1 for c in contacts if c["properties"]["hs_email_optout"] == "true")
    assert 0.02 < optout / len(contacts) < 0.09
    stages = Counter(c["properties"]["lifecyclestage"] for c in contacts)
    assert {"subscriber", "lead", "customer"} <= set(stages)


def _check_shape(value: Any, gql_type: Any, path: str) -> None:
    named = get_named_type(gql_type)
    inner = gql_type.of_type if isinstance(gql_type, GraphQLNonNull) else gql_type
    if value is None:
        assert not isinstance(gql_type, GraphQLNonNull), f"{path} is null but non-null"
        return
    if isinstance(value, list):
        assert isinstance(inner, GraphQLList) or named.name.endswith("Connection"), path
        item_type = (
            inner.of_type
            if isinstance(inner, GraphQLList)
            else (named.fields["nodes"].type.of_type.of_type)
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
    [("shopify_customers.jsonl", "Customer"), ("shopify_orders.jsonl", "Order")],
)
def test_stored_records_use_only_fields_of_the_2025_01_schema(
    sandbox_data: Path, file: str, type_name: str
) -> None:
    schema = admin_schema()
    records = _jsonl(sandbox_data / file)
    for record in records[:200] + records[-200:]:
        _check_shape(record, GraphQLNonNull(schema.get_type(type_name)), type_name)
    assert "defaultEmailAddress" not in schema.get_type("Customer").fields


def test_some_shoppers_view_one_product_three_times_in_a_week_without_buying_it(
    sandbox_data: Path,
) -> None:
    """The people `seg_viewed_not_bought` is for: planted from an RNG of their own, as
    random browsing hardly ever makes them."""
    week = AS_OF - timedelta(days=7)
    views: Counter[tuple[str, str]] = Counter()
    for e in _jsonl(sandbox_data / "events.jsonl"):
        if e.get("event") == "Product Viewed" and e["userId"] and _ts(e["timestamp"]) >= week:
            views[(e["userId"], e["properties"]["product_id"])] += 1
    bought = {
        (o["customer"]["id"].rsplit("/", 1)[-1], li["product"]["id"].rsplit("/", 1)[-1])
        for o in _jsonl(sandbox_data / "shopify_orders.jsonl")
        if not o["cancelledAt"] and _ts(o["createdAt"]) >= week
        for li in o["lineItems"]
    }
    window_shoppers = {u for (u, p), n in views.items() if n >= 3 and (u, p) not in bought}
    planted = json.loads((sandbox_data / "manifest.json").read_text())["counts"]
    assert planted["event_window_shoppers"] >= 0.005 * CUSTOMERS
    assert len(window_shoppers) >= planted["event_window_shoppers"]
