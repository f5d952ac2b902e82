"""Leaving the abandoned-cart audience clears the cart merge fields in both ESPs, also for
a person who stays in another audience (whose own fields stay), with the audience's
`on_leave` as its YAML declares it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from destination_helpers import query, write_members
from tailor.destinations.audiences import spec_from_meta
from tailor.destinations.klaviyo import KlaviyoConfig, KlaviyoDestination
from tailor.destinations.sync import sync_destination

from sandbox.server import DEFAULT_KLAVIYO_KEY, SandboxServer

SEGMENTS_YML = (
    Path(__file__).resolve().parents[2] / "dbt_project/models/marts/segments/_segments__models.yml"
)
CART = {"CARTTOTAL": "129.50", "CARTITEMS": "Summit 45L Backpack, Trail socks"}


def declared_specs() -> dict[str, Any]:
    """The audiences' specs from the segments' YAML, as the manifest carries them."""
    models = yaml.safe_load(SEGMENTS_YML.read_text(encoding="utf-8"))["models"]
    specs = {}
    for model in models:
        audience = ((model.get("config") or {}).get("meta") or {}).get("audience")
        if audience:
            spec = spec_from_meta(model["name"], audience)
            specs[spec.name] = spec
    return specs


def row(i: int, audience: str, tag: str, fields: dict[str, str]) -> dict[str, Any]:
    first, last = f"First{i}", f"Last{i}"
    return {
        "audience": audience,
        "esp_tag": tag,
        "customer_id": f"c{i:05d}",
        "email": f"customer{i:05d}@mail.tailor-shop.com",
        "email_status": "subscribed",
        "first_name": first,
        "last_name": last,
        # dbt sends a person's merge fields of all their audiences on each of their rows
        "merge_fields": json.dumps({"FNAME": first, "LNAME": last, **fields}),
        "reason": "test",
    }


def leave_the_cart(warehouse: Path, make_destination: Any) -> dict[str, Any]:
    """Two people with an open cart, 1 also a frequent buyer; then both carts are gone."""
    specs = declared_specs()
    cart, frequent = specs["abandoned_cart"], specs["frequent_buyers"]
    assert cart.on_leave == "clear" and {"CARTTOTAL", "CARTITEMS"} <= set(cart.merge_fields)
    both = {**CART, "ORDERS": "7"}
    write_members(
        warehouse,
        [
            row(1, cart.name, cart.tag, both),
            row(1, frequent.name, frequent.tag, both),
            row(2, cart.name, cart.tag, CART),
        ],
    )
    first = sync_destination(warehouse, make_destination(), run_id="r1", audiences=specs)
    assert first.totals().failed == 0
    write_members(warehouse, [row(1, frequent.name, frequent.tag, {"ORDERS": "8"})])
    report = sync_destination(
        warehouse, make_destination(), run_id="r2", audiences=specs, force=True
    )
    assert report.totals().failed == 0
    assert report.audiences[cart.name].removals == 2
    return specs


def test_leaving_the_abandoned_cart_clears_the_cart_in_mailchimp(
    warehouse, standin, make_destination
):
    leave_the_cart(warehouse, make_destination)
    stays = standin.member("customer00001@mail.tailor-shop.com")
    assert {k: stays["merge_fields"][k] for k in CART} == {"CARTTOTAL": "", "CARTITEMS": ""}
    assert stays["merge_fields"]["FNAME"] == "First1"  # still sent by frequent_buyers
    assert stays["merge_fields"]["ORDERS"] == "8"
    assert {t["name"] for t in stays["tags"]} == {"Frequent buyers"}
    gone = standin.member("customer00002@mail.tailor-shop.com")
    assert {k: gone["merge_fields"][k] for k in CART} == {"CARTTOTAL": "", "CARTITEMS": ""}
    assert query(
        warehouse, "select status from main.sync_state where audience = 'abandoned_cart'"
    ) == [("removed",), ("removed",)]


def test_leaving_the_abandoned_cart_clears_the_cart_in_klaviyo(warehouse, server: SandboxServer):
    made: list[KlaviyoDestination] = []

    def make_klaviyo() -> KlaviyoDestination:
        made.append(
            KlaviyoDestination(KlaviyoConfig(api_key=DEFAULT_KLAVIYO_KEY, base_url=server.url))
        )
        return made[-1]

    try:
        leave_the_cart(warehouse, make_klaviyo)
    finally:
        for dest in made:
            dest.close()
    klaviyo = server.klaviyo
    stays = klaviyo.profile("customer00001@mail.tailor-shop.com")
    # Klaviyo keeps a property sent as null: the cart must be unset, not merely omitted.
    assert not set(CART) & set(stays["properties"])
    assert stays["properties"]["ORDERS"] == "8" and stays["first_name"] == "First1"
    assert stays["lists"] == ["Frequent buyers"]
    gone = klaviyo.profile("customer00002@mail.tailor-shop.com")
    assert not set(CART) & set(gone["properties"])
