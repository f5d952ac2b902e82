"""Products and abandoned checkouts in the Shopify stand-in; campaign reports in the Mailchimp
stand-in: over real HTTP, as strict as the real APIs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox import local
from sandbox.server import SandboxServer

GRAPHQL = "/admin/api/2025-01/graphql.json"
TOKEN = {"X-Shopify-Access-Token": local.SHOPIFY_TOKEN}
AUTH = ("anyone", local.MAILCHIMP_KEY)
AS_OF = datetime(2026, 11, 20, tzinfo=UTC)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def gql(sandbox_server: SandboxServer):
    session = requests.Session()

    def call(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        resp = session.post(
            sandbox_server.url + GRAPHQL,
            headers=TOKEN,
            json={"query": query, "variables": variables or {}},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        return resp.json()

    yield call
    session.close()


@pytest.fixture(scope="module")
def mc(sandbox_server: SandboxServer):
    session = requests.Session()

    def call(path: str, auth: tuple[str, str] = AUTH, **params: Any) -> requests.Response:
        return session.get(f"{sandbox_server.url}/3.0{path}", params=params, auth=auth, timeout=30)

    yield call
    session.close()


CHECKOUTS = """
query Checkouts($first: Int!, $after: String, $query: String) {
  abandonedCheckouts(first: $first, after: $after, query: $query, sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id updatedAt completedAt customer { id email }
      lineItems(first: 5) { nodes { quantity product { id productType } variant { sku } } }
    }
  }
}
"""


def test_checkouts_window_pages_exactly_and_links_customer_product_and_variant(
    gql, sandbox_data: Path
) -> None:
    start = AS_OF - timedelta(days=3)
    query = f"updated_at:>='{start:%Y-%m-%dT%H:%M:%SZ}' AND updated_at:<'2026-11-20T00:00:00Z'"
    stored = {
        c["id"]: c
        for c in _jsonl(sandbox_data / "shopify_abandoned_checkouts.jsonl")
        if start <= _ts(c["updatedAt"]) < AS_OF
    }
    customers = {c["id"]: c for c in _jsonl(sandbox_data / "shopify_customers.jsonl")}
    nodes, after = [], None
    while True:
        body = gql(CHECKOUTS, {"first": 7, "after": after, "query": query})
        assert "errors" not in body, body
        nodes += body["data"]["abandonedCheckouts"]["nodes"]
        info = body["data"]["abandonedCheckouts"]["pageInfo"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert stored and [n["id"] for n in nodes] == sorted(
        stored, key=lambda i: int(i.rsplit("/")[-1])
    )
    for node in nodes:
        record = stored[node["id"]]
        assert node["customer"]["email"] == customers[record["customer"]["id"]]["email"]
        for got, want in zip(node["lineItems"]["nodes"], record["lineItems"], strict=False):
            assert got["product"]["productType"] and got["variant"]["sku"] == want["sku"]


def test_checkouts_cannot_be_sorted_by_updated_at_and_count_to_10000_at_most(gql) -> None:
    body = gql("{ abandonedCheckouts(first: 5, sortKey: UPDATED_AT) { nodes { id } } }")
    assert body["errors"] and "data" not in body
    body = gql("{ abandonedCheckoutsCount(limit: 20000) { count precision } }")
    count = body["data"]["abandonedCheckoutsCount"]
    assert count["count"] <= 10_000 and count["precision"] in ("EXACT", "AT_LEAST")
    body = gql("{ abandonedCheckoutsCount(limit: 5) { count precision } }")
    assert body["data"]["abandonedCheckoutsCount"] == {"count": 5, "precision": "AT_LEAST"}


def test_products_pages_search_and_cost(gql, sandbox_data: Path) -> None:
    stored = _jsonl(sandbox_data / "shopify_products.jsonl")
    query = """{ products(first: 50, sortKey: UPDATED_AT, query: "product_type:Footwear") {
        nodes { id updatedAt productType collections(first: 5) { nodes { handle } }
                variants(first: 5) { nodes { sku price } } } } }"""
    body = gql(query)
    nodes = body["data"]["products"]["nodes"]
    assert {n["id"] for n in nodes} == {p["id"] for p in stored if p["productType"] == "Footwear"}
    assert [n["updatedAt"] for n in nodes] == sorted(n["updatedAt"] for n in nodes)
    assert all(n["variants"]["nodes"][0]["price"] for n in nodes)
    # 250 products with 20 variants and 10 collections each cost more than one query may
    big = "{ products(first: 250) { nodes { id variants(first: 20) { nodes { id } } } } }"
    body = gql(big)
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert gql("{ productsCount { count precision } }")["data"]["productsCount"] == {
        "count": len(stored),
        "precision": "EXACT",
    }


def test_campaigns_filter_sort_and_page(mc, sandbox_data: Path) -> None:
    stored = _jsonl(sandbox_data / "mailchimp_campaigns.jsonl")
    since = "2026-11-01T00:00:00+00:00"
    want = sorted(
        (c for c in stored if _ts(c["send_time"]) > _ts(since)), key=lambda c: c["send_time"]
    )
    got, offset = [], 0
    while True:
        body = mc(
            "/campaigns",
            status="sent",
            since_send_time=since,
            sort_field="send_time",
            sort_dir="ASC",
            count=2,
            offset=offset,
        ).json()
        got += body["campaigns"]
        offset += 2
        if offset >= body["total_items"]:
            break
    assert want and [c["id"] for c in got] == [c["id"] for c in want]
    assert mc("/campaigns", count=1001).status_code == 400
    assert mc("/campaigns", since_send_time="last tuesday").status_code == 400
    assert mc("/campaigns", sort_field="subject").status_code == 400
    assert mc("/campaigns", auth=("anyone", "wrong-key")).status_code == 401


def test_email_activity_and_unsubscribes_per_campaign(mc, sandbox_data: Path) -> None:
    campaign = _jsonl(sandbox_data / "mailchimp_campaigns.jsonl")[-3]
    rows = [
        r
        for r in _jsonl(sandbox_data / "mailchimp_email_activity.jsonl")
        if r["campaign_id"] == campaign["id"]
    ]
    since = _ts(campaign["send_time"]) + timedelta(hours=6)
    body = mc(
        f"/reports/{campaign['id']}/email-activity",
        since=since.isoformat(),
        count=1000,
    ).json()
    served = [
        (m["email_address"], a["action"], a["timestamp"])
        for m in body["emails"]
        for a in m["activity"]
    ]
    want = [
        (r["email_address"], r["action"], r["timestamp"])
        for r in rows
        if r["action"] != "unsub" and _ts(r["timestamp"]) > since
    ]
    assert want and sorted(served) == sorted(want)
    assert body["total_items"] == len(body["emails"]) == len({w[0] for w in want})
    for member in body["emails"]:
        for a in member["activity"]:
            assert ("url" in a) == (a["action"] == "click")
            assert ("type" in a) == (a["action"] == "bounce")
    unsubs = mc(f"/reports/{campaign['id']}/unsubscribed", count=1000).json()
    assert unsubs["total_items"] == sum(1 for r in rows if r["action"] == "unsub")
    assert mc("/reports/0000000000/email-activity").status_code == 404
    assert mc(f"/reports/{campaign['id']}/email-activity", count=5000).status_code == 400
