"""The nightly build's profile layer on the sandbox store: staging normalisation, one
profile per person (checked against the generator's person ids), the unified columns."""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from tailor import transform

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "quality"))
from warehouse_helpers import land  # noqa: E402

from sandbox.generate import generate  # noqa: E402

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("profiles")
    store, landing, warehouse = root / "store", root / "landing", root / "warehouse.duckdb"
    generate(store, customers=400, seed=9, as_of=AS_OF, invalid_emails=2)
    land(store, landing)
    transform.build(AS_OF, warehouse=warehouse, landing=landing)
    with open(store / "truth.csv") as f:
        truth = {f"{r['source']}:{r['source_id']}": r for r in csv.DictReader(f)}
    return {"warehouse": warehouse, "truth": truth}


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
