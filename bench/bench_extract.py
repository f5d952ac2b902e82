"""Extraction throughput against the sandbox, with the APIs' limits off and on.

- `extract.<source>.<entity>.records_per_s` with every limit off, the sandbox in its own
  process: what the client itself costs (Shopify customers, orders, products and abandoned
  checkouts, HubSpot contacts, Mailchimp email activity; all history up to as-of).
- `extract.<source>.<entity>.ceiling_fraction` with the APIs' real limits (Shopify's
  Advanced plan bucket, HubSpot's 4 searches per second, Mailchimp's 10 simultaneous
  connections at 1 s a report page): the time a perfect client would need (spend the full
  bucket at once, then exactly the restore rate; exactly 4 searches a second; 10 requests
  always in flight) over the time Tailor took. Target >= 0.9. Shopify's 60-product
  catalogue costs less than one bucket, so products are extracted repeatedly, as a frequent
  schedule would, until 30 s of restore rate past the first bucket have been spent.
- `extract.hubspot.contacts.tailor_to_dlt_time_ratio`: the same HubSpot search extraction
  done by dlt's REST API source (Parquet loader, no nesting) on the same sandbox. Target <= 0.5.
- `extract.peak_rss_mb`: peak memory of a process that lands every order of the store.
- `extract.shopify.{customers,orders}.peak_rss_s1_mb`,
  `extract.hubspot.contacts.peak_rss_s1_mb`, `extract.mailchimp.email_activity.peak_rss_s1_mb`
  and `sandbox.peak_rss_s1_mb`: the same at S1 (1M customers, 4M orders, 600k contacts, ~20M
  email events, made on demand by `sandbox.scale`, `sandbox.scale_hubspot` and
  `sandbox.scale_mailchimp`): every customer and contact, the orders of the last 150 days
  (~550k) and the email activity of the last 30 days (~1.7M events); `TAILOR_BENCH_S1=0`
  leaves them out.

`TAILOR_BENCH_EXTRACT_CUSTOMERS` sets the scale (default 20,000 customers).
`TAILOR_BENCH_EXTRACT_PARTS` runs only some parts, comma-separated among `free` (limits
off), `shopify`, `mailchimp` and `hubspot` (limits on) and `s1`; the other figures in
bench/results.json are kept as they were.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
HISTORY = datetime(2000, 1, 1, tzinfo=UTC)
UNLIMITED = {"searches_per_second": 0, "requests_per_10_seconds": 0}
PLAN = "advanced"
SUSTAINED_S = 30  # a repeated extraction runs until this long past the first full bucket
# Mailchimp's answer time for a report page of 1,000 members (it has no request-rate limit:
# 10 connections at this latency are its ceiling)
MAILCHIMP_LATENCY = 1.0
S1_ORDER_DAYS = 150  # about 550,000 of S1's 4,000,000 orders
S1_ACTIVITY_DAYS = 30  # about 1,700,000 of S1's 20,000,000 email events


def _conn_spec(url: str, name: str, **extra: Any) -> str:
    """The sandbox's Airflow connection `name` (JSON), with `extra` added."""
    from sandbox import local

    spec = json.loads(local.connection_env(url)[f"AIRFLOW_CONN_{name.upper()}"])
    spec["extra"] = {**spec.get("extra", {}), **extra}
    return json.dumps(spec)


def _conn(url: str, name: str, **extra: Any) -> Any:
    from tailor.connections import parse_connection

    return parse_connection(name, _conn_spec(url, name, **extra))


def _window_holding(path: Path, updated: Callable[[dict], str], n: int) -> datetime:
    """The start of the most recent window [start, AS_OF) that holds about n records."""
    with path.open() as fh:
        stamps = sorted((updated(json.loads(line)) for line in fh), reverse=True)
    stamp = stamps[min(n, len(stamps)) - 1]
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).replace(microsecond=0)


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def _dlt_contacts(url: str, start: datetime, out: Path) -> tuple[int, float]:
    import dlt
    from dlt.sources.rest_api import rest_api_source
    from tailor.sources import hubspot

    from sandbox import local

    body = hubspot.search_body(start, AS_OF, None, hubspot.SEARCH_PAGE_SIZE)
    source = rest_api_source(
        {
            "client": {
                "base_url": url,
                "auth": {"type": "bearer", "token": local.HUBSPOT_TOKEN},
            },
            "resources": [
                {
                    "name": "contacts",
                    "endpoint": {
                        "path": "crm/v3/objects/contacts/search",
                        "method": "POST",
                        "json": body,
                        "data_selector": "results",
                        "paginator": {
                            "type": "cursor",
                            "cursor_path": "paging.next.after",
                            "cursor_body_path": "after",
                        },
                    },
                    "primary_key": "id",
                    "write_disposition": "append",
                }
            ],
        },
        max_table_nesting=0,
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_hubspot",
        pipelines_dir=str(out / "pipelines"),
        destination=dlt.destinations.filesystem(bucket_url=str(out / "dlt")),
        dataset_name="hubspot",
    )
    info, seconds = _timed(lambda: pipeline.run(source, loader_file_format="parquet"))
    rows = pipeline.last_trace.last_normalize_info.row_counts.get("contacts", 0)
    assert not info.has_failed_jobs
    return rows, seconds


