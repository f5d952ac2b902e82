"""Shopify Admin GraphQL API: customers, orders, products and abandoned checkouts updated
in one data interval.

Tailor targets API version 2025-01. Its schema has no `Customer.defaultEmailAddress` yet,
so the deprecated-but-valid `email` and `emailMarketingConsent` are read; every query here
is validated against the real schema in the tests.

Shopify limits by query cost: a leaky bucket per app and shop, reported on every answer as
`extensions.cost.throttleStatus`. The client keeps a model of that bucket and waits before a
query until the bucket holds its cost, so it is rarely throttled; when it is (HTTP 200 with a
`THROTTLED` error) it waits for the points it lacks and asks again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tailor.connections import ApiConnection
from tailor.http import HttpClient, RetryPolicy
from tailor.redact import get_logger
from tailor.sources import contracts
from tailor.sources.contracts import Contract
from tailor.sources.landing import LandingWriter, LandResult

log = get_logger(__name__)

API_VERSION = "2025-01"
PAGE_SIZE = 250  # Shopify's maximum for `first`
MAX_QUERY_COST = 1000  # Shopify's single-query cost limit
MAX_THROTTLED_IN_A_ROW = 30
PAGING_CAP = 25_000  # a connection stops paging after this many objects
GRAPHQL_PATH = f"/admin/api/{API_VERSION}/graphql.json"
CONNECTION_COST = 2  # a connection's own cost, whatever its size
# query -> the largest page that kept under MAX_QUERY_COST, so later windows and runs in
# this process do not ask for a page Shopify refuses first
_FITTING_PAGE: dict[str, int] = {}

CUSTOMERS_QUERY = """
query TailorCustomers($first: Int!, $after: String, $query: String) {
  customers(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id firstName lastName email phone locale tags createdAt updatedAt numberOfOrders
      amountSpent { amount currencyCode }
      emailMarketingConsent { marketingState marketingOptInLevel consentUpdatedAt }
      defaultAddress { address1 city province provinceCode country countryCodeV2 zip }
    }
  }
}
"""

ORDERS_QUERY = """
query TailorOrders($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id name email createdAt updatedAt processedAt cancelledAt currencyCode
      totalPriceSet { shopMoney { amount currencyCode } }
      customer { id }
      lineItems(first: 20) {
        pageInfo { hasNextPage }
        nodes {
          id title quantity sku
          originalUnitPriceSet { shopMoney { amount currencyCode } }
          product { id title productType }
        }
      }
    }
  }
}
"""


PRODUCTS_QUERY = """
query TailorProducts($first: Int!, $after: String, $query: String) {
  products(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id title handle productType vendor tags status createdAt updatedAt
      collections(first: 10) { pageInfo { hasNextPage } nodes { id title handle } }
      variants(first: 20) { pageInfo { hasNextPage } nodes { id title sku price } }
    }
  }
}
"""

# AbandonedCheckout has no email field in 2025-01: the customer's is read. Its sort keys
# have no UPDATED_AT, so pages go by id; the search still filters on updated_at.
ABANDONED_CHECKOUTS_QUERY = """
query TailorAbandonedCheckouts($first: Int!, $after: String, $query: String) {
  abandonedCheckouts(first: $first, after: $after, query: $query, sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id name createdAt updatedAt completedAt abandonedCheckoutUrl
      customer { id email }
      totalPriceSet { shopMoney { amount currencyCode } }
      lineItems(first: 10) {
        pageInfo { hasNextPage }
        nodes {
          id title quantity sku
          variant { id }
          product { id }
          originalUnitPriceSet { shopMoney { amount currencyCode } }
        }
      }
    }
  }
}
"""


@dataclass(frozen=True)
class Entity:
    name: str
    root_field: str
    query: str
    contract: Contract
    count_limit: int | None = PAGING_CAP + 1  # None: the count field takes no limit

    @property
    def count_query(self) -> str:
        limit = f", limit: {self.count_limit}" if self.count_limit else ""
        return (
            f"query TailorCount($query: String) {{ {self.root_field}Count(query: $query{limit}) "
            "{ count precision } }"
        )


ENTITIES = {
    "customers": Entity(
        "customers", "customers", CUSTOMERS_QUERY, contracts.SHOPIFY_CUSTOMERS, count_limit=None
    ),
    "orders": Entity("orders", "orders", ORDERS_QUERY, contracts.SHOPIFY_ORDERS),
    "products": Entity("products", "products", PRODUCTS_QUERY, contracts.SHOPIFY_PRODUCTS),
    # Shopify counts abandoned checkouts to 10,000 at most: a window past that is split.
    "abandoned_checkouts": Entity(
        "abandoned_checkouts",
        "abandonedCheckouts",
        ABANDONED_CHECKOUTS_QUERY,
        contracts.SHOPIFY_ABANDONED_CHECKOUTS,
        count_limit=10_000,
    ),
}


class ShopifyError(RuntimeError):
    pass


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def search_filter(start: datetime, end: datetime) -> str:
    """Shopify search syntax for `updated_at` in [start, end)."""
    return f"updated_at:>='{_iso(start)}' AND updated_at:<'{_iso(end)}'"


def client_for(conn: ApiConnection) -> HttpClient:
    return HttpClient(
        conn.base_url,
        headers={"X-Shopify-Access-Token": conn.password or "", "Content-Type": "application/json"},
        secrets=[conn.password],
        retry=retry_policy(conn),
    )


def retry_policy(conn: ApiConnection) -> RetryPolicy:
    """The default policy; `retry_backoff_initial` in the connection's extra tunes it."""
    initial = conn.extra.get("retry_backoff_initial")
    return RetryPolicy(backoff_initial=float(initial)) if initial is not None else RetryPolicy()


