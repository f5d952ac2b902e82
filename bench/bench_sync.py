"""Sync throughput and request economy against the Mailchimp stand-in over real HTTP.

The stand-in answers each request after `latency` seconds and refuses more than 10
simultaneous connections, as Mailchimp does, so the ceiling is 10 / latency requests per
second; the figure `sync.mailchimp.ceiling_fraction` is the share of it the first sync used.
Then an unchanged re-sync (target: 0 requests) and a re-sync with 1% of the members'
merge fields changed (target: at most 1% of the members plus one batch).

`TAILOR_BENCH_SYNC_MEMBERS` sets the scale (default 20,000; the issue's S1 is 1,000,000,
which takes hours at one tags call per member against a 10-connection ceiling).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

LATENCY = 0.02  # seconds per request, a fast real API round trip
COLUMNS = [
    "audience",
    "esp_tag",
    "customer_id",
    "email",
    "email_status",
    "first_name",
    "last_name",
    "merge_fields",
    "reason",
]


def _write_members(warehouse: Path, n: int, changed_every: int = 0) -> None:
    import duckdb
    import pandas as pd

    rows = []
    for i in range(n):
        orders = i % 7 + (1000 if changed_every and i % changed_every == 0 else 0)
        merge = {
            "FNAME": f"First{i}",
            "LNAME": f"Last{i}",
            "ORDERS": str(orders),
            "SPENT": f"{i * 3.5:.2f}",
        }
        rows.append(
            (
                "frequent_buyers",
                "Frequent buyers",
                f"c{i:07d}",
                f"customer{i:07d}@mail.tailor-shop.com",
                "subscribed",
                f"First{i}",
                f"Last{i}",
                json.dumps(merge),
                "bench",
            )
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    con = duckdb.connect(str(warehouse))
    try:
        con.register("frame", frame)
        con.execute("create or replace table main.audience_members as select * from frame")
    finally:
        con.close()


def _requests(standin: Any) -> int:
    return sum(standin.stats().values())


def run(record: Any) -> None:
    from tailor.destinations.mailchimp import MailchimpConfig, MailchimpDestination
    from tailor.destinations.sync import sync_destination

    from sandbox.mailchimp import LIST_ID
    from sandbox.server import DEFAULT_MAILCHIMP_KEY, serve_in_thread

    n = int(os.environ.get("TAILOR_BENCH_SYNC_MEMBERS", "20000"))
    with tempfile.TemporaryDirectory() as tmp, serve_in_thread(Path(tmp)) as server:
        standin = server.mailchimp
        standin.latency = LATENCY
        warehouse = Path(tmp) / "warehouse.duckdb"

        def sync(run_id: str) -> tuple[float, int]:
            before = _requests(standin)
            dest = MailchimpDestination(
                MailchimpConfig(base_url=server.url, api_key=DEFAULT_MAILCHIMP_KEY, list_id=LIST_ID)
            )
            started = time.perf_counter()
            try:
                report = sync_destination(warehouse, dest, run_id=run_id)
            finally:
                dest.close()
            assert report.totals().failed == 0, report.summary()
            return time.perf_counter() - started, _requests(standin) - before

        _write_members(warehouse, n)
        seconds, sent = sync("first")
        ceiling = standin.max_connections / LATENCY
        record(
            "sync.mailchimp.members_per_s", n / seconds, "members/s", members=n, latency_s=LATENCY
        )
        record("sync.mailchimp.requests_per_s", sent / seconds, "requests/s", members=n)
        record(
            "sync.mailchimp.ceiling_fraction",
            sent / seconds / ceiling,
            "ratio",
            members=n,
            ceiling_rps=ceiling,
            target=0.9,
        )
        record("sync.mailchimp.first_sync_s", seconds, "s", members=n, requests=sent)

        seconds, sent = sync("unchanged")
        record("sync.unchanged_requests", sent, "requests", members=n, target=0)
        record("sync.unchanged_s", seconds, "s", members=n)

        _write_members(warehouse, n, changed_every=100)
        seconds, sent = sync("changed")
        record(
            "sync.changed_1pct_requests",
            sent,
            "requests",
            members=n,
            target=n // 100 + 1,
            changed=len(range(0, n, 100)),
        )
        record("sync.changed_1pct_s", seconds, "s", members=n)
