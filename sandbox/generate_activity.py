"""The store's catalogue and its people's behaviour, for ``sandbox.generate``.

Derived from the people and orders ``sandbox.generate`` made, with an RNG of its own, so
adding these files changed none of the existing ones:

- products: the catalogue as Admin GraphQL ``Product`` objects (collections, variants);
- abandoned checkouts: carts left at checkout, some completed later (then an order follows),
  most never; a recent cohort was left in the 24 hours before ``as_of``;
- events: track and identify calls of a web collector over the last ~60 days; people browse
  the categories they buy, visit anonymously first and are identified on login or checkout,
  and mostly use one device;
- Mailchimp campaigns twice a week over the last ~60 days, sent to subscribed customers, and
  their email activity (opens, clicks, bounces, unsubscribes) at realistic rates, with a small
  cohort of very engaged readers.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DAY = 86_400
HOUR = 3_600
ACTIVITY_DAYS = 60
SHOP_URL = "https://tailor-sandbox.myshopify.com"
SHOP_NUMBER = 60_123_456
LIST_ID = "5d1e2f3a4b"  # the sandbox's Mailchimp audience (sandbox.mailchimp.LIST_ID)
LIST_NAME = "Tailor sandbox"

COLLECTION_ID_BASE = 4_501_234_000_000
VARIANT_ID_BASE = 45_012_345_000_000
CHECKOUT_ID_BASE = 31_012_345_000_000
CHECKOUT_LINE_ID_BASE = 61_012_345_000_000

DEVICES = [("mobile", 55), ("desktop", 35), ("tablet", 10)]
VENDORS = {
    "Outdoor Gear": ["Ridgeline Supply", "Tailor Outfitters"],
    "Apparel": ["Northbound Apparel", "Tailor Outfitters"],
    "Footwear": ["Stride Works", "Ridgeline Supply"],
    "Home": ["Hearth & Pine"],
    "Beauty": ["Meadow Botanics"],
    "Electronics": ["Voltline", "Trailtech"],
}
SUBJECTS = [
    "New arrivals for the trail",
    "Our weekend sale starts now",
    "Gear up for colder days",
    "Picked for you this week",
    "Last chance: free shipping",
    "The layering guide",
    "Gifts under $50",
    "Back in stock",
]
# engagement tier -> (share, P(open), opens when opened, P(click | open), clicks, mean delay h)
TIERS = {
    "super": (0.03, 0.97, (3, 4), 0.95, (2, 2), 2.0),
    "high": (0.20, 0.60, (1, 3), 0.35, (1, 2), 4.0),
    "medium": (0.40, 0.25, (1, 2), 0.10, (1, 1), 10.0),
    "low": (0.37, 0.04, (1, 1), 0.05, (1, 1), 20.0),
}
BOUNCE_RATE = 0.012
HARD_BOUNCE_SHARE = 0.25
UNSUB_RATE = {"super": 0.0, "high": 0.001, "medium": 0.002, "low": 0.006}
ACTION_RANK = {"bounce": 0, "open": 1, "click": 2, "unsub": 3}  # ties sort in this order
UNSUB_REASONS = ["", "I no longer want to receive these emails", "Too many emails", "Spam"]


@dataclass
class Shopper:
    """What the behaviour generator needs of one store customer."""

    index: int
    numeric_id: int
    gid: str
    email: str
    email_valid: bool
    created: int
    subscribed_at: int | None  # consent time, when subscribed
    orders: list[int] = field(default_factory=list)


@dataclass
class OrderInfo:
    person: int
    created: int
    lines: list[tuple[int, int]]  # (product index, quantity)
    cancelled: bool


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_ms(ms: int) -> str:
    moment = datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{moment}.{ms % 1000:03d}Z"


def _iso_offset(ts: int) -> str:
    """Mailchimp writes instants with an explicit +00:00."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _dumps(record: dict[str, Any]) -> str:
    """One JSON line, as sandbox.generate writes them; large outputs are kept as lines."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _handle(title: str) -> str:
    words = "".join(ch if ch.isalnum() else " " for ch in title.lower()).split()
    return "-".join(words)


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"


def _weighted(rng: random.Random, pairs: list[tuple[str, float]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


# --------------------------------------------------------------------------- products


def make_products(
    rng: random.Random, catalog: list[dict[str, Any]], orders: list[OrderInfo], as_of: int
) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """Product records (sorted by id) and each product's variant id, by catalogue index."""
    history_start = min((o.created for o in orders), default=as_of - 365 * DAY)
    sold: Counter[int] = Counter()
    for order in orders:
        if not order.cancelled:
            for index, quantity in order.lines:
                sold[index] += quantity
    best = {index for index, _ in sorted(sold.items(), key=lambda kv: (-kv[1], kv[0]))[:12]}
    categories = sorted(
        {p["productType"] for p in catalog}, key=[p["productType"] for p in catalog].index
    )
    collections = {
        name: {
            "id": f"gid://shopify/Collection/{COLLECTION_ID_BASE + n * 11}",
            "title": name,
            "handle": _handle(name),
        }
        for n, name in enumerate([*categories, "Best Sellers", "Gifts Under $50"])
    }
    products, variant_ids = [], {}
    for index, item in enumerate(catalog):
        created = history_start - rng.randint(30, 400) * DAY - rng.randint(0, DAY)
        if rng.random() < 0.15:  # a recent edit: copy, tags, images
            updated = as_of - rng.randint(60, 7 * DAY)
        else:
            updated = rng.randint(created, as_of - 8 * DAY)
        category = item["productType"]
        tags = [_handle(category)]
        member_of = [collections[category]]
        if index in best:
            tags.append("bestseller")
            member_of.append(collections["Best Sellers"])
        if item["cents"] < 5000:
            tags.append("gift")
            member_of.append(collections["Gifts Under $50"])
        if rng.random() < 0.2:
            tags.append(rng.choice(["eco", "limited", "new-season"]))
        variant_ids[index] = f"gid://shopify/ProductVariant/{VARIANT_ID_BASE + index * 53}"
        products.append(
            {
                "id": item["id"],
                "title": item["title"],
                "handle": _handle(item["title"]),
                "productType": category,
                "vendor": rng.choice(VENDORS.get(category, ["Tailor Outfitters"])),
                "tags": sorted(tags),
                "status": "ACTIVE",
                "createdAt": _iso(created),
                "updatedAt": _iso(updated),
                "collections": member_of,
                "variants": [
                    {
                        "id": variant_ids[index],
                        "title": "Default Title",
                        "sku": item["sku"],
                        "price": _money(item["cents"]),
                    }
                ],
            }
        )
    return products, variant_ids


