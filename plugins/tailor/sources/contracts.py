"""What every landed record of an entity must hold: its id, field types, timestamp formats.

A record that breaks its contract is not landed: it goes to the interval's quarantine file
with the reason, so one bad record neither fails the run nor disappears. Fields a contract
does not name are not checked and are kept: an API that adds a field breaks nothing.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

# ISO-8601 instants as the APIs send them: date, time, optional fraction, Z or an offset
ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}
_TYPE_NAMES.update({list: "a list", dict: "an object"})


@functools.cache
def _keys(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def lookup(record: dict[str, Any], path: str) -> Any:
    """The value at a dotted path, or None when any part is missing."""
    keys = _keys(path)
    if len(keys) == 1:  # most paths: one dict lookup, checked for every landed record
        return record.get(path) if isinstance(record, dict) else None
    value: Any = record
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


@dataclass(frozen=True)
class Contract:
    id_pattern: re.Pattern[str]
    required_timestamps: tuple[str, ...] = ()
    required: tuple[str, ...] = ()  # paths that must hold a value
    optional_timestamps: tuple[str, ...] = ()
    types: dict[str, type | tuple[type, ...]] = field(default_factory=dict)

    def violation(self, record: Any) -> str | None:
        """Why the record breaks the contract, or None when it keeps it."""
        if not isinstance(record, dict):
            return f"record is {type(record).__name__}, not an object"
        rid = record.get("id")
        if rid is None:
            return "required field id is missing"
        if not isinstance(rid, str):
            return f"id must be a string, got {type(rid).__name__}"
        if not self.id_pattern.match(rid):
            return f"id {rid[:60]!r} does not match {self.id_pattern.pattern}"
        for path in self.required:
            if lookup(record, path) in (None, ""):
                return f"required field {path} is missing"
        for path in self.required_timestamps:
            if lookup(record, path) is None:
                return f"required timestamp {path} is missing"
        for path in self.required_timestamps + self.optional_timestamps:
            value = lookup(record, path)
            if value is not None and not (isinstance(value, str) and ISO_INSTANT.match(value)):
                return f"{path} is not an ISO-8601 instant: {str(value)[:40]!r}"
        for path, expected in self.types.items():
            value = lookup(record, path)
            if value is not None and not _is(value, expected):
                names = expected if isinstance(expected, tuple) else (expected,)
                wanted = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in names)
                return f"{path} must be {wanted}, got {type(value).__name__}"
        return None


def _is(value: Any, expected: type | tuple[type, ...]) -> bool:
    allowed = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) and bool not in allowed:
        return False  # JSON true is not a count, though Python's bool is an int
    return isinstance(value, allowed)


def shopify_gid(kind: str) -> re.Pattern[str]:
    return re.compile(rf"^gid://shopify/{kind}/\d+$")


SHOPIFY_CUSTOMERS = Contract(
    shopify_gid("Customer"),
    required_timestamps=("updatedAt", "createdAt"),
    types={
        "tags": list,
        "numberOfOrders": (str, int),
        "amountSpent.amount": str,
        "emailMarketingConsent": dict,
        "defaultAddress": dict,
    },
)
SHOPIFY_ORDERS = Contract(
    shopify_gid("Order"),
    required_timestamps=("updatedAt", "createdAt"),
    optional_timestamps=("processedAt", "cancelledAt"),
    types={"lineItems": list, "totalPriceSet.shopMoney.amount": str, "customer": dict},
)
HUBSPOT_CONTACTS = Contract(
    re.compile(r"^\d+$"),
    required_timestamps=("updatedAt", "properties.lastmodifieddate"),
    optional_timestamps=("createdAt", "properties.createdate"),
    types={"properties": dict, "properties.email": str, "archived": bool},
)
SHOPIFY_PRODUCTS = Contract(
    shopify_gid("Product"),
    required_timestamps=("updatedAt", "createdAt"),
    required=("title",),
    types={
        "title": str,
        "productType": str,
        "tags": list,
        "collections.nodes": list,
        "variants.nodes": list,
    },
)
SHOPIFY_ABANDONED_CHECKOUTS = Contract(
    shopify_gid("AbandonedCheckout"),
    required_timestamps=("updatedAt", "createdAt"),
    optional_timestamps=("completedAt",),
    types={
        "lineItems.nodes": list,
        "totalPriceSet.shopMoney.amount": str,
        "customer": dict,
        "customer.id": str,
    },
)
MAILCHIMP_EMAIL_ACTIVITY = Contract(
    re.compile(r"^[0-9a-f]{64}$"),  # sha256 of campaign, address, action and time
    required_timestamps=("timestamp",),
    required=("campaign_id", "email_address", "action"),
    types={"campaign_id": str, "email_address": str, "action": str, "list_id": str},
)
