"""The PostgreSQL warehouse: landing files into raw tables, and the normalisation lookups.

On DuckDB, dbt reads the landing Parquet files directly and calls Tailor's Python
normalisation as UDFs. PostgreSQL can do neither, so before `dbt build --target postgres`
this module
  - copies every landing file into `<landing schema>.<source>__<entity>` (the columns of a
    landing file, the payload as jsonb, and the file it came from: loading a file again
    replaces exactly the rows it loaded), and
  - runs the same Python functions (tailor.identity_normalise) over the distinct inputs
    the staging models normalise, into `<landing schema>.normalised`, which the
    identity_* macros look up on PostgreSQL.
Connection settings come from the same environment variables as the dbt profile.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from psycopg2 import sql
from psycopg2.extras import execute_values

from tailor import identity_normalise as norm

# Every landing entity the dbt sources read (models/staging/_staging__sources.yml); each
# gets a table even before its first file lands, so staging reads no rows from it.
ENTITIES = [
    ("shopify", "customers"),
    ("shopify", "orders"),
    ("shopify", "products"),
    ("shopify", "abandoned_checkouts"),
    ("hubspot", "contacts"),
    ("collector", "events"),
    ("collector", "shopify_webhooks"),
    ("mailchimp", "email_activity"),
]
LANDING_COLUMNS = ["id", "updated_at", "payload", "interval_start", "interval_end"]


@dataclass(frozen=True)
class PersonFields:
    """Where a person-record staging model reads the values it normalises (JSON paths)."""

    table: str
    email: tuple[str, ...]
    phone: tuple[str, ...]
    region: tuple[str, ...]
    countries: tuple[tuple[str, ...], ...]  # coalesced in this order
    names: tuple[tuple[str, ...], ...]


# Kept beside stg_shopify__customers.sql and stg_hubspot__contacts.sql: the paths their
# identity_* macro calls read.
PERSON_FIELDS = [
    PersonFields(
        table="shopify__customers",
        email=("email",),
        phone=("phone",),
        region=("defaultAddress", "provinceCode"),
        countries=(("defaultAddress", "countryCodeV2"), ("defaultAddress", "country")),
        names=(("firstName",), ("lastName",)),
    ),
    PersonFields(
        table="hubspot__contacts",
        email=("properties", "email"),
        phone=("properties", "phone"),
        region=("properties", "state"),
        countries=(("properties", "country"),),
        names=(("properties", "firstname"), ("properties", "lastname")),
    ),
]


def connect() -> psycopg2.extensions.connection:
    """A connection to the warehouse database, from the dbt profile's environment."""
    return psycopg2.connect(
        host=os.environ.get("TAILOR_PG_HOST", "127.0.0.1"),
        port=int(os.environ.get("TAILOR_PG_PORT", "5432")),
        user=os.environ.get("TAILOR_PG_USER", "postgres"),
        password=os.environ.get("TAILOR_PG_PASSWORD", ""),
        dbname=os.environ.get("TAILOR_PG_DBNAME", "test"),
    )


def landing_schema() -> str:
    return os.environ.get("TAILOR_LANDING_SCHEMA", "landing")


def _create_tables(cur, schema: str) -> None:  # noqa: ANN001 - a psycopg2 cursor
    cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
    for source, entity in ENTITIES:
        cur.execute(
            sql.SQL(
                """
                create table if not exists {} (
                    id text not null,
                    updated_at timestamptz,
                    payload jsonb not null,
                    interval_start timestamptz not null,
                    interval_end timestamptz not null,
                    landing_file text not null
                )
                """
            ).format(sql.Identifier(schema, f"{source}__{entity}"))
        )
    cur.execute(
        sql.SQL(
            """
            create table if not exists {} (
                fn text not null,
                arg text not null,
                arg2 text not null default '',
                result text,
                primary key (fn, arg, arg2)
            )
            """
        ).format(sql.Identifier(schema, "normalised"))
    )


def _copy_file(cur, table: sql.Composed, path: Path, name: str) -> int:  # noqa: ANN001
    data = pq.read_table(path, columns=LANDING_COLUMNS)
    buffer = io.BytesIO()
    pacsv.write_csv(data, buffer, pacsv.WriteOptions(include_header=False))
    cur.execute(sql.SQL("delete from {} where landing_file = %s").format(table), [name])
    buffer.seek(0)
    # COPY into a temporary table first: the raw table also records the file's name.
    cur.copy_expert("copy tailor_copy from stdin with (format csv)", buffer)
    cur.execute(
        sql.SQL("insert into {} select *, %s from tailor_copy").format(table),
        [name],
    )
    cur.execute("truncate tailor_copy")
    return data.num_rows


