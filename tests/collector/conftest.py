"""A collector on 127.0.0.1 over a throwaway spool, and helpers that sign what they send."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from tailor.collector import signing
from tailor.collector.config import CollectorSecrets
from tailor.collector.server import RunningCollector

TRACK_SECRET = "collector-test-secret"
SHOPIFY_SECRET = "shopify-app-test-secret"
SECRETS = CollectorSecrets(TRACK_SECRET, SHOPIFY_SECRET)


def track_call(n: int, when: str = "2026-11-19T10:00:00Z", **extra: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Product Viewed",
        "userId": str(7000 + n % 5),
        "anonymousId": f"anon-{n % 7}",
        "messageId": f"msg-{n:06d}",
        "timestamp": when,
        "context": {"device": {"type": "mobile"}},
        "properties": {"product_id": f"{n % 30}", "price": 12.5, "quantity": 1},
        **extra,
    }


def post_batch(url: str, calls: list[Any], secret: str = TRACK_SECRET) -> requests.Response:
    body = json.dumps({"batch": calls}).encode()
    headers = {
        "Content-Type": "application/json",
        signing.TAILOR_HEADER: signing.sign(secret, body),
    }
    return requests.post(f"{url}/v1/batch", data=body, headers=headers, timeout=10)


def post_webhook(
    url: str, body: dict[str, Any], webhook_id: str, topic: str = "orders/create", **headers: str
) -> requests.Response:
    raw = json.dumps(body).encode()
    sent = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Shop-Domain": "tailor-sandbox.myshopify.com",
        signing.SHOPIFY_HEADER: signing.sign(SHOPIFY_SECRET, raw),
        **headers,
    }
    return requests.post(f"{url}/webhooks/shopify", data=raw, headers=sent, timeout=10)


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def collector(spool_dir: Path) -> Iterator[RunningCollector]:
    with RunningCollector(spool_dir, SECRETS, "127.0.0.1", 0) as running:
        yield running


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
