"""Small hand-made landing files for the entities behind the fact models (products,
abandoned checkouts, collector events and webhooks, Mailchimp email activity), in the
landing contract's shapes, written with the real landing writer. Built around a few
people of a generated store, so each fact has a known answer."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tailor.settings import HISTORY_START
from tailor.sources.landing import LandingWriter

BASE_FILES = [
    ("shopify", "customers", "shopify_customers.jsonl", "updatedAt"),
    ("shopify", "orders", "shopify_orders.jsonl", "updatedAt"),
    ("hubspot", "contacts", "hubspot_contacts.jsonl", "properties.lastmodifieddate"),
]
RENAMED_CATEGORY = "Trail Footwear"
WEBHOOK_CHECKOUT_ID = "990001"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def tail(gid: str) -> str:
    return gid.rsplit("/", 1)[-1]


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write(
    landing: Path,
    source: str,
    entity: str,
    records: list[dict[str, Any]],
    updated_field: str,
    end: datetime,
    start: datetime = HISTORY_START,
) -> None:
    with LandingWriter(landing, source, entity, start, end, updated_field=updated_field) as w:
        w.write_page(records)


def land_base(store: Path, landing: Path, as_of: datetime) -> None:
    """The store's customers, orders and contacts, as a full refresh lands them."""
    for source, entity, name, updated_field in BASE_FILES:
        write(landing, source, entity, read_jsonl(store / name), updated_field, as_of)


@dataclass
class People:
    """The store's customers the fixtures are built around (Shopify GIDs and emails)."""

    browser: dict[str, Any]  # browses anonymously, then logs in; leaves a checkout
    reader: dict[str, Any]  # identified by email only; opens and unsubscribes
    buyer: dict[str, Any]  # leaves a checkout, then orders
    buyer_order_at: datetime


def pick_people(store: Path, as_of: datetime) -> People:
    customers = {c["id"]: c for c in read_jsonl(store / "shopify_customers.jsonl")}
    orders = [o for o in read_jsonl(store / "shopify_orders.jsonl") if not o["cancelledAt"]]
    last_order: dict[str, datetime] = {}
    for order in orders:
        gid, at = order["customer"]["id"], parse(order["createdAt"])
        last_order[gid] = max(at, last_order.get(gid, at))
    # people alone with their email (no family address), so it reaches them only
    holders: dict[str, set[str]] = {}
    for contact in read_jsonl(store / "hubspot_contacts.jsonl"):
        props = contact["properties"]
        key = (props.get("email") or "").strip().lower()
        holders.setdefault(key, set()).add((props.get("firstname") or "").lower())
    for c in customers.values():
        key = (c.get("email") or "").strip().lower()
        holders.setdefault(key, set()).add((c.get("firstName") or "").lower())
    with_email = [
        c
        for c in customers.values()
        if c.get("email") and "@" in c["email"] and len(holders[c["email"].strip().lower()]) == 1
    ]
    quiet = [c for c in with_email if last_order.get(c["id"], as_of) < as_of - timedelta(days=5)]
    ordered = [c for c in with_email if c["id"] in last_order and c not in quiet[:1]]
    browser, buyer = quiet[0], ordered[0]
    reader = next(c for c in with_email if c["id"] not in (browser["id"], buyer["id"]))
    return People(browser, reader, buyer, last_order[buyer["id"]])


def products(store: Path) -> list[dict[str, Any]]:
    """The catalogue the orders sold; the first product's type has since been renamed."""
    seen: dict[str, dict[str, Any]] = {}
    for order in read_jsonl(store / "shopify_orders.jsonl"):
        for line in order["lineItems"]:
            seen.setdefault(line["product"]["id"], {**line["product"], "sku": line["sku"]})
    records = []
    for n, (gid, product) in enumerate(sorted(seen.items())):
        collections = [{"id": f"gid://shopify/Collection/{n}", "title": product["productType"]}]
        variants = [{"id": f"gid://shopify/ProductVariant/{n}", "sku": product["sku"]}]
        # the query's connections ({nodes}) and the flattened lists both occur
        as_nodes = n % 2 == 0
        records.append(
            {
                "id": gid,
                "title": product["title"],
                "productType": RENAMED_CATEGORY if n == 0 else product["productType"],
                "vendor": "Ridgeline Supply",
                "tags": ["sandbox"],
                "status": "ARCHIVED" if n == 1 else "ACTIVE",
                "collections": {"nodes": collections} if as_nodes else collections,
                "variants": {"nodes": variants} if as_nodes else variants,
                "createdAt": "2024-01-01T00:00:00Z",
                "updatedAt": "2026-01-01T00:00:00Z",
            }
        )
    return records


def checkout(
    checkout_id: str,
    customer_gid: str,
    created: datetime,
    updated: datetime,
    completed: datetime | None,
    product: dict[str, Any],
) -> dict[str, Any]:
    """A GraphQL AbandonedCheckout node."""
    return {
        "id": f"gid://shopify/AbandonedCheckout/{checkout_id}",
        "createdAt": iso(created),
        "updatedAt": iso(updated),
        "completedAt": iso(completed) if completed else None,
        "abandonedCheckoutUrl": f"https://shop.example.com/checkouts/{checkout_id}/recover",
        "customer": {"id": customer_gid},
        "totalPriceSet": {"shopMoney": {"amount": "98.00", "currencyCode": "USD"}},
        "lineItems": {
            "nodes": [
                {
                    "id": f"gid://shopify/AbandonedCheckoutLineItem/{checkout_id}1",
                    "title": product["title"],
                    "quantity": 2,
                    "variant": {"id": "gid://shopify/ProductVariant/0"},
                    "product": {"id": product["id"]},
                    "originalUnitPriceSet": {"shopMoney": {"amount": "49.00"}},
                }
            ]
        },
    }


