"""The quality gate at S1 scale: its time and peak memory, and its time against the dbt
build's on the same data.

Landing files for 1,000,000 Shopify customers (about 3 orders each) and 600,000 HubSpot
contacts (500,000 of them the same people) are written straight from DuckDB's `range()`,
shaped as the APIs' payloads, so the real dbt project builds the real marts from them;
then the gate (all layers) runs in a child process, whose own peak RSS is its memory.
`TAILOR_BENCH_GATE_CUSTOMERS` scales it down for a quick look.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "gate"
AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
ORDERS_PER_CUSTOMER = 3

CUSTOMERS_SQL = """
select
    'gid://shopify/Customer/' || (7000000000000 + i) as id,
    updated as updated_at,
    to_json({{
        id: 'gid://shopify/Customer/' || (7000000000000 + i),
        firstName: 'First' || (i % 997), lastName: 'Last' || (i % 991),
        email: case when i % 5000 = 0 then 'broken.' || i || '@@example'
                    else 'user' || i || '@example.com' end,
        phone: '+1555' || lpad((i % 10000000)::varchar, 7, '0'), locale: 'en',
        defaultAddress: {{city: 'Springfield', provinceCode: 'IL', countryCodeV2: 'US',
                          zip: '62701'}},
        emailMarketingConsent: {{
            marketingState: case i % 10 when 0 then 'UNSUBSCRIBED'
                                        when 1 then 'NOT_SUBSCRIBED'
                                        when 2 then 'PENDING' else 'SUBSCRIBED' end,
            consentUpdatedAt: strftime(created, '%Y-%m-%dT%H:%M:%SZ')}},
        numberOfOrders: ({orders} )::varchar,
        amountSpent: {{amount: ((i % 50000) / 100.0)::decimal(18, 2)::varchar,
                       currencyCode: 'USD'}},
        createdAt: strftime(created, '%Y-%m-%dT%H:%M:%SZ'),
        updatedAt: strftime(updated, '%Y-%m-%dT%H:%M:%SZ')
    }})::varchar as payload,
    timestamptz '2000-01-01 00:00:00+00' as interval_start,
    timestamptz '{as_of}' as interval_end
from (
    select i,
        timestamptz '{as_of}' - to_seconds(1 + hash(i) % (3 * 365 * 86400)) as created,
        timestamptz '{as_of}' - to_seconds(1 + hash(i + 1) % (60 * 86400)) as updated
    from range({customers}) t(i)
)
"""

ORDERS_SQL = """
select
    'gid://shopify/Order/' || (5000000000000 + o) as id,
    created + interval 1 hour as updated_at,
    to_json({{
        id: 'gid://shopify/Order/' || (5000000000000 + o), name: '#' || (1000 + o),
        email: 'user' || c || '@example.com', currencyCode: 'USD',
        totalPriceSet: {{shopMoney: {{amount: ((hash(o) % 30000) / 100.0)::decimal(18, 2)
                                                ::varchar, currencyCode: 'USD'}}}},
        lineItems: [{{title: 'Item', quantity: 1}}, {{title: 'Other', quantity: 2}}],
        cancelledAt: case when o % 50 = 0 then strftime(created, '%Y-%m-%dT%H:%M:%SZ') end,
        createdAt: strftime(created, '%Y-%m-%dT%H:%M:%SZ'),
        processedAt: strftime(created, '%Y-%m-%dT%H:%M:%SZ'),
        customer: {{id: 'gid://shopify/Customer/' || (7000000000000 + c)}}
    }})::varchar as payload,
    timestamptz '2000-01-01 00:00:00+00' as interval_start,
    timestamptz '{as_of}' as interval_end
from (
    select o, hash(o * 31) % {customers} as c,
        timestamptz '{as_of}' - to_seconds(2 * 3600 + hash(o * 7) % (365 * 86400)) as created
    from range({orders}) t(o)
)
"""

CONTACTS_SQL = """
select
    (100000 + i)::varchar as id,
    updated as updated_at,
    to_json({{
        id: (100000 + i)::varchar,
        properties: {{
            email: case when i < {overlap} then 'User' || i || '@Example.com'
                        else 'crm' || i || '@example.org' end,
            firstname: 'First' || (i % 997), lastname: 'Last' || (i % 991),
            phone: null, city: 'Springfield', state: 'IL', country: 'United States',
            zip: '62701',
            lifecyclestage: case i % 4 when 0 then 'lead' when 1 then 'subscriber'
                                       else 'customer' end,
            hs_lead_status: null,
            hs_email_optout: case when i % 40 = 0 then 'true' else 'false' end,
            createdate: strftime(created, '%Y-%m-%dT%H:%M:%S.000Z'),
            lastmodifieddate: strftime(updated, '%Y-%m-%dT%H:%M:%S.000Z')
        }},
        archived: false
    }})::varchar as payload,
    timestamptz '2000-01-01 00:00:00+00' as interval_start,
    timestamptz '{as_of}' as interval_end
