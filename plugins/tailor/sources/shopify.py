"""Shopify Admin GraphQL API: customers and orders updated in one data interval.

Tailor targets API version 2025-01. Its schema has no `Customer.defaultEmailAddress` yet,
so the deprecated-but-valid `email` and `emailMarketingConsent` are read; every query here
is validated against the real schema in the tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tailor.connections import ApiConnection
from tailor.http import HttpClient
from tailor.redact import get_logger
from tailor.sources.landing import LandingWriter, LandResult

log = get_logger(__name__)

API_VERSION = "2025-01"
PAGE_SIZE = 250  # Shopify's maximum for `first`
MAX_QUERY_COST = 1000  # Shopify's single-query cost limit

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


@dataclass(frozen=True)
class Entity:
    name: str
    root_field: str
    query: str


ENTITIES = {
    "customers": Entity("customers", "customers", CUSTOMERS_QUERY),
    "orders": Entity("orders", "orders", ORDERS_QUERY),
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
    )


def _cost_error(errors: list[dict[str, Any]]) -> dict[str, Any] | None:
    for error in errors if isinstance(errors, list) else []:
        if (error.get("extensions") or {}).get("code") == "MAX_COST_EXCEEDED":
            return error["extensions"]
    return None


def pages(
    client: HttpClient, entity: Entity, start: datetime, end: datetime, page_size: int = PAGE_SIZE
) -> Iterator[list[dict[str, Any]]]:
    """Yield pages of nodes updated in [start, end), following `pageInfo.endCursor`.

    A page's cost grows with `first` times the cost of one node; when Shopify answers
    MAX_COST_EXCEEDED, the page size shrinks in proportion and the same page is asked again.
    """
    path = f"/admin/api/{API_VERSION}/graphql.json"
    variables: dict[str, Any] = {
        "first": page_size,
        "after": None,
        "query": search_filter(start, end),
    }
    while True:
        body = client.post(path, json={"query": entity.query, "variables": variables}).json()
        if body.get("errors"):
            cost = _cost_error(body["errors"])
            if cost and variables["first"] > 1:
                limit = cost.get("maxCost", MAX_QUERY_COST)
                smaller = max(1, int(variables["first"] * limit / cost["cost"]) - 1)
                log.info(
                    "shopify %s: page of %d costs %s > %s; asking %d per page",
                    entity.name,
                    variables["first"],
                    cost["cost"],
                    limit,
                    smaller,
                )
                variables["first"] = min(smaller, variables["first"] - 1)
                continue
            raise ShopifyError(f"{entity.name}: {body['errors']}")
        connection = body["data"][entity.root_field]
        yield connection["nodes"]
        info = connection["pageInfo"]
        if not info["hasNextPage"]:
            return
        variables["after"] = info["endCursor"]


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
    entity = ENTITIES[entity_name]
    with (
        client_for(conn) as client,
        LandingWriter(
            landing_root, "shopify", entity.name, start, end, updated_field="updatedAt"
        ) as writer,
    ):
        for page in pages(client, entity, start, end):
            if entity.name == "orders":
                page = [_flatten_line_items(o) for o in page]
            writer.write_page(page)
    result = writer.result()
    log.info(
        "shopify %s: %d rows in %d pages -> %s",
        entity.name,
        result.rows,
        result.pages,
        result.path.name,
    )
    return result
