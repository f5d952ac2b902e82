"""A Shopify store of any size whose records are made on demand, for scale runs (S1:
1,000,000 customers and 4,000,000 orders).

``sandbox.generate`` writes every record to JSON Lines and the stand-in holds them all in
memory: right for the tests' few thousand customers and their ground truth, not for S1 (the
files alone would take tens of GB of memory). Here record ``i`` is a pure function of
``i`` and the seed, in the shape ``sandbox.generate`` writes; nothing is held but the
counts, so the stand-in's memory does not depend on the store's size.

Times increase with the index (``updatedAt`` of customer ``i`` is not earlier than that of
customer ``i - 1``; an order's ``processedAt`` and ``updatedAt`` likewise), so a search for
an ``updated_at`` range is a range of indices found by bisection, and the sort keys ``ID``,
``UPDATED_AT`` and (orders) ``PROCESSED_AT`` all give index order. Other sort keys and
search fields are refused with a GraphQL error: this store serves extraction, not search.

    python -m sandbox.server --data EMPTY_DIR --scale s1
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, overload

from graphql import GraphQLError

CUSTOMER_ID_BASE = 7_012_345_000_000
ORDER_ID_BASE = 5_601_234_000_000
LINE_ITEM_ID_BASE = 14_012_345_000_000
PRODUCT_ID_BASE = 8_101_234_000_000
ADDRESS_ID_BASE = 9_012_345_000_000
HISTORY_SECONDS = 3 * 365 * 86_400
FULFILMENT_SECONDS = 2 * 86_400  # an order is updated (fulfilled) this long after it is placed
SCALES = {"s1": (1_000_000, 4)}  # customers, orders per customer
# HubSpot contacts and Mailchimp email activity events of a scale (sandbox.scale_hubspot,
# sandbox.scale_mailchimp)
CRM_SCALES = {"s1": (600_000, 20_000_000)}

FIRST = ["Susan", "Amber", "James", "Maria", "Wei", "Fatima", "Lukas", "Chloé", "Noah", "Ava"]
LAST = ["Webb", "Smith", "García", "Nguyen", "Müller", "Okafor", "Brown", "Rossi", "Kim", "Lee"]
CITIES = [("Jonesport", "Vermont", "VT", "05430"), ("Austin", "Texas", "TX", "73301")]
DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com"]
PRODUCTS = [
    ("Enamel Camp Mug Set", "Home", "HOM-0031", 3200),
    ("Canvas Storage Bin", "Home", "HOM-0038", 2600),
    ("Recovery Clog", "Footwear", "FOO-0027", 6500),
    ("Cedar Doormat", "Home", "HOM-0040", 4400),
    ("Trail Runner", "Footwear", "FOO-0003", 12900),
    ("Merino Beanie", "Apparel", "APP-0012", 3400),
]
_RANGE = re.compile(r"updated_at:(>=|<)'([^']+)'")


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _mix(seed: int, kind: str, i: int) -> int:
    """A deterministic 64-bit number for record ``i`` of ``kind``."""
    digest = hashlib.blake2b(f"{seed}:{kind}:{i}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def person(seed: int, i: int) -> tuple[str, str, str, int]:
    """Customer ``i``'s (first name, last name, email, random bits): the same person in the
    shop, the CRM and the audience, so that identity resolution has something to join."""
    r = _mix(seed, "customer", i)
    first, last = FIRST[r % len(FIRST)], LAST[(r >> 8) % len(LAST)]
    email = f"{first.lower()}.{last.lower()}{i}@{DOMAINS[(r >> 40) % len(DOMAINS)]}"
    return first, last, email, r


def customer_index(email: str) -> int | None:
    """The ``i`` of an address ``person`` made, or None."""
    local = email.partition("@")[0]
    digits = local[len(local.rstrip("0123456789")) :]
    return int(digits) if digits and (digits == "0" or digits[0] != "0") else None


class Lazy(Sequence[Any]):
    """``make(i)`` for ``i`` in ``indices``, made when asked for; slices stay lazy."""

    def __init__(self, make: Callable[[int], Any], indices: range) -> None:
        self.make, self.indices = make, indices

    def __len__(self) -> int:
        return len(self.indices)

    @overload
    def __getitem__(self, pos: int) -> Any: ...
    @overload
    def __getitem__(self, pos: slice) -> Lazy: ...
    def __getitem__(self, pos: int | slice) -> Any:
        if isinstance(pos, slice):
            return Lazy(self.make, self.indices[pos])
        return self.make(self.indices[pos])

    def __iter__(self) -> Iterator[Any]:
        return map(self.make, self.indices)


class LazyView:
    """What ``sandbox.shopify._View`` holds (ascending keys, records), made on demand."""

    def __init__(
        self, key: Callable[[int], tuple[Any, int]], record: Callable[[int], Any], indices: range
    ) -> None:
        self.keys = Lazy(key, indices)
        self.records = Lazy(record, indices)


class _ById(Mapping[str, Any]):
    """gid -> record, for ids this store made."""

    def __init__(self, prefix: str, base: int, count: int, make: Callable[[int], Any]) -> None:
        self.prefix, self.base, self.count, self.make = prefix, base, count, make

    def _index(self, gid: object) -> int | None:
        if not isinstance(gid, str) or not gid.startswith(self.prefix):
            return None
        try:
            number = int(gid[len(self.prefix) :])
        except ValueError:
            return None
        index, rest = divmod(number - self.base, 7)
        return index if rest == 1 and 0 <= index < self.count else None

    def __getitem__(self, gid: str) -> Any:
        index = self._index(gid)
        if index is None:
            raise KeyError(gid)
        return self.make(index)

    def __contains__(self, gid: object) -> bool:
        return self._index(gid) is not None

    def __iter__(self) -> Iterator[str]:
        return (f"{self.prefix}{self.base + 7 * i + 1}" for i in range(self.count))

    def __len__(self) -> int:
        return self.count


class SyntheticCollection:
    """The interface ``sandbox.shopify`` needs of a collection, over made records."""

    def __init__(
        self,
        kind: str,
        count: int,
        base: int,
        updated_at: Callable[[int], int],
        make: Callable[[int], dict[str, Any]],
        sort_keys: tuple[str, ...],
    ) -> None:
        self.kind, self.count, self.base = kind, count, base
        self.updated_at, self.make = updated_at, make
        self.sort_keys = dict.fromkeys(sort_keys)
        self.search_fields: dict[str, Any] = {}
        self.text = None
        self.records = Lazy(make, range(count))
        self.by_id = _ById(f"gid://shopify/{kind}/", base, count, make)

    def numeric_id(self, i: int) -> int:
        return self.base + 7 * i + 1

    def view(self, sort_key: str, query: str | None) -> LazyView:
        if sort_key not in self.sort_keys:
            known = ", ".join(self.sort_keys)
            raise GraphQLError(f"sortKey {sort_key} is not served at scale ({known})")
        lo, hi = 0, self.count
        text = (query or "").strip()
        terms = _RANGE.findall(text)
        if _RANGE.sub("", text).replace("AND", "").strip():
            raise GraphQLError(f"the scale store searches only updated_at ranges, not {text!r}")
        for op, value in terms:
            at = bisect.bisect_left(range(self.count), _epoch(value), key=self.updated_at)
            lo, hi = (max(lo, at), hi) if op == ">=" else (lo, min(hi, at))
        indices = range(lo, max(lo, hi))
        if sort_key == "ID":
            return LazyView(lambda i: (self.numeric_id(i), self.numeric_id(i)), self.make, indices)
        return LazyView(lambda i: (self.updated_at(i), self.numeric_id(i)), self.make, indices)


class SyntheticShop:
    """Customers and orders of a store of ``customers`` x ``orders_per_customer`` orders."""

    def __init__(
        self,
        customers: int,
        orders_per_customer: int = 4,
        seed: int = 1,
        as_of: datetime = datetime(2026, 11, 20, tzinfo=UTC),
    ) -> None:
        self.n_customers, self.n_orders = customers, customers * orders_per_customer
        self.seed = seed
        self.end = int(as_of.timestamp()) - 60
        self.start = self.end - HISTORY_SECONDS
        span = self.end - self.start
        self.customers = SyntheticCollection(
            "Customer",
            self.n_customers,
            CUSTOMER_ID_BASE,
            lambda i: self.start + i * span // self.n_customers,
            self.customer,
            ("ID", "UPDATED_AT"),
        )
        placed_span = span - FULFILMENT_SECONDS
        self._placed = lambda j: self.start + j * placed_span // self.n_orders
        self.orders = SyntheticCollection(
            "Order",
            self.n_orders,
            ORDER_ID_BASE,
            lambda j: self._placed(j) + FULFILMENT_SECONDS,
            self.order,
            ("ID", "UPDATED_AT", "PROCESSED_AT"),
        )

    @classmethod
    def named(cls, scale: str) -> SyntheticShop:
        customers, per_customer = SCALES[scale]
        return cls(customers, per_customer)

    def customer(self, i: int) -> dict[str, Any]:
        first, last, email, r = person(self.seed, i)
        city, province, code, zip_code = CITIES[(r >> 16) % len(CITIES)]
        updated = self.customers.updated_at(i)
        created = max(self.start, updated - (r >> 24) % (400 * 86_400))
        phone = f"+1202{(r >> 32) % 10_000_000:07d}"
        orders = (r >> 48) % 9
        return {
            "id": f"gid://shopify/Customer/{self.customers.numeric_id(i)}",
            "firstName": first,
            "lastName": last,
            "displayName": f"{first} {last}",
            "email": email,
            "phone": phone,
            "locale": "en",
            "tags": ["newsletter", "returning"] if r & 1 else ["returning"],
            "state": "ENABLED",
            "verifiedEmail": True,
            "createdAt": _iso(created),
            "updatedAt": _iso(updated),
            "numberOfOrders": str(orders),
            "amountSpent": {"amount": f"{orders * 57:.2f}", "currencyCode": "USD"},
            "emailMarketingConsent": {
                "marketingState": "SUBSCRIBED" if r & 2 else "NOT_SUBSCRIBED",
                "marketingOptInLevel": "SINGLE_OPT_IN",
                "consentUpdatedAt": _iso(created),
            },
            "defaultAddress": {
                "id": f"gid://shopify/MailingAddress/{ADDRESS_ID_BASE + i}"
                "?model_name=CustomerAddress",
                "firstName": first,
                "lastName": last,
                "address1": f"{(r >> 20) % 999 + 1} Krystal Glens",
                "address2": None,
                "city": city,
                "province": province,
                "provinceCode": code,
                "country": "United States",
                "countryCodeV2": "US",
                "zip": zip_code,
                "phone": phone,
            },
        }

    def order(self, j: int) -> dict[str, Any]:
        r = _mix(self.seed, "order", j)
        placed = self._placed(j)
        customer = r % self.n_customers
        items, total = [], 0
        for k in range(1 + (r >> 32) % 3):
            p = (r >> (8 * k + 8)) % len(PRODUCTS)
            title, kind, sku, cents = PRODUCTS[p]
            total += cents
            items.append(
                {
                    "id": f"gid://shopify/LineItem/{LINE_ITEM_ID_BASE + 3 * j + k}",
                    "title": title,
                    "quantity": 1,
                    "sku": sku,
                    "originalUnitPriceSet": {
                        "shopMoney": {"amount": f"{cents / 100:.2f}", "currencyCode": "USD"}
                    },
                    "product": {
                        "id": f"gid://shopify/Product/{PRODUCT_ID_BASE + 7 * p}",
                        "title": title,
                        "productType": kind,
                    },
                }
            )
        return {
            "id": f"gid://shopify/Order/{self.orders.numeric_id(j)}",
            "name": f"#{1001 + j}",
            "email": f"customer{customer}@example.com",
            "createdAt": _iso(placed),
            "updatedAt": _iso(placed + FULFILMENT_SECONDS),
            "processedAt": _iso(placed),
            "cancelledAt": None,
            "cancelReason": None,
            "displayFinancialStatus": "PAID",
            "currencyCode": "USD",
            "totalPriceSet": {"shopMoney": {"amount": f"{total / 100:.2f}", "currencyCode": "USD"}},
            "customer": {"id": f"gid://shopify/Customer/{self.customers.numeric_id(customer)}"},
            "lineItems": items,
        }
