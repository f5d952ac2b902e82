"""Deterministic customer data for the stand-ins, with ground truth for identity resolution.

    python -m sandbox.generate --customers 3000 --seed 7 --as-of 2026-11-20T00:00:00Z --out DIR

writes, in the shapes the stand-ins serve (one JSON record per line, sorted by id):

- ``shopify_customers.jsonl`` - Shopify Admin GraphQL 2025-01 ``Customer`` objects
- ``shopify_orders.jsonl``    - ``Order`` objects, line items stored as a list
- ``hubspot_contacts.jsonl``  - HubSpot CRM v3 contact objects (all property values strings)
- ``truth.csv``               - ``source,source_id,person_id,email_normalized`` for every record
- ``shopify_products.jsonl``  - the catalogue as ``Product`` objects (collections, variants)
- ``shopify_abandoned_checkouts.jsonl`` - ``AbandonedCheckout`` objects, line items as a list
- ``events.jsonl``            - a web collector's track and identify calls, oldest first
- ``mailchimp_campaigns.jsonl``, ``mailchimp_email_activity.jsonl`` - campaigns sent and
  one row per open, click, bounce or unsubscribe (``sandbox.generate_activity``)
- ``manifest.json``           - the arguments and the counts, with ground truth for the
  segments (e.g. ``customers_with_open_checkout_last_24h``, ``email_highly_engaged_7d``)

``--customers N`` is the number of store (Shopify) customers. About half of them also
appear in the CRM, with small differences (email case, a one-letter name typo, another
phone format); CRM-only people are added so that they make up ~15% of all people.

The same arguments always give byte-identical files: Faker is seeded per instance and
only used to build pools of names and places; every other choice comes from one
``random.Random(seed)``, and nothing reads the wall clock. Sets are used for membership
only, never iterated, so hash randomisation cannot change the output.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faker import Faker

from sandbox import generate_activity as activity
from sandbox.http_base import paused_gc

DEFAULT_AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
DAY = 86_400
HISTORY_DAYS = 3 * 365
RECENT_DAYS = 30

CUSTOMER_ID_BASE = 7_012_345_000_000
ORDER_ID_BASE = 5_601_234_000_000
LINE_ITEM_ID_BASE = 14_012_345_000_000
PRODUCT_ID_BASE = 8_101_234_000_000
ADDRESS_ID_BASE = 9_012_345_000_000
CONTACT_ID_BASE = 51

# country code, Shopify country name, HubSpot country text, share of people
COUNTRIES = [
    ("US", "United States", "United States", 0.82),
    ("CA", "Canada", "Canada", 0.08),
    ("GB", "United Kingdom", "United Kingdom", 0.06),
    ("DE", "Germany", "Germany", 0.04),
]
LOCALES = {
    "US": [("en", 0.93), ("es", 0.07)],
    "CA": [("en-CA", 0.7), ("fr", 0.3)],
    "GB": [("en", 0.85), ("en-GB", 0.15)],
    "DE": [("de", 0.9), ("en", 0.1)],
}
FAKER_LOCALE = {"US": "en_US", "CA": "en_CA", "GB": "en_GB", "DE": "de_DE"}
EMAIL_DOMAINS = {
    "US": [
        ("gmail.com", 40),
        ("yahoo.com", 14),
        ("outlook.com", 10),
        ("hotmail.com", 8),
        ("icloud.com", 10),
        ("aol.com", 4),
        ("comcast.net", 3),
        ("proton.me", 3),
        ("example.com", 8),
    ],
    "CA": [
        ("gmail.com", 40),
        ("hotmail.ca", 12),
        ("yahoo.ca", 10),
        ("outlook.com", 10),
        ("icloud.com", 10),
        ("shaw.ca", 5),
        ("example.ca", 13),
    ],
    "GB": [
        ("gmail.com", 35),
        ("hotmail.co.uk", 15),
        ("yahoo.co.uk", 10),
        ("outlook.com", 10),
        ("btinternet.com", 8),
        ("icloud.com", 10),
        ("example.co.uk", 12),
    ],
    "DE": [
        ("gmail.com", 25),
        ("gmx.de", 20),
        ("web.de", 20),
        ("t-online.de", 10),
        ("outlook.de", 10),
        ("example.de", 15),
    ],
}
CONSENT_STATES = [("SUBSCRIBED", 65), ("NOT_SUBSCRIBED", 20), ("UNSUBSCRIBED", 10), ("PENDING", 5)]
LIFECYCLE_STAGES = [
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
]
LEAD_STATUSES = [
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "BAD_TIMING",
]
CANCEL_REASONS = ["CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "OTHER"]

# (category, [(title, price in cents)]): 10 products per category, 60 in all.
CATALOG = [
    (
        "Outdoor Gear",
        [
            ("Trailblazer 2-Person Tent", 24900),
            ("Summit 45L Backpack", 15900),
            ("Ultralight Sleeping Bag", 18900),
            ("Carbon Trekking Poles", 8900),
            ("Insulated Water Bottle", 3400),
            ("Camp Stove Kit", 6900),
            ("Headlamp 400 Lumen", 3900),
            ("Packable Hammock", 5900),
            ("Waterproof Dry Bag 20L", 2900),
            ("Folding Camp Chair", 4900),
        ],
    ),
    (
        "Apparel",
        [
            ("Merino Base Layer Top", 7900),
            ("Rain Shell Jacket", 14900),
            ("Fleece Quarter Zip", 6900),
            ("Organic Cotton Tee", 2800),
            ("Hiking Shorts", 4900),
            ("Down Puffer Vest", 11900),
            ("Wool Beanie", 2400),
            ("Softshell Pants", 8900),
            ("Sun Hoodie", 5400),
            ("Thermal Leggings", 5900),
        ],
    ),
    (
        "Footwear",
        [
            ("Trail Runner Shoe", 13900),
            ("Waterproof Hiking Boot", 18900),
            ("Camp Slide Sandal", 4500),
            ("Merino Hiking Socks 3-Pack", 3600),
            ("Approach Shoe", 14900),
            ("Winter Snow Boot", 17900),
            ("Recovery Clog", 6500),
            ("Road Running Shoe", 12900),
            ("Gaiters", 3900),
            ("Insole Comfort Pro", 4900),
        ],
    ),
    (
        "Home",
        [
            ("Enamel Camp Mug Set", 3200),
            ("Wool Throw Blanket", 8900),
            ("Cast Iron Skillet", 5400),
            ("Beeswax Candle Trio", 3600),
            ("Linen Napkin Set", 2900),
            ("Pour-Over Coffee Kit", 4900),
            ("Ceramic Planter", 3900),
            ("Canvas Storage Bin", 2600),
            ("Bamboo Cutting Board", 3400),
            ("Cedar Doormat", 4400),
        ],
    ),
    (
        "Beauty",
        [
            ("Mineral Sunscreen SPF 50", 2200),
            ("Lip Balm 4-Pack", 1200),
            ("Unscented Body Lotion", 1800),
            ("Charcoal Face Wash", 2100),
            ("Hydrating Face Mist", 2400),
            ("Natural Deodorant", 1400),
            ("Bar Soap Sampler", 1900),
            ("Hand Salve Tin", 1500),
            ("Bug Repellent Spray", 1600),
            ("Dry Shampoo", 1700),
        ],
    ),
    (
        "Electronics",
        [
            ("Solar Power Bank 20000mAh", 6900),
            ("GPS Watch", 29900),
            ("Bluetooth Trail Speaker", 7900),
            ("Rechargeable Lantern", 5400),
            ("Action Camera", 24900),
            ("Wireless Earbuds Sport", 12900),
            ("Two-Way Radio Pair", 8900),
            ("Satellite Messenger", 34900),
            ("USB-C Fast Charger", 2900),
            ("E-Reader Rugged", 15900),
        ],
    ),
]


@dataclass
class Person:
    """One human being; the truth that the source records derive from."""

    index: int
    person_id: str
    first: str
    last: str
    email: str
    phone: str | None  # E.164
    country: str
    address1: str
    city: str
    province: str | None
    province_code: str | None
    zip: str
    locale: str
    created: int  # epoch seconds
    consent_state: str
    consent_level: str
    consent_at: int | None
    in_store: bool
    in_crm: bool
    orders: list[int] = field(default_factory=list)  # indices into the order list


@dataclass
class _Pools:
    first: dict[str, list[str]]
    last: dict[str, list[str]]
    streets: dict[str, list[str]]
    places: dict[str, list[tuple[str, str | None, str | None, str]]]


def _build_pools(seed: int, size: int = 2000) -> _Pools:
    """Names and places drawn once from seeded Faker instances, then sampled by the RNG."""
    from faker.providers.address.en_CA import Provider as CAProvider
    from faker.providers.address.en_US import Provider as USProvider

    us_names = dict(
        zip(USProvider.states, [a for a in USProvider.states_abbr if a != "DC"], strict=True)
    )
    us_by_code = {code: name for name, code in us_names.items()}
    us_by_code["DC"] = "District of Columbia"
    ca_by_code = dict(zip(CAProvider.provinces_abbr, CAProvider.provinces, strict=True))

    first: dict[str, list[str]] = {}
    last: dict[str, list[str]] = {}
    streets: dict[str, list[str]] = {}
    places: dict[str, list[tuple[str, str | None, str | None, str]]] = {}
    for offset, (code, *_rest) in enumerate(COUNTRIES):
        fake = Faker(FAKER_LOCALE[code])
        fake.seed_instance(seed * 1000 + offset)
        n = size if code == "US" else size // 4
        first[code] = [fake.first_name() for _ in range(n)]
        last[code] = [fake.last_name() for _ in range(n)]
        streets[code] = [fake.street_name() for _ in range(n // 4)]
        pool: list[tuple[str, str | None, str | None, str]] = []
        for _ in range(n // 4):
            if code == "US":
                abbr = fake.state_abbr(
                    include_territories=False, include_freely_associated_states=False
                )
                pool.append((fake.city(), us_by_code[abbr], abbr, fake.zipcode_in_state(abbr)))
            elif code == "CA":
                abbr = fake.province_abbr()
                pool.append(
                    (fake.city(), ca_by_code[abbr], abbr, fake.postalcode_in_province(abbr))
                )
            else:
                pool.append((fake.city(), None, None, fake.postcode()))
        places[code] = pool
    return _Pools(first, last, streets, places)


_ASCII = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "Ä": "Ae",
        "Ö": "Oe",
        "Ü": "Ue",
        "ø": "o",
        "æ": "ae",
        "ł": "l",
    }
)


def _slug(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name.translate(_ASCII)).encode("ascii", "ignore")
    return "".join(ch for ch in plain.decode().lower() if ch.isalnum())


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_ms(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _weighted(rng: random.Random, pairs: list[tuple[str, float]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _nanp_number(rng: random.Random) -> str:
    area = f"{rng.randint(2, 9)}{rng.randint(0, 8)}{rng.randint(0, 9)}"
    exchange = f"{rng.randint(2, 9)}{rng.randint(0, 9)}{rng.randint(0, 9)}"
    if exchange[1:] == "11":
        exchange = exchange[0] + "21"
    return f"{area}{exchange}{rng.randint(0, 9999):04d}"


def _phone(rng: random.Random, country: str) -> str:
    if country in ("US", "CA"):
        return "+1" + _nanp_number(rng)
    if country == "GB":
        return f"+447{rng.randint(100, 999)}{rng.randint(0, 999999):06d}"
    return f"+491{rng.choice(['51', '52', '60', '70', '76'])}{rng.randint(0, 9999999):07d}"


def _crm_phone(rng: random.Random, e164: str) -> str:
    """The same number as a person would type it into a form."""
    if e164.startswith("+1"):
        d = e164[2:]
        return rng.choice(
            [
                f"({d[:3]}) {d[3:6]}-{d[6:]}",
                e164,
                f"{d[:3]}.{d[3:6]}.{d[6:]}",
                f"{d[:3]}-{d[3:6]}-{d[6:]}",
                f"1{d}",
            ]
        )
    if e164.startswith("+44"):
        d = e164[3:]
        return rng.choice([f"+44 {d[:4]} {d[4:]}", f"0{d[:4]} {d[4:]}", e164])
    d = e164[3:]
    return rng.choice([f"+49 {d[:3]} {d[3:]}", f"0{d[:3]} {d[3:]}", e164])


def _typo(rng: random.Random, name: str) -> str:
    """One-letter edit: substitute, drop, double or swap a letter (never the first one)."""
    if len(name) < 3:
        return name + name[-1]
    i = rng.randint(1, len(name) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        letters = "aeioulnrst"
        new = rng.choice([c for c in letters if c != name[i].lower()])
        return name[:i] + new + name[i + 1 :]
    if kind == 1:
        return name[:i] + name[i + 1 :]
    if kind == 2:
        return name[:i] + name[i] + name[i:]
    if i == len(name) - 1:
        i -= 1
    if i == 0:
        return name[0] + name[2] + name[1] + name[3:]
    return name[:i] + name[i + 1] + name[i] + name[i + 2 :]


def _case_variant(rng: random.Random, email: str) -> str:
    local, _, domain = email.partition("@")
    kind = rng.randrange(3)
    if kind == 0:
        local = ".".join(p[:1].upper() + p[1:] for p in local.split("."))
        domain = domain[:1].upper() + domain[1:]
    elif kind == 1:
        return email.upper()
    else:
        local = local[:1].upper() + local[1:]
    return f"{local}@{domain}"


def _invalid_email(rng: random.Random, email: str) -> str:
    local, _, domain = email.partition("@")
    return rng.choice(
        [
            f"{local}@@{domain}",
            f"{local}.{domain}",
            f"{local}@{domain.rsplit('.', 1)[0]}",
            f"{local} {local[:1]}@{domain}",
            f"{local}@{domain}.",
            f"@{domain}",
        ]
    )


def _make_email(rng: random.Random, first: str, last: str, country: str, taken: set[str]) -> str:
    f, la = _slug(first) or "customer", _slug(last) or "shopper"
    pattern = rng.randrange(7)
    local = [
        f"{f}.{la}",
        f"{f}{la}",
        f"{f[0]}{la}",
        f"{f}_{la}",
        f"{f}.{la}{rng.randint(1, 99)}",
        f"{f}{rng.randint(70, 99)}",
        f"{la}.{f}",
    ][pattern]
    domain = _weighted(rng, EMAIL_DOMAINS[country])
    email = f"{local}@{domain}"
    while email in taken:
        email = f"{local}{rng.randint(1, 9999)}@{domain}"
    taken.add(email)
    return email


def _make_people(
    rng: random.Random, pools: _Pools, n_store: int, n_crm_only: int, as_of: int
) -> list[Person]:
    total = n_store + n_crm_only
    crm_only = set(rng.sample(range(total), n_crm_only))
    country_codes = [c[0] for c in COUNTRIES]
    country_weights = [c[3] for c in COUNTRIES]
    taken_emails: set[str] = set()
    taken_phones: set[str] = set()
    start = as_of - HISTORY_DAYS * DAY
    people: list[Person] = []
    for i in range(total):
        country = rng.choices(country_codes, weights=country_weights)[0]
        first = rng.choice(pools.first[country])
        last = rng.choice(pools.last[country])
        email = _make_email(rng, first, last, country, taken_emails)
        phone = None
        if rng.random() < 0.8:
            phone = _phone(rng, country)
            while phone in taken_phones:
                phone = _phone(rng, country)
            taken_phones.add(phone)
        city, province, province_code, zip_code = rng.choice(pools.places[country])
        street = rng.choice(pools.streets[country])
        number = rng.randint(1, 9999) if country in ("US", "CA") else rng.randint(1, 199)
        address1 = f"{street} {number}" if country == "DE" else f"{number} {street}"
        created = rng.randint(start, as_of - 3600)
        state = _weighted(rng, CONSENT_STATES)
        if state == "NOT_SUBSCRIBED":
            level, consent_at = "SINGLE_OPT_IN", None
        else:
            confirmed = state == "PENDING" or country == "DE" or rng.random() < 0.15
            level = "CONFIRMED_OPT_IN" if confirmed else "SINGLE_OPT_IN"
            consent_at = rng.randint(created, as_of - 60)
        in_store = i not in crm_only
        in_crm = (not in_store) or rng.random() < 0.5
        people.append(
            Person(
                index=i,
                person_id=f"P{i + 1:07d}",
                first=first,
                last=last,
                email=email,
                phone=phone,
                country=country,
                address1=address1,
                city=city,
                province=province,
                province_code=province_code,
                zip=zip_code,
                locale=_weighted(rng, LOCALES[country]),
                created=created,
                consent_state=state,
                consent_level=level,
                consent_at=consent_at,
                in_store=in_store,
                in_crm=in_crm,
            )
        )
    return people


@dataclass
class _Order:
    person: int
    created: int
    lines: list[tuple[int, int]]  # (product index, quantity)
    cancelled: int | None
    updated: int


def _make_orders(rng: random.Random, people: list[Person], as_of: int) -> list[_Order]:
    """Skewed order counts; 'recent' and 'frequent' cohorts give the segments activity."""
    window = as_of - RECENT_DAYS * DAY
    n_products = sum(len(p) for _, p in CATALOG)
    orders: list[_Order] = []
    history_counts = [0, 1, 2, 3, 5, 13]
    history_weights = [32, 26, 17, 12, 9, 4]
    for person in people:
        if not person.in_store:
            continue
        times: list[int] = []
        frequent = rng.random() < 0.035
        bucket = rng.choices(range(len(history_counts)), weights=history_weights)[0]
        low = history_counts[bucket]
        high = {3: 4, 5: 12, 13: 30}.get(low, low)
        history = rng.randint(low, high)
        if person.created < window - DAY:
            times += [rng.randint(person.created, window - 1) for _ in range(history)]
        if frequent:
            recent = rng.randint(5, 10)
        elif rng.random() < 0.2:
            recent = rng.choices([1, 2, 3], weights=[60, 28, 12])[0]
        else:
            recent = 0
        first_recent = max(person.created, window)
        times += [rng.randint(first_recent, as_of - 120) for _ in range(recent)]
        for created in sorted(times):
            k = rng.choices([1, 2, 3, 4], weights=[45, 30, 15, 10])[0]
            products = rng.sample(range(n_products), k)
            lines = [(p, rng.choices([1, 2, 3], weights=[80, 15, 5])[0]) for p in products]
            room = as_of - 1 - created  # keep every timestamp <= as_of without piling up at it
            cancelled = None
            if rng.random() < 0.03:
                cancelled = created + rng.randint(min(600, room), min(2 * DAY, room))
            updated = created + rng.randint(min(60, room), min(5 * DAY, room))
            if cancelled is not None:
                updated = max(updated, cancelled)
            orders.append(_Order(person.index, created, lines, cancelled, updated))
    orders.sort(key=lambda o: (o.created, o.person))
    for i, order in enumerate(orders):
        people[order.person].orders.append(i)
    return orders


def _catalog() -> list[dict[str, Any]]:
    products = []
    for category, items in CATALOG:
        for title, cents in items:
            n = len(products)
            products.append(
                {
                    "id": f"gid://shopify/Product/{PRODUCT_ID_BASE + n * 37}",
                    "title": title,
                    "productType": category,
                    "sku": f"{category[:3].upper()}-{n + 1:04d}",
                    "cents": cents,
                }
            )
    return products


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def generate(
    out_dir: Path,
    customers: int = 3000,
    seed: int = 7,
    as_of: datetime = DEFAULT_AS_OF,
    invalid_emails: int = 0,
) -> dict[str, Any]:
    """Write the sandbox data set into ``out_dir``; returns the counts (also in manifest.json)."""
    if customers < 1:
        raise ValueError("customers must be at least 1")
    if not 0 <= invalid_emails <= customers:
        raise ValueError("invalid_emails must be between 0 and customers")
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware (UTC)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    as_of_ts = int(as_of.timestamp())
    rng = random.Random(seed)
    pools = _build_pools(seed)
    n_crm_only = round(customers * 0.15 / 0.85)
    people = _make_people(rng, pools, customers, n_crm_only, as_of_ts)
    orders = _make_orders(rng, people, as_of_ts)
    products = _catalog()

    store_people = sorted((p for p in people if p.in_store), key=lambda p: (p.created, p.index))
    invalid = set(rng.sample(range(len(store_people)), invalid_emails))

    # --- ids, increasing with creation time as Shopify's and HubSpot's are ---
    customer_gid: dict[int, str] = {}
    next_id = CUSTOMER_ID_BASE
    for person in store_people:
        next_id += rng.randint(1, 97)
        customer_gid[person.index] = f"gid://shopify/Customer/{next_id}"

    truth: list[tuple[str, str, str, str]] = []

    # --- orders ---
    order_lines: list[str] = []
    order_totals: dict[int, int] = {}
    store_email: dict[int, str] = {}
    for position, person in enumerate(store_people):
        store_email[person.index] = (
            _invalid_email(rng, person.email) if position in invalid else person.email
        )
    next_order = ORDER_ID_BASE
    next_line = LINE_ITEM_ID_BASE
    cancelled_count = 0
    order_gids: list[str] = []
    for number, order in enumerate(orders):
        next_order += rng.randint(1, 53)
        order_gids.append(f"gid://shopify/Order/{next_order}")
        total = 0
        items = []
        for product_index, quantity in order.lines:
            product = products[product_index]
            next_line += rng.randint(1, 29)
            total += product["cents"] * quantity
            price = {"amount": _money(product["cents"]), "currencyCode": "USD"}
            items.append(
                {
                    "id": f"gid://shopify/LineItem/{next_line}",
                    "title": product["title"],
                    "quantity": quantity,
                    "sku": product["sku"],
                    "originalUnitPriceSet": {"shopMoney": price},
                    "product": {
                        "id": product["id"],
                        "title": product["title"],
                        "productType": product["productType"],
                    },
                }
            )
        if order.cancelled is None:
            order_totals[order.person] = order_totals.get(order.person, 0) + total
            financial, reason = "PAID", None
        else:
            cancelled_count += 1
            financial = rng.choice(["REFUNDED", "VOIDED"])
            reason = rng.choice(CANCEL_REASONS)
        money = {"amount": _money(total), "currencyCode": "USD"}
        order_lines.append(
            _dumps(
                {
                    "id": f"gid://shopify/Order/{next_order}",
                    "name": f"#{1001 + number}",
                    "email": store_email[order.person],
                    "createdAt": _iso(order.created),
                    "updatedAt": _iso(order.updated),
                    "processedAt": _iso(order.created),
                    "cancelledAt": _iso(order.cancelled) if order.cancelled is not None else None,
                    "cancelReason": reason,
                    "displayFinancialStatus": financial,
                    "currencyCode": "USD",
                    "totalPriceSet": {"shopMoney": money},
                    "customer": {"id": customer_gid[order.person]},
                    "lineItems": items,
                }
            )
        )

    # --- customers ---
    customer_lines: list[str] = []
    next_address = ADDRESS_ID_BASE
    for position, person in enumerate(store_people):
        gid = customer_gid[person.index]
        last_order = orders[person.orders[-1]] if person.orders else None
        updated = person.created + rng.randint(0, 3600)
        if last_order is not None:
            updated = max(updated, last_order.updated)
        if person.consent_at is not None:
            updated = max(updated, person.consent_at)
        if rng.random() < 0.3:  # a later profile edit (address, tags, ...)
            updated = max(updated, rng.randint(person.created, as_of_ts - 1))
        updated = min(updated, as_of_ts - 1)
        spent = order_totals.get(person.index, 0)
        tags = []
        if spent >= 100_000:
            tags.append("vip")
        if person.consent_state == "SUBSCRIBED" and rng.random() < 0.4:
            tags.append("newsletter")
        if len(person.orders) >= 2:
            tags.append("returning")
        if rng.random() < 0.05:
            tags.append("wholesale")
        next_address += rng.randint(1, 41)
        email = store_email[person.index]
        customer_lines.append(
            _dumps(
                {
                    "id": gid,
                    "firstName": person.first,
                    "lastName": person.last,
                    "displayName": f"{person.first} {person.last}",
                    "email": email,
                    "phone": person.phone,
                    "locale": person.locale,
                    "tags": sorted(tags),
                    "state": rng.choices(["DISABLED", "ENABLED", "INVITED"], weights=[70, 25, 5])[
                        0
                    ],
                    "verifiedEmail": position not in invalid,
                    "createdAt": _iso(person.created),
                    "updatedAt": _iso(updated),
                    "numberOfOrders": str(len(person.orders)),
                    "amountSpent": {"amount": _money(spent), "currencyCode": "USD"},
                    "emailMarketingConsent": {
                        "marketingState": person.consent_state,
                        "marketingOptInLevel": person.consent_level,
                        "consentUpdatedAt": _iso(person.consent_at) if person.consent_at else None,
                    },
                    "defaultAddress": {
                        "id": f"gid://shopify/MailingAddress/{next_address}?model_name=CustomerAddress",
                        "firstName": person.first,
                        "lastName": person.last,
                        "address1": person.address1,
                        "address2": None,
                        "city": person.city,
                        "province": person.province,
                        "provinceCode": person.province_code,
                        "country": next(c[1] for c in COUNTRIES if c[0] == person.country),
                        "countryCodeV2": person.country,
                        "zip": person.zip,
                        "phone": person.phone,
                    },
                }
            )
        )
        valid = position not in invalid
        truth.append(("shopify", gid, person.person_id, email.strip().lower() if valid else ""))

    # --- CRM contacts ---
    crm_people = []
    for person in people:
        if not person.in_crm:
            continue
        if person.in_store:
            created = person.created + rng.randint(-60 * DAY, 60 * DAY)
        else:
            created = person.created
        created = max(as_of_ts - HISTORY_DAYS * DAY - 60 * DAY, min(created, as_of_ts - 3600))
        crm_people.append((created, person.index, person))
    crm_people.sort(key=lambda t: (t[0], t[1]))
    contact_lines: list[str] = []
    next_contact = CONTACT_ID_BASE
    typo_count = 0
    optout_count = 0
    for created, _, person in crm_people:
        contact_id = str(next_contact)
        next_contact += rng.randint(1, 100)
        first, last, email = person.first, person.last, person.email
        phone = person.phone
        if person.in_store:
            if rng.random() < 0.10:
                typo_count += 1
                if rng.random() < 0.5:
                    first = _typo(rng, first)
                else:
                    last = _typo(rng, last)
            if rng.random() < 0.35:
                email = _case_variant(rng, email)
            elif rng.random() < 0.02:
                email = f" {email} "
            if phone is not None:
                phone = _crm_phone(rng, phone)
        elif phone is not None and rng.random() < 0.5:
            phone = _crm_phone(rng, phone)
        if person.in_store and person.orders:
            stage = "customer" if rng.random() < 0.85 else "evangelist"
        else:
            stage = rng.choices(LIFECYCLE_STAGES[:5] + ["other"], weights=[35, 30, 15, 8, 7, 5])[0]
        optout = (
            person.consent_state == "UNSUBSCRIBED" and rng.random() < 0.4
        ) or rng.random() < 0.01
        optout_count += optout
        modified = created + rng.randint(0, 30 * DAY)
        if rng.random() < 0.5:
            modified = rng.randint(created, as_of_ts - 1)
        modified = min(modified, as_of_ts - 1)
        country = next(c for c in COUNTRIES if c[0] == person.country)
        properties = {
            "email": email,
            "firstname": first,
            "lastname": last,
            "phone": phone,
            "address": person.address1,
            "city": person.city,
            "state": person.province,
            "zip": person.zip,
            "country": country[2],
            "lifecyclestage": stage,
            "hs_lead_status": rng.choice(LEAD_STATUSES) if rng.random() < 0.6 else None,
            "hs_email_optout": "true" if optout else "false",
            "createdate": _iso_ms(created),
            "lastmodifieddate": _iso_ms(modified),
            "hs_object_id": contact_id,
        }
        contact_lines.append(
            _dumps(
                {
                    "id": contact_id,
                    "properties": properties,
                    "createdAt": _iso_ms(created),
                    "updatedAt": _iso_ms(modified),
                    "archived": False,
                }
            )
        )
        truth.append(("hubspot", contact_id, person.person_id, email.strip().lower()))

    _write_lines(out_dir / "shopify_customers.jsonl", customer_lines)
    _write_lines(out_dir / "shopify_orders.jsonl", order_lines)
    _write_lines(out_dir / "hubspot_contacts.jsonl", contact_lines)

    # --- the catalogue and behaviour: carts, events, email activity ---
    shoppers = [
        activity.Shopper(
            index=person.index,
            numeric_id=int(customer_gid[person.index].rsplit("/", 1)[-1]),
            gid=customer_gid[person.index],
            email=store_email[person.index],
            email_valid=position not in invalid,
            created=person.created,
            subscribed_at=person.consent_at if person.consent_state == "SUBSCRIBED" else None,
            orders=person.orders,
        )
        for position, person in enumerate(store_people)
    ]
    order_info = [
        activity.OrderInfo(o.person, o.created, o.lines, o.cancelled is not None) for o in orders
    ]
    behaviour = activity.build(seed, as_of_ts, shoppers, order_info, order_gids, products)
    _write_lines(out_dir / "shopify_products.jsonl", [_dumps(r) for r in behaviour.products])
    _write_lines(out_dir / "mailchimp_campaigns.jsonl", [_dumps(r) for r in behaviour.campaigns])
    _write_lines(out_dir / "shopify_abandoned_checkouts.jsonl", behaviour.checkouts)
    _write_lines(out_dir / "mailchimp_email_activity.jsonl", behaviour.activity)
    _write_lines(out_dir / "events.jsonl", behaviour.events)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["source", "source_id", "person_id", "email_normalized"])
    writer.writerows(truth)
    (out_dir / "truth.csv").write_text(buf.getvalue(), encoding="utf-8")

    window = as_of_ts - RECENT_DAYS * DAY
    recent_counts = [
        sum(1 for i in p.orders if orders[i].created >= window and orders[i].cancelled is None)
        for p in store_people
    ]
    counts = {
        "people": len(people),
        "shopify_customers": len(customer_lines),
        "shopify_orders": len(order_lines),
        "shopify_orders_cancelled": cancelled_count,
        "shopify_line_items": sum(len(o.lines) for o in orders),
        "hubspot_contacts": len(contact_lines),
        "hubspot_only_people": sum(1 for p in people if not p.in_store),
        "overlap_people": sum(1 for p in people if p.in_store and p.in_crm),
        "crm_name_typos": typo_count,
        "crm_email_optouts": optout_count,
        "invalid_emails": invalid_emails,
        "customers_ordering_last_30d": sum(1 for c in recent_counts if c >= 1),
        "customers_over_3_orders_last_30d": sum(1 for c in recent_counts if c > 3),
        **behaviour.truth,
    }
    manifest = {
        "generator": "sandbox.generate",
        "arguments": {
            "customers": customers,
            "seed": seed,
            "as_of": _iso(as_of_ts),
            "invalid_emails": invalid_emails,
        },
        "counts": counts,
        "files": [
            "shopify_customers.jsonl",
            "shopify_orders.jsonl",
            "hubspot_contacts.jsonl",
            "truth.csv",
            "shopify_products.jsonl",
            "shopify_abandoned_checkouts.jsonl",
            "events.jsonl",
            "mailchimp_campaigns.jsonl",
            "mailchimp_email_activity.jsonl",
        ],
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return counts


def _write_lines(path: Path, lines: list[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as fh:
        for line in lines:
            fh.write(line)
            fh.write("\n")
    tmp.replace(path)


def _parse_as_of(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the sandbox's customer data.")
    parser.add_argument("--customers", type=int, default=3000, help="number of store customers")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--as-of",
        type=_parse_as_of,
        default=DEFAULT_AS_OF,
        help="ISO-8601 instant; nothing is generated after it",
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--invalid-emails",
        type=int,
        default=0,
        help="number of store customers given a syntactically invalid email",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with paused_gc():  # millions of small, long-lived objects: see paused_gc
        counts = generate(
            args.out,
            customers=args.customers,
            seed=args.seed,
            as_of=args.as_of,
            invalid_emails=args.invalid_emails,
        )
    elapsed = time.perf_counter() - started
    print(json.dumps(counts), file=sys.stdout)
    print(f"wrote {args.out} in {elapsed:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["DEFAULT_AS_OF", "generate", "main"]
