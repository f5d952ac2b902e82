"""The stand-ins enforce the APIs' rate limits as the APIs answer them, and inject faults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from sandbox.faults import FaultConfig
from sandbox.http_base import CaseInsensitiveDict, Request
from sandbox.hubspot import HubSpotStandIn
from sandbox.server import serve_in_thread
from sandbox.shopify import ShopifyStandIn

SHOPIFY_PATH = "/admin/api/2025-01/graphql.json"
SEARCH_PATH = "/crm/v3/objects/contacts/search"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def shopify_request(query: str) -> Request:
    return Request(
        "POST",
        SHOPIFY_PATH,
        headers=CaseInsensitiveDict(
            {"X-Shopify-Access-Token": "shpat_sandbox", "Content-Type": "application/json"}
        ),
        body=json.dumps({"query": query}).encode(),
    )


def hubspot_request(method: str, path: str, body: dict | None = None) -> Request:
    return Request(
        method,
        path,
        headers=CaseInsensitiveDict({"Authorization": "Bearer pat-sandbox"}),
        body=json.dumps(body).encode() if body is not None else b"",
    )


EXPENSIVE = (
    "{ customers(first: 249) { nodes { id amountSpent { amount } defaultAddress { zip } } } }"
)


def test_shopify_throttles_over_budget_with_http_200_and_the_bucket_status(
    sandbox_data: Path,
) -> None:
    clock = Clock()
    shop = ShopifyStandIn(sandbox_data, enforce_throttle=True, plan="standard", clock=clock)
    answers = [shop.handle(shopify_request(EXPENSIVE)) for _ in range(4)]
    assert all(a.status == 200 for a in answers)
    statuses = [a.body["extensions"]["cost"]["throttleStatus"] for a in answers]
    assert all(s["maximumAvailable"] == 2000.0 and s["restoreRate"] == 100.0 for s in statuses)
    throttled = [a for a in answers if "errors" in a.body]
    assert throttled, "a bucket of 2,000 cannot pay four queries of ~1,000"
    (error,) = throttled[0].body["errors"]
    assert error["extensions"]["code"] == "THROTTLED" and "data" not in throttled[0].body
    # the bucket refills at the plan's rate: ten seconds later the query runs again
    clock.now += 10
    again = shop.handle(shopify_request(EXPENSIVE)).body
    assert "errors" not in again and again["data"]["customers"]["nodes"]
    plus = ShopifyStandIn(sandbox_data, enforce_throttle=True, plan="plus", clock=clock)
    status = plus.handle(shopify_request(EXPENSIVE)).body["extensions"]["cost"]["throttleStatus"]
    assert (status["maximumAvailable"], status["restoreRate"]) == (20000.0, 1000.0)


def test_hubspot_enforces_its_search_and_request_limits_with_429_and_retry_after(
    sandbox_data: Path,
) -> None:
    clock = Clock()
    hub = HubSpotStandIn(sandbox_data, enforce_limits=True, clock=clock)
    search = hubspot_request("POST", SEARCH_PATH, {"limit": 1})
    assert [hub.handle(search).status for _ in range(5)] == [200, 200, 200, 200, 429]
    refused = hub.handle(search)
    assert refused.body["policyName"] == "SECONDLY" and refused.body["errorType"] == "RATE_LIMIT"
    assert int(refused.headers["Retry-After"]) >= 1
    clock.now += 1.0
    assert hub.handle(search).status == 200
    listing = hubspot_request("GET", "/crm/v3/objects/contacts")
    statuses = [hub.handle(listing).status for _ in range(191)]
    assert statuses.count(200) == 190 and statuses[-1] == 429
    assert hub.handle(listing).body["policyName"] == "TEN_SECONDLY_ROLLING"
    clock.now += 10.0
    assert hub.handle(listing).status == 200


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("503", lambda r: r.status_code == 503),
        ("429", lambda r: r.status_code == 429 and r.headers["Retry-After"] == "2"),
        (
            "throttled",
            lambda r: (
                r.status_code == 200 and r.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
            ),
        ),
        ("truncate", lambda r: r.status_code == 200 and not _is_json(r.content)),
        ("slow", lambda r: r.status_code == 200 and r.elapsed.total_seconds() >= 0.2),
    ],
)
def test_each_fault_kind_looks_as_it_does_in_the_wild(sandbox_data: Path, kind: str, check) -> None:
    config = FaultConfig(rate=1.0, kinds=(kind,), retry_after=2, slow_seconds=0.2)
    with serve_in_thread(sandbox_data, faults=config) as server:
        answer = requests.post(
            server.url + SHOPIFY_PATH,
            json={"query": "{ shop { name } }"},
            headers={"X-Shopify-Access-Token": "shpat_sandbox"},
            timeout=5,
        )
        assert check(answer)


def test_a_reset_fault_drops_the_connection_and_faults_are_off_by_default(
    sandbox_data: Path,
) -> None:
    resets = FaultConfig(rate=1.0, kinds=("reset",))
    with (
        serve_in_thread(sandbox_data, faults=resets) as server,
        pytest.raises(requests.ConnectionError),
    ):
        requests.get(server.url + "/crm/v3/objects/contacts", timeout=5)
    with serve_in_thread(sandbox_data) as server:
        assert server.faults is None
        ok = requests.get(
            server.url + "/crm/v3/objects/contacts",
            headers={"Authorization": "Bearer pat-sandbox"},
            timeout=5,
        )
        assert ok.status_code == 200


def test_malformed_records_are_the_same_records_on_every_request(sandbox_data: Path) -> None:
    config = FaultConfig(rate=0.2, kinds=("malformed",), seed=4)
    with serve_in_thread(sandbox_data, faults=config) as server:

        def page() -> list[dict]:
            return requests.get(
                server.url + "/crm/v3/objects/contacts?limit=100",
                headers={"Authorization": "Bearer pat-sandbox"},
                timeout=5,
            ).json()["results"]

        first, second = page(), page()
    assert first == second
    broken = [r for r in first if not isinstance(r["id"], str) or "noon" in r["updatedAt"]]
    assert 5 <= len(broken) <= 40


def _is_json(content: bytes) -> bool:
    try:
        json.loads(content)
    except ValueError:
        return False
    return True
