"""Shopify webhooks: HMAC checked on the raw body, deliveries de-duplicated, landed by arrival."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
from tailor.collector import land

from tests.collector.conftest import SHOPIFY_SECRET, post_webhook

ORDER = {"id": 820982911946154508, "email": "jon@example.com", "total_price": "199.00"}


def test_forged_signature_is_refused(collector, spool_dir: Path) -> None:
    forged = post_webhook(
        collector.url, ORDER, "wh-1", **{"X-Shopify-Hmac-Sha256": "bm90IHRoZSBzaWduYXR1cmU="}
    )
    assert forged.status_code == 401
    assert SHOPIFY_SECRET not in forged.text


def test_missing_signature_is_refused(collector) -> None:
    missing = post_webhook(collector.url, ORDER, "wh-1", **{"X-Shopify-Hmac-Sha256": ""})
    assert missing.status_code == 401


def test_a_replayed_delivery_is_stored_once(collector, spool_dir: Path, tmp_path: Path) -> None:
    first = post_webhook(collector.url, ORDER, "wh-42")
    again = post_webhook(collector.url, {**ORDER, "total_price": "1.00"}, "wh-42")
    other = post_webhook(collector.url, {"id": 5}, "wh-43", topic="customers/update")
    assert first.status_code == again.status_code == other.status_code == 200
    assert first.json()["stored"] is True
    assert again.json() == {"stored": False, "duplicate": True}

    now = datetime.now(UTC)
    result = land.extract(
        "shopify_webhooks",
        now - timedelta(hours=1),
        now + timedelta(seconds=1),
        tmp_path,
        spool_dir,
    )
    rows = duckdb.sql(
        f"select id, payload->>'topic', payload->'body'->>'total_price' "
        f"from read_parquet('{result.path}') order by id"
    ).fetchall()
    assert rows == [("wh-42", "orders/create", "199.00"), ("wh-43", "customers/update", None)]


def test_unknown_topic_and_missing_id_are_refused_with_a_reason(collector) -> None:
    topic = post_webhook(collector.url, ORDER, "wh-1", topic="products/delete")
    assert topic.status_code == 400 and "products/delete" in topic.json()["error"]
    no_id = post_webhook(collector.url, ORDER, "")
    assert no_id.status_code == 400 and "Webhook-Id" in no_id.json()["error"]
