"""One generated store, landed once and built with the real dbt project at several as_of
moments (one warehouse each), shared by the segment tests; and one rebuild in a copy of
the project with a segment added and journey memberships set by hand."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from segment_helpers import (
    AS_OFS,
    CUSTOMERS,
    GENERATED_AT,
    NEW_SEGMENT_SQL,
    NEW_SEGMENT_YAML,
    OWN_TESTS,
    REBUILT_AS_OF,
    REPO_ROOT,
    dbt,
    land,
)

from sandbox.generate import generate


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("segments")
    generate(root / "store", customers=CUSTOMERS, seed=3, as_of=GENERATED_AT)
    land(root / "store", root / "landing", GENERATED_AT)
    return {"root": root, "store": root / "store", "landing": root / "landing"}


@pytest.fixture(scope="session")
def built(store: dict) -> dict[datetime, Path]:
    """A warehouse per as_of (seeds and models); the first also runs this suite's dbt tests."""
    warehouses = {}
    for i, as_of in enumerate(AS_OFS):
        warehouse = store["root"] / f"warehouse_{i}.duckdb"
        if i == 0:
            select = " ".join(["resource_type:seed", "resource_type:model", *OWN_TESTS])
            extra = ["--indirect-selection", "empty"]
        else:
            select, extra = None, ["--resource-type", "seed", "--resource-type", "model"]
        dbt(store, "build", as_of, warehouse, select=select, extra=extra)
        warehouses[as_of] = warehouse
    return warehouses


@pytest.fixture(scope="session")
def rebuilt(store: dict, built: dict[datetime, Path]) -> dict:
    """A copy of the project with `seg_big_spenders` added (SQL and YAML only) and a copy
    of the first warehouse where three people who are not big spenders are put in journey
    segments by hand; then `dbt run` of the new segment and audience_members, a day later."""
    from tailor import transform

    root = store["root"] / "rebuilt"
    project = root / "dbt_project"
    shutil.copytree(
        REPO_ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs")
    )
    segments = project / "models" / "marts" / "segments"
    (segments / "seg_big_spenders.sql").write_text(NEW_SEGMENT_SQL, encoding="utf-8")
    (segments / "_seg_big_spenders.yml").write_text(NEW_SEGMENT_YAML, encoding="utf-8")
    warehouse = Path(shutil.copy(built[AS_OFS[0]], root / "warehouse.duckdb"))
    with duckdb.connect(str(warehouse)) as con:
        a, b, c = (
            r[0]
            for r in con.execute(
                "select customer_id from dim_customers where email_consent_state = 'subscribed' "
                "and email is not null and total_spent <= 500 order by customer_id limit 3"
            ).fetchall()
        )
        for table in ("seg_abandoned_cart", "seg_inactive_14d", "seg_category_interest"):
            con.execute(f"delete from {table} where customer_id in (?, ?, ?)", [a, b, c])
        for table, person in (
            ("seg_abandoned_cart", a),
            ("seg_inactive_14d", a),
            ("seg_inactive_14d", b),
            ("seg_category_interest", b),
            ("seg_inactive_14d", c),
        ):
            con.execute(f"insert into {table} (customer_id, reason) values (?, 'x')", [person])
    env = {
        "TAILOR_DBT_PROJECT_DIR": str(project),
        "TAILOR_DBT_TARGET_PATH": str(project / "target"),
        "TAILOR_WAREHOUSE": str(warehouse),
    }
    with transform.environment(env):
        dbt(
            store,
            "run",
            REBUILT_AS_OF,
            warehouse,
            select="seg_big_spenders audience_members",
            target=project / "target",
        )
    return {
        "project": project,
        "warehouse": warehouse,
        "env": env,
        "journeys": {a: "abandoned_cart", b: "category_interest", c: "inactive_14d"},
    }


@pytest.fixture
def warehouse_copy(built: dict[datetime, Path], tmp_path: Path) -> Path:
    return Path(shutil.copy(built[AS_OFS[0]], tmp_path / "warehouse.duckdb"))
