"""The fact models at scale: order lines, events (with anonymous-id stitching), email
activity and abandoned checkouts, built by the real dbt project from synthetic landing
files written by DuckDB itself (so generating S1 takes seconds, not the benchmark's time).

Landing per customer: 4 orders of 1-3 lines, 20 collector calls (a tenth identify calls,
half of the tracks anonymous), 5 email activities, 0.3 checkouts; and 0.6 CRM contacts,
half of them store customers too (same email and name). `dbt build` of the seeds and
models (no tests) builds every model once, in a child process so that its peak memory is
its own. Figures: the build's wall and CPU seconds and peak memory, each listed model's
seconds from dbt's run_results.json, and the events' throughput.
`TAILOR_BENCH_FACTS_CUSTOMERS` overrides the scale (S1 = 1,000,000 customers and 600,000
contacts).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import peak_mb

ROOT = Path(__file__).resolve().parent.parent
AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
S1 = 1_000_000
CONTACTS_PER_CUSTOMER = 0.6
MODELS = [
    "stg_shopify__products",
    "stg_shopify__order_lines",
    "stg_shopify__abandoned_checkouts",
    "stg_events__calls",
    "stg_events__tracks",
    "stg_events__identifies",
    "stg_mailchimp__email_activity",
    "int_customer_records__unioned",
    "int_identity__records",
    "int_identity__email_owners",
    "int_identity__anonymous_ids",
    "fct_orders",
    "fct_order_lines",
    "fct_events",
    "fct_email_activity",
    "fct_abandoned_checkouts",
    "dim_customers",
]
SLOWEST_SHOWN = 10

# Each query yields (id, updated_at, payload) for `n` customers; `t` is an epoch offset.
LANDINGS = {
    ("shopify", "customers"): """
        select 'gid://shopify/Customer/' || i as id, ts as updated_at,
            json_object('id', 'gid://shopify/Customer/' || i, 'firstName', 'Ann' || (i % 997),
                'lastName', 'Lee' || (i % 1009), 'email', 'c' || i || '@example.com',
                'createdAt', strftime(ts, '%Y-%m-%dT%H:%M:%SZ'),
                'updatedAt', strftime(ts, '%Y-%m-%dT%H:%M:%SZ')) as payload
        from (select i, timestamptz '2025-01-01' + to_seconds(i % 20000000) as ts
              from range({n}) r(i))""",
    # Even contacts are store customer i (same email and name), odd ones CRM-only people.
    ("hubspot", "contacts"): """
        select i::varchar as id, ts as updated_at,
            json_object('id', i::varchar, 'archived', false, 'properties', json_object(
                'email', case when i % 2 = 0 then 'c' || i || '@example.com'
                    else 'h' || i || '@example.org' end,
                'firstname', case when i % 2 = 0 then 'Ann' || (i % 997)
                    else 'Bea' || (i % 991) end,
                'lastname', case when i % 2 = 0 then 'Lee' || (i % 1009)
                    else 'Kim' || (i % 1013) end,
                'lifecyclestage', 'lead',
                'createdate', strftime(ts, '%Y-%m-%dT%H:%M:%SZ'))) as payload
        from (select i, timestamptz '2025-02-01' + to_seconds(i % 20000000) as ts
              from range({contacts}) r(i))""",
    ("shopify", "products"): """
        select 'gid://shopify/Product/' || i as id, timestamptz '2025-01-01' as updated_at,
            json_object('id', 'gid://shopify/Product/' || i, 'title', 'Product ' || i,
                'productType', 'Category ' || (i % 6), 'tags', ['t'],
                'collections', json_object('nodes', [json_object('title', 'C' || (i % 6))]),
                'variants', json_object('nodes', [json_object('sku', 'SKU' || i)]),
                'status', 'ACTIVE', 'createdAt', '2025-01-01T00:00:00Z') as payload
        from range(60) r(i)""",
    ("shopify", "orders"): """
        select 'gid://shopify/Order/' || i as id, ts as updated_at,
            json_object('id', 'gid://shopify/Order/' || i,
                'customer', json_object('id', 'gid://shopify/Customer/' || (i % {n})),
                'createdAt', strftime(ts, '%Y-%m-%dT%H:%M:%SZ'),
                'totalPriceSet', json_object('shopMoney', json_object('amount', '49.00')),
                'lineItems', [json_object('id', 'gid://shopify/LineItem/' || (i * 3 + k),
                    'title', 'Product ' || ((i + k) % 60), 'quantity', 1 + k,
                    'originalUnitPriceSet',
                        json_object('shopMoney', json_object('amount', '19.50')),
                    'product', json_object('id', 'gid://shopify/Product/' || ((i + k) % 60)))
                    for k in range(1 + i % 3)]) as payload
        from (select i, timestamptz '2025-06-01' + to_seconds(i % 14000000) as ts
              from range({n} * 4) r(i))""",
    ("shopify", "abandoned_checkouts"): """
        select 'gid://shopify/AbandonedCheckout/' || i as id, ts as updated_at,
            json_object('id', 'gid://shopify/AbandonedCheckout/' || i,
                'customer', json_object('id', 'gid://shopify/Customer/' || (i * 7 % {n})),
                'createdAt', strftime(ts, '%Y-%m-%dT%H:%M:%SZ'),
                'updatedAt', strftime(ts, '%Y-%m-%dT%H:%M:%SZ'), 'completedAt', null,
                'totalPriceSet', json_object('shopMoney', json_object('amount', '98.00')),
                'lineItems', json_object('nodes', [json_object('title', 'Product ' || (i % 60),
                    'quantity', 2,
                    'product', json_object('id', 'gid://shopify/Product/' || (i % 60)))]))
                as payload
        from (select i, timestamptz '2026-09-01' + to_seconds(i % 6000000) as ts
              from range({n} * 3 // 10) r(i))""",
    ("collector", "events"): """
        select 'm' || i as id, ts as updated_at,
            case when i % 10 = 0 then json_object('type', 'identify', 'messageId', 'm' || i,
                    'anonymousId', 'a' || (i // 20), 'userId', ((i // 20) % {n})::varchar,
                    'timestamp', strftime(ts, '%Y-%m-%dT%H:%M:%SZ'),
                    'traits', json_object('email', 'c' || ((i // 20) % {n}) || '@example.com'))
                else json_object('type', 'track', 'event', 'Product Viewed', 'messageId', 'm' || i,
                    'anonymousId', 'a' || (i // 20),
                    'userId', case when i % 2 = 0 then ((i // 20) % {n})::varchar end,
                    'timestamp', strftime(ts, '%Y-%m-%dT%H:%M:%SZ'),
                    'context', json_object('device', json_object('type', 'mobile')),
                    'properties', json_object('product_id', (i % 60)::varchar, 'price', 19.5,
                        'category', 'Category ' || (i % 6), 'url', 'https://shop/p/' || (i % 60)))
            end as payload
        from (select i, timestamptz '2026-09-20' + to_seconds(i % 5000000) as ts
              from range({n} * 20) r(i))""",
    ("mailchimp", "email_activity"): """
        select 'e' || i as id, ts as updated_at,
            json_object('campaign_id', 'c' || (i % 17), 'list_id', 'l1',
                'email_address', 'C' || (i % {n}) || '@Example.com',
                'action', ['open', 'click', 'open', 'bounce', 'unsub'][1 + i % 5],
                'timestamp', strftime(ts, '%Y-%m-%dT%H:%M:%SZ')) as payload
        from (select i, timestamptz '2026-09-20' + to_seconds(i % 5000000) as ts
              from range({n} * 5) r(i))""",
}


def _write_landing(landing: Path, customers: int, contacts: int = 0) -> None:
    import duckdb

    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        con.execute("set enable_progress_bar = false")
        for (source, entity), query in LANDINGS.items():
            folder = landing / source / entity
            folder.mkdir(parents=True, exist_ok=True)
            con.execute(
                f"""
                copy (
                    select id, updated_at, payload::varchar as payload,
                        timestamptz '2000-01-01' as interval_start,
                        timestamptz '2026-11-20' as interval_end
                    from ({query.format(n=customers, contacts=contacts)})
                ) to '{folder}/20000101T000000Z__20261120T000000Z.parquet'
                (format parquet, compression zstd, row_group_size 100000)
                """
            )


def _build(root: Path) -> dict:
    """Runs in a child process: the dbt build; its wall and CPU seconds, peak memory and
    every model's seconds."""
    from tailor import transform

    started, cpu = time.monotonic(), time.process_time()
    transform.run_dbt(
        "build",
        AS_OF,
        warehouse=root / "warehouse.duckdb",
        landing=root / "landing",
        # seeds and models, no tests: the merge fields read the seeds
        extra_args=["--resource-type", "seed", "--resource-type", "model",
                    "--target-path", str(root / "target"), "--log-path", str(root / "logs")],
    )  # fmt: skip
    results = json.loads((root / "target" / "run_results.json").read_text())["results"]
    return {
        "seconds": time.monotonic() - started,
        "cpu_seconds": time.process_time() - cpu,
        "peak_mb": peak_mb(),
        "models": {
            r["unique_id"].split(".")[-1]: r["execution_time"]
            for r in results
            if r["unique_id"].startswith("model.")
        },
    }


def _run_child(root: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}"}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench_facts", str(root)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"dbt build failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(record: Callable[..., None]) -> None:
    customers = int(os.environ.get("TAILOR_BENCH_FACTS_CUSTOMERS", S1))
    contacts = int(customers * CONTACTS_PER_CUSTOMER)
    params = {"customers": customers, "contacts": contacts,
              "memory_limit": os.environ.get("TAILOR_DUCKDB_MEMORY_LIMIT", "25%")}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="tailor-bench-facts-") as tmp:
        root = Path(tmp)
        started = time.monotonic()
        _write_landing(root / "landing", customers, contacts)
        record("facts.landing_seconds", time.monotonic() - started, "s", **params)
        build = _run_child(root)
    record("facts.dbt_run_seconds", build["seconds"], "s", **params)
    record("facts.dbt_cpu_seconds", build["cpu_seconds"], "s", **params)
    record("facts.dbt_peak_mb", build["peak_mb"], "MB", **params)
    seconds = build["models"]
    for model in MODELS:
        record(f"facts.{model}_seconds", seconds[model], "s", **params)
    slowest = sorted(seconds.items(), key=lambda item: -item[1])[:SLOWEST_SHOWN]
    print("  slowest models: " + ", ".join(f"{name} {s:.1f} s" for name, s in slowest))
    events = customers * 20
    stitched = (
        seconds["stg_events__calls"]
        + seconds["stg_events__identifies"]
        + seconds["int_identity__anonymous_ids"]
    )
    record(
        "facts.events_per_second",
        events / (seconds["fct_events"] + stitched),
        "events/s",
        **params,
    )


if __name__ == "__main__":
    print(json.dumps(_build(Path(sys.argv[1]))))