from (
    select i,
        timestamptz '{as_of}' - to_seconds(1 + hash(i + 5) % (3 * 365 * 86400)) as created,
        timestamptz '{as_of}' - to_seconds(1 + hash(i + 9) % (30 * 86400)) as updated
    from range({contacts}) t(i)
)
"""

GATE_CHILD = """
import json, sys, time


def peak_rss_kb():
    # VmHWM starts afresh at exec; ru_maxrss would carry the parent's peak over.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
from datetime import datetime
from pathlib import Path
started = time.monotonic()
from tailor import quality
imported = time.monotonic()
try:
    report = quality.run_gate("bench-" + sys.argv[4], datetime.fromisoformat(sys.argv[1]),
                              Path(sys.argv[2]), landing=Path(sys.argv[3]),
                              layers=tuple(sys.argv[4].split(",")))
    summary = report.summary()
except quality.QualityGateFailed as failure:
    summary = "FAILED " + failure.report.summary()
done = time.monotonic()
print(json.dumps({"gate_s": done - imported, "process_s": done - started,
                  "peak_rss_kb": peak_rss_kb(),
                  "summary": summary}))
"""


def write_landing(landing: Path, customers: int) -> dict[str, int]:
    import duckdb
    from tailor.sources.landing import stamp

    as_of = AS_OF.strftime("%Y-%m-%d %H:%M:%S+00")
    name = f"20000101T000000Z__{stamp(AS_OF)}.parquet"
    counts = {
        "customers": customers,
        "orders": customers * ORDERS_PER_CUSTOMER,
        "contacts": customers * 6 // 10,
    }
    queries = {
        ("shopify", "customers"): CUSTOMERS_SQL.format(
            as_of=as_of, customers=customers, orders=ORDERS_PER_CUSTOMER
        ),
        ("shopify", "orders"): ORDERS_SQL.format(
            as_of=as_of, customers=customers, orders=counts["orders"]
        ),
        ("hubspot", "contacts"): CONTACTS_SQL.format(
            as_of=as_of, contacts=counts["contacts"], overlap=customers // 2
        ),
    }
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        for (source, entity), sql in queries.items():
            folder = landing / source / entity
            folder.mkdir(parents=True, exist_ok=True)
            con.execute(f"copy ({sql}) to '{folder / name}' (format parquet, compression zstd)")
    return counts


def run_gate_child(
    warehouse: Path, landing: Path, reports: Path, layers: str = "landing,staging,marts"
) -> dict[str, Any]:
    """The gate as a task runs it: a fresh process, Python's bytecode cache warm (as on any
    worker after its first run), so imports cost what they cost in production."""
    env = {**os.environ, "TAILOR_REPORTS_DIR": str(reports)}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent / "plugins"), str(HERE.parent)])
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(HERE / "out" / "pycache")
    subprocess.run(
        [sys.executable, "-c", "import great_expectations, pandas, duckdb"], env=env, check=True
    )
    proc = subprocess.run(
        [sys.executable, "-c", GATE_CHILD, AS_OF.isoformat(), str(warehouse), str(landing), layers],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(record) -> None:
    from tailor import transform

    customers = int(os.environ.get("TAILOR_BENCH_GATE_CUSTOMERS", 1_000_000))
    shutil.rmtree(OUT, ignore_errors=True)
    landing, warehouse = OUT / "landing", OUT / "warehouse.duckdb"
    started = time.monotonic()
    counts = write_landing(landing, customers)
    print(f"  landing written in {time.monotonic() - started:.0f} s: {counts}", flush=True)

    started = time.monotonic()
    transform.build(AS_OF, warehouse=warehouse, landing=landing)
    build_s = time.monotonic() - started
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = {
            t: con.sql(f"select count(*) from {t}").fetchall()[0][0]
            for t in ("dim_customers", "fct_orders", "audience_members")
        }
    print(f"  dbt build {build_s:.0f} s: {rows}", flush=True)

    gate = run_gate_child(warehouse, landing, OUT / "reports")
    print(f"  gate: {gate['summary']}", flush=True)
    params = {"customers": customers, **{f"{t}_rows": n for t, n in rows.items()}}
    record("gate.seconds", gate["gate_s"], "s", **params)
    record("gate.process_seconds", gate["process_s"], "s", **params)
    record("gate.peak_rss", gate["peak_rss_kb"] / 1024, "MiB", **params)
    record("gate.dbt_build_seconds", build_s, "s", **params)
    record("gate.share_of_dbt_build", gate["gate_s"] / build_s, "ratio", **params)
    # Where the time goes: the marts alone (what is sent), then landing and staging, whose
    # views parse every landed record's JSON again, as dbt does when it builds from them.
    for layers in ("marts", "landing,staging"):
        part = run_gate_child(warehouse, landing, OUT / "reports", layers)
        name = layers.replace(",", "_")
        record(f"gate.{name}_seconds", part["gate_s"], "s", **params)
        record(f"gate.{name}_share_of_dbt_build", part["gate_s"] / build_s, "ratio", **params)
        record(f"gate.{name}_peak_rss", part["peak_rss_kb"] / 1024, "MiB", **params)