# --------------------------------------------------------------------------- checkouts


@dataclass
class _Cart:
    person: int
    created: int
    updated: int
    completed: int | None
    lines: list[tuple[int, int]]


def make_checkouts(
    rng: random.Random,
    shoppers: list[Shopper],
    orders: list[OrderInfo],
    catalog: list[dict[str, Any]],
    variant_ids: dict[int, str],
    affinity: dict[int, str],
    as_of: int,
) -> tuple[list[str], list[_Cart]]:
    """Abandoned checkouts as JSON lines (by id) and the carts behind them."""
    by_category: dict[str, list[int]] = {}
    for index, item in enumerate(catalog):
        by_category.setdefault(item["productType"], []).append(index)
    by_index = {s.index: s for s in shoppers}
    carts: list[_Cart] = []
    # checkouts left, then completed when the order was placed (a recovered cart)
    for order in orders:
        if order.cancelled or rng.random() >= 0.22:
            continue
        shopper = by_index[order.person]
        created = max(shopper.created + 60, order.created - rng.randint(2 * HOUR, 3 * DAY))
        if created >= order.created:
            continue
        carts.append(_Cart(order.person, created, order.created, order.created, order.lines))
    # checkouts never completed
    recent = as_of - ACTIVITY_DAYS * DAY
    for shopper in shoppers:
        k = rng.choices([0, 1, 2, 3], weights=[62, 27, 8, 3])[0]
        for _ in range(k):
            if rng.random() < 0.5:
                created = rng.randint(max(shopper.created, recent), as_of - HOUR)
            else:
                created = rng.randint(shopper.created, as_of - HOUR)
            carts.append(_open_cart(rng, shopper, created, by_category, affinity, as_of))
    # a cohort who left a cart in the last 24 hours, for the abandoned-cart segment
    cohort = rng.sample(shoppers, min(len(shoppers), max(5, len(shoppers) // 120)))
    for shopper in cohort:
        created = max(shopper.created + 60, as_of - rng.randint(45 * 60, 23 * HOUR))
        carts.append(_open_cart(rng, shopper, created, by_category, affinity, as_of))
    carts.sort(key=lambda c: (c.created, c.person))

    records = []
    next_id, next_line = CHECKOUT_ID_BASE, CHECKOUT_LINE_ID_BASE
    for number, cart in enumerate(carts):
        next_id += rng.randint(1, 41)
        items, total = [], 0
        for product_index, quantity in cart.lines:
            item = catalog[product_index]
            next_line += rng.randint(1, 17)
            total += item["cents"] * quantity
            items.append(
                {
                    "id": f"gid://shopify/AbandonedCheckoutLineItem/{next_line}",
                    "title": item["title"],
                    "quantity": quantity,
                    "sku": item["sku"],
                    "variantTitle": None,
                    "variant": {"id": variant_ids[product_index]},
                    "product": {"id": item["id"]},
                    "originalUnitPriceSet": {
                        "shopMoney": {"amount": _money(item["cents"]), "currencyCode": "USD"}
                    },
                }
            )
        token = f"{rng.getrandbits(128):032x}"
        money = {"shopMoney": {"amount": _money(total), "currencyCode": "USD"}}
        records.append(
            _dumps(
                {
                    "id": f"gid://shopify/AbandonedCheckout/{next_id}",
                    "name": f"#{200_001 + number}",
                    "abandonedCheckoutUrl": (
                        f"{SHOP_URL}/{SHOP_NUMBER}/checkouts/ac/{token}/recover?key={token[:16]}"
                    ),
                    "createdAt": _iso(cart.created),
                    "updatedAt": _iso(cart.updated),
                    "completedAt": _iso(cart.completed) if cart.completed is not None else None,
                    "customer": {"id": by_index[cart.person].gid},
                    "taxesIncluded": False,
                    "discountCodes": [],
                    "subtotalPriceSet": money,
                    "totalPriceSet": money,
                    "lineItems": items,
                }
            )
        )
    return records, carts


def _open_cart(
    rng: random.Random,
    shopper: Shopper,
    created: int,
    by_category: dict[str, list[int]],
    affinity: dict[int, str],
    as_of: int,
) -> _Cart:
    products = by_category[affinity[shopper.index]]
    k = rng.choices([1, 2, 3], weights=[55, 30, 15])[0]
    lines = [(p, rng.choices([1, 2], weights=[85, 15])[0]) for p in rng.sample(products, k)]
    updated = min(created + rng.randint(30, 1800), as_of - 1)
    return _Cart(shopper.index, created, updated, None, lines)


# --------------------------------------------------------------------------- events


@dataclass
class _Session:
    start: int
    kind: str  # "browse", "cart" or "order"
    lines: list[tuple[int, int]] = field(default_factory=list)
    order_id: str | None = None
    end_at: int | None = None  # the checkout or order time the session leads to


class _Events:
    """Builds track and identify calls in the collector's shape."""

    def __init__(self, rng: random.Random, catalog: list[dict[str, Any]], as_of: int):
        self.rng, self.catalog, self.as_of = rng, catalog, as_of
        # (time, messageId, JSON line): serialised at once, as a large store holds millions
        self.calls: list[tuple[int, str, str]] = []
        self.kinds: Counter[str] = Counter()

    def _base(self, ms: int, anonymous_id: str, user_id: str | None) -> dict[str, Any]:
        return {
            "messageId": _uuid(self.rng),
            "anonymousId": anonymous_id,
            "userId": user_id,
            "timestamp": _iso_ms(ms),
        }

    def track(
        self,
        ms: int,
        event: str,
        anonymous_id: str,
        user_id: str | None,
        device: str,
        properties: dict[str, Any],
    ) -> None:
        if ms >= self.as_of * 1000:
            return
        call = {"type": "track", "event": event, **self._base(ms, anonymous_id, user_id)}
        call["context"] = {"device": {"type": device}}
        call["properties"] = properties
        self._add(ms, call)

    def identify(self, ms: int, anonymous_id: str, user_id: str, email: str) -> None:
        if ms >= self.as_of * 1000:
            return
        call = {"type": "identify", **self._base(ms, anonymous_id, user_id)}
        call["traits"] = {"email": email}
        self._add(ms, call)

    def _add(self, ms: int, call: dict[str, Any]) -> None:
        self.calls.append((ms, call["messageId"], _dumps(call)))
        self.kinds[call["type"]] += 1

    def product(self, index: int, quantity: int | None = None) -> dict[str, Any]:
        item = self.catalog[index]
        props = {
            "product_id": item["id"].rsplit("/", 1)[-1],
            "sku": item["sku"],
            "category": item["productType"],
            "price": item["cents"] / 100,
            "url": f"{SHOP_URL}/products/{_handle(item['title'])}",
        }
        if quantity is not None:
            props["quantity"] = quantity
        return props


def make_events(
    rng: random.Random,
    shoppers: list[Shopper],
    orders: list[OrderInfo],
    order_ids: list[str],
    carts: list[_Cart],
    catalog: list[dict[str, Any]],
    affinity: dict[int, str],
    as_of: int,
    plant_rng: random.Random | None = None,
) -> tuple[list[str], dict[str, int]]:
    """Track and identify calls as JSON lines (by time, then messageId), and ground truth.
    With `plant_rng`, window shoppers are added from it (see `plant_window_shoppers`)."""
    window = as_of - ACTIVITY_DAYS * DAY
    by_category: dict[str, list[int]] = {}
    for index, item in enumerate(catalog):
        by_category.setdefault(item["productType"], []).append(index)
    categories = list(by_category)
    sessions: dict[int, list[_Session]] = {}
    for i, order in enumerate(orders):
        if order.created >= window and not order.cancelled:
            start = order.created - rng.randint(4 * 60, 40 * 60)
            sessions.setdefault(order.person, []).append(
                _Session(
                    start, "order", order.lines, order_ids[i].rsplit("/", 1)[-1], order.created
                )
            )
    for cart in carts:
        if cart.created >= window and cart.completed is None:
            start = cart.created - rng.randint(3 * 60, 30 * 60)
            sessions.setdefault(cart.person, []).append(
                _Session(start, "cart", cart.lines, None, cart.created)
            )
    out = _Events(rng, catalog, as_of)
    identified_anonymous = 0
    never_identified = 0
    for shopper in shoppers:
        own = sessions.get(shopper.index, [])
        if not own and rng.random() >= 0.35:
            continue  # not a visitor in these 60 days
        earliest = max(window, shopper.created)
        for _ in range(rng.randint(1, 3) + (1 if own else 0)):
            own.append(_Session(rng.randint(earliest, as_of - 60), "browse"))
        own.sort(key=lambda s: s.start)
        primary = _weighted(rng, DEVICES)
        secondary = rng.choice([d for d, _ in DEVICES if d != primary])
        anonymous = {primary: _uuid(rng), secondary: _uuid(rng)}
        # identified from the first checkout, or on a login at some visit, or never
        login = next((n for n, s in enumerate(own) if s.kind != "browse"), None)
        if login is None and rng.random() < 0.6:
            login = rng.randrange(len(own))
        elif login is not None and rng.random() < 0.5:
            login = 0  # a returning customer, logged in from the start
        user_id = str(shopper.numeric_id)
        identified_devices: set[str] = set()
        anonymous_before = set()
        for n, session in enumerate(own):
            device = primary if rng.random() < 0.85 else secondary
            known = login is not None and n >= login
            ms = session.start * 1000 + rng.randint(0, 999)
            if known and device not in identified_devices:
                out.identify(ms, anonymous[device], user_id, shopper.email)
                identified_devices.add(device)
                if device in anonymous_before:
                    identified_anonymous += 1
            elif not known:
                anonymous_before.add(device)
            uid = user_id if known else None
            _session_calls(
                rng,
                out,
                session,
                anonymous[device],
                uid,
                device,
                ms,
                shopper,
                by_category,
                categories,
                affinity,
            )
        if login is None:
            never_identified += 1
    # visitors who never sign in
    visitors = len(shoppers) // 4
    for _ in range(visitors):
        device = _weighted(rng, DEVICES)
        anonymous_id = _uuid(rng)
        favourite = rng.choice(categories)
        for _ in range(rng.randint(1, 3)):
            start = rng.randint(window, as_of - 60)
            session = _Session(start, "browse")
            ms = start * 1000 + rng.randint(0, 999)
            _session_calls(
                rng,
                out,
                session,
                anonymous_id,
                None,
                device,
                ms,
                None,
                by_category,
                categories,
                {-1: favourite},
            )
    planted = 0
    if plant_rng is not None:
        planted = plant_window_shoppers(
            plant_rng, out, shoppers, orders, catalog, by_category, affinity, as_of
        )
    out.calls.sort(key=lambda c: (c[0], c[1]))
    truth = {
        "events": len(out.calls),
        "event_tracks": out.kinds["track"],
        "event_identifies": out.kinds["identify"],
        "event_anonymous_ids_identified_later": identified_anonymous,
        "event_visitors_never_identified": never_identified + visitors,
        "event_window_shoppers": planted,
    }
    return [c[2] for c in out.calls], truth


WINDOW_SHOPPER_SHARE = 0.01  # of the subscribed shoppers
WINDOW_SHOPPER_DAYS = 7  # tailor_viewed_not_bought_window_days
WINDOW_SHOPPER_VIEWS = (3, 5)  # tailor_viewed_not_bought_min_views is 3


def plant_window_shoppers(
    rng: random.Random,
    out: _Events,
    shoppers: list[Shopper],
    orders: list[OrderInfo],
    catalog: list[dict[str, Any]],
    by_category: dict[str, list[int]],
    affinity: dict[int, str],
    as_of: int,
) -> int:
    """Signed-in shoppers who come back to one product of their favourite category 3-5
    times in the last week without buying it: browsing sessions pick products at random,
    so such people hardly ever arise by themselves. Built from an RNG and an `_Events` of
    their own, so the other calls (and the files made after them) stay as they were."""
    planted = _Events(rng, catalog, as_of)
    window = as_of - WINDOW_SHOPPER_DAYS * DAY
    eligible = [s for s in shoppers if s.subscribed_at is not None and s.email_valid]
    count = min(len(eligible), max(3, round(WINDOW_SHOPPER_SHARE * len(eligible))))
    done = 0
    for shopper in rng.sample(eligible, count):
        bought = {
            index
            for i in shopper.orders
            if orders[i].created >= window and not orders[i].cancelled
            for index, _ in orders[i].lines
        }
        category = affinity[shopper.index]
        choices = [i for i in by_category[category] if i not in bought]
        earliest = max(window, shopper.created) + 60
        if not choices or earliest >= as_of - 120:
            continue
        index = rng.choice(choices)
        device = _weighted(rng, DEVICES)
        anonymous_id = _uuid(rng)
        user_id = str(shopper.numeric_id)
        page = {"url": f"{SHOP_URL}/collections/{_handle(category)}", "category": category}
        for _ in range(rng.randint(*WINDOW_SHOPPER_VIEWS)):
            ms = rng.randint(earliest, as_of - 120) * 1000 + rng.randint(0, 999)
            planted.track(ms, "Page Viewed", anonymous_id, user_id, device, page)
            planted.track(
                ms + 20_000, "Product Viewed", anonymous_id, user_id, device, planted.product(index)
            )
        done += 1
    out.calls.extend(planted.calls)
    out.kinds.update(planted.kinds)
    return done


def _session_calls(
    rng: random.Random,
    out: _Events,
    session: _Session,
    anonymous_id: str,
    user_id: str | None,
    device: str,
    ms: int,
    shopper: Shopper | None,
    by_category: dict[str, list[int]],
    categories: list[str],
    affinity: dict[int, str],
) -> None:
    def step(low: int = 8, high: int = 150) -> int:
        return rng.randint(low, high) * 1000 + rng.randint(0, 999)

    out.track(ms, "Page Viewed", anonymous_id, user_id, device, {"url": f"{SHOP_URL}/"})
    if session.kind == "browse":
        favourite = affinity[shopper.index if shopper else -1]
        category = favourite if rng.random() < 0.7 else rng.choice(categories)
        ms += step()
        url = f"{SHOP_URL}/collections/{_handle(category)}"
        out.track(
            ms, "Page Viewed", anonymous_id, user_id, device, {"url": url, "category": category}
        )
        for index in rng.sample(by_category[category], rng.randint(1, 3)):
            ms += step()
            out.track(ms, "Product Viewed", anonymous_id, user_id, device, out.product(index))
            if rng.random() < 0.1:
                ms += step(3, 40)
                props = out.product(index, 1)
                out.track(ms, "Product Added", anonymous_id, user_id, device, props)
        return
    for index, quantity in session.lines:
        ms += step()
        out.track(ms, "Product Viewed", anonymous_id, user_id, device, out.product(index))
        ms += step(3, 60)
        out.track(ms, "Product Added", anonymous_id, user_id, device, out.product(index, quantity))
    assert session.end_at is not None
    total = sum(out.catalog[i]["cents"] * q for i, q in session.lines)
    # a checkout is started a minute before its order, or at the left cart's creation
    checkout_ms = max(
        ms + 1000,
        session.end_at * 1000 - 60_000 if session.kind == "order" else session.end_at * 1000,
    )
    props = {
        "url": f"{SHOP_URL}/checkouts",
        "price": total / 100,
        "quantity": sum(q for _, q in session.lines),
        "email": shopper.email if shopper and user_id else None,
    }
    out.track(checkout_ms, "Checkout Started", anonymous_id, user_id, device, props)
    if session.kind == "order":
        props = {
            "order_id": session.order_id,
            "url": f"{SHOP_URL}/checkouts/thank_you",
            "price": total / 100,
            "quantity": sum(q for _, q in session.lines),
            "products": [out.product(i, q) for i, q in session.lines],
        }
        out.track(
            max(checkout_ms + 1000, session.end_at * 1000),
            "Order Completed",
            anonymous_id,
            user_id,
            device,
            props,
        )


# --------------------------------------------------------------------------- mailchimp


def _campaign_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(40):010x}"


def _ip(rng: random.Random) -> str:
    first = rng.choice([24, 47, 68, 73, 98, 104, 172, 203])
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _tracked(category: str, campaign_id: str) -> str:
    """A collection link as the campaign carries it."""
    return (
        f"{SHOP_URL}/collections/{_handle(category)}"
        f"?utm_source=mailchimp&utm_campaign={campaign_id}"
    )


def campaign_record(
    campaign_id: str,
    web_id: int,
    subject: str,
    *,
    created: int,
    sent_at: int,
    sent: int,
    opens: int,
    unique_opens: int,
    clicks: int,
    subscriber_clicks: int,
) -> dict[str, Any]:
    """A sent regular campaign as `GET /campaigns` shows it, with its report summary."""
    return {
        "id": campaign_id,
        "web_id": web_id,
        "type": "regular",
        "create_time": _iso_offset(created),
        "archive_url": f"https://eepurl.com/{campaign_id[:6]}",
        "long_archive_url": (
            f"https://us1.campaign-archive.com/?u=0123456789abcdef&id={campaign_id}"
        ),
        "status": "sent",
        "emails_sent": sent,
        "send_time": _iso_offset(sent_at),
        "content_type": "template",
        "needs_block_refresh": False,
        "resendable": True,
        "recipients": {
            "list_id": LIST_ID,
            "list_is_active": True,
            "list_name": LIST_NAME,
            "segment_text": "",
            "recipient_count": sent,
        },
        "settings": {
            "subject_line": subject,
            "preview_text": "",
            "title": f"{subject} ({datetime.fromtimestamp(sent_at, UTC):%Y-%m-%d})",
            "from_name": "Tailor Outfitters",
            "reply_to": "hello@tailor-sandbox.example",
            "use_conversation": False,
            "to_name": "*|FNAME|*",
            "folder_id": "",
            "authenticate": True,
            "auto_footer": False,
            "inline_css": False,
            "auto_tweet": False,
            "fb_comments": False,
            "timewarp": False,
            "template_id": 101,
            "drag_and_drop": True,
        },
        "tracking": {
            "opens": True,
            "html_clicks": True,
            "text_clicks": False,
            "goal_tracking": False,
            "ecomm360": True,
            "google_analytics": "",
            "clicktale": "",
        },
        "report_summary": {
            "opens": opens,
            "unique_opens": unique_opens,
            "open_rate": round(unique_opens / sent, 4) if sent else 0,
            "clicks": clicks,
            "subscriber_clicks": subscriber_clicks,
            "click_rate": round(subscriber_clicks / sent, 4) if sent else 0,
        },
        "delivery_status": {"enabled": False},
    }


def make_mailchimp(
    rng: random.Random,
    shoppers: list[Shopper],
    catalog: list[dict[str, Any]],
    affinity: dict[int, str],
    as_of: int,
) -> tuple[list[dict[str, Any]], list[str], dict[str, int]]:
    """(campaigns, activity rows, ground truth): twice-weekly sends to subscribed customers."""
    first_day = (as_of - ACTIVITY_DAYS * DAY) // DAY * DAY
    send_times = []
    for day in range(first_day, as_of, DAY):
        weekday = datetime.fromtimestamp(day, UTC).weekday()
        send = day + 15 * HOUR
        if weekday in (1, 4) and as_of - ACTIVITY_DAYS * DAY <= send <= as_of - 12 * HOUR:
            send_times.append(send)
    audience = [s for s in shoppers if s.subscribed_at is not None and s.email_valid]
    tier_names = list(TIERS)
    tier_of: dict[int, str] = {}
    for shopper in audience:
        tier_of[shopper.index] = rng.choices(tier_names, weights=[TIERS[t][0] for t in tier_names])[
            0
        ]
    ip_of = {s.index: _ip(rng) for s in audience}
    gone: set[int] = set()  # unsubscribed or hard-bounced: no further sends
    campaigns: list[dict[str, Any]] = []
    rows: list[tuple[int, str, int, str]] = []  # (time, address, action rank, JSON line)

    def add(at: int, campaign_id: str, email: str, action: str, **fields: Any) -> None:
        row = {
            "campaign_id": campaign_id,
            "list_id": LIST_ID,
            "email_address": email,
            "action": action,
            "type": fields.get("type"),
            "timestamp": _iso_offset(at),
            "url": fields.get("url"),
            "ip": fields.get("ip"),
        }
        if action == "unsub":
            row["reason"] = fields.get("reason")
        rows.append((at, email, ACTION_RANK[action], _dumps(row)))

    for web_id, send in enumerate(send_times, start=11_001):
        campaign_id = _campaign_id(rng)
        category = rng.choice(list(dict.fromkeys(p["productType"] for p in catalog)))
        url = _tracked(category, campaign_id)
        recipients = [s for s in audience if s.subscribed_at <= send and s.index not in gone]
        opens = clicks = 0
        openers: set[int] = set()
        clickers: set[int] = set()
        for shopper in recipients:
            tier = tier_of[shopper.index]
            _share, p_open, n_opens, p_click, n_clicks, delay_h = TIERS[tier]
            email, ip = shopper.email, ip_of[shopper.index]
            if rng.random() < BOUNCE_RATE:
                hard = rng.random() < HARD_BOUNCE_SHARE
                ts = send + rng.randint(5, 600)
                add(ts, campaign_id, email, "bounce", type="hard" if hard else "soft")
                if hard:
                    gone.add(shopper.index)
                continue
            if rng.random() < p_open:
                ts = send + int(rng.expovariate(1 / (delay_h * HOUR))) + rng.randint(30, 300)
                for k in range(rng.randint(*n_opens)):
                    at = ts + k * rng.randint(60, 3 * HOUR)
                    if at < as_of:
                        opens += 1
                        openers.add(shopper.index)
                        add(at, campaign_id, email, "open", ip=ip)
                if rng.random() < p_click:
                    favourite = affinity[shopper.index]
                    for k in range(rng.randint(*n_clicks)):
                        at = ts + 20 + k * rng.randint(30, 900)
                        target = url if k == 0 else _tracked(favourite, campaign_id)
                        if at < as_of:
                            clicks += 1
                            clickers.add(shopper.index)
                            add(at, campaign_id, email, "click", url=target, ip=ip)
            if rng.random() < UNSUB_RATE[tier]:
                at = send + rng.randint(10 * 60, 2 * DAY)
                if at < as_of:
                    gone.add(shopper.index)
                    add(at, campaign_id, email, "unsub", reason=rng.choice(UNSUB_REASONS))
        sent = len(recipients)
        subject = SUBJECTS[(web_id - 11_001) % len(SUBJECTS)]
        campaigns.append(
            campaign_record(
                campaign_id,
                web_id,
                subject,
                created=send - rng.randint(2 * DAY, 5 * DAY),
                sent_at=send,
                sent=sent,
                opens=opens,
                unique_opens=len(openers),
                clicks=clicks,
                subscriber_clicks=len(clickers),
            )  # fmt: skip
        )
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    activity = [r[3] for r in rows]
    ranks = Counter(r[2] for r in rows)
    week = as_of - 7 * DAY
    opens_7d: Counter[str] = Counter()
    clicks_7d: Counter[str] = Counter()
    for ts, email, rank, _line in rows:
        if ts >= week and rank == ACTION_RANK["open"]:
            opens_7d[email] += 1
        elif ts >= week and rank == ACTION_RANK["click"]:
            clicks_7d[email] += 1
    truth = {
        "mailchimp_campaigns": len(campaigns),
        "mailchimp_activity": len(activity),
        "mailchimp_unsubscribes": ranks[ACTION_RANK["unsub"]],
        "mailchimp_bounces": ranks[ACTION_RANK["bounce"]],
        "email_highly_engaged_7d": sum(
            1 for email, n in opens_7d.items() if n > 5 and clicks_7d[email] > 2
        ),
    }
    return campaigns, activity, truth


# --------------------------------------------------------------------------- all of it


@dataclass
class Behaviour:
    products: list[dict[str, Any]]
    checkouts: list[str]  # JSON lines, as the large outputs are kept
    events: list[str]
    campaigns: list[dict[str, Any]]
    activity: list[str]
    truth: dict[str, int]


def build(
    seed: int,
    as_of: int,
    shoppers: list[Shopper],
    orders: list[OrderInfo],
    order_ids: list[str],
    catalog: list[dict[str, Any]],
) -> Behaviour:
    """Everything above, from an RNG of its own (the store's files stay as they were)."""
    rng = random.Random(seed * 1_000_003 + 17)
    categories = list(dict.fromkeys(p["productType"] for p in catalog))
    affinity: dict[int, str] = {}
    for shopper in shoppers:
        bought: Counter[str] = Counter()
        for i in shopper.orders:
            if not orders[i].cancelled:
                for index, quantity in orders[i].lines:
                    bought[catalog[index]["productType"]] += quantity
        if bought:
            top = max(bought.values())
            affinity[shopper.index] = next(c for c in categories if bought[c] == top)
        else:
            affinity[shopper.index] = rng.choice(categories)
    products, variant_ids = make_products(rng, catalog, orders, as_of)
    checkouts, carts = make_checkouts(rng, shoppers, orders, catalog, variant_ids, affinity, as_of)
    events, event_truth = make_events(
        rng,
        shoppers,
        orders,
        order_ids,
        carts,
        catalog,
        affinity,
        as_of,
        plant_rng=random.Random(seed * 1_000_003 + 29),
    )
    campaigns, activity, mail_truth = make_mailchimp(rng, shoppers, catalog, affinity, as_of)
    # left a cart in the last 24 hours and has not ordered since
    by_index = {s.index: s for s in shoppers}
    open_recent = set()
    for cart in carts:
        if cart.completed is None and cart.created >= as_of - DAY:
            later = [orders[i].created for i in by_index[cart.person].orders]
            if not any(t > cart.created for t in later):
                open_recent.add(cart.person)
    truth = {
        "shopify_products": len(products),
        "shopify_abandoned_checkouts": len(checkouts),
        "shopify_abandoned_checkouts_completed": sum(1 for c in carts if c.completed),
        "customers_with_open_checkout_last_24h": len(open_recent),
        **event_truth,
        **mail_truth,
    }
    return Behaviour(products, checkouts, events, campaigns, activity, truth)
