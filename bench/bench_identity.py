"""Identity resolution at scale: Tailor's dbt models beside Splink, on the same records.

For each scale, `sandbox.people` generates store customers and CRM contacts (half of the
contacts are store customers too) with realistic variation and a ground truth; then, each
in a child process of its own (so its peak memory is its own):

- Tailor: `tailor.identity.resolve`, the dbt models the nightly build runs (normalisation
  UDFs, links, connected components, the id map), timed end to end and per model.
- Splink 5 (DuckDB backend), unsupervised: trained with EM on the cleaned keys Tailor
  derives (so both see the same normalisation), clustered at a match probability of 0.95.

- Tailor again, incremental: 1% of the records change their email, and the same id map
  resolves the file again (only those records and their neighbours are re-resolved).

Figures: identity.{f1,precision,recall,seconds,matching_seconds,peak_mb},
identity.incremental_{seconds,records} and identity.splink_{f1,precision,recall,seconds,
peak_mb}, with `params` naming the scale.
`TAILOR_BENCH_IDENTITY_SCALES` (e.g. "100000:60000,1000000:600000", store:crm) overrides
the scales; `TAILOR_BENCH_IDENTITY_SPLINK_MAX` caps the records Splink is run on.

Then the whole nightly `dbt build` (every model and test, profiles included) on synthetic
S1 landing files (bench_facts' shapes: 1,000,000 customers with orders, lines, events,
email activity and checkouts, and 600,000 CRM contacts, half of them store customers),
and a second build of the same day after 1% of the customers changed:
identity.build_{seconds,incremental_seconds} and the seconds of dim_customers and the
identity models in each. `TAILOR_BENCH_IDENTITY_BUILD_CUSTOMERS`
sets that scale (0 skips it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import peak_mb

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCALES = [(100_000, 60_000), (1_000_000, 600_000)]
MATCH_PROBABILITY = 0.95
MAX_RECORDS_PER_IDENTIFIER = 10  # Tailor's tailor_identity_max_records_per_identifier
S1_CUSTOMERS = 1_000_000
CHANGED_SHARE_PERCENT = 1
BUILD_MODELS = [
    "int_customer_records__unioned",
    "int_identity__records",
    "int_identity__changes",
    "int_identity__links",
    "int_identity__clusters",
    "int_identity__customer_ids",
    "dim_customers",
]


def _scales() -> list[tuple[int, int]]:
    text = os.environ.get("TAILOR_BENCH_IDENTITY_SCALES")
    if not text:
        return SCALES
    return [(int(s), int(c)) for s, c in (part.split(":") for part in text.split(","))]


def _generate(out: Path, store: int, crm: int) -> dict:
    from sandbox import people

    store_people = round(store / (1 + people.Variation().second_store_account))
    total = store_people + crm // 2
    variation = people.Variation(
        in_store=store_people / total, in_crm_if_store=crm / 2 / store_people
    )
    return people.generate(out, total, seed=11, variation=variation)


def _child(args: list[str]) -> dict:
    """Runs in a child process: one engine on one input; reports seconds and peak memory."""
    engine, records, output, state = args
    started = time.perf_counter()
    figures: dict = {}
    if engine == "tailor":
        from datetime import UTC, datetime

        from tailor import identity

        resolved = identity.resolve(Path(records), Path(output), state_dir=Path(state),
                                    as_of=datetime(2026, 11, 20, tzinfo=UTC))  # fmt: skip
        figures["resolved_now"] = resolved.resolved_now
        results = json.loads((Path(state) / "dbt_target" / "run_results.json").read_text())
        timing = {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results["results"]}
        figures["matching_seconds"] = sum(
            t for name, t in timing.items() if name != "int_identity__records"
        )
        figures["models"] = timing
    else:
        _splink(Path(records), Path(output))
    figures["seconds"] = time.perf_counter() - started
    figures["peak_mb"] = peak_mb()
    return figures


def _splink(keys: Path, output: Path) -> None:
    """Splink on the cleaned keys (a Parquet of int_identity__records), configured the way
    a careful Splink user would for this data, unsupervised (the truth is never read):

    - Emails and phones held by more than MAX_RECORDS_PER_IDENTIFIER records are nulled
      first: the same cap Tailor applies before linking on an identifier.
    - Term-frequency adjustments on first and last names, email, phone and postcode, so a
      common value counts for less than a rare one.
    - First names: exact, same nickname group (Tailor's canonical first name, the same
      normalisation both engines see), Jaro-Winkler >= 0.88, swapped with the last name.
    - Every blocking rule requires the first names to share an initial or a nickname group
      (the last names an initial where the first name is the key). Households share
      surname, address, phone and sometimes an email; Fellegi-Sunter adds those agreements
      up as if independent, so no first-name weight can outweigh them, and EM learns
      "same household" as a match. Comparing only pairs whose first names could be the same
      person keeps households apart, at the cost of records missing a first name.
    - EM sessions blocked on first + last name, then on email (each trains the others).
    - Clustered at MATCH_PROBABILITY, chosen once, not tuned against the truth.
    """
    import duckdb
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, block_on
    from splink.backends.duckdb import DuckDBAPI

    con = duckdb.connect()
    capped = {
        column: f"case when count({column}) over (partition by {column}) "
        f"<= {MAX_RECORDS_PER_IDENTIFIER} then {column} end as {column}"
        for column in ("email_key", "phone_key")
    }
    con.execute(
        f"create table records as select * replace ({', '.join(capped.values())}) "
        f"from read_parquet('{keys}')"
    )
    first_name = cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel("first_name_key"),
            cll.ExactMatchLevel("first_name_key").configure(tf_adjustment_column="first_name_key"),
            cll.ExactMatchLevel("first_name_canonical").configure(label_for_charts="Nickname"),
            cll.JaroWinklerLevel("first_name_key", 0.88),
            cll.ColumnsReversedLevel("first_name_key", "last_name_key", symmetrical=True),
            cll.ElseLevel(),
        ],
        output_column_name="first_name_key",
    )
    initial = "left(first_name_key, 1)"
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_key",
        comparisons=[
            first_name,
            cl.NameComparison("last_name_key", jaro_winkler_thresholds=[0.92, 0.88]),
            cl.EmailComparison("email_key"),
            cl.ExactMatch("phone_key").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postal_key").configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("address_key", [0.95, 0.88]),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("email_key", initial),
            block_on("phone_key", initial),
            block_on("postal_key", "last_name_key", initial),
            block_on("email_key", "first_name_canonical"),
            block_on("phone_key", "first_name_canonical"),
            block_on("postal_key", "first_name_key", "left(last_name_key, 1)"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(DuckDBAPI(con).register("records"), settings, log_level=30)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("email_key")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("first_name_key", "last_name_key")
    )
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("email_key"))
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=MATCH_PROBABILITY
    )
    con.execute(
        f"""
        copy (
            select split_part(record_key, ':', 1) as source,
                   substr(record_key, length(split_part(record_key, ':', 1)) + 2)
                       as source_record_id,
                   cast(cluster_id as varchar) as customer_id
            from {clusters.physical_name}
        ) to '{output}' (format parquet)
        """
    )


def _run_child(args: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}"}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench_identity", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _change_emails(records: Path, into: Path) -> None:
    """The same records, CHANGED_SHARE_PERCENT of them (chosen by hash) with a new email."""
    import duckdb

    with duckdb.connect() as con:
        con.execute(
            f"""
            copy (
                select * replace (
                    case when hash(source_record_id) % 100 < {CHANGED_SHARE_PERCENT}
                        then 'new.' || email else email end as email
                )
                from read_parquet('{records}')
            ) to '{into}' (format parquet)
            """
        )


def _build_s1(record: Callable[..., None], customers: int) -> None:
    """The whole dbt build on synthetic landing files, then again after 1% changed."""
    from datetime import timedelta

    import duckdb
    from tailor import transform

    from bench import bench_facts

    contacts = int(customers * bench_facts.CONTACTS_PER_CUSTOMER)
    params = {"customers": customers, "contacts": contacts}
    with tempfile.TemporaryDirectory(prefix="bench-identity-build-") as tmp:
        root = Path(tmp)
        landing, warehouse = root / "landing", root / "warehouse.duckdb"
        bench_facts._write_landing(landing, customers, contacts)
        for run, name in (("first", "build_seconds"), ("second", "build_incremental_seconds")):
            if run == "second":  # 1% of the customers change their email: a new file
                folder = landing / "shopify" / "customers"
                with duckdb.connect() as con:
                    con.execute(
                        f"""
                        copy (
                            select id, timestamptz '2026-11-20 12:00:00' as updated_at,
                                json_merge_patch(payload, json_object('email',
                                    'new.' || json_extract_string(payload, '$.email')))::varchar
                                    as payload,
                                interval_start, interval_end
                            from read_parquet('{folder}/*.parquet')
                            where hash(id) % 100 < {CHANGED_SHARE_PERCENT}
                        ) to '{folder}/20261120T000000Z__20261121T000000Z.parquet'
                        (format parquet)
                        """
                    )
            target = root / f"target-{run}"
            as_of = bench_facts.AS_OF + timedelta(days=0 if run == "first" else 1)
            started = time.monotonic()
            transform.build(
                as_of, warehouse=warehouse, landing=landing,
                extra_args=["--target-path", str(target), "--log-path", str(root / "logs")],
            )  # fmt: skip
            record(f"identity.{name}", time.monotonic() - started, "s", **params)
            results = json.loads((target / "run_results.json").read_text())["results"]
            seconds = {r["unique_id"]: r["execution_time"] for r in results}
            for model in BUILD_MODELS:
                record(
                    f"identity.{run}_build_{model}_seconds",
                    seconds[f"model.tailor.{model}"], "s", **params,
                )  # fmt: skip
        with duckdb.connect(str(warehouse), read_only=True) as con:
            ((resolved,),) = con.sql("select count(*) from int_identity__changes").fetchall()
        record("identity.build_incremental_records", resolved, "records", **params)


def run(record: Callable[..., None]) -> None:
    import duckdb

    from sandbox.people import pairwise_scores

    build_customers = int(os.environ.get("TAILOR_BENCH_IDENTITY_BUILD_CUSTOMERS", S1_CUSTOMERS))
    if build_customers:
        _build_s1(record, build_customers)

    splink_max = int(os.environ.get("TAILOR_BENCH_IDENTITY_SPLINK_MAX", "2000000"))
    for store, crm in _scales():
        with tempfile.TemporaryDirectory(prefix="bench-identity-") as tmp:
            root = Path(tmp)
            counts = _generate(root / "data", store, crm)
            params = {"store_customers": counts["shopify"], "crm_contacts": counts["hubspot"],
                      "people": counts["people"]}  # fmt: skip
            truth = root / "data" / "truth.parquet"
            tailor = _run_child(
                ["tailor", str(root / "data" / "records.parquet"), str(root / "tailor.parquet"),
                 str(root / "state")]
            )  # fmt: skip
            scores = pairwise_scores(root / "tailor.parquet", truth)
            for name in ("f1", "precision", "recall"):
                record(f"identity.{name}", scores[name], "ratio", **params)
            record("identity.seconds", tailor["seconds"], "s", **params)
            record("identity.matching_seconds", tailor["matching_seconds"], "s", **params)
            record("identity.peak_mb", tailor["peak_mb"], "MB", **params)
            changed = root / "changed.parquet"
            _change_emails(root / "data" / "records.parquet", changed)
            again = _run_child(
                ["tailor", str(changed), str(root / "tailor_again.parquet"), str(root / "state")]
            )  # fmt: skip
            record("identity.incremental_seconds", again["seconds"], "s", **params)
            record("identity.incremental_records", again["resolved_now"], "records", **params)
            if counts["records"] > splink_max:
                continue
            keys = root / "keys.parquet"
            with duckdb.connect(str(root / "state" / "identity.duckdb"), read_only=True) as con:
                con.execute(f"copy int_identity__records to '{keys}' (format parquet)")
            splink = _run_child(["splink", str(keys), str(root / "splink.parquet"), ""])
            scores = pairwise_scores(root / "splink.parquet", truth)
            for name in ("f1", "precision", "recall"):
                record(f"identity.splink_{name}", scores[name], "ratio", **params)
            record("identity.splink_seconds", splink["seconds"], "s", **params)
            record("identity.splink_peak_mb", splink["peak_mb"], "MB", **params)


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1:])))
