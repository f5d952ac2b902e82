"""The nightly build's profile layer on the sandbox store: staging normalisation, one
profile per person (checked against the generator's person ids), the unified columns,
the behavioural ones against the facts they come from, and the gate on the profiles."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from tailor import quality, transform

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "segments"))
from segment_helpers import land  # noqa: E402

from sandbox.generate import generate  # noqa: E402

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("profiles")
    store, landing, warehouse = root / "store", root / "landing", root / "warehouse.duckdb"
    generate(store, customers=400, seed=9, as_of=AS_OF, invalid_emails=2)
    with open(store / "truth.csv") as f:
        truth = {f"{r['source']}:{r['source_id']}": r for r in csv.DictReader(f)}
    truth.update(_add_family_member(store / "shopify_customers.jsonl"))
    land(store, landing, AS_OF)
    transform.build(AS_OF, warehouse=warehouse, landing=landing)
    return {"root": root, "warehouse": warehouse, "landing": landing, "truth": truth}


def _add_family_member(customers: Path) -> dict[str, dict]:
    """A second store account on the first customer's email: another first name, no phone,
    signed up later. Another person, so another profile, without that email."""
    lines = customers.read_text().splitlines()
    first = json.loads(lines[0])
    member = {
        **first,
        "id": "gid://shopify/Customer/7099999999999",
        "firstName": "Zebedee",
        "phone": None,
        "createdAt": "2026-06-01T00:00:00Z",
        "updatedAt": "2026-06-01T00:00:00Z",
    }
    customers.write_text("\n".join([*lines, json.dumps(member)]) + "\n")
    person = {"person_id": "family-member", "source": "shopify"}
    return {f"shopify:{member['id']}": {**person, "email_normalized": member["email"].lower()}}


def _query(built: dict, sql: str) -> list[tuple]:
    with duckdb.connect(str(built["warehouse"]), read_only=True) as con:
        return con.sql(sql).fetchall()


def test_staging_normalises_phones_countries_and_regions(built: dict) -> None:
    rows = _query(
        built,
        """
        select count(*) filter (where phone is not null and phone_e164 is null),
               count(*) filter (where phone_e164 is not null),
               count(*) filter (where country_code not in ('US', 'CA', 'GB', 'DE')),
               count(*) filter (where country_code in ('US', 'CA') and length(region_code) <> 2)
        from int_customer_records__unioned
        """,
    )
    unreadable, e164, bad_country, bad_region = rows[0]
    assert e164 > 300 and unreadable == 0 and bad_country == 0 and bad_region == 0


def test_every_person_is_one_profile(built: dict) -> None:
    rows = _query(built, "select record_key, customer_id from int_customer_records__resolved")
    person_to_ids: dict[str, set[str]] = {}
    id_to_people: dict[str, set[str]] = {}
    for record, customer in rows:
        person = built["truth"][record]["person_id"]
        person_to_ids.setdefault(person, set()).add(customer)
        id_to_people.setdefault(customer, set()).add(person)
    assert all(len(p) == 1 for p in id_to_people.values()), "no profile mixes two people"
    assert all(len(c) == 1 for c in person_to_ids.values()), "no person split in two"
    (profiles,) = _query(built, "select count(*) from dim_customers")[0]
    assert profiles == len(id_to_people)


def test_records_without_a_usable_email_are_quarantined_or_joined(built: dict) -> None:
    bad = {
        k
        for k, r in built["truth"].items()
        if r["source"] == "shopify" and not r["email_normalized"]
    }
    assert len(bad) == 2
    quarantined = _query(
        built, "select source || ':' || source_record_id, reason from quarantine_customer_records"
    )
    joined = _query(
        built, "select record_key from int_customer_records__resolved where not is_email_valid"
    )
    assert {k for k, _ in quarantined} | {k for (k,) in joined} == bad
    assert {reason for _, reason in quarantined} <= {"invalid email"}


def test_the_profile_holds_orders_lifecycle_and_rfm(built: dict) -> None:
    rows = _query(
        built,
        """
        select count(*) filter (where orders_count > 0 and average_order_value is null),
               count(*) filter (where orders_count > 0 and rfm_recency not between 1 and 5),
               count(distinct lifecycle_stage), count(distinct rfm_segment),
               count(*) filter (where source_count = 2 and hubspot_contact_id is null)
        from dim_customers
        """,
    )
    no_aov, bad_rfm, stages, segments, missing_ids = rows[0]
    assert no_aov == bad_rfm == missing_ids == 0
    assert stages >= 4 and segments >= 5


def test_behavioural_columns_agree_with_the_facts(built: dict) -> None:
    """Each profile column recomputed from its fact in plain SQL, over every profile."""
    (mismatches,) = _query(
        built,
        """
        with
        mail as (
            select customer_id,
                   count(*) filter (where action = 'open'
                       and occurred_at >= timestamp '2026-11-13') as opens_7d,
                   count(*) filter (where action = 'click'
                       and occurred_at >= timestamp '2026-10-21') as clicks_30d
            from fct_email_activity where occurred_at < timestamp '2026-11-20' group by 1
        ),
        views as (
            select customer_id, count(*) as views_7d from fct_events
            where event_name = 'Product Viewed' and occurred_at >= timestamp '2026-11-13'
              and occurred_at < timestamp '2026-11-20'
            group by 1
        ),
        carts as (
            select customer_id, max(abandoned_at) as abandoned_at from fct_abandoned_checkouts
            where is_abandoned and abandoned_at < timestamp '2026-11-20' group by 1
        )
        select
            count(*) filter (where d.email_opens_7d <> coalesce(mail.opens_7d, 0)),
            count(*) filter (where d.email_clicks_30d <> coalesce(mail.clicks_30d, 0)),
            count(*) filter (where d.product_views_7d <> coalesce(views.views_7d, 0)),
            count(*) filter (where d.cart_abandoned_at is distinct from carts.abandoned_at),
            count(*) filter (where d.has_abandoned_cart <> (d.open_cart_value is not null)),
            count(*) filter (where d.email_opens_7d > d.email_opens_30d
                or d.email_clicks_7d > d.email_clicks_30d),
            count(*) filter (where d.last_activity_at < d.last_order_at),
            count(*) filter (where (d.lifecycle_stage = 'prospect') <> (d.orders_count = 0)),
            count(*) filter (where (d.rfm_segment is null) <> (d.orders_count = 0)),
            count(*) filter (where d.favourite_category is not null
                and not list_contains(d.categories_of_interest, d.favourite_category))
        from dim_customers as d
        left join mail using (customer_id)
        left join views using (customer_id)
        left join carts using (customer_id)
        """,
    )
    assert mismatches == (0,) * 10, mismatches
    (filled,) = _query(
        built,
        """
        select count(device_most_used), count(favourite_category), count(open_cart_value),
               count(*) filter (where email_opens_30d > 0), count(last_activity_at)
        from dim_customers
        """,
    )
    assert all(n > 0 for n in filled), f"the generated store must exercise each: {filled}"


def test_tags_match_the_segments_that_share_their_vars(built: dict) -> None:
    for tag, segment in (
        ("is_frequent_buyer", "seg_frequent_buyers"),
        ("is_highly_engaged", "seg_high_engagement"),
    ):
        tagged = {r for (r,) in _query(built, f"select customer_id from dim_customers where {tag}")}
        members = {r for (r,) in _query(built, f"select customer_id from {segment}")}
        assert tagged == members, tag
    (frequent,) = _query(built, "select count(*) from dim_customers where is_frequent_buyer")[0]
    assert frequent > 0


def test_the_gate_accepts_family_profiles_without_an_email_and_stops_a_lost_one(
    built: dict, tmp_path: Path
) -> None:
    warehouse = shutil.copy(built["warehouse"], tmp_path / "warehouse.duckdb")
    (shared,) = _query(built, "select count(shared_email) from dim_customers")[0]
    assert shared > 0, "the generated store must hold a family email"
    for full_read_rows in (500_000, 10):  # in memory, and pushed down in chunks
        report = quality.run_gate(
            "clean", AS_OF, warehouse, layers=("marts",), only={"dim_customers"},
            full_read_rows=full_read_rows,
        )  # fmt: skip
        assert report.failed_critical == [], report.failed_critical
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update dim_customers set email = null where customer_id = "
            "(select min(customer_id) from dim_customers where shared_email is null)"
        )
    with pytest.raises(quality.QualityGateFailed) as failure:
        quality.run_gate("broken", AS_OF, warehouse, layers=("marts",), only={"dim_customers"})
    assert [(o.suite, o.column) for o in failure.value.report.failed_critical] == [
        ("dim_customers", "email")
    ]
