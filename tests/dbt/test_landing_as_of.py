"""Staging reads the sources as they were known at as_of: a backfill of an older day must
not see rows landed for later intervals (they would look like records from the future and
stop the gate)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
from tailor import transform
from tailor.identity_normalise import register

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # `sandbox/` is a top-level folder, not an installed package
    sys.path.insert(0, str(REPO_ROOT))

from sandbox.generate import generate  # noqa: E402
from tests.dbt import landing_fixtures as fx  # noqa: E402

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
NEXT_DAY = AS_OF + timedelta(days=1)
MODELS = "stg_shopify__customers stg_shopify__orders stg_hubspot__contacts"


def _staged(root: Path, landing: Path, as_of: datetime) -> dict[str, tuple]:
    warehouse = root / f"warehouse-{as_of:%Y%m%d}.duckdb"
    result = transform.run_dbt(
        "run",
        as_of,
        warehouse=warehouse,
        landing=landing,
        select=MODELS,
        extra_args=["--target-path", str(root / "target"), "--log-path", str(root / "logs")],
    )
    assert result.models == 3 and not result.failures
    with duckdb.connect(str(warehouse), read_only=True) as con:
        register(con)  # staging views call the normalisation UDFs
        rows = con.execute(
            "select shopify_customer_id, first_name, updated_at from stg_shopify__customers"
        ).fetchall()
        orders = con.execute("select count(*) from stg_shopify__orders").fetchall()[0][0]
    return {"customers": {r[0]: r[1:] for r in rows}, "orders": orders}


def test_an_older_as_of_ignores_intervals_landed_after_it(tmp_path: Path) -> None:
    store, landing = tmp_path / "store", tmp_path / "landing"
    generate(store, customers=30, seed=5, as_of=AS_OF)
    fx.land_base(store, landing, AS_OF)

    # The next day's interval: one customer renamed, one new customer.
    customers = fx.read_jsonl(store / "shopify_customers.jsonl")
    changed, new = dict(customers[0]), dict(customers[1])
    changed.update(firstName="Renamed", updatedAt=fx.iso(AS_OF + timedelta(hours=3)))
    new.update(id="gid://shopify/Customer/999999001", updatedAt=fx.iso(AS_OF + timedelta(hours=5)))
    fx.write(landing, "shopify", "customers", [changed, new], "updatedAt", NEXT_DAY, start=AS_OF)

    then = _staged(tmp_path, landing, AS_OF)
    assert len(then["customers"]) == len(customers)
    assert new["id"] not in then["customers"]
    assert then["customers"][changed["id"]][0] == customers[0]["firstName"]
    assert all(updated <= AS_OF.replace(tzinfo=None) for _, updated in then["customers"].values())

    now = _staged(tmp_path, landing, NEXT_DAY)
    assert len(now["customers"]) == len(customers) + 1
    assert now["customers"][changed["id"]][0] == "Renamed"
    assert now["orders"] == then["orders"] > 0
