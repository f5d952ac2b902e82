"""Extraction throughput against the sandbox, with the APIs' limits off and on.

- `extract.<source>.<entity>.records_per_s` with every limit off, the sandbox in its own
  process: what the client itself costs (Shopify customers, orders, products and abandoned
  checkouts, HubSpot contacts, Mailchimp email activity; all history up to as-of).
- `extract.<source>.<entity>.ceiling_fraction` with the APIs' real limits (Shopify's
  Advanced plan bucket, HubSpot's 4 searches per second): the time a perfect client would
  need (spend the full bucket at once, then exactly the restore rate; or exactly 4 searches
  a second) over the time Tailor took. Target >= 0.9.
- `extract.hubspot.contacts.tailor_to_dlt_time_ratio`: the same HubSpot search extraction
  done by dlt's REST API source (Parquet loader, no nesting) on the same sandbox. Target <= 0.5.
- `extract.peak_rss_mb`: peak memory of a process that lands every order of the store.

`TAILOR_BENCH_EXTRACT_CUSTOMERS` sets the scale (default 20,000 customers).
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
from typing import Any

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
HISTORY = datetime(2000, 1, 1, tzinfo=UTC)
UNLIMITED = {"searches_per_second": 0, "requests_per_10_seconds": 0}
PLAN = "advanced"


def _conn(url: str, name: str, **extra: Any) -> Any:
    from tailor.connections import parse_connection

    from sandbox import local

    spec = json.loads(local.connection_env(url)[f"AIRFLOW_CONN_{name.upper()}"])
    spec["extra"] = {**spec.get("extra", {}), **extra}
    return parse_connection(name, json.dumps(spec))


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


def _peak_rss_mb(url: str, landing: Path) -> float:
    """Peak RSS of a fresh process that lands every order of the store."""
    code = (
        "import json, resource, sys\n"
        "from datetime import datetime, UTC\n"
        "from pathlib import Path\n"
        "from tailor.connections import parse_connection\n"
        "from tailor.sources import shopify\n"
        "conn = parse_connection('shopify', sys.argv[1])\n"
        "shopify.extract(conn, 'orders', datetime(2000, 1, 1, tzinfo=UTC),"
        " datetime(2026, 11, 20, tzinfo=UTC), Path(sys.argv[2]))\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    from sandbox import local

    spec = local.connection_env(url)["AIRFLOW_CONN_SHOPIFY"]
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{root}:{root / 'plugins'}"}
    out = subprocess.run(
        [sys.executable, "-c", code, spec, str(landing)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def run(record: Callable[..., None]) -> None:
    from tailor.sources import hubspot, mailchimp_activity, shopify

    from sandbox import local
    from sandbox.generate import generate
    from sandbox.server import serve_in_thread

    customers = int(os.environ.get("TAILOR_BENCH_EXTRACT_CUSTOMERS", "20000"))
    with tempfile.TemporaryDirectory(prefix="bench_extract_") as tmp:
        work = Path(tmp)
        store = work / "store"
        generate(store, customers=customers, seed=1, as_of=AS_OF)
        contacts_start = _window_holding(
            store / "hubspot_contacts.jsonl", lambda r: r["properties"]["lastmodifieddate"], 9500
        )
        jobs = [
            (shopify, "shopify", "customers", HISTORY),
            (shopify, "shopify", "orders", HISTORY),
            (hubspot, "hubspot", "contacts", HISTORY),
            (shopify, "shopify", "products", HISTORY),
            (shopify, "shopify", "abandoned_checkouts", HISTORY),
            (mailchimp_activity, "mailchimp", "email_activity", HISTORY),
        ]

        # limits off, the sandbox in its own process: the client's own overhead
        with local.sandbox_process(store) as url:
            for module, source, entity, start in jobs:
                conn = _conn(url, source, **UNLIMITED)
                land = work / "free"
                result, seconds = _timed(
                    lambda m=module, c=conn, e=entity, s=start, lr=land: m.extract(
                        c, e, s, AS_OF, lr
                    )
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
            record(
                "extract.peak_rss_mb",
                _peak_rss_mb(url, work / "rss"),
                "MB",
                entity="shopify.orders",
                customers=customers,
            )

        # the APIs' real limits: how close to the ceiling Tailor goes
        for entity, n in (("customers", 5000), ("orders", 1200)):
            start = _window_holding(store / f"shopify_{entity}.jsonl", lambda r: r["updatedAt"], n)
            with serve_in_thread(store, shopify_plan=PLAN) as server:  # a full bucket each
                bucket = server.shopify.bucket
                result, seconds = _timed(
                    lambda e=entity, s=start, u=server.url: shopify.extract(
                        _conn(u, "shopify"), e, s, AS_OF, work / "limited"
                    )
                )
                spent = server.shopify.points_spent
                ideal = max(0.0, spent - bucket.size) / bucket.rate
                record(
                    f"extract.shopify.{entity}.ceiling_fraction",
                    ideal / seconds,
                    "fraction",
                    plan=PLAN,
                    records=result.rows,
                    points=spent,
                    seconds=round(seconds, 2),
                    throttled=server.shopify.throttled,
                )
                record(
                    f"extract.shopify.{entity}.records_per_s_limited",
                    result.rows / seconds,
                    "records/s",
                    plan=PLAN,
                )
        with serve_in_thread(store, hubspot_limits=True) as server:
            result, seconds = _timed(
                lambda: hubspot.extract(
                    _conn(server.url, "hubspot"), "contacts", contacts_start, AS_OF, work / "lim"
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