def load_landing(landing_dir: Path, schema: str | None = None, con=None) -> dict[str, int]:  # noqa: ANN001
    """Copy every landing file under `landing_dir` into its raw table, then refresh the
    normalisation lookups; rows per table. Loading a file again replaces its rows."""
    schema = schema or landing_schema()
    own = con is None
    con = con or connect()
    counts: dict[str, int] = {}
    try:
        with con, con.cursor() as cur:
            _create_tables(cur, schema)
            cur.execute(
                "create temp table if not exists tailor_copy (id text, "
                "updated_at timestamptz, payload jsonb, interval_start timestamptz, "
                "interval_end timestamptz) on commit drop"
            )
            for source, entity in ENTITIES:
                table = sql.Identifier(schema, f"{source}__{entity}")
                counts[f"{source}__{entity}"] = 0
                folder = Path(landing_dir) / source / entity
                for path in sorted(folder.glob("*.parquet")):
                    name = f"{source}/{entity}/{path.name}"
                    counts[f"{source}__{entity}"] += _copy_file(cur, table, path, name)
            refresh_normalised(cur, schema)
    finally:
        if own:
            con.close()
    return counts


def _text(value: object) -> str | None:
    """`nullif(trim(x), '')`, as the staging models read a payload field."""
    if value is None:
        return None
    text = str(value).strip(" ")
    return text or None


def _json_path(path: Iterable[str]) -> str:
    return "{" + ",".join(path) + "}"


def _distinct(cur, schema: str, table: str, paths: list[tuple[str, ...]]) -> list[tuple]:  # noqa: ANN001
    columns = sql.SQL(", ").join(sql.SQL("payload #>> %s") for _ in paths)
    cur.execute(
        sql.SQL("select distinct {} from {}").format(columns, sql.Identifier(schema, table)),
        [_json_path(p) for p in paths],
    )
    return cur.fetchall()


def refresh_normalised(cur, schema: str) -> int:  # noqa: ANN001 - a psycopg2 cursor
    """Fill `<schema>.normalised` (fn, arg, arg2, result) for every input the staging models
    normalise: the results of the functions DuckDB calls as UDFs, for the same values.
    Every value is computed again, so a newer library (phone ranges, ISO names) shows."""
    rows: set[tuple[str, str, str, str | None]] = set()

    def add(fn: str, func: Callable[..., object], arg: str | None, *country: str | None) -> None:
        if arg is None:
            return
        result = func(arg, *country)
        if isinstance(result, bool):
            result = "true" if result else "false"
        rows.add((fn, arg, (country[0] if country else None) or "", result))

    for fields in PERSON_FIELDS:
        paths = [fields.email, fields.phone, fields.region, *fields.countries, *fields.names]
        for values in _distinct(cur, schema, fields.table, paths):
            email, phone, region, *rest = values
            countries, names = rest[: len(fields.countries)], rest[len(fields.countries) :]
            raw_country = next((t for t in map(_text, countries) if t is not None), None)
            country = norm.country_code(raw_country) if raw_country is not None else None
            email_key = _text(email)
            add("email_is_valid", norm.email_is_valid, email_key and _text(email_key.lower()))
            add("country_code", norm.country_code, raw_country)
            add("phone_e164", norm.phone_e164, _text(phone), country)
            add("region_code", norm.region_code, _text(region), country)
            for name in names:
                add("name_key", norm.name_key, _text(name))
                add("first_name_key", norm.first_name_key, _text(name))
    execute_values(
        cur,
        sql.SQL(
            "insert into {} (fn, arg, arg2, result) values %s "
            "on conflict (fn, arg, arg2) do update set result = excluded.result"
        )
        .format(sql.Identifier(schema, "normalised"))
        .as_string(cur),
        sorted(rows, key=lambda r: r[:3]),
    )
    return len(rows)


def drop_schema(schema: str, con=None) -> None:  # noqa: ANN001
    """Drop a schema and everything in it (tests, or moving to a new landing schema)."""
    own = con is None
    con = con or connect()
    try:
        with con, con.cursor() as cur:
            cur.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
    finally:
        if own:
            con.close()


def main() -> None:
    """`python -m tailor.warehouse_postgres [LANDING_DIR]`: load before a dbt run of your own."""
    import sys

    from tailor import settings

    landing = Path(sys.argv[1]) if len(sys.argv) > 1 else settings.landing_dir()
    for table, rows in load_landing(landing).items():
        print(f"{landing_schema()}.{table}: {rows} rows")


if __name__ == "__main__":
    main()
