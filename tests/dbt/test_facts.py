"""The fact models (order lines, events, email activity, abandoned checkouts) built by the
real dbt project on DuckDB: from hand-made landing files with known answers, and from no
landing file at all for the entities that may not have landed yet."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from tailor import transform

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # `sandbox/` is a top-level folder, not an installed package
    sys.path.insert(0, str(REPO_ROOT))

from sandbox.generate import generate  # noqa: E402
from tests.dbt import landing_fixtures as fx  # noqa: E402

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
NEW_STAGING = [
    "stg_shopify__products",
    "stg_shopify__webhooks",
    "stg_shopify__abandoned_checkouts",
    "stg_events__calls",
    "stg_events__tracks",
    "stg_events__identifies",
    "stg_mailchimp__email_activity",
]


def _dbt_args(root: Path) -> list[str]:
    return ["--target-path", str(root / "target"), "--log-path", str(root / "logs")]


def _query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("facts")
    store, landing, warehouse = root / "store", root / "landing", root / "warehouse.duckdb"
    generate(store, customers=80, seed=11, as_of=AS_OF)
    fx.land_base(store, landing, AS_OF)
    people = fx.land_activity(store, landing, AS_OF)
    transform.build(AS_OF, warehouse=warehouse, landing=landing, extra_args=_dbt_args(root))
    ids = dict(
        _query(
            warehouse,
            "select source_record_id, customer_id from int_customer_records__resolved "
            "where source = 'shopify'",
        )
    )
    return {"warehouse": warehouse, "store": store, "people": people, "ids": ids}


def test_new_sources_without_landing_files_give_empty_models(tmp_path: Path) -> None:
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    landing.mkdir()
    result = transform.build(
        AS_OF,
        warehouse=warehouse,
        landing=landing,
        select=" ".join(NEW_STAGING),
        extra_args=_dbt_args(tmp_path),
    )
    assert result.models == len(NEW_STAGING) and not result.failures
    for model in NEW_STAGING:
        assert _query(warehouse, f"select count(*) from {model}") == [(0,)]


def test_order_lines_carry_every_line_and_the_catalogue_category(built: dict) -> None:
    orders = fx.read_jsonl(built["store"] / "shopify_orders.jsonl")
    lines = [line for order in orders for line in order["lineItems"]]
    renamed = fx.products(built["store"])[0]["id"]
    total = sum(round(float(x["originalUnitPriceSet"]["shopMoney"]["amount"]) * x["quantity"], 2)
                for x in lines)  # fmt: skip
    rows = _query(
        built["warehouse"],
        """
        select count(*), sum(line_total),
               count(*) filter (where product_id = ? and category <> ?),
               count(*) filter (where category is null),
               count(*) filter (where customer_id is null)
        from fct_order_lines
        """,
        [renamed, fx.RENAMED_CATEGORY],
    )
    count, line_total, stale_category, no_category, no_customer = rows[0]
    assert count == len(lines) > 0
    assert float(line_total) == pytest.approx(total)
    assert stale_category == no_category == no_customer == 0


def test_anonymous_browsing_joins_the_person_who_logs_in(built: dict) -> None:
    people, ids = built["people"], built["ids"]
    rows = dict(
        (event_id, (customer_id, identified_by))
        for event_id, customer_id, identified_by in _query(
            built["warehouse"], "select event_id, customer_id, identified_by from fct_events"
        )
    )
    browser, reader = ids[people.browser["id"]], ids[people.reader["id"]]
    assert rows == {
        "m1": (browser, "anonymous_id"),  # before the login, delivered twice: once
        "m2": (browser, "anonymous_id"),
        "m4": (browser, "user_id"),
        "m5": (None, None),  # never identified
        "m6": (reader, "anonymous_id"),  # identified by email only
    }


def test_email_activity_reaches_the_owner_of_the_normalised_email(built: dict) -> None:
    rows = _query(
        built["warehouse"],
        "select action, customer_id from fct_email_activity order by action",
    )
    ids, people = built["ids"], built["people"]
    assert rows == [
        ("bounce", None),
        ("click", ids[people.browser["id"]]),
        ("open", ids[people.browser["id"]]),
        ("unsub", ids[people.reader["id"]]),
    ]


def test_checkouts_abandoned_or_purchased_since(built: dict) -> None:
    rows = {
        checkout_id.rsplit("/", 1)[-1]: rest
        for checkout_id, *rest in _query(
            built["warehouse"],
            """
            select checkout_id, is_abandoned, purchased_since, is_completed, items
            from fct_abandoned_checkouts
            """,
        )
    }
    title = fx.products(built["store"])[0]["title"]
    assert rows == {
        "71": [True, False, False, [title]],
        "72": [False, True, False, [title]],
        "73": [False, False, True, [title]],
        fx.WEBHOOK_CHECKOUT_ID: [True, False, False, [title]],  # known from a webhook only
    }
    via = dict(
        _query(
            built["warehouse"],
            "select checkout_id, received_via from stg_shopify__abandoned_checkouts",
        )
    )
    # the pull's newer version wins over an older webhook of the same checkout
    assert via["gid://shopify/AbandonedCheckout/71"] == "api"
    assert via[f"gid://shopify/AbandonedCheckout/{fx.WEBHOOK_CHECKOUT_ID}"] == "webhook"


def test_webhooks_are_staged_once_per_delivery_with_gids(built: dict) -> None:
    rows = _query(
        built["warehouse"],
        "select webhook_id, topic, resource_id, shopify_customer_id from stg_shopify__webhooks "
        "order by webhook_id",
    )
    browser = built["people"].browser["id"]
    assert [r[:3] for r in rows] == [
        ("w1", "checkouts/update", f"gid://shopify/AbandonedCheckout/{fx.WEBHOOK_CHECKOUT_ID}"),
        ("w2", "checkouts/update", "gid://shopify/AbandonedCheckout/71"),
        ("w3", "orders/create", "gid://shopify/Order/1"),
    ]
    assert rows[0][3] == browser
    first = "select body from stg_shopify__webhooks order by webhook_id limit 1"
    body = _query(built["warehouse"], first)[0][0]
    assert json.loads(body)["currency"] == "USD"