class CostBudget:
    """The client's model of Shopify's bucket, from the last `throttleStatus` it saw."""

    def __init__(self, clock: Any = time.monotonic, sleep: Any = time.sleep) -> None:
        self.clock, self.sleep = clock, sleep
        self.available: float | None = None
        self.maximum = 0.0
        self.rate = 0.0
        self.seen_at = 0.0
        self.waited = 0.0
        self.throttled = 0
        self.expected: dict[str, float] = {}  # query -> its last requested cost
        self.per_node: dict[str, float] = {}  # paged query -> requested points per node

    def observe(self, body: dict[str, Any]) -> None:
        status = (((body.get("extensions") or {}).get("cost")) or {}).get("throttleStatus")
        if not isinstance(status, dict):
            return
        self.available = float(status.get("currentlyAvailable") or 0.0)
        self.maximum = float(status.get("maximumAvailable") or 0.0)
        self.rate = float(status.get("restoreRate") or 0.0)
        self.seen_at = self.clock()

    def now_available(self) -> float | None:
        """The points the bucket holds now, as last seen and refilled since."""
        if self.available is None or self.rate <= 0:
            return None
        refilled = self.available + (self.clock() - self.seen_at) * self.rate
        return min(refilled, self.maximum) if self.maximum else refilled

    def wait_for(self, cost: float) -> None:
        """Sleep until the bucket, as last seen and refilled since, holds `cost` points."""
        if self.available is None or self.rate <= 0:
            return
        cost = min(cost, self.maximum) if self.maximum else cost
        now_available = self.available + (self.clock() - self.seen_at) * self.rate
        if now_available < cost:
            pause = (cost - now_available) / self.rate
            self.waited += pause
            self.sleep(pause)


_BUDGETS: dict[str, CostBudget] = {}


def shop_budget(conn: ApiConnection) -> CostBudget:
    """This process's model of the shop's bucket. Shopify keeps one bucket per app and shop,
    so extractions that follow each other start from what the last one saw instead of
    from nothing (and a first query that the bucket cannot hold)."""
    return _BUDGETS.setdefault(conn.base_url, CostBudget())


def _error_code(errors: Any, code: str) -> dict[str, Any] | None:
    for error in errors if isinstance(errors, list) else []:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        if isinstance(extensions, dict) and extensions.get("code") == code:
            return extensions
    return None


def _ask(
    client: HttpClient,
    budget: CostBudget,
    query: str,
    variables: dict[str, Any],
    what: str,
    cost: float | None = None,
) -> dict[str, Any]:
    """One query, paced by the bucket, asked again (after a wait) while THROTTLED.

    `cost` is the query's requested cost when the caller knows it (a page of another size
    than the last one asked); otherwise the last requested cost of the same query."""
    for _ in range(MAX_THROTTLED_IN_A_ROW):
        budget.wait_for(cost if cost is not None else budget.expected.get(query, 0.0))
        body = client.post_json(GRAPHQL_PATH, {"query": query, "variables": variables})
        budget.observe(body)
        requested = ((body.get("extensions") or {}).get("cost") or {}).get("requestedQueryCost")
        if isinstance(requested, int | float):
            budget.expected[query] = float(requested)
            cost = None
        if not (body.get("errors") and _error_code(body["errors"], "THROTTLED")):
            return body
        budget.throttled += 1
        # wait for the points lacking, and at least a moment, then ask again
        lacking = budget.expected.get(query, 0.0)
        budget.wait_for(max(lacking, (budget.available or 0.0) + budget.rate * 0.05))
    raise ShopifyError(f"{what}: throttled {MAX_THROTTLED_IN_A_ROW} times in a row")


def windows(
    client: HttpClient, entity: Entity, start: datetime, end: datetime, budget: CostBudget
) -> Iterator[tuple[datetime, datetime]]:
    """Split [start, end) until no part holds more than a connection pages through."""
    body = _ask(
        client, budget, entity.count_query, {"query": search_filter(start, end)}, entity.name
    )
    if body.get("errors"):
        raise ShopifyError(f"{entity.name} count: {body['errors']}")
    count = body["data"][f"{entity.root_field}Count"]
    too_many = count["count"] > PAGING_CAP or count["precision"] != "EXACT"
    if not too_many or (end - start).total_seconds() <= 1:
        yield start, end
        return
    middle = start + (end - start) / 2
    yield from windows(client, entity, start, middle, budget)
    yield from windows(client, entity, middle, end, budget)