def track(message_id: str, at: datetime, event: str, anonymous_id: str, user_id: str | None,
          product: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    properties = {"url": "https://shop.example.com/"}
    if product:
        properties |= {
            "product_id": tail(product["id"]),
            "category": "whatever the page said",
            "price": 49.0,
            "quantity": 1,
        }
    return {
        "id": message_id,  # the collector lands a call under its messageId
        "type": "track",
        "event": event,
        "messageId": message_id,
        "anonymousId": anonymous_id,
        "userId": user_id,
        "timestamp": iso(at),
        "context": {"device": {"type": "Mobile"}},
        "properties": properties,
    }


def identify(message_id: str, at: datetime, anonymous_id: str, user_id: str | None,
             email: str) -> dict[str, Any]:  # fmt: skip
    return {
        "id": message_id,
        "type": "identify",
        "messageId": message_id,
        "anonymousId": anonymous_id,
        "userId": user_id,
        "timestamp": iso(at),
        "traits": {"email": email},
    }


def activity(campaign: str, email: str, action: str, at: datetime, **extra: Any) -> dict:
    stamp = iso(at)
    key = f"{campaign}|{email}|{action}|{stamp}"
    return {
        "id": hashlib.sha256(key.encode()).hexdigest(),
        "campaign_id": campaign,
        "list_id": "5d1e2f3a4b",
        "email_address": email,
        "action": action,
        "timestamp": stamp,
        "url": None,
        "ip": "192.0.2.1",
        **extra,
    }


def land_activity(store: Path, landing: Path, as_of: datetime) -> People:
    """Land the fixtures; returns the people they are built around."""
    people = pick_people(store, as_of)
    catalogue = products(store)
    renamed = catalogue[0]
    browser, reader, buyer = people.browser, people.reader, people.buyer
    day = as_of - timedelta(days=2)
    write(landing, "shopify", "products", catalogue, "updatedAt", as_of)

    checkouts = [
        checkout("71", browser["id"], day, day + timedelta(minutes=5), None, renamed),
        checkout(
            "72",
            buyer["id"],
            people.buyer_order_at - timedelta(hours=1),
            people.buyer_order_at - timedelta(hours=1),
            None,
            renamed,
        ),  # fmt: skip
        checkout("73", reader["id"], day, day, day + timedelta(minutes=3), renamed),
    ]
    write(landing, "shopify", "abandoned_checkouts", checkouts, "updatedAt", as_of)

    events = [
        track("m1", day, "Product Viewed", "anon-a", None, renamed),
        track("m2", day + timedelta(minutes=1), "Product Viewed", "anon-a", None, renamed),
        identify(
            "m3", day + timedelta(minutes=10), "anon-a", tail(browser["id"]), browser["email"]
        ),
        track(
            "m4",
            day + timedelta(minutes=11),
            "Product Added",
            "anon-a",
            tail(browser["id"]),
            renamed,
        ),  # fmt: skip
        track("m5", day, "Page Viewed", "anon-x", None),
        track("m6", day, "Product Viewed", "anon-b", None, catalogue[1]),
        identify("m7", day + timedelta(hours=1), "anon-b", None, f"  {reader['email'].upper()} "),
    ]
    write(
        landing, "collector", "events", events, "timestamp", as_of, start=as_of - timedelta(days=3)
    )
    # a late delivery of m1 lands again with the next interval
    write(
        landing,
        "collector",
        "events",
        events[:1],
        "timestamp",
        as_of + timedelta(days=1),
        start=as_of,
    )

    checkout_body = {
        "id": int(WEBHOOK_CHECKOUT_ID),
        "token": "abc",
        "email": browser["email"],
        "created_at": iso(as_of - timedelta(days=1)),
        "updated_at": iso(as_of - timedelta(days=1) + timedelta(minutes=2)),
        "completed_at": None,
        "abandoned_checkout_url": "https://shop.example.com/checkouts/990001/recover",
        "total_price": "49.00",
        "currency": "USD",
        "customer": {"id": int(tail(browser["id"])), "email": browser["email"]},
        "line_items": [
            {
                "title": renamed["title"],
                "quantity": 1,
                "price": "49.00",
                "product_id": int(tail(renamed["id"])),
            }
        ],  # fmt: skip
    }
    stale_pull = {**checkout_body, "id": 71, "updated_at": iso(day - timedelta(days=1))}
    order_body = {"id": 1, "admin_graphql_api_id": "gid://shopify/Order/1",
                  "customer": {"id": int(tail(buyer["id"]))}, "updated_at": iso(day)}  # fmt: skip
    received = iso(as_of - timedelta(days=1) + timedelta(minutes=3))

    def delivery(webhook_id: str, topic: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"id": webhook_id, "webhook_id": webhook_id, "topic": topic,
                "received_at": received, "body": body}  # fmt: skip

    webhooks = [
        delivery("w1", "checkouts/update", checkout_body),
        delivery("w1", "checkouts/update", checkout_body),  # redelivered
        delivery("w2", "checkouts/update", stale_pull),
        delivery("w3", "orders/create", order_body),
    ]
    write(landing, "collector", "shopify_webhooks", webhooks, "received_at", as_of)

    email_activity = [
        activity("c1", f" {browser['email'].upper()}", "open", day),
        activity(
            "c1",
            browser["email"],
            "click",
            day + timedelta(minutes=1),
            url="https://shop.example.com/p/1",
        ),  # fmt: skip
        activity("c1", "nobody@example.org", "bounce", day, type="hard"),
        activity("c1", reader["email"], "unsub", day),
    ]
    write(landing, "mailchimp", "email_activity", email_activity, "timestamp", as_of)
    return people