# A fresh process lands records and prints its peak RSS (KB), the rows landed and seconds.
# The peak is VmHWM, its own memory's: getrusage's ru_maxrss carries over the RSS of the
# process it was forked from (the benchmark's, gigabytes after other benchmarks).
_LAND_AND_MEASURE = """\
import json, sys, time
from datetime import datetime
from importlib import import_module
from pathlib import Path
from tailor.connections import parse_connection
module, function, name, spec, entity, start, end, landing = sys.argv[1:9]
conn = parse_connection(name, spec)
extract = getattr(import_module(module), function)
start, end = datetime.fromisoformat(start), datetime.fromisoformat(end)
started = time.perf_counter()
if function == "extract_full":
    result = extract(conn, entity, end, Path(landing), start)
else:
    result = extract(conn, entity, start, end, Path(landing))
seconds = time.perf_counter() - started
hwm = Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]
print(hwm, result.rows, seconds)
"""


def _peak_rss_mb(
    url: str,
    landing: Path,
    entity: str = "orders",
    start: datetime = HISTORY,
    source: str = "shopify",
) -> tuple[float, int, float]:
    """(peak RSS in MB, records, seconds) of a fresh process that lands the entity's records
    updated in [start, AS_OF): Shopify's through a bulk operation, as a full refresh does;
    HubSpot's and Mailchimp's through their paged extraction, limits off."""
    module, function, extra = {
        "shopify": ("tailor.sources.shopify_bulk", "extract_full", {}),
        "hubspot": ("tailor.sources.hubspot", "extract", UNLIMITED),
        "mailchimp": ("tailor.sources.mailchimp_activity", "extract", {}),
    }[source]
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{root}:{root / 'plugins'}"}
    args = [module, function, source, _conn_spec(url, source, **extra), entity]
    args += [start.isoformat(), AS_OF.isoformat(), str(landing)]
    out = subprocess.run(
        [sys.executable, "-c", _LAND_AND_MEASURE, *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    rss_kb, rows, seconds = out.stdout.strip().splitlines()[-1].split()
    return int(rss_kb) / 1024, int(rows), float(seconds)


def _vm_hwm_mb(pid: int) -> float:
    """A live process's peak resident memory (Linux's VmHWM)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def _s1(record: Callable[..., None], work: Path) -> None:
    """S1 (1,000,000 customers, 4,000,000 orders, 600,000 HubSpot contacts, about 20,000,000
    Mailchimp email events; sandbox.scale* make them on demand): the sandbox's memory while
    serving, and the client's over every customer and contact, over the orders of the last
    `S1_ORDER_DAYS` days and the email activity of the last `S1_ACTIVITY_DAYS` (bounded
    parts: all of them take hours here)."""
    from sandbox.scale import CRM_SCALES, SCALES

    customers, per_customer = SCALES["s1"]
    contacts, email_events = CRM_SCALES["s1"]
    sizes = {
        "customers": customers,
        "orders": customers * per_customer,
        "contacts": contacts,
        "email_events": email_events,
    }
    empty = work / "s1_store"
    empty.mkdir()
    parts = (
        ("shopify", "customers", HISTORY),
        ("shopify", "orders", AS_OF - timedelta(days=S1_ORDER_DAYS)),
        ("hubspot", "contacts", HISTORY),
        ("mailchimp", "email_activity", AS_OF - timedelta(days=S1_ACTIVITY_DAYS)),
    )
    started = time.perf_counter()
    with _sandbox_process(empty, "--scale", "s1") as (url, pid):
        for source, entity, start in parts:
            landing = work / f"s1_{source}_{entity}"
            rss, rows, seconds = _peak_rss_mb(url, landing, entity, start, source)
            record(
                f"extract.{source}.{entity}.peak_rss_s1_mb",
                rss,
                "MB",
                scale="s1",
                **sizes,
                records=rows,
                since=start.date().isoformat(),
                seconds=round(seconds, 1),
            )
        record(
            "sandbox.peak_rss_s1_mb",
            _vm_hwm_mb(pid),
            "MB",
            scale="s1",
            **sizes,
            served="every customer and contact, the bounded orders (bulk operations) and "
            "the bounded email activity",
            seconds=round(time.perf_counter() - started, 1),
        )


def _shopify_ceiling(
    record: Callable[..., None],
    store: Path,
    work: Path,
    entity: str,
    start: datetime,
    repeat: bool = False,
) -> None:
    """Extract under the plan's bucket; a perfect client spends the full bucket at once,
    then exactly the restore rate, so it needs (points - bucket) / rate seconds. The
    process is warm (the landing writer's libraries loaded), as a worker's is."""
    import pandas  # noqa: F401 - pyarrow loads it on the first row group otherwise
    from tailor.sources import shopify

    from sandbox.server import serve_in_thread

    with serve_in_thread(store, shopify_plan=PLAN) as server:  # a full bucket each
        bucket = server.shopify.bucket
        target = bucket.size + SUSTAINED_S * bucket.rate
        rows, runs, started = 0, 0, time.perf_counter()
        while True:
            result = shopify.extract(
                _conn(server.url, "shopify"), entity, start, AS_OF, work / "lim"
            )
            rows, runs = rows + result.rows, runs + 1
            if not repeat or server.shopify.points_spent >= target:
                break
        seconds = time.perf_counter() - started
        spent = server.shopify.points_spent
        ideal = max(0.0, spent - bucket.size) / bucket.rate
        record(
            f"extract.shopify.{entity}.ceiling_fraction",
            ideal / seconds,
            "fraction",
            plan=PLAN,
            records=rows,
            runs=runs,
            points=spent,
            seconds=round(seconds, 2),
            throttled=server.shopify.throttled,
        )
        record(
            f"extract.shopify.{entity}.records_per_s_limited",
            rows / seconds,
            "records/s",
            plan=PLAN,
        )


def _sandbox_process(store: Path, *args: str) -> Any:
    """`python -m sandbox.server` in its own process: (its URL, its pid). Generous start-up
    time: the S1 store is made on demand, but a 20k store is read from disk first."""
    from sandbox import local

    return local.sandbox_server(
        store, *args, log_file=store.parent / "sandbox.log", start_timeout=1800
    )


def _mailchimp_ceiling(record: Callable[..., None], store: Path, work: Path) -> None:
    """Email activity against 10 simultaneous connections, each request answered after
    `MAILCHIMP_LATENCY`: a perfect client lists the campaigns (every report request needs
    their ids), then keeps all 10 connections busy: 1 + ceil((requests - 1) / 10) round
    trips. The process is warm (the landing writer's libraries loaded), as a worker's is."""
    import pandas  # noqa: F401 - pyarrow loads it on the first row group otherwise
    import requests
    from tailor.sources import mailchimp_activity

    from sandbox.mailchimp import MAX_CONNECTIONS

    latency = str(MAILCHIMP_LATENCY)
    with _sandbox_process(store, "--mailchimp-latency", latency) as (url, _pid):

        def served() -> int:
            return requests.get(f"{url}/3.0/_sandbox/stats", timeout=30).json()["total_requests"]

        before = served()
        result, seconds = _timed(
            lambda: mailchimp_activity.extract(
                _conn(url, "mailchimp"), "email_activity", HISTORY, AS_OF, work / "mc"
            )
        )
        stats = requests.get(f"{url}/3.0/_sandbox/stats", timeout=30).json()
        sent = stats["total_requests"] - before  # the stand-in leaves its stats calls out
        ideal = (1 + math.ceil((sent - 1) / MAX_CONNECTIONS)) * MAILCHIMP_LATENCY
        record(
            "extract.mailchimp.email_activity.ceiling_fraction",
            ideal / seconds,
            "fraction",
            limit=f"{MAX_CONNECTIONS} connections, {MAILCHIMP_LATENCY} s a request",
            records=result.rows,
            requests=sent,
            seconds=round(seconds, 2),
            peak_connections=stats["peak_connections"],
        )
        record(
            "extract.mailchimp.email_activity.records_per_s_limited",
            result.rows / seconds,
            "records/s",
            limit=f"{MAX_CONNECTIONS} connections, {MAILCHIMP_LATENCY} s a request",
        )


PARTS = ("free", "shopify", "mailchimp", "hubspot", "s1")


def _limits_off(
    record: Callable[..., None], store: Path, work: Path, customers: int, contacts_start: datetime
) -> None:
    """Every limit off, the sandbox in its own process: the client's own overhead."""
    from tailor.sources import hubspot, mailchimp_activity, shopify

    from sandbox import local

    jobs = [
        (shopify, "shopify", "customers", HISTORY),
        (shopify, "shopify", "orders", HISTORY),
        (hubspot, "hubspot", "contacts", HISTORY),
        (shopify, "shopify", "products", HISTORY),
        (shopify, "shopify", "abandoned_checkouts", HISTORY),
        (mailchimp_activity, "mailchimp", "email_activity", HISTORY),
    ]
    with local.sandbox_process(store) as url:
        for module, source, entity, start in jobs:
            conn = _conn(url, source, **UNLIMITED)
            land = work / "free"
            result, seconds = _timed(
                lambda m=module, c=conn, e=entity, s=start, lr=land: m.extract(c, e, s, AS_OF, lr)
            )
            record(
                f"extract.{source}.{entity}.records_per_s",
                result.rows / seconds,
                "records/s",
                limits="off",
                records=result.rows,
                customers=customers,
            )
        tailor, tailor_s = _timed(
            lambda: hubspot.extract(
                _conn(url, "hubspot", **UNLIMITED),
                "contacts",
                contacts_start,
                AS_OF,
                work / "ratio",
            )
        )
        dlt_rows, dlt_s = _dlt_contacts(url, contacts_start, work)
        assert dlt_rows == tailor.rows, (dlt_rows, tailor.rows)
        record(
            "extract.hubspot.contacts.tailor_to_dlt_time_ratio",
            tailor_s / dlt_s,
            "ratio",
            records=tailor.rows,
            tailor_s=round(tailor_s, 3),
            dlt_s=round(dlt_s, 3),
        )
        rss, rows, seconds = _peak_rss_mb(url, work / "rss")
        record(
            "extract.peak_rss_mb",
            rss,
            "MB",
            entity="shopify.orders",
            customers=customers,
            records=rows,
            seconds=round(seconds, 1),
        )


def _hubspot_ceiling(record: Callable[..., None], store: Path, work: Path, start: datetime) -> None:
    """Contacts under HubSpot's 4 searches a second: a perfect client sends exactly that."""
    from tailor.sources import hubspot

    from sandbox.server import serve_in_thread

    with serve_in_thread(store, hubspot_limits=True) as server:
        result, seconds = _timed(
            lambda: hubspot.extract(
                _conn(server.url, "hubspot"), "contacts", start, AS_OF, work / "lim"
            )
        )
        ideal = max(0, result.pages - hubspot.SEARCHES_PER_S) / hubspot.SEARCHES_PER_S
        record(
            "extract.hubspot.contacts.ceiling_fraction",
            ideal / seconds,
            "fraction",
            limit="4 searches/s",
            records=result.rows,
            requests=result.pages,
            seconds=round(seconds, 2),
            refused=server.hubspot.refused,
        )
        record(
            "extract.hubspot.contacts.records_per_s_limited",
            result.rows / seconds,
            "records/s",
            limit="4 searches/s",
        )


def _parts() -> set[str]:
    parts = set(os.environ.get("TAILOR_BENCH_EXTRACT_PARTS", ",".join(PARTS)).split(","))
    if os.environ.get("TAILOR_BENCH_S1", "1") == "0":
        parts.discard("s1")
    if unknown := parts - set(PARTS):
        raise ValueError(f"unknown parts {sorted(unknown)}; known: {', '.join(PARTS)}")
    return parts


def run(record: Callable[..., None]) -> None:
    from sandbox.generate import generate

    parts = _parts()
    customers = int(os.environ.get("TAILOR_BENCH_EXTRACT_CUSTOMERS", "20000"))
    with tempfile.TemporaryDirectory(prefix="bench_extract_") as tmp:
        work = Path(tmp)
        store = work / "store"
        if parts - {"s1"}:
            generate(store, customers=customers, seed=1, as_of=AS_OF)
            contacts_start = _window_holding(
                store / "hubspot_contacts.jsonl",
                lambda r: r["properties"]["lastmodifieddate"],
                9500,
            )
        if "free" in parts:
            _limits_off(record, store, work, customers, contacts_start)
        # the APIs' real limits: how close to the ceiling Tailor goes
        if "shopify" in parts:
            for entity, n in (
                ("customers", 5000),
                ("orders", 1200),
                ("abandoned_checkouts", 1200),
            ):
                start = _window_holding(
                    store / f"shopify_{entity}.jsonl", lambda r: r["updatedAt"], n
                )
                _shopify_ceiling(record, store, work, entity, start)
            # the catalogue is small: extracted again and again, as a frequent schedule
            # would, until the points spent are well past one bucket
            _shopify_ceiling(record, store, work, "products", HISTORY, repeat=True)
        if "mailchimp" in parts:
            _mailchimp_ceiling(record, store, work)
        if "hubspot" in parts:
            _hubspot_ceiling(record, store, work, contacts_start)
        if "s1" in parts:
            _s1(record, work)
