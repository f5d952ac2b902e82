"""The dbt project on its second target, PostgreSQL: the landing files loaded into raw
tables (tailor.warehouse_postgres), `dbt build --target postgres` into a fresh schema with
every model and test passing, and the same answers as a DuckDB build of the same files."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import psycopg2
import pytest
from tailor import transform, warehouse_postgres

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # `sandbox/` is a top-level folder, not an installed package
    sys.path.insert(0, str(REPO_ROOT))

from sandbox.generate import generate  # noqa: E402
from tests.conftest import require_service  # noqa: E402
from tests.dbt import landing_fixtures as fx  # noqa: E402

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
HOST, PORT = (
    os.environ.get("TAILOR_PG_HOST", "127.0.0.1"),
    int(os.environ.get("TAILOR_PG_PORT", "5432")),
)

PROFILE_COLUMNS = (
    "customer_id, email, first_name, last_name, phone, region_code, country_code, "
    "email_consent_state, lifecycle_stage, orders_count, total_spent, rfm_segment, "
    "favourite_category, device_most_used, open_cart_items, categories_of_interest"
)

# Pairs where Jaro-Winkler and edit distances are easy to get subtly wrong: empty strings,
# one letter, transpositions, a long common prefix, no letter in common, and letters of
# more than one byte (DuckDB compares UTF-8 bytes).
SIMILARITY_PAIRS = [
    ("", ""), ("a", ""), ("a", "a"), ("ab", "ba"), ("martha", "marhta"), ("dwayne", "duane"),
    ("dixon", "dicksonx"), ("jellyfish", "smellyfish"), ("ca", "abc"), ("kitten", "sitting"),
    ("william", "willaim"), ("katherine", "catherine"), ("zoë", "zoe"), ("jon", "john"),
    ("abcdefgh", "hgfedcba"), ("x", "y"), ("kpeck4935@example.com", "kpeck46945@example.com"),
    ("müller", "mueller"), ("josé", "jose"), ("日本", "日"), ("ab€", "€ab"),
]  # fmt: skip


def _dbt_args(root: Path, target: str) -> list[str]:
    # Most of a build is round trips to the database: more threads than cores pay.
    return ["--target-path", str(root / target), "--log-path", str(root / f"{target}-logs"),
            "--threads", "4"]  # fmt: skip


def _pg() -> psycopg2.extensions.connection:
    return psycopg2.connect(host=HOST, port=PORT, user="postgres", dbname="test")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    require_service("PostgreSQL", HOST, PORT)
    root = tmp_path_factory.mktemp("postgres_target")
    store, landing, warehouse = root / "store", root / "landing", root / "warehouse.duckdb"
    generate(store, customers=60, seed=11, as_of=AS_OF)
    fx.land_base(store, landing, AS_OF)
    fx.land_activity(store, landing, AS_OF)
    schema = f"tailor_it_{uuid.uuid4().hex[:10]}"
    env = {"TAILOR_PG_SCHEMA": schema, "TAILOR_LANDING_SCHEMA": f"{schema}_landing"}
    try:
        with transform.environment(env):
            result = transform.build(
                AS_OF, target="postgres", landing=landing, extra_args=_dbt_args(root, "pg")
            )
        # the models and seeds only: DuckDB's data tests run in the rest of tests/dbt
        transform.build(
            AS_OF,
            warehouse=warehouse,
            landing=landing,
            extra_args=[*_dbt_args(root, "duck"), "--exclude-resource-type", "test", "unit_test"],
        )
        yield {"schema": schema, "env": env, "landing": landing, "warehouse": warehouse,
               "result": result, "root": root}  # fmt: skip
    finally:
        for name in (schema, env["TAILOR_LANDING_SCHEMA"]):
            warehouse_postgres.drop_schema(name)


def _pg_rows(schema: str, sql: str) -> list[tuple]:
    with _pg() as con, con.cursor() as cur:
        cur.execute(f"set search_path to {schema}, public")
        cur.execute(sql)
        return cur.fetchall()


def _duck_rows(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(sql).fetchall()


def _normal(rows: list[tuple]) -> list[tuple]:
    """Rows in one order, lists as lists (DuckDB gives lists, psycopg2 lists too)."""
    return sorted((tuple(list(v) if isinstance(v, tuple) else v for v in row) for row in rows),
                  key=repr)  # fmt: skip


def test_every_model_and_test_passes_on_postgres(built: dict) -> None:
    results = json.loads((built["root"] / "pg" / "run_results.json").read_text())["results"]
    statuses = {r["unique_id"]: r["status"] for r in results}
    failed = {
        node: status for node, status in statuses.items() if status not in ("success", "pass")
    }
    assert not failed
    models = [n for n in statuses if n.startswith("model.")]
    assert len(models) == built["result"].models >= 40
    assert any(n.startswith("test.") for n in statuses)
    assert any(n.startswith("unit_test.") for n in statuses)


def test_profiles_are_the_same_as_on_duckdb(built: dict) -> None:
    sql = f"select {PROFILE_COLUMNS} from dim_customers"
    on_duckdb = _normal(_duck_rows(built["warehouse"], sql))
    on_postgres = _normal(_pg_rows(built["schema"], sql))
    assert len(on_postgres) > 20
    assert on_postgres == on_duckdb


def test_audience_members_are_the_same_as_on_duckdb(built: dict) -> None:
    sql = "select audience, customer_id, email, reason, merge_fields from audience_members"

    def rows(found: list[tuple]) -> list[tuple]:
        return sorted((*row[:4], json.loads(row[4])) for row in found)

    on_postgres = rows(_pg_rows(built["schema"], sql))
    assert on_postgres
    assert on_postgres == rows(_duck_rows(built["warehouse"], sql))


def test_identity_links_are_the_same_as_on_duckdb(built: dict) -> None:
    sql = "select left_record_key, right_record_key, rule, score from int_identity__links"
    on_postgres = _normal(_pg_rows(built["schema"], sql))
    assert on_postgres
    assert on_postgres == _normal(_duck_rows(built["warehouse"], sql))


def test_similarity_functions_give_duckdb_values(built: dict) -> None:
    values = ", ".join(f"('{a}', '{b}')" for a, b in SIMILARITY_PAIRS)
    sql = (
        "select a, b, jaro_winkler_similarity(a, b), damerau_levenshtein(a, b), levenshtein(a, b) "
        f"from (values {values}) as pairs (a, b)"
    )
    on_postgres = {(a, b): rest for a, b, *rest in _pg_rows(built["schema"], sql)}
    with duckdb.connect() as con:
        on_duckdb = {(a, b): rest for a, b, *rest in con.sql(sql).fetchall()}
    for pair, (jaro_winkler, damerau, edits) in on_duckdb.items():
        assert on_postgres[pair][0] == pytest.approx(jaro_winkler, abs=1e-12), pair
        assert on_postgres[pair][1:] == [damerau, edits], pair


def test_loading_a_file_again_replaces_its_rows(built: dict) -> None:
    with transform.environment(built["env"]):
        first = warehouse_postgres.load_landing(built["landing"])
        again = warehouse_postgres.load_landing(built["landing"])
    assert again == first
    table = f"{built['env']['TAILOR_LANDING_SCHEMA']}.shopify__customers"
    assert _pg_rows(built["schema"], f"select count(*) from {table}") == [
        (first["shopify__customers"],)
    ]
