"""The Shopify Admin GraphQL stand-in over real HTTP, plus the server shell it runs in."""

from __future__ import annotations

import http.client
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from sandbox.http_base import Request, Response
from sandbox.server import Router, SandboxServer, serve_in_thread
from sandbox.shopify import ShopifyStandIn, _Search

GRAPHQL = "/admin/api/2025-01/graphql.json"
TOKEN = {"X-Shopify-Access-Token": "shpat_sandbox"}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def gql(sandbox_server: SandboxServer):
    session = requests.Session()

    def call(query: str, variables: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        resp = session.post(
            sandbox_server.url + GRAPHQL,
            headers=TOKEN,
            json={"query": query, "variables": variables or {}, **extra},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        return resp.json()

    yield call
    session.close()


CUSTOMER_PAGE = """
query Customers($first: Int!, $after: String, $query: String, $sortKey: CustomerSortKeys) {
  customers(first: $first, after: $after, query: $query, sortKey: $sortKey) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id updatedAt createdAt } }
  }
}
"""


def _page_all(
    gql, query: str | None = None, sort_key: str = "ID", first: int = 250
) -> tuple[list[dict[str, Any]], int]:
    nodes, after, pages = [], None, 0
    while True:
        body = gql(
            CUSTOMER_PAGE, {"first": first, "after": after, "query": query, "sortKey": sort_key}
        )
        assert "errors" not in body, body
        conn = body["data"]["customers"]
        nodes += [e["node"] for e in conn["edges"]]
        pages += 1
        assert conn["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not conn["pageInfo"]["hasNextPage"]:
            return nodes, pages
        assert conn["pageInfo"]["endCursor"] == conn["edges"][-1]["cursor"]
        after = conn["pageInfo"]["endCursor"]


def test_paging_visits_every_customer_exactly_once(gql, sandbox_data: Path) -> None:
    expected = [c["id"] for c in _jsonl(sandbox_data / "shopify_customers.jsonl")]
    nodes, pages = _page_all(gql)
    assert [n["id"] for n in nodes] == expected  # ID order, each once
    assert pages == -(-len(expected) // 250)


def test_updated_at_window_returns_exactly_the_records_in_it(gql, sandbox_data: Path) -> None:
    customers = _jsonl(sandbox_data / "shopify_customers.jsonl")
    start, end = datetime(2026, 11, 13, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)
    expected = {c["id"] for c in customers if start <= _ts(c["updatedAt"]) < end}
    assert 20 < len(expected) < len(customers)
    for query in (
        "updated_at:>='2026-11-13T00:00:00Z' AND updated_at:<'2026-11-20T00:00:00Z'",
        'updated_at:>="2026-11-13T00:00:00Z" updated_at:<"2026-11-20T00:00:00Z"',
        "updated_at:>=2026-11-13T00:00:00Z AND updated_at:<2026-11-20",
    ):
        nodes, _ = _page_all(gql, query, sort_key="UPDATED_AT", first=50)
        assert [n["id"] for n in nodes if n["id"] not in expected] == []
        assert {n["id"] for n in nodes} == expected and len(nodes) == len(expected)
        keys = [(_ts(n["updatedAt"]), int(n["id"].rsplit("/", 1)[1])) for n in nodes]
        assert keys == sorted(keys)  # stable: updatedAt, then id
    # > and <= and created_at
    nodes, _ = _page_all(gql, "created_at:>'2026-11-01T00:00:00Z' AND created_at:<='2026-11-10'")
    lo, hi = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 10, tzinfo=UTC)
    assert {n["id"] for n in nodes} == {
        c["id"] for c in customers if lo < _ts(c["createdAt"]) <= hi
    }


def test_orders_window_and_sort_keys(gql, sandbox_data: Path) -> None:
    orders = _jsonl(sandbox_data / "shopify_orders.jsonl")
    start, end = datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)
    expected = [
        o["id"]
        for o in sorted(orders, key=lambda o: (o["updatedAt"], o["id"]))
        if start <= _ts(o["updatedAt"]) < end
    ]
    query = """query($after: String, $q: String) {
      orders(first: 100, after: $after, sortKey: UPDATED_AT, query: $q)
      { nodes { id updatedAt } pageInfo { hasNextPage endCursor } } }"""
    search = (
        "updated_at:>='2026-11-19T00:00:00Z' AND updated_at:<'2026-11-20T00:00:00Z' AND foo:bar"
    )
    seen, after = [], None
    while True:
        conn = gql(query, {"after": after, "q": search})["data"]["orders"]
        seen += [n["id"] for n in conn["nodes"]]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert seen == expected and expected  # unknown filter foo:bar ignored


def test_reverse_and_backward_paging(gql, sandbox_data: Path) -> None:
    ids = [c["id"] for c in _jsonl(sandbox_data / "shopify_customers.jsonl")]
    body = gql("{ customers(first: 5, reverse: true) { nodes { id } } }")
    assert [n["id"] for n in body["data"]["customers"]["nodes"]] == ids[::-1][:5]
    page = gql("{ customers(first: 10) { edges { cursor } pageInfo { endCursor } } }")
    cursor = page["data"]["customers"]["pageInfo"]["endCursor"]
    back = gql(
        "query($c: String) { customers(last: 3, before: $c) { nodes { id } "
        "pageInfo { hasNextPage hasPreviousPage } } }",
        {"c": cursor},
    )
    assert [n["id"] for n in back["data"]["customers"]["nodes"]] == ids[6:9]
    assert back["data"]["customers"]["pageInfo"] == {"hasNextPage": True, "hasPreviousPage": True}


def test_nested_line_items_connection(gql, sandbox_data: Path) -> None:
    stored = _jsonl(sandbox_data / "shopify_orders.jsonl")
    multi = next(o for o in stored if len(o["lineItems"]) >= 3)
    body = gql(
        """query($id: ID!) { order(id: $id) { name cancelledAt
        totalPriceSet { shopMoney { amount currencyCode } }
        customer { id email }
        lineItems(first: 10) { nodes { id title quantity sku
          originalUnitPriceSet { shopMoney { amount } }
          product { id productType } } } } }""",
        {"id": multi["id"]},
    )
    assert "errors" not in body, body
    order = body["data"]["order"]
    assert order["name"] == multi["name"]
    assert [li["id"] for li in order["lineItems"]["nodes"]] == [
        li["id"] for li in multi["lineItems"]
    ]
    assert (
        order["lineItems"]["nodes"][0]["product"]["productType"]
        == (multi["lineItems"][0]["product"]["productType"])
    )
    assert order["customer"]["id"] == multi["customer"]["id"] and "@" in order["customer"]["email"]
    # and it pages: first 1, then the rest after the cursor
    page = gql(
        """query($id: ID!) { order(id: $id) { lineItems(first: 1) {
        edges { cursor node { id } } pageInfo { hasNextPage endCursor } } } }""",
        {"id": multi["id"]},
    )["data"]["order"]["lineItems"]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = gql(
        """query($id: ID!, $after: String) { order(id: $id) { lineItems(first: 10,
        after: $after) { nodes { id } } } }""",
        {"id": multi["id"], "after": page["pageInfo"]["endCursor"]},
    )
    assert [n["id"] for n in rest["data"]["order"]["lineItems"]["nodes"]] == [
        li["id"] for li in multi["lineItems"][1:]
    ]


def test_only_the_requested_fields_come_back_with_a_cost(gql) -> None:
    body = gql(
        "{ customers(first: 2) { nodes { id emailMarketingConsent { marketingState } "
        "amountSpent { amount } } } }"
    )
    node = body["data"]["customers"]["nodes"][0]
    assert set(node) == {"id", "emailMarketingConsent", "amountSpent"}
    assert set(node["amountSpent"]) == {"amount"}
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 2 + 2 * 3
    assert 0 < cost["actualQueryCost"] <= cost["requestedQueryCost"]
    assert cost["throttleStatus"]["maximumAvailable"] == 2000.0
    assert cost["throttleStatus"]["restoreRate"] == 100.0


def test_invalid_field_is_rejected_by_the_real_schema(gql) -> None:
    body = gql("{ customers(first: 1) { nodes { id defaultEmailAddress { emailAddress } } } }")
    assert "data" not in body
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "undefinedField"
    assert "defaultEmailAddress" in error["message"] and error["locations"]
    syntax = gql("{ customers(first: 1) { nodes { id }")
    assert syntax["errors"] and "data" not in syntax


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("first: 251", "maximum number of records per page is 250"),
        ("last: 300", "maximum number of records per page is 250"),
        ("", "you must provide one of first or last"),
    ],
)
def test_page_size_rules(gql, args: str, message: str) -> None:
    selection = f"({args})" if args else ""
    body = gql(f"{{ customers{selection} {{ nodes {{ id }} }} }}")
    assert body["data"] is None
    assert message in body["errors"][0]["message"]


