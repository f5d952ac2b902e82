"""Identity resolution of any file of person records, with the dbt models' own SQL.

`resolve` maps the file's columns to Tailor's, then runs the `int_identity__*` models of
the dbt project on it (var `tailor_identity_input`) in a warehouse of its own, so the
result is what the nightly build would decide for the same records. The id map lives in
that warehouse: resolving a grown file again resolves only the new and changed records
(and their neighbours) and keeps every existing customer_id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tailor import settings, transform
from tailor.redact import get_logger, mask_email

log = get_logger(__name__)

# Tailor's person-record columns; only source_record_id is required.
COLUMNS = [
    "source",
    "source_record_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "address_line_1",
    "postal_code",
    "country",
    "created_at",
]
MODELS = (
    "int_identity__records int_identity__changes int_identity__links int_identity__clusters"
    " int_identity__customer_ids"
)


class IdentityError(RuntimeError):
    pass


@dataclass
class Resolved:
    records: int
    customers: int
    links: int
    output: str
    # records this run resolved again (new, changed, removed and their block neighbours)
    resolved_now: int = 0


def parse_mapping(text: str | None) -> dict[str, str]:
    """`tailor_column=file_column,...` (or a JSON object) into {tailor_column: file_column}."""
    if not text:
        return {}
    if text.lstrip().startswith("{"):
        mapping = json.loads(text)
    else:
        pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
        if any(len(p) != 2 for p in pairs):
            raise IdentityError(f"mapping must be tailor_column=file_column,...: {text!r}")
        mapping = {k.strip(): v.strip() for k, v in pairs}
    unknown = sorted(set(mapping) - set(COLUMNS))
    if unknown:
        raise IdentityError(f"unknown Tailor columns in mapping: {unknown}; known: {COLUMNS}")
    return mapping


def _reader(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return f"read_parquet('{path}')"
    if suffix in (".csv", ".tsv", ".txt"):
        return f"read_csv('{path}', header = true, all_varchar = true)"
    raise IdentityError(f"{path}: expected a .csv or .parquet file")


def prepare_input(source: Path, mapping: dict[str, str], into: Path) -> int:
    """The file's records with Tailor's column names, as Parquet; returns the row count."""
    import duckdb

    if not source.exists():
        raise IdentityError(f"{source}: no such file")
    with duckdb.connect() as con:
        present = {
            row[0] for row in con.sql(f"describe select * from {_reader(source)}").fetchall()
        }
        selects = []
        for column in COLUMNS:
            name = mapping.get(column, column)
            if name in present:
                selects.append(f'"{name}" as {column}')
            elif column == "source_record_id":
                raise IdentityError(
                    f"{source}: no record id column (map one with source_record_id=COLUMN)"
                )
            elif column == "source":
                selects.append("'file' as source")
            else:
                selects.append(f"null as {column}")
        tmp = into.with_name(into.name + ".tmp")
        con.execute(
            f"copy (select {', '.join(selects)} from {_reader(source)}) to '{tmp}' (format parquet)"
        )
        rows = con.sql(f"select count(*) from read_parquet('{tmp}')").fetchall()[0][0]
    tmp.replace(into)
    return rows


def run_models(
    state_dir: Path, input_parquet: Path, as_of: datetime, full_refresh: bool = False
) -> None:
    """The identity models of the dbt project, on the prepared file, in state_dir's warehouse.

    Incremental: only new, changed and removed records and their neighbours are resolved
    again. `full_refresh` re-resolves every record; the id map is kept, so ids do not move.
    """
    from dbt.cli.main import dbtRunner

    project = settings.dbt_project_dir()
    variables = {
        "tailor_as_of": transform.as_of_var(as_of),
        "tailor_identity_input": str(input_parquet),
    }
    args = [
        "run",
        "--project-dir", str(project),
        "--profiles-dir", str(project),
        "--target-path", str(state_dir / "dbt_target"),
        "--log-path", str(state_dir / "dbt_logs"),
        "--vars", json.dumps(variables),
        "--select", *MODELS.split(),
        "--no-use-colors", "--quiet",
        *(["--full-refresh"] if full_refresh else []),
    ]  # fmt: skip
    try:
        with transform.environment(transform.dbt_env(warehouse=state_dir / "identity.duckdb")):
            outcome = dbtRunner().invoke(args)
    finally:
        transform._release_duckdb()
    if outcome.exception is not None or not outcome.success:
        failed = [str(r.message) for r in (outcome.result or []) if str(r.status) == "error"]
        raise IdentityError(f"identity models failed: {failed or outcome.exception}")


def export(state_dir: Path, output: Path) -> Resolved:
    import duckdb

    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    fmt = "csv, header true" if output.suffix.lower() == ".csv" else "parquet"
    with duckdb.connect(str(state_dir / "identity.duckdb"), read_only=True) as con:
        con.execute(
            f"""
            copy (
                select records.source, records.source_record_id, ids.customer_id,
                       count(*) over (partition by ids.customer_id) as records_in_profile
                from int_identity__records as records
                inner join int_identity__customer_ids as ids using (record_key)
                order by ids.customer_id, records.source, records.source_record_id
            ) to '{tmp}' (format {fmt})
            """
        )
        (records, customers), links = (
            con.sql(
                "select count(*), count(distinct customer_id) from int_identity__customer_ids "
                "inner join int_identity__records using (record_key)"
            ).fetchall()[0],
            con.sql("select count(*) from int_identity__links").fetchall()[0][0],
        )
        (resolved_now,) = con.sql("select count(*) from int_identity__changes").fetchall()[0]
    tmp.replace(output)
    return Resolved(records, customers, links, str(output), resolved_now)


def resolve(
    source: Path,
    output: Path,
    mapping: dict[str, str] | None = None,
    state_dir: Path | None = None,
    as_of: datetime | None = None,
    *,
    full_refresh: bool = False,
) -> Resolved:
    """Resolve a CSV/Parquet file of person records into `output` (record -> customer_id)."""
    state = state_dir or output.parent / ".tailor-identity"
    state.mkdir(parents=True, exist_ok=True)
    when = as_of or datetime.now(UTC).replace(microsecond=0)
    prepared = (state / "input.parquet").resolve()
    rows = prepare_input(Path(source), mapping or {}, prepared)
    log.info("resolving %d records from %s", rows, source)
    run_models(state.resolve(), prepared, when, full_refresh)
    return export(state, output)


def explain(identifier: str, state_dir: Path | None = None) -> dict:
    """A person's records and the links between them, by customer_id or record.

    `identifier` is a customer_id, a record key (`source:id`) or a source record id.
    Reads a `resolve` run's state, or the nightly warehouse without one. Emails are masked.
    """
    import duckdb

    warehouse = state_dir / "identity.duckdb" if state_dir else settings.warehouse_path()
    if not warehouse.exists():
        raise IdentityError(f"{warehouse}: nothing resolved here yet")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        found = con.execute(
            """
            select ids.customer_id from int_identity__customer_ids as ids
            inner join int_identity__records as records using (record_key)
            where ids.customer_id = $1 or ids.record_key = $1 or records.source_record_id = $1
            limit 1
            """,
            [identifier],
        ).fetchall()
        if not found:
            raise IdentityError(f"no customer or record {identifier!r}")
        customer_id = found[0][0]
        records = con.execute(
            """
            select records.record_key, records.email_key, records.phone_key,
                   records.first_name_key, records.last_name_key, records.postal_key
            from int_identity__customer_ids as ids
            inner join int_identity__records as records using (record_key)
            where ids.customer_id = $1 order by records.record_key
            """,
            [customer_id],
        ).fetchall()
        keys = [r[0] for r in records]
        links = con.execute(
            """
            select left_record_key, right_record_key, rule, score from int_identity__links
            where list_contains($1, left_record_key) order by left_record_key, right_record_key
            """,
            [keys],
        ).fetchall()
    return {
        "customer_id": customer_id,
        "records": [
            {
                "record": r[0],
                "email": mask_email(r[1]) if r[1] else None,
                "phone": f"...{r[2][-4:]}" if r[2] else None,
                "name": " ".join(p for p in (r[3], r[4]) if p),
                "postal_code": r[5],
            }
            for r in records
        ],
        "links": [{"between": [a, b], "rule": rule, "score": score} for a, b, rule, score in links],
    }
