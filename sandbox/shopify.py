"""Shopify Admin GraphQL API (2025-01) stand-in.

``POST /admin/api/2025-01/graphql.json`` with ``X-Shopify-Access-Token``. Queries are
parsed and validated against Shopify's real 2025-01 schema (``schemas/``) and executed by
graphql-core itself, so a query that uses a field the real API does not have fails here
as it would there, and a response holds exactly the fields that were asked for.

The data are the records ``sandbox.generate`` wrote (``shopify_customers.jsonl``,
``shopify_orders.jsonl``, ``shopify_products.jsonl``, ``shopify_abandoned_checkouts.jsonl``),
stored in the API's own shape; the resolver only adds what a store computes: connections
(cursors, ``first``/``last``, ``sortKey``, ``reverse``, the ``query`` search syntax), the
links from an order or a checkout to its customer and from a checkout's line items to their
product and variant, ``Customer.orders``, and the query cost in ``extensions.cost``.
``abandonedCheckoutsCount`` counts to 10,000 at most, as Shopify's does. Limits enforced
as Shopify does: 250 records per page, one of ``first``/``last`` required, a requested cost
of at most 1,000 points per query. With ``enforce_throttle`` the plan's leaky bucket is
enforced too: a query's requested cost is taken from the bucket before it runs and the
difference to its actual cost is refunded after; a query that does not fit is answered
HTTP 200 with a ``THROTTLED`` error. Every answer carries ``extensions.cost.throttleStatus``.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import gzip
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_client_schema,
    execute,
    get_named_type,
    parse,
    validate,
    value_from_ast_untyped,
)

from sandbox.http_base import BadRequest, Request, Response, paused_gc, read_jsonl
from sandbox.scale import SyntheticCollection, SyntheticShop

log = logging.getLogger("sandbox.shopify")

API_VERSION = "2025-01"
SCHEMA_PATH = Path(__file__).parent / "schemas" / f"admin_schema_{API_VERSION}.json.gz"
MAX_PAGE_SIZE = 250
MAX_QUERY_COST = 1000
PAGING_CAP = 25_000  # a root connection pages through at most this many objects
BUCKET_SIZE = 2000.0
RESTORE_RATE = 100.0
# plan -> (bucket size, points restored per second); the bucket holds 20 seconds of restore
PLANS = {
    "standard": (2000.0, 100.0),
    "advanced": (4000.0, 200.0),
    "plus": (20000.0, 1000.0),
    "enterprise": (40000.0, 2000.0),
}
CHECKOUTS_COUNT_MAX = 10_000  # abandonedCheckoutsCount is "limited to a maximum of 10000"
AUTH_ERROR = "[API] Invalid API key or access token (unrecognized login or wrong password)"

_DATE_FIELDS = {"updated_at": "updatedAt", "created_at": "createdAt", "processed_at": "processedAt"}


@functools.cache
def admin_schema() -> GraphQLSchema:
    """Shopify's Admin API schema, built once per process (it has 2,709 types)."""
    with gzip.open(SCHEMA_PATH, "rt", encoding="utf-8") as fh:
        introspection = json.load(fh)
    return build_client_schema(introspection.get("data", introspection))


# --------------------------------------------------------------------------- helpers


def _numeric_id(gid: str) -> int:
    """7012345000068 from 'gid://shopify/Customer/7012345000068' (or '...?model_name=X')."""
    return int(gid.rsplit("/", 1)[-1].split("?", 1)[0])