def test_query_cost_over_1000_is_rejected(gql) -> None:
    body = gql("{ customers(first: 250) { nodes { id orders(first: 10) { nodes { id } } } } }")
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert "data" not in body


def test_bad_or_missing_token_is_401(sandbox_server: SandboxServer) -> None:
    for headers in ({"X-Shopify-Access-Token": "wrong"}, {}):
        resp = requests.post(
            sandbox_server.url + GRAPHQL,
            headers=headers,
            json={"query": "{ shop { name } }"},
            timeout=10,
        )
        assert resp.status_code == 401
        assert resp.json() == {
            "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
        }


def test_body_without_query_is_400(sandbox_server: SandboxServer) -> None:
    resp = requests.post(sandbox_server.url + GRAPHQL, headers=TOKEN, data=b"not json", timeout=10)
    assert resp.status_code == 400 and "errors" in resp.json()


def test_node_interface_and_operation_name(gql, sandbox_data: Path) -> None:
    first = _jsonl(sandbox_data / "shopify_customers.jsonl")[0]
    body = gql(
        "query A { shop { name } } query B($id: ID!) { node(id: $id) { __typename "
        "... on Customer { email } } }",
        {"id": first["id"]},
        operationName="B",
    )
    assert body["data"] == {"node": {"__typename": "Customer", "email": first["email"]}}
    count = gql("{ customersCount { count precision } }")["data"]["customersCount"]
    assert count == {"count": 3000, "precision": "EXACT"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("email:a@x.com", ["1"]),
        ("email:A@X.COM OR email:b@x.com", ["1", "2"]),
        ("-email:a@x.com", ["2", "3"]),
        ("NOT email:a@x.com AND updated_at:<2026-01-02", ["2"]),
        ("(email:a@x.com OR email:c@x.com) updated_at:>='2026-01-02T00:00:00Z'", ["3"]),
        ("unknown_field:42", ["1", "2", "3"]),
        ("", ["1", "2", "3"]),
    ],
)
def test_search_syntax(query: str, expected: list[str]) -> None:
    from sandbox.shopify import _date_getter, _text_getter

    records = [
        {"id": "1", "email": "a@x.com", "updatedAt": "2026-01-01T00:00:00Z"},
        {"id": "2", "email": "b@x.com", "updatedAt": "2026-01-01T12:00:00Z"},
        {"id": "3", "email": "c@x.com", "updatedAt": "2026-01-03T00:00:00Z"},
    ]
    search = _Search(
        query,
        {"email": _text_getter(lambda r: r["email"]), "updated_at": _date_getter("updatedAt")},
        lambda r: r["email"],
    )
    assert [r["id"] for r in records if search.predicate(r)] == expected


