"""HubSpot contacts of a scale run (S1: 600,000), made on demand as ``sandbox.scale`` makes
the shop's customers.

Contact ``i`` is a pure function of ``i`` and the seed, in the shape ``sandbox.generate``
writes; it is the shop's customer ``i * customers // contacts`` (same name and address), so
the CRM covers part of the store as a real one does. Ids and ``lastmodifieddate`` increase
with the index, so the search Tailor sends (a ``lastmodifieddate`` range, sorted by it or by
id) is a range of indices found by bisection. Other filters, sorts and free-text queries are
refused with a 400: this store serves extraction, not search.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from sandbox.hubspot import HubSpotError, _to_millis
from sandbox.scale import (
    CITIES,
    CRM_SCALES,
    HISTORY_SECONDS,
    SCALES,
    Lazy,
    _mix,
    customer_index,
    person,
)

ID_BASE = 1_001  # contact i has id ID_BASE + ID_STEP * i
ID_STEP = 3
STAGES = ("subscriber", "lead", "customer", "evangelist")
RANGE_OPERATORS = ("GT", "GTE", "LT", "LTE", "BETWEEN")
TIME_FIELDS = ("lastmodifieddate", "hs_lastmodifieddate")
INDEX_SORTS = ("hs_object_id", "lastmodifieddate", "hs_lastmodifieddate")
PROPERTIES = frozenset(
    {
        "email",
        "firstname",
        "lastname",
        "phone",
        "address",
        "city",
        "state",
        "zip",
        "country",
        "lifecyclestage",
        "hs_lead_status",
        "hs_email_optout",
        "createdate",
        "lastmodifieddate",
        "hs_object_id",
    }
)


def _iso_ms(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class _ByKey(Mapping[str, Any]):
    """key -> contact, through a function from key to index (None when not made here)."""

    def __init__(self, index: Callable[[str], int | None], count: int, make: Callable) -> None:
        self.index, self.count, self.make = index, count, make

    def __getitem__(self, key: str) -> Any:
        i = self.index(key)
        if i is None:
            raise KeyError(key)
        return self.make(i)

    def __iter__(self) -> Iterator[str]:
        raise TypeError("a scale store's contacts are not listed by key")

    def __len__(self) -> int:
        return self.count


class SyntheticContacts:
    """What ``sandbox.hubspot.HubSpotStandIn`` needs of its contacts, made on demand."""

    def __init__(
        self,
        contacts: int,
        customers: int,
        seed: int = 1,
        as_of: datetime = datetime(2026, 11, 20, tzinfo=UTC),
    ) -> None:
        self.count, self.n_customers, self.seed = contacts, customers, seed
        self.end = int(as_of.timestamp()) - 60
        self.start = self.end - HISTORY_SECONDS
        indices = range(contacts)
        self.contacts = Lazy(self.contact, indices)
        self.ids = Lazy(lambda i: ID_BASE + ID_STEP * i, indices)
        self.by_id = _ByKey(self._index_of_id, contacts, self.contact)
        self.by_email = _ByKey(self._index_of_email, contacts, self.contact)
        self.known_properties = PROPERTIES

    @classmethod
    def named(cls, scale: str) -> SyntheticContacts:
        return cls(CRM_SCALES[scale][0], SCALES[scale][0])

    def modified_at(self, i: int) -> int:
        return self.start + i * (self.end - self.start) // self.count

    def _modified_ms(self, i: int) -> int:
        return self.modified_at(i) * 1000

    def customer_of(self, i: int) -> int:
        return i * self.n_customers // self.count

    def contact(self, i: int) -> dict[str, Any]:
        first, last, email, r = person(self.seed, self.customer_of(i))
        extra = _mix(self.seed, "contact", i)
        city, province, _code, zip_code = CITIES[(r >> 16) % len(CITIES)]
        modified = self.modified_at(i)
        created = max(self.start, modified - extra % (400 * 86_400))
        contact_id = str(ID_BASE + ID_STEP * i)
        properties = {
            "email": email,
            "firstname": first,
            "lastname": last,
            "phone": f"+1202{(r >> 32) % 10_000_000:07d}" if extra & 1 else None,
            "address": f"{(r >> 20) % 999 + 1} Krystal Glens",
            "city": city,
            "state": province,
            "zip": zip_code,
            "country": "United States",
            "lifecyclestage": STAGES[(extra >> 8) % len(STAGES)],
            "hs_lead_status": None,
            "hs_email_optout": "true" if (extra >> 16) % 50 == 0 else "false",
            "createdate": _iso_ms(created),
            "lastmodifieddate": _iso_ms(modified),
            "hs_object_id": contact_id,
        }
        return {
            "id": contact_id,
            "properties": properties,
            "createdAt": properties["createdate"],
            "updatedAt": properties["lastmodifieddate"],
            "archived": False,
        }

    def _index_of_id(self, key: str) -> int | None:
        try:
            index, rest = divmod(int(key) - ID_BASE, ID_STEP)
        except ValueError:
            return None
        return index if rest == 0 and 0 <= index < self.count else None

    def _index_of_email(self, key: str) -> int | None:
        customer = customer_index(key)
        if customer is None:
            return None
        i = -(-customer * self.count // self.n_customers)  # the first contact of that customer
        if i >= self.count or self.customer_of(i) != customer:
            return None
        return i if self.contact(i)["properties"]["email"] == key.strip().lower() else None

    def matches(self, groups: Any, sorts: Any, query: Any) -> Lazy:
        """The contacts a search asks for, in its order: a range of indices."""
        if query:
            raise HubSpotError(400, "the scale store does not serve free-text search")
        if sorts:
            sort = sorts[0] if isinstance(sorts, list) else None
            name = sort.get("propertyName") if isinstance(sort, dict) else None
            direction = str(sort.get("direction", "ASCENDING")) if isinstance(sort, dict) else ""
            if name not in INDEX_SORTS or direction.upper() != "ASCENDING":
                raise HubSpotError(400, f"the scale store sorts only by {', '.join(INDEX_SORTS)}")
        if not isinstance(groups, list) or len(groups) > 1:
            raise HubSpotError(400, "the scale store serves at most one filter group")
        group = groups[0] if groups else {}
        filters = group.get("filters") if isinstance(group, dict) else None
        lo, hi = 0, self.count
        for spec in filters or []:
            lo, hi = self._narrow(spec, lo, hi)
        return Lazy(self.contact, range(lo, max(lo, hi)))

    def _narrow(self, spec: Any, lo: int, hi: int) -> tuple[int, int]:
        spec = spec if isinstance(spec, dict) else {}
        op = str(spec.get("operator", "")).upper()
        if spec.get("propertyName") not in TIME_FIELDS or op not in RANGE_OPERATORS:
            raise HubSpotError(
                400, "the scale store filters only lastmodifieddate ranges (GT, GTE, LT, ...)"
            )

        def at(value: Any, after: bool) -> int:
            """The first index modified after (or at) the instant."""
            search = bisect.bisect_right if after else bisect.bisect_left
            return search(range(self.count), _to_millis(value), key=self._modified_ms)

        value = spec.get("value")
        if op == "BETWEEN":
            return max(lo, at(value, False)), min(hi, at(spec.get("highValue"), True))
        if op in ("GT", "GTE"):
            return max(lo, at(value, op == "GT")), hi
        return lo, min(hi, at(value, op == "LTE"))
