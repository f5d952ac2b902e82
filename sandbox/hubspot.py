"""HubSpot CRM v3 contacts stand-in.

- ``GET  /crm/v3/objects/contacts``         list, ``limit`` <= 100, ``after`` cursor, ``properties``
- ``GET  /crm/v3/objects/contacts/{id}``    one contact (``idProperty=email`` also works)
- ``POST /crm/v3/objects/contacts/search``  filter groups, one sort, ``limit`` <= 200, and no
  paging past the first 10,000 results (clients must split their time windows)

Authentication is a private-app token (``Authorization: Bearer <token>``). Errors use
HubSpot's body shape (``status``, ``message``, ``correlationId``, ``category``). With
``enforce_limits`` the private-app rate limits are enforced as rolling windows: 190 requests
per 10 seconds, and separately 4 search requests per second; a request over either is
answered 429 with ``Retry-After`` and HubSpot's rate-limit body (``policyName``).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sandbox.http_base import BadRequest, Request, Response, paused_gc, read_jsonl

if TYPE_CHECKING:
    from sandbox.scale_hubspot import SyntheticContacts

log = logging.getLogger("sandbox.hubspot")

PREFIX = "/crm/v3/"
CONTACTS = "/crm/v3/objects/contacts"
LIST_MAX_LIMIT = 100
LIST_DEFAULT_LIMIT = 10
SEARCH_MAX_LIMIT = 200
SEARCH_DEFAULT_LIMIT = 10
SEARCH_MAX_RESULTS = 10_000
MAX_FILTER_GROUPS = 6
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS_TOTAL = 18
# (requests, seconds, policy name) of a private app on current plans
REQUEST_LIMIT = (190, 10.0, "TEN_SECONDLY_ROLLING")
SEARCH_LIMIT = (4, 1.0, "SECONDLY")
DEFAULT_PROPERTIES = (
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
)
ALWAYS_PROPERTIES = ("createdate", "hs_object_id", "lastmodifieddate")
DATE_PROPERTIES = frozenset(
    {"createdate", "lastmodifieddate", "hs_lastmodifieddate", "closedate", "hs_createdate"}
)
NUMBER_PROPERTIES = frozenset({"hs_object_id"})
OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


class HubSpotError(Exception):
    """Becomes a HubSpot-shaped error response."""

    def __init__(self, status: int, message: str, category: str = "VALIDATION_ERROR") -> None:
        super().__init__(message)
        self.status, self.message, self.category = status, message, category

    def response(self) -> Response:
        return Response(
            self.status,
            {
                "status": "error",
                "message": self.message,
                "correlationId": str(uuid.uuid4()),
                "category": self.category,
            },
        )


def _to_millis(value: Any) -> float:
    """A HubSpot date filter value: epoch milliseconds (number or string) or ISO-8601."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    if len(text) == 10:
        text += "T00:00:00Z"
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise HubSpotError(400, f"Invalid date value '{value}'") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp() * 1000