# --------------------------------------------------------------------------- server shell


def test_router_longest_prefix_404_and_500() -> None:
    class Echo:
        def __init__(self, prefix: str) -> None:
            self.prefix = prefix

        def handle(self, req: Request) -> Response:
            return Response(200, {"by": self.prefix})

    class Boom:
        prefix = "/boom/"

        def handle(self, req: Request) -> Response:
            raise RuntimeError("kaput")

    router = Router([Echo("/a/"), Echo("/a/b/"), Boom()])
    assert router.dispatch(Request("GET", "/a/b/c")).body == {"by": "/a/b/"}
    assert router.dispatch(Request("GET", "/a/x")).body == {"by": "/a/"}
    assert router.dispatch(Request("GET", "/zzz")).status == 404
    failed = router.dispatch(Request("GET", "/boom/1"))
    assert failed.status == 500 and "kaput" in failed.body["detail"]


def test_keep_alive_and_unknown_path(sandbox_server: SandboxServer) -> None:
    parts = urlsplit(sandbox_server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        for _ in range(3):  # three requests, one TCP connection
            conn.request("GET", "/no/such/path")
            resp = conn.getresponse()
            assert resp.status == 404 and resp.getheader("Content-Length")
            assert json.loads(resp.read())["error"] == "not found"
            assert resp.version == 11 and not resp.will_close
    finally:
        conn.close()


def test_serve_in_thread_with_custom_token(sandbox_data: Path) -> None:
    with serve_in_thread(sandbox_data, shopify_token="shpat_other") as server:
        assert server.url.startswith("http://127.0.0.1:")
        resp = requests.post(
            server.url + GRAPHQL,
            headers={"X-Shopify-Access-Token": "shpat_other"},
            json={"query": "{ shop { name currencyCode } }"},
            timeout=10,
        )
        assert resp.json()["data"]["shop"]["currencyCode"] == "USD"
    server.stop()  # idempotent
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/", timeout=2)


def test_stand_in_can_be_called_without_http(sandbox_data: Path) -> None:
    shop = ShopifyStandIn(sandbox_data)
    resp = shop.handle(
        Request(
            "POST",
            GRAPHQL,
            headers={"X-Shopify-Access-Token": "shpat_sandbox"},
            body=b'{"query": "{ orders(first: 1) { nodes { id } } }"}',
        )
    )
    assert resp.status == 200 and len(resp.body["data"]["orders"]["nodes"]) == 1