def _epoch(value: str) -> float:
    """Seconds since the epoch for an ISO-8601 instant or date (dates are UTC midnight)."""
    text = value.strip()
    if len(text) == 10:
        text += "T00:00:00Z"
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _encode_cursor(key: tuple[Any, int]) -> str:
    payload = json.dumps({"last_id": key[1], "last_value": key[0]}, separators=(",", ":"))
    return base64.b64encode(payload.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[Any, int]:
    try:
        data = json.loads(base64.b64decode(cursor.encode(), validate=True))
        return data["last_value"], int(data["last_id"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise GraphQLError(f"Invalid cursor: {cursor!r}") from exc


# --------------------------------------------------------------------------- search syntax


class _Search:
    """Shopify's search syntax, e.g.
    ``updated_at:>='2026-11-19T00:00:00Z' AND (tag:vip OR -state:disabled)``.

    Supported fields differ per resource; unknown fields match everything, as Shopify
    ignores filters it does not know. Bare words match text fields (email, names).
    """

    _TOKEN = re.compile(r"""\s*(\(|\)|(?:[^\s()"']|"[^"]*"|'[^']*')+)""")
    _COMPARE = re.compile(r"^(>=|<=|>|<|=)?(.*)$", re.S)

    def __init__(
        self,
        text: str,
        fields: dict[str, Callable[[dict[str, Any]], Any]],
        text_fields: Callable[[dict[str, Any]], str],
    ) -> None:
        self.fields = fields
        self.text_fields = text_fields
        self.tokens = [m.group(1) for m in self._TOKEN.finditer(text or "") if m.group(1)]
        self.pos = 0
        self.predicate = self._parse_or() if self.tokens else (lambda _r: True)

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _parse_or(self) -> Callable[[dict[str, Any]], bool]:
        parts = [self._parse_and()]
        while self._peek() == "OR":
            self.pos += 1
            parts.append(self._parse_and())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def _parse_and(self) -> Callable[[dict[str, Any]], bool]:
        parts = []
        while (token := self._peek()) is not None and token not in ("OR", ")"):
            if token == "AND":
                self.pos += 1
                continue
            parts.append(self._parse_unary())
        if not parts:
            return lambda _r: True
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def _parse_unary(self) -> Callable[[dict[str, Any]], bool]:
        token = self.tokens[self.pos]
        self.pos += 1
        if token == "NOT":
            inner = self._parse_unary() if self._peek() is not None else (lambda _r: True)
            return lambda r: not inner(r)
        if token == "(":
            inner = self._parse_or()
            if self._peek() == ")":
                self.pos += 1
            return inner
        if token.startswith("-") and len(token) > 1:
            term = self._term(token[1:])
            return lambda r: not term(r)
        return self._term(token)

    @staticmethod
    def _unquote(value: str) -> str:
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            return value[1:-1]
        return value.replace('"', "").replace("'", "")

    def _term(self, token: str) -> Callable[[dict[str, Any]], bool]:
        field, sep, rest = token.partition(":")
        if not sep:
            word = self._unquote(token).lower()
            return lambda r: word in self.text_fields(r)
        getter = self.fields.get(field.lower())
        if getter is None:
            log.debug("ignoring unknown search field %r", field)
            return lambda _r: True
        match = self._COMPARE.match(rest)
        assert match is not None
        op, raw = match.group(1) or "=", self._unquote(match.group(2))
        return self._compare(getter, op, raw)

    @staticmethod
    def _compare(
        getter: Callable[[dict[str, Any]], Any], op: str, raw: str
    ) -> Callable[[dict[str, Any]], bool]:
        kind = getter.__name__  # "date", "numeric" or "text": see the *_getter factories
        if kind in ("date", "numeric"):
            try:
                probe = _epoch(raw) if kind == "date" else float(raw)
            except ValueError:  # Shopify ignores a filter it cannot read
                log.debug("ignoring unreadable %s value %r in search", kind, raw)
                return lambda _r: True
            return lambda r: (value := getter(r)) is not None and _cmp(op, value, probe)
        needle = raw.lower()  # text: case-insensitive, a trailing '*' is a prefix match
        if needle.endswith("*"):
            prefix = needle[:-1]
            return lambda r: any(str(v).lower().startswith(prefix) for v in _many(getter(r)))
        return lambda r: any(_cmp(op, str(v).lower(), needle) for v in _many(getter(r)))


def _many(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _cmp(op: str, left: Any, right: Any) -> bool:
    if op == ">":
        return left > right
    if op == ">=":
        return left >= right
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    return left == right


def _date_getter(name: str) -> Callable[[dict[str, Any]], Any]:
    def date(record: dict[str, Any]) -> float | None:
        value = record.get(name)
        return _epoch(value) if value else None

    return date


def _numeric_getter(fn: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    def numeric(record: dict[str, Any]) -> float | None:
        value = fn(record)
        return None if value is None else float(value)

    return numeric


def _text_getter(fn: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    def text(record: dict[str, Any]) -> Any:
        return fn(record)

    return text


# --------------------------------------------------------------------------- collections


@dataclass(frozen=True)
class _View:
    """One sorted, filtered list of records: ascending keys and the records beside them."""

    keys: list[tuple[Any, int]]
    records: list[dict[str, Any]]


class _Collection:
    """The records of one resource with their sort keys, search fields and cached views."""

    def __init__(
        self,
        records: list[dict[str, Any]],
        sort_keys: dict[str, Callable[[dict], Any]],
        search_fields: dict[str, Callable[[dict], Any]],
        text: Callable[[dict[str, Any]], str],
    ) -> None:
        self.records = sorted(records, key=lambda r: _numeric_id(r["id"]))
        self.by_id = {r["id"]: r for r in self.records}
        self.sort_keys = sort_keys
        self.search_fields = search_fields
        self.text = text
        self._views: OrderedDict[tuple[str, str], _View] = OrderedDict()
        self._lock = threading.Lock()

    def view(self, sort_key: str, query: str | None) -> _View:
        cache_key = (sort_key, (query or "").strip())
        with self._lock:
            if cache_key in self._views:
                self._views.move_to_end(cache_key)
                return self._views[cache_key]
        if sort_key not in self.sort_keys:
            supported = ", ".join(sorted(self.sort_keys))
            raise GraphQLError(f"sortKey {sort_key} is not supported by the sandbox ({supported})")
        predicate = _Search(cache_key[1], self.search_fields, self.text).predicate
        value_of = self.sort_keys[sort_key]
        pairs = sorted(
            (((value_of(r), _numeric_id(r["id"])), r) for r in self.records if predicate(r)),
            key=lambda pair: pair[0],  # ids are unique, so ties on the value break by id
        )
        view = _View([p[0] for p in pairs], [p[1] for p in pairs])
        with self._lock:
            self._views[cache_key] = view
            while len(self._views) > 32:
                self._views.popitem(last=False)
        return view


def _connection(view: _View, args: dict[str, Any], cap: int | None = None) -> dict[str, Any]:
    """A Relay connection over ``view`` as Shopify pages it.

    With ``cap`` (root connections), paging stops after that many objects: the page that
    reaches it says ``hasNextPage: false``, as Shopify's does, though more objects match.
    """
    first, last = args.get("first"), args.get("last")
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last")
    for name, value in (("first", first), ("last", last)):
        if value is not None and value > MAX_PAGE_SIZE:
            raise GraphQLError(f"The maximum number of records per page is {MAX_PAGE_SIZE}")
        if value is not None and value < 0:
            raise GraphQLError(f"Argument '{name}' on Field must be a non-negative integer")
    keys, n, reverse = view.keys, len(view.keys), bool(args.get("reverse"))
    visible = min(n, cap) if cap is not None else n

    def after_pos(key: tuple[Any, int]) -> int:
        return n - bisect.bisect_left(keys, key) if reverse else bisect.bisect_right(keys, key)

    def before_pos(key: tuple[Any, int]) -> int:
        return n - bisect.bisect_right(keys, key) if reverse else bisect.bisect_left(keys, key)

    try:
        lo = after_pos(_decode_cursor(args["after"])) if args.get("after") else 0
        hi = before_pos(_decode_cursor(args["before"])) if args.get("before") else n
    except TypeError as exc:  # a cursor from another sortKey
        raise GraphQLError("Invalid cursor for the current sortKey") from exc
    hi = min(max(lo, hi), visible)
    lo = min(lo, hi)
    if first is not None:
        hi = min(hi, lo + first)
    if last is not None:
        lo = max(lo, hi - last)

    def at(pos: int) -> tuple[tuple[Any, int], dict[str, Any]]:
        index = n - 1 - pos if reverse else pos
        return keys[index], view.records[index]

    page = [at(pos) for pos in range(lo, hi)]
    edges = [{"cursor": _encode_cursor(key), "node": record} for key, record in page]
    return {
        "edges": edges,
        "nodes": [record for _, record in page],
        "pageInfo": {
            "hasNextPage": hi < visible,
            "hasPreviousPage": lo > 0,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def _list_view(items: list[dict[str, Any]]) -> _View:
    """A view over a stored list (e.g. an order's line items), in stored order."""
    keys = [
        (pos, _numeric_id(item["id"]) if "id" in item else pos) for pos, item in enumerate(items)
    ]
    return _View(keys, items)


# --------------------------------------------------------------------------- query cost


def requested_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: dict[str, Any] | None,
    operation_name: str | None,
) -> int:
    """Shopify's documented static cost: objects 1, scalars 0, connections 2 + size x node."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    operation = next(
        (o for o in operations if o.name and o.name.value == operation_name),
        operations[0] if operations else None,
    )
    if operation is None:
        return 0
    variables = variables or {}
    root = schema.mutation_type if operation.operation.value == "mutation" else schema.query_type
    base = 10 if operation.operation.value == "mutation" else 0

    def arg_value(node: FieldNode, name: str) -> Any:
        for arg in node.arguments:
            if arg.name.value == name:
                return value_from_ast_untyped(arg.value, variables)
        return None

    def cost(selection_set: SelectionSetNode | None, parent: Any, seen: frozenset[str]) -> int:
        if selection_set is None or parent is None:
            return 0
        total = 0
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                name = sel.name.value
                if name.startswith("__") or not hasattr(parent, "fields"):
                    continue
                field = parent.fields.get(name)
                if field is None:
                    continue
                named = get_named_type(field.type)
                if not isinstance(
                    named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType
                ):
                    continue
                inner = cost(sel.selection_set, named, seen)
                if named.name.endswith("Connection"):
                    size = arg_value(sel, "first") or arg_value(sel, "last") or 0
                    total += 2 + int(size) * inner
                elif named.name.endswith("Edge") or named.name == "PageInfo":
                    total += inner
                else:
                    total += 1 + inner
            elif isinstance(sel, InlineFragmentNode):
                target = (
                    schema.get_type(sel.type_condition.name.value) if sel.type_condition else parent
                )
                total += cost(sel.selection_set, target, seen)
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in seen:
                    target = schema.get_type(fragment.type_condition.name.value)
                    total += cost(fragment.selection_set, target, seen | {name})
        return total

    return base + cost(operation.selection_set, root, frozenset())


class _Bucket:
    """Shopify's leaky bucket of query cost points (reported; enforced only on request)."""

    def __init__(
        self,
        size: float = BUCKET_SIZE,
        rate: float = RESTORE_RATE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size, self.rate, self.clock = size, rate, clock
        self.available = size
        self.updated = clock()
        self.lock = threading.Lock()

    def refill(self) -> float:
        now = self.clock()
        self.available = min(self.size, self.available + (now - self.updated) * self.rate)
        self.updated = now
        return self.available

    def status(self) -> dict[str, float]:
        return {
            "maximumAvailable": self.size,
            "currentlyAvailable": round(self.available, 1),
            "restoreRate": self.rate,
        }


# --------------------------------------------------------------------------- the stand-in


class ShopifyStandIn:
    """Serves ``/admin/api/2025-01/graphql.json`` from the generated JSONL files."""

    prefix = "/admin/api/"

    def __init__(
        self,
        data_dir: Path | str,
        token: str = "shpat_sandbox",
        *,
        enforce_throttle: bool = False,
        plan: str = "standard",
        paging_cap: int = PAGING_CAP,
        clock: Callable[[], float] = time.monotonic,
        shop_name: str = "Tailor Sandbox",
        synthetic: SyntheticShop | None = None,
    ) -> None:
        self.token = token
        self.schema = admin_schema()
        self.enforce_throttle = enforce_throttle
        if plan not in PLANS:
            raise ValueError(f"unknown Shopify plan {plan!r}; known: {', '.join(PLANS)}")
        size, rate = PLANS[plan]
        self.bucket = _Bucket(size, rate, clock=clock)
        self.throttled = 0  # queries refused for lack of budget
        self.points_spent = 0  # actual cost of every query answered, for benchmarks
        self.paging_cap = paging_cap
        with paused_gc():
            data_dir = Path(data_dir)
            # a scale run's customers and orders are made on demand instead (sandbox.scale)
            customers = [] if synthetic else read_jsonl(data_dir / "shopify_customers.jsonl")
            orders = [] if synthetic else read_jsonl(data_dir / "shopify_orders.jsonl")
            self.customers: _Collection | SyntheticCollection = _Collection(
                customers,
                sort_keys={
                    "ID": lambda r: _numeric_id(r["id"]),
                    "CREATED_AT": lambda r: _epoch(r["createdAt"]),
                    "UPDATED_AT": lambda r: _epoch(r["updatedAt"]),
                    "NAME": lambda r: (
                        f"{r.get('lastName') or ''} {r.get('firstName') or ''}"
                    ).lower(),
                },
                search_fields={
                    "updated_at": _date_getter("updatedAt"),
                    "created_at": _date_getter("createdAt"),
                    "id": _numeric_getter(lambda r: _numeric_id(r["id"])),
                    "email": _text_getter(lambda r: r.get("email")),
                    "first_name": _text_getter(lambda r: r.get("firstName")),
                    "last_name": _text_getter(lambda r: r.get("lastName")),
                    "phone": _text_getter(lambda r: r.get("phone")),
                    "state": _text_getter(lambda r: r.get("state")),
                    "tag": _text_getter(lambda r: r.get("tags")),
                    "country": _text_getter(
                        lambda r: (r.get("defaultAddress") or {}).get("country")
                    ),
                    "orders_count": _numeric_getter(lambda r: r.get("numberOfOrders")),
                    "total_spent": _numeric_getter(
                        lambda r: (r.get("amountSpent") or {}).get("amount")
                    ),
                },
                text=lambda r: " ".join(
                    str(r.get(k) or "") for k in ("email", "firstName", "lastName", "phone")
                ).lower(),
            )
            self.orders: _Collection | SyntheticCollection = _Collection(
                orders,
                sort_keys={
                    "ID": lambda r: _numeric_id(r["id"]),
                    "CREATED_AT": lambda r: _epoch(r["createdAt"]),
                    "UPDATED_AT": lambda r: _epoch(r["updatedAt"]),
                    "PROCESSED_AT": lambda r: _epoch(r["processedAt"]),
                    "ORDER_NUMBER": lambda r: int(str(r.get("name", "0")).lstrip("#") or 0),
                    "TOTAL_PRICE": lambda r: float(r["totalPriceSet"]["shopMoney"]["amount"]),
                },
                search_fields={
                    "updated_at": _date_getter("updatedAt"),
                    "created_at": _date_getter("createdAt"),
                    "processed_at": _date_getter("processedAt"),
                    "id": _numeric_getter(lambda r: _numeric_id(r["id"])),
                    "email": _text_getter(lambda r: r.get("email")),
                    "name": _text_getter(lambda r: r.get("name")),
                    "customer_id": _numeric_getter(
                        lambda r: _numeric_id(r["customer"]["id"]) if r.get("customer") else None
                    ),
                    "status": _text_getter(
                        lambda r: "cancelled" if r.get("cancelledAt") else "open"
                    ),
                    "financial_status": _text_getter(
                        lambda r: (r.get("displayFinancialStatus") or "").lower()
                    ),
                },
                text=lambda r: f"{r.get('name', '')} {r.get('email') or ''}".lower(),
            )
            self.products = _Collection(
                read_jsonl(data_dir / "shopify_products.jsonl"),
                sort_keys={
                    "ID": lambda r: _numeric_id(r["id"]),
                    "CREATED_AT": lambda r: _epoch(r["createdAt"]),
                    "UPDATED_AT": lambda r: _epoch(r["updatedAt"]),
                    "TITLE": lambda r: (r.get("title") or "").lower(),
                    "PRODUCT_TYPE": lambda r: (r.get("productType") or "").lower(),
                    "VENDOR": lambda r: (r.get("vendor") or "").lower(),
                },
                search_fields={
                    "updated_at": _date_getter("updatedAt"),
                    "created_at": _date_getter("createdAt"),
                    "id": _numeric_getter(lambda r: _numeric_id(r["id"])),
                    "title": _text_getter(lambda r: r.get("title")),
                    "handle": _text_getter(lambda r: r.get("handle")),
                    "product_type": _text_getter(lambda r: r.get("productType")),
                    "vendor": _text_getter(lambda r: r.get("vendor")),
                    "status": _text_getter(lambda r: r.get("status")),
                    "tag": _text_getter(lambda r: r.get("tags")),
                    "sku": _text_getter(lambda r: [v.get("sku") for v in r.get("variants", [])]),
                },
                text=lambda r: f"{r.get('title', '')} {r.get('productType', '')}".lower(),
            )
            self.variants = {v["id"]: v for p in self.products.records for v in p["variants"]}
            self.checkouts = _Collection(
                read_jsonl(data_dir / "shopify_abandoned_checkouts.jsonl"),
                sort_keys={  # no UPDATED_AT: AbandonedCheckoutSortKeys has none
                    "ID": lambda r: _numeric_id(r["id"]),
                    "CHECKOUT_ID": lambda r: _numeric_id(r["id"]),
                    "CREATED_AT": lambda r: _epoch(r["createdAt"]),
                    "TOTAL_PRICE": lambda r: float(r["totalPriceSet"]["shopMoney"]["amount"]),
                },
                search_fields={
                    "updated_at": _date_getter("updatedAt"),
                    "created_at": _date_getter("createdAt"),
                    "id": _numeric_getter(lambda r: _numeric_id(r["id"])),
                    "status": _text_getter(lambda r: "closed" if r.get("completedAt") else "open"),
                    "recovery_state": _text_getter(
                        lambda r: "recovered" if r.get("completedAt") else "not_recovered"
                    ),
                },
                text=lambda r: (r.get("name") or "").lower(),
            )
            self.orders_by_customer: dict[str, list[dict[str, Any]]] = {}
            for order in self.orders.records:
                if order.get("customer"):
                    self.orders_by_customer.setdefault(order["customer"]["id"], []).append(order)
            self.shop = {
                "id": "gid://shopify/Shop/1",
                "name": shop_name,
                "email": "owner@tailor-sandbox.example",
                "myshopifyDomain": "tailor-sandbox.myshopify.com",
                "currencyCode": "USD",
                "ianaTimezone": "Etc/UTC",
            }
        if synthetic is not None:
            self.customers, self.orders = synthetic.customers, synthetic.orders
        log.info(
            "shopify stand-in: %d customers, %d orders",
            len(self.customers.records),
            len(self.orders.records),
        )
        from sandbox.shopify_bulk import BulkOperations

        self.bulk = BulkOperations(self)  # bulk queries; also serves their result files

    # ----------------------------------------------------------------- HTTP

    def handle(self, req: Request) -> Response:
        if req.path != f"/admin/api/{API_VERSION}/graphql.json":
            return Response(404, {"errors": "Not Found"})
        if req.headers.get("X-Shopify-Access-Token") != self.token:
            return Response(401, {"errors": AUTH_ERROR})
        if req.method != "POST":
            return Response(405, {"errors": "Method Not Allowed"}, {"Allow": "POST"})
        try:
            query, variables, operation_name = self._parse_body(req)
        except BadRequest:
            return Response(400, {"errors": {"query": "Required parameter missing or invalid"}})
        self.bulk.host = req.headers.get("Host") or self.bulk.host  # for result URLs
        return Response(200, self.execute(query, variables, operation_name))

    def throttled_response(self, requested: int | None = None, **_ignored: Any) -> Response:
        """Shopify's answer to a query over budget: HTTP 200, a THROTTLED error, the status."""
        with self.bucket.lock:
            self.bucket.refill()
            status = self.bucket.status()
        return Response(200, _throttled_body(requested, status))

    @staticmethod
    def _parse_body(req: Request) -> tuple[str, dict[str, Any] | None, str | None]:
        content_type = (req.headers.get("Content-Type") or "").lower()
        if content_type.startswith("application/graphql"):
            query = req.body.decode("utf-8", "replace")
            return query, None, None
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            raise BadRequest("query missing")
        variables = body.get("variables")
        if variables is not None and not isinstance(variables, dict):
            raise BadRequest("variables must be an object")
        operation_name = body.get("operationName")
        return body["query"], variables, operation_name if isinstance(operation_name, str) else None

    # ----------------------------------------------------------------- GraphQL

    def execute(
        self, query: str, variables: dict[str, Any] | None = None, operation_name: str | None = None
    ) -> dict[str, Any]:
        """Parse, validate, cost and run one GraphQL request; returns the response body."""
        try:
            document = parse(query)
        except GraphQLError as exc:
            return self._with_status({"errors": [_shopify_error(exc, "parseError")]})
        errors = validate(self.schema, document)
        if errors:
            return self._with_status({"errors": [_shopify_validation_error(e) for e in errors]})
        requested = requested_cost(self.schema, document, variables, operation_name)
        with self.bucket.lock:
            self.bucket.refill()
            status = self.bucket.status()
            throttled = self.enforce_throttle and requested > self.bucket.available
            if self.enforce_throttle and not throttled and requested <= MAX_QUERY_COST:
                self.bucket.available -= requested  # taken up front, refunded after
                status = self.bucket.status()
        if requested > MAX_QUERY_COST:
            return {
                "errors": [
                    {
                        "message": (
                            f"Query cost is {requested}, which exceeds the single query max cost "
                            f"limit ({MAX_QUERY_COST}).\n\nSee https://shopify.dev/concepts/about-"
                            "apis/rate-limits for more information on how the\ncost of a query is "
                            "calculated.\n\nTo query larger amounts of data with fine grained "
                            "cursor control, we recommend using bulk operations."
                        ),
                        "extensions": {
                            "code": "MAX_COST_EXCEEDED",
                            "cost": requested,
                            "maxCost": MAX_QUERY_COST,
                        },
                    }
                ],
                "extensions": {
                    "cost": {
                        "requestedQueryCost": requested,
                        "actualQueryCost": None,
                        "throttleStatus": status,
                    }
                },
            }
        if throttled:
            self.throttled += 1
            return _throttled_body(requested, status)
        context: dict[str, Any] = {"actual": 0}
        result = execute(
            self.schema,
            document,
            root_value=None,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
            field_resolver=self._resolve,
            type_resolver=_type_of,
        )
        actual = min(context["actual"], requested) if requested else context["actual"]
        with self.bucket.lock:
            self.bucket.refill()
            self.points_spent += actual
            if self.enforce_throttle:
                self.bucket.available = min(
                    self.bucket.size, self.bucket.available + requested - actual
                )
            status = self.bucket.status()  # with limits off the bucket stays full
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        body["data"] = result.data
        body["extensions"] = {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": status,
            }
        }
        return body

    def _with_status(self, body: dict[str, Any]) -> dict[str, Any]:
        """A query that never ran still reports the bucket, as every Shopify answer does."""
        with self.bucket.lock:
            self.bucket.refill()
            status = self.bucket.status()
        cost = {"requestedQueryCost": None, "actualQueryCost": None, "throttleStatus": status}
        return {**body, "extensions": {"cost": cost}}

    def _resolve(self, source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        name = info.field_name
        parent = info.parent_type.name
        named = get_named_type(info.return_type)
        if parent in ("QueryRoot", "Mutation"):
            value = self._root_field(parent, name, args)
        elif isinstance(source, dict):
            if name in source:
                value = source[name]
                if isinstance(value, list) and named.name.endswith("Connection"):
                    value = _connection(_list_view(value), args)
                elif name == "customer" and parent in ("Order", "AbandonedCheckout") and value:
                    value = self.customers.by_id.get(value["id"], value)
                elif parent == "AbandonedCheckoutLineItem" and value:
                    if name == "product":
                        value = self.products.by_id.get(value["id"], value)
                    elif name == "variant":
                        value = self.variants.get(value["id"], value)
            else:
                value = self._derived(source, parent, name, args)
        else:
            value = None
        if value is not None and isinstance(
            named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType
        ):
            if named.name.endswith("Connection"):
                info.context["actual"] += 2
            elif not (named.name.endswith("Edge") or named.name == "PageInfo"):
                info.context["actual"] += len(value) if isinstance(value, list) else 1
        return value

    def _derived(self, source: dict[str, Any], parent: str, name: str, args: dict[str, Any]) -> Any:
        """Fields a store computes rather than stores."""
        if parent == "MoneyBag" and name == "presentmentMoney":
            return source.get("shopMoney")  # single-currency store
        if parent == "LineItem" and name == "name":
            return source.get("title")
        if parent == "Customer" and name == "displayName":
            return " ".join(p for p in (source.get("firstName"), source.get("lastName")) if p)
        if parent == "Customer" and name == "orders":
            own = self.orders_by_customer.get(source.get("id", ""), [])
            view = _Collection(
                own, self.orders.sort_keys, self.orders.search_fields, self.orders.text
            ).view(args.get("sortKey") or "ID", args.get("query"))
            return _connection(view, args)
        return None

    def _root_field(self, parent: str, name: str, args: dict[str, Any]) -> Any:
        if name in ("bulkOperationRunQuery", "currentBulkOperation"):
            return self.bulk.resolve(name, args)
        if parent == "Mutation":
            raise GraphQLError(f"Mutation '{name}' is not available in the sandbox")
        if name == "customers":
            return _connection(
                self.customers.view(args.get("sortKey") or "ID", args.get("query")),
                args,
                self.paging_cap,
            )
        if name == "orders":
            return _connection(
                self.orders.view(args.get("sortKey") or "PROCESSED_AT", args.get("query")),
                args,
                self.paging_cap,
            )
        if name == "products":
            return _connection(
                self.products.view(args.get("sortKey") or "ID", args.get("query")),
                args,
                self.paging_cap,
            )
        if name == "abandonedCheckouts":
            return _connection(
                self.checkouts.view(args.get("sortKey") or "ID", args.get("query")),
                args,
                self.paging_cap,
            )
        if name == "product":
            return self.products.by_id.get(args["id"])
        if name == "productsCount":
            return _capped_count(
                len(self.products.view("ID", args.get("query")).records), args.get("limit")
            )
        if name == "abandonedCheckoutsCount":
            limit = min(args.get("limit") or CHECKOUTS_COUNT_MAX, CHECKOUTS_COUNT_MAX)
            return _capped_count(len(self.checkouts.view("ID", args.get("query")).records), limit)
        if name == "customer":
            return self.customers.by_id.get(args["id"])
        if name == "order":
            return self.orders.by_id.get(args["id"])
        if name == "node":
            return self._node(args["id"])
        if name == "nodes":
            return [self._node(i) for i in args["ids"]]
        if name == "customersCount":
            count = len(self.customers.view("ID", args.get("query")).records)
            return {"count": count, "precision": "EXACT"}
        if name == "ordersCount":
            count = len(self.orders.view("ID", args.get("query")).records)
            limit = args.get("limit") or 10_000
            return {
                "count": min(count, limit),
                "precision": "EXACT" if count <= limit else "AT_LEAST",
            }
        if name == "shop":
            return self.shop
        raise GraphQLError(f"Field 'QueryRoot.{name}' is not available in the sandbox")

    def _node(self, gid: str) -> dict[str, Any] | None:
        if gid.startswith("gid://shopify/BulkOperation/"):
            return self.bulk.resolve("node", {"id": gid})
        for collection in (self.customers, self.orders, self.products, self.checkouts):
            if gid in collection.by_id:
                return collection.by_id[gid]
        return None


def _capped_count(count: int, limit: int | None) -> dict[str, Any]:
    """A count as Shopify reports one past its limit (10,000 unless asked otherwise)."""
    limit = limit or 10_000
    return {"count": min(count, limit), "precision": "EXACT" if count <= limit else "AT_LEAST"}


def _throttled_body(requested: int | None, status: dict[str, float]) -> dict[str, Any]:
    return {
        "errors": [
            {
                "message": "Throttled",
                "extensions": {
                    "code": "THROTTLED",
                    "documentation": "https://shopify.dev/api/usage/rate-limits",
                },
            }
        ],
        "extensions": {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": None,
                "throttleStatus": status,
            }
        },
    }


def _type_of(value: Any, _info: GraphQLResolveInfo, _abstract: Any) -> str | None:
    if isinstance(value, dict):
        if isinstance(value.get("__typename"), str):
            return value["__typename"]
        gid = value.get("id")
        if isinstance(gid, str) and gid.startswith("gid://shopify/"):
            return gid.split("/")[3].split("?")[0]
    return None


def _shopify_error(
    error: GraphQLError, code: str, message: str | None = None, **extra: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {"message": message or error.message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    out["extensions"] = {"code": code, **extra}
    return out


_VALIDATION_PATTERNS: list[tuple[re.Pattern[str], str, Callable[[re.Match[str]], tuple[str, dict]]]]
_VALIDATION_PATTERNS = [
    (
        re.compile(r"Cannot query field '(\w+)' on type '(\w+)'"),
        "undefinedField",
        lambda m: (
            f"Field '{m[1]}' doesn't exist on type '{m[2]}'",
            {"typeName": m[2], "fieldName": m[1]},
        ),
    ),
    (
        re.compile(r"Unknown argument '(\w+)' on field '(\w+)\.(\w+)'"),
        "argumentNotAccepted",
        lambda m: (
            f"Field '{m[3]}' doesn't accept argument '{m[1]}'",
            {"name": m[3], "typeName": "Field", "argumentName": m[1]},
        ),
    ),
    (
        re.compile(r"Field '(\w+)' of type '([^']+)' must have a selection of subfields"),
        "selectionMismatch",
        lambda m: (
            f"Field must have selections (field '{m[1]}' returns {m[2]} but has no "
            f"selections. Did you mean '{m[1]} {{ ... }}'?)",
            {"nodeName": f"field '{m[1]}'", "typeName": m[2]},
        ),
    ),
    (
        re.compile(r"Unknown type '(\w+)'"),
        "undefinedType",
        lambda m: (f"No such type {m[1]}, so it can't be a fragment condition", {"typeName": m[1]}),
    ),
    (
        re.compile(r"Variable '\$(\w+)' is never used"),
        "variableNotUsed",
        lambda m: (
            f"Variable ${m[1]} is declared by anonymous query but not used",
            {"variableName": m[1]},
        ),
    ),
    (
        re.compile(r"argument '(\w+)' of type '([^']+)' is required"),
        "missingRequiredArguments",
        lambda m: (m.string.rstrip("."), {"arguments": m[1]}),
    ),
]


def _shopify_validation_error(error: GraphQLError) -> dict[str, Any]:
    """graphql-core's message reworded and coded the way Shopify's (graphql-ruby) words it."""
    for pattern, code, build in _VALIDATION_PATTERNS:
        match = pattern.search(error.message)
        if match:
            message, extra = build(match)
            return _shopify_error(error, code, message, **extra)
    return _shopify_error(error, "validationError")