class HubSpotStandIn:
    """Serves the CRM v3 contacts endpoints from ``hubspot_contacts.jsonl``."""

    prefix = PREFIX

    def __init__(
        self,
        data_dir: Path | str,
        token: str = "pat-sandbox",
        *,
        enforce_limits: bool = False,
        clock: Callable[[], float] = time.monotonic,
        synthetic: SyntheticContacts | None = None,
    ) -> None:
        self.token = token
        self.enforce_limits = enforce_limits
        self.clock = clock
        self._windows = {
            "request": _RollingWindow(*REQUEST_LIMIT),
            "search": _RollingWindow(*SEARCH_LIMIT),
        }
        self.refused = 0
        self.synthetic = synthetic
        self._searches: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        if synthetic is not None:  # a scale run's contacts, made on demand (sandbox.scale_hubspot)
            self.contacts, self.ids = synthetic.contacts, synthetic.ids
            self.by_id, self.by_email = synthetic.by_id, synthetic.by_email
            self.known_properties = synthetic.known_properties
            log.info("hubspot stand-in: %d contacts made on demand", synthetic.count)
            return
        with paused_gc():
            contacts = read_jsonl(Path(data_dir) / "hubspot_contacts.jsonl")
            self.contacts = sorted(contacts, key=lambda c: int(c["id"]))
            self.ids = [int(c["id"]) for c in self.contacts]
            self.by_id = {c["id"]: c for c in self.contacts}
            self.by_email = {
                str(c["properties"].get("email") or "").strip().lower(): c for c in self.contacts
            }
            self.known_properties = frozenset(k for c in self.contacts for k in c["properties"])
        log.info("hubspot stand-in: %d contacts", len(self.contacts))

    # ----------------------------------------------------------------- HTTP

    def handle(self, req: Request) -> Response:
        try:
            self._authenticate(req)
            limited = self.before_request(req)
            if limited is not None:
                return limited
            return self._route(req)
        except HubSpotError as exc:
            return exc.response()

    def before_request(self, req: Request) -> Response | None:
        """Rate limiting: a 429 when the request is over a limit, None to serve it.

        Searches count against the search limit only, as HubSpot counts them separately.
        """
        if not self.enforce_limits:
            return None
        search = req.path.rstrip("/").endswith("/search")
        window = self._windows["search" if search else "request"]
        wait = window.admit(self.clock())
        if wait is None:
            return None
        self.refused += 1
        return self.throttled_response(window, wait)

    def throttled_response(
        self,
        window: _RollingWindow | None = None,
        wait: float = 1.0,
        retry_after: int | None = None,
    ) -> Response:
        window = window or self._windows["request"]
        told = str(retry_after) if retry_after is not None else str(max(1, math.ceil(wait)))
        return Response(
            429,
            {
                "status": "error",
                "message": f"You have reached your {window.policy.lower()} limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()),
                "policyName": window.policy,
                "groupName": "publicapi",
                "category": "RATE_LIMITS",
            },
            {"Retry-After": told},
        )

    def _authenticate(self, req: Request) -> None:
        scheme, _, token = (req.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.token:
            raise HubSpotError(401, AUTH_MESSAGE, "INVALID_AUTHENTICATION")

    def _route(self, req: Request) -> Response:
        path = req.path.rstrip("/")
        if path == CONTACTS and req.method == "GET":
            return self._list(req)
        if path == f"{CONTACTS}/search" and req.method == "POST":
            return self._search(req)
        if path.startswith(f"{CONTACTS}/") and path.count("/") == 5 and req.method == "GET":
            return self._read(req, path.rsplit("/", 1)[1])
        if path in (CONTACTS, f"{CONTACTS}/search") or path.startswith(f"{CONTACTS}/"):
            raise HubSpotError(
                405, f"Method {req.method} is not supported for {req.path}", "VALIDATION_ERROR"
            )
        raise HubSpotError(404, f"Unable to find a resource at {req.path}", "OBJECT_NOT_FOUND")

    # ----------------------------------------------------------------- endpoints

    def _list(self, req: Request) -> Response:
        limit = _int_param(req.query_value("limit"), "limit", LIST_DEFAULT_LIMIT)
        if limit < 1 or limit > LIST_MAX_LIMIT:
            raise HubSpotError(400, f"limit must be between 1 and {LIST_MAX_LIMIT}, got {limit}")
        after = req.query_value("after")
        archived = (req.query_value("archived") or "false").lower() == "true"
        properties = _properties_param(req.query.get("properties", []))
        start = 0
        if after:
            try:
                after_id = int(after)
            except ValueError as exc:
                raise HubSpotError(400, f"Invalid 'after' value '{after}'") from exc
            start = _bisect_left(self.ids, after_id)
        pool = [] if archived else self.contacts
        page = pool[start : start + limit]
        body: dict[str, Any] = {"results": [self._shape(c, properties) for c in page]}
        if start + limit < len(pool):
            next_after = str(self.ids[start + limit])
            params = {"after": next_after, "limit": str(limit)}
            if req.query.get("properties"):
                params["properties"] = ",".join(properties or [])
            host = req.headers.get("Host") or "api.hubapi.com"
            scheme = "http" if host.startswith(("127.", "localhost")) else "https"
            body["paging"] = {
                "next": {
                    "after": next_after,
                    "link": f"{scheme}://{host}{CONTACTS}?{urlencode(params)}",
                }
            }
        return Response(200, body)

    def _read(self, req: Request, contact_id: str) -> Response:
        properties = _properties_param(req.query.get("properties", []))
        if (req.query_value("idProperty") or "").lower() == "email":
            contact = self.by_email.get(contact_id.strip().lower())
        else:
            contact = self.by_id.get(contact_id)
        if contact is None:
            raise HubSpotError(
                404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND"
            )
        return Response(200, self._shape(contact, properties))

    def _search(self, req: Request) -> Response:
        try:
            body = req.json()
        except BadRequest as exc:
            raise HubSpotError(400, f"Invalid input JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise HubSpotError(400, "Invalid input JSON: expected an object")
        limit = body.get("limit", SEARCH_DEFAULT_LIMIT)
        if not isinstance(limit, int) or limit < 1 or limit > SEARCH_MAX_LIMIT:
            raise HubSpotError(
                400, f"Invalid input: limit must be between 1 and {SEARCH_MAX_LIMIT}, got {limit}"
            )
        after = _int_param(body.get("after"), "after", 0)
        if after < 0:
            raise HubSpotError(400, "Invalid input: after must not be negative")
        if after + limit > SEARCH_MAX_RESULTS:
            raise HubSpotError(
                400,
                f"The search API cannot page past {SEARCH_MAX_RESULTS} results "
                f"(after={after}, limit={limit}); narrow the filters instead.",
            )
        groups = body.get("filterGroups") or []
        sorts = body.get("sorts") or []
        query = body.get("query")
        matches = self._matches(groups, sorts, query)
        properties = body.get("properties")
        if properties is not None and not isinstance(properties, list):
            raise HubSpotError(400, "Invalid input: properties must be a list of strings")
        page = matches[after : after + limit]
        out: dict[str, Any] = {
            "total": len(matches),
            "results": [self._shape(c, properties or None, search=True) for c in page],
        }
        if after + limit < len(matches):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return Response(200, out)

    # ----------------------------------------------------------------- search internals

    def _matches(self, groups: Any, sorts: Any, query: Any) -> Sequence[dict[str, Any]]:
        if self.synthetic is not None:
            _group_predicate(groups)  # the same validation as for stored contacts
            return self.synthetic.matches(groups, sorts, query)
        key = json.dumps([groups, sorts, query], sort_keys=True, default=str)
        with self._lock:
            if key in self._searches:
                self._searches.move_to_end(key)
                return self._searches[key]
        predicate = _group_predicate(groups)
        text = str(query).strip().lower() if query else ""
        matches = [
            c
            for c in self.contacts
            if predicate(c["properties"]) and (not text or _query_match(c["properties"], text))
        ]
        matches = _sorted(matches, sorts)
        with self._lock:
            self._searches[key] = matches
            while len(self._searches) > 32:
                self._searches.popitem(last=False)
        return matches

    def _shape(
        self, contact: dict[str, Any], properties: list[str] | None, search: bool = False
    ) -> dict[str, Any]:
        """The API's view of a stored contact: only the properties asked for."""
        stored = contact["properties"]
        if properties is None:
            wanted: list[str] = list(DEFAULT_PROPERTIES)
        else:
            wanted = sorted(set(properties) | set(ALWAYS_PROPERTIES))
        shaped = {
            name: stored.get(name)
            for name in wanted
            if name in stored or name in self.known_properties
        }
        return {
            "id": contact["id"],
            "properties": shaped,
            "createdAt": contact["createdAt"],
            "updatedAt": contact["updatedAt"],
            "archived": contact.get("archived", False),
        }


class _RollingWindow:
    """At most `limit` requests in any `per` seconds."""

    def __init__(self, limit: int, per: float, policy: str) -> None:
        self.limit, self.per, self.policy = limit, per, policy
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self, now: float) -> float | None:
        """None when admitted (and counted); else the seconds until a slot frees up."""
        with self._lock:
            while self._times and self._times[0] <= now - self.per:
                self._times.popleft()
            if len(self._times) >= self.limit:
                return self._times[0] + self.per - now
            self._times.append(now)
            return None


def _bisect_left(ids: list[int], value: int) -> int:
    lo, hi = 0, len(ids)
    while lo < hi:
        mid = (lo + hi) // 2
        if ids[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _int_param(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise HubSpotError(400, f"Invalid input: {name} must be an integer, got '{value}'") from exc


def _properties_param(values: list[str]) -> list[str] | None:
    """``properties=a,b`` and ``properties=a&properties=b`` both work, as on HubSpot."""
    names = [p.strip() for v in values for p in v.split(",") if p.strip()]
    return names or None


def _value_key(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in DATE_PROPERTIES:
        return _to_millis(value)
    if name in NUMBER_PROPERTIES:
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    return str(value).lower()


def _filter_predicate(spec: Any) -> Callable[[dict[str, Any]], bool]:
    if not isinstance(spec, dict) or not isinstance(spec.get("propertyName"), str):
        raise HubSpotError(400, "Invalid input: every filter needs a propertyName")
    name = spec["propertyName"]
    op = str(spec.get("operator", "EQ")).upper()
    if op not in OPERATORS:
        raise HubSpotError(400, f"Invalid input: unknown operator '{op}'")
    if op == "HAS_PROPERTY":
        return lambda p: p.get(name) not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return lambda p: p.get(name) in (None, "")
    if op in ("IN", "NOT_IN"):
        values = spec.get("values")
        if not isinstance(values, list):
            raise HubSpotError(400, f"Invalid input: operator {op} needs 'values'")
        wanted = {_value_key(name, v) for v in values}
        if op == "IN":
            return lambda p: _value_key(name, p.get(name)) in wanted
        return lambda p: _value_key(name, p.get(name)) not in wanted
    if "value" not in spec:
        raise HubSpotError(400, f"Invalid input: operator {op} needs a 'value'")
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(spec["value"]).lower().strip("*")
        negate = op == "NOT_CONTAINS_TOKEN"

        def contains(p: dict[str, Any]) -> bool:
            return (token in str(p.get(name) or "").lower()) != negate

        return contains
    low = _value_key(name, spec["value"])
    if op == "BETWEEN":
        if "highValue" not in spec:
            raise HubSpotError(400, "Invalid input: operator BETWEEN needs a 'highValue'")
        high = _value_key(name, spec["highValue"])

        def between(p: dict[str, Any]) -> bool:
            value = _value_key(name, p.get(name))
            return value is not None and low <= value <= high

        return between

    def compare(p: dict[str, Any]) -> bool:
        value = _value_key(name, p.get(name))
        if op == "NEQ":
            return value != low
        if value is None:
            return False
        return {
            "EQ": value == low,
            "LT": value < low,
            "LTE": value <= low,
            "GT": value > low,
            "GTE": value >= low,
        }[op]

    return compare


def _group_predicate(groups: Any) -> Callable[[dict[str, Any]], bool]:
    """Filters in a group AND together; groups OR together."""
    if not isinstance(groups, list):
        raise HubSpotError(400, "Invalid input: filterGroups must be a list")
    if len(groups) > MAX_FILTER_GROUPS:
        raise HubSpotError(
            400,
            f"Invalid input: at most {MAX_FILTER_GROUPS} filterGroups are allowed, "
            f"got {len(groups)}",
        )
    compiled: list[list[Callable[[dict[str, Any]], bool]]] = []
    total = 0
    for group in groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise HubSpotError(400, "Invalid input: every filterGroup needs a filters list")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise HubSpotError(
                400,
                f"Invalid input: at most {MAX_FILTERS_PER_GROUP} filters are allowed in a "
                f"filterGroup, got {len(filters)}",
            )
        total += len(filters)
        compiled.append([_filter_predicate(f) for f in filters])
    if total > MAX_FILTERS_TOTAL:
        raise HubSpotError(
            400,
            f"Invalid input: at most {MAX_FILTERS_TOTAL} filters are allowed in all, got {total}",
        )
    if not compiled:
        return lambda _p: True
    return lambda p: any(all(f(p) for f in group) for group in compiled)


def _query_match(properties: dict[str, Any], text: str) -> bool:
    haystack = " ".join(
        str(properties.get(k) or "") for k in ("email", "firstname", "lastname", "phone")
    ).lower()
    return text in haystack


def _sorted(contacts: list[dict[str, Any]], sorts: Any) -> list[dict[str, Any]]:
    """One sort (HubSpot honours one), ties broken by id; the default is id ascending."""
    if not isinstance(sorts, list):
        raise HubSpotError(400, "Invalid input: sorts must be a list")
    by_id = sorted(contacts, key=lambda c: int(c["id"]))
    if not sorts:
        return by_id
    sort = sorts[0]
    if isinstance(sort, str):  # the API also takes "propertyName" or "-propertyName"
        sort = {
            "propertyName": sort.lstrip("-"),
            "direction": "DESCENDING" if sort.startswith("-") else "ASCENDING",
        }
    if not isinstance(sort, dict) or not isinstance(sort.get("propertyName"), str):
        raise HubSpotError(400, "Invalid input: a sort needs a propertyName")
    name = sort["propertyName"]
    descending = str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"
    present = [c for c in by_id if c["properties"].get(name) not in (None, "")]
    missing = [c for c in by_id if c["properties"].get(name) in (None, "")]
    present.sort(key=lambda c: _value_key(name, c["properties"][name]), reverse=descending)
    return present + missing