def pages(
    client: HttpClient,
    entity: Entity,
    start: datetime,
    end: datetime,
    page_size: int = PAGE_SIZE,
    budget: CostBudget | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Yield pages of nodes updated in [start, end), window by window."""
    budget = budget or CostBudget()
    for lo, hi in windows(client, entity, start, end, budget):
        yield from _window_pages(client, entity, lo, hi, page_size, budget)


def _window_pages(
    client: HttpClient,
    entity: Entity,
    start: datetime,
    end: datetime,
    page_size: int,
    budget: CostBudget,
) -> Iterator[list[dict[str, Any]]]:
    """Pages of one window, following `pageInfo.endCursor`.

    A page's cost grows with `first` times the cost of one node; when Shopify answers
    MAX_COST_EXCEEDED, the page size shrinks in proportion and the same page is asked again.
    """
    full = min(page_size, _FITTING_PAGE.get(entity.query, page_size))
    variables: dict[str, Any] = {"first": full, "after": None, "query": search_filter(start, end)}
    while True:
        per_node = budget.per_node.get(entity.query)  # once a page of it was costed
        variables["first"], cost = _page_fitting(budget, full, per_node)
        body = _ask(client, budget, entity.query, variables, entity.name, cost)
        requested = ((body.get("extensions") or {}).get("cost") or {}).get("requestedQueryCost")
        if isinstance(requested, int | float) and variables["first"]:
            per_node = max(0.0, requested - CONNECTION_COST) / variables["first"]
            budget.per_node[entity.query] = per_node
        if body.get("errors"):
            exceeded = _error_code(body["errors"], "MAX_COST_EXCEEDED")
            if exceeded and variables["first"] > 1:
                limit = exceeded.get("maxCost", MAX_QUERY_COST)
                smaller = max(1, int(variables["first"] * limit / exceeded["cost"]) - 1)
                log.info(
                    "shopify %s: page of %d costs %s > %s; asking %d per page",
                    entity.name,
                    variables["first"],
                    exceeded["cost"],
                    limit,
                    smaller,
                )
                full = min(smaller, variables["first"] - 1)
                _FITTING_PAGE[entity.query] = full
                budget.expected.pop(entity.query, None)
                continue
            raise ShopifyError(f"{entity.name}: {body['errors']}")
        connection = body["data"][entity.root_field]
        yield connection["nodes"]
        info = connection["pageInfo"]
        if not info["hasNextPage"]:
            return
        variables["after"] = info["endCursor"]


def _page_fitting(
    budget: CostBudget, full: int, per_node: float | None
) -> tuple[int, float | None]:
    """The page size to ask for now, and its requested cost when known.

    Shopify takes a query's requested cost from the bucket before it runs and refunds what
    it did not use after, so a full page waits for its whole requested cost even when it
    will use a third of it. When the bucket holds less than that, a smaller page that fits
    goes now (down to a quarter of a full page): the client spends the bucket down to
    nearly nothing, as a perfect client would, instead of keeping a page's worth idle.
    """
    if per_node is None:
        return full, None
    available = budget.now_available()
    needed = CONNECTION_COST + full * per_node
    if available is None or available >= needed or per_node <= 0:
        return full, needed
    fitting = int((available - CONNECTION_COST) / per_node)
    first = max(fitting, max(1, full // 4))
    return first, CONNECTION_COST + first * per_node


def _flatten_line_items(order: dict[str, Any]) -> dict[str, Any]:
    """Store line items as a list; flag an order with more lines than one page holds."""
    items = order.get("lineItems")
    if isinstance(items, dict):
        more = bool((items.get("pageInfo") or {}).get("hasNextPage"))
        order = {**order, "lineItems": items.get("nodes", []), "lineItemsTruncated": more}
    return order


def extract(
    conn: ApiConnection, entity_name: str, start: datetime, end: datetime, landing_root: Path
) -> LandResult:
    from tailor.sources import shopify_bulk  # a large full refresh runs as one bulk query

    if shopify_bulk.uses_bulk(conn, entity_name, start, end):
        return shopify_bulk.extract_full(conn, entity_name, end, landing_root, start)
    entity = ENTITIES[entity_name]
    with (
        client_for(conn) as client,
        LandingWriter(
            landing_root,
            "shopify",
            entity.name,
            start,
            end,
            updated_field="updatedAt",
            contract=entity.contract,
        ) as writer,
    ):
        for page in pages(client, entity, start, end, budget=shop_budget(conn)):
            if entity.name == "orders":
                page = [_flatten_line_items(o) if isinstance(o, dict) else o for o in page]
            writer.write_page(page)
    result = writer.result()
    log.info(
        "shopify %s: %d rows in %d pages, %d quarantined -> %s",
        entity.name,
        result.rows,
        result.pages,
        result.quarantined,
        result.path.name,
    )
    return result
