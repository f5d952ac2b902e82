"""Sync throughput and request economy against the ESP stand-ins over real HTTP.

Mailchimp (`run_mailchimp`, scale `TAILOR_BENCH_SYNC_MEMBERS`, default 20,000): the
stand-in answers each request after `latency` seconds plus its own work and refuses more
than 10 simultaneous connections, as Mailchimp does. A first sync sends 2 requests per
500 members (batch subscribe, then the tag's static segment), so its ceiling is what 10
connections move carrying only those calls: `mailchimp_ceiling` probes it before the first
sync (empty list) and after it (full list), and their mean is
`sync.mailchimp.ceiling_members_per_s`; `sync.mailchimp.members_ceiling_fraction` (target
0.9) is the first sync's members per second over it. The probe is the documented limit (10
connections) applied to this stand-in's own cost per call, which it pays on one core. The
stand-in plays a remote API, so it runs on a CPU of its own and the client on the others
(`cpu_split`; the figures' `cpus` says how): sharing them, the sync's own work slowed the
API it is measured against. On a machine whose other cores are taken by something else
the fraction drops (note `uptime`). The older
`sync.mailchimp.ceiling_fraction` (requests per second over 10 / latency) is kept for
history; it predates the 500-address tag calls and no longer measures the limit. Then an
unchanged re-sync (target: 0 requests) and a re-sync with 1% of the members' merge fields
changed (target: at most 1% of the members plus one batch); updates of known contacts go
as batch operations, a few requests per 1,000 contacts.

Klaviyo (`run_klaviyo`, scale `TAILOR_BENCH_SYNC_KLAVIYO_MEMBERS`, default 20,000) runs
against its stand-in at Klaviyo's real per-endpoint rate limits: a first sync
(`first_sync_ceiling_fraction`: the busiest endpoint's share of what its windows allowed),
an unchanged re-sync (target 0 requests), a 1% re-sync (target: at most 1% of the members
plus one batch), and 60 erasures, which are bound by their endpoint's limits (3/s,
60/min) and give `sync.klaviyo.ceiling_fraction` (target 0.9, with no 429).

Each stand-in runs in a process of its own, so its JSON work does not share the sync's
interpreter lock. At S1 (1,000,000 members, the issue's scale) the figures are named
`sync.s1.<figure>`, so a run at S1 and the default run each keep theirs.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LATENCY = 0.02  # seconds per request, a fast real API round trip
ERASURES = 60  # a minute's worth of Klaviyo deletion jobs


def _write_members(warehouse: Path, n: int, changed_every: int = 0) -> None:
    """`n` members of one audience, written by DuckDB itself (a million rows in seconds);
    with `changed_every`, every such member's ORDERS differs from the first write."""
    import duckdb

    bump = f"case when i % {changed_every} = 0 then 1000 else 0 end" if changed_every else "0"
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("set enable_progress_bar = false")
        con.execute(
            f"""
            create or replace table main.audience_members as
            select 'frequent_buyers' as audience,
                   'Frequent buyers' as esp_tag,
                   'c' || lpad(i::varchar, 7, '0') as customer_id,
                   'customer' || lpad(i::varchar, 7, '0') || '@mail.tailor-shop.com' as email,
                   'subscribed' as email_status,
                   'First' || i as first_name,
                   'Last' || i as last_name,
                   json_object('FNAME', 'First' || i, 'LNAME', 'Last' || i,
                               'ORDERS', (i % 7 + {bump})::varchar,
                               'SPENT', printf('%.2f', i * 3.5))::varchar as merge_fields,
                   'bench' as reason
            from range({int(n)}) as t(i)
            order by i
            """
        )
    finally:
        con.close()


S1 = 1_000_000  # the scale the targets are set at


def at_scale(record: Any, n: int) -> Any:
    """At S1 the figures get names of their own (`sync.s1.<figure>`), so a run at S1 and
    the default run each keep theirs in results.json."""
    if n != S1:
        return record
    return lambda name, *args, **params: record(
        name.replace("sync.", "sync.s1.", 1), *args, **params
    )


def _load_sync_imports() -> None:
    """Import what the sync loads lazily (pandas, for its state writes) before any timing:
    a worker that syncs has it loaded; a first import can take seconds."""
    import pandas  # noqa: F401


def run(record: Any) -> None:
    """Both destinations; `TAILOR_BENCH_SYNC_PARTS` (e.g. `klaviyo`) runs only some."""
    parts = os.environ.get("TAILOR_BENCH_SYNC_PARTS", "mailchimp,klaviyo").split(",")
    if "mailchimp" in parts:
        run_mailchimp(record)
    if "klaviyo" in parts:
        run_klaviyo(record)


def allowed_requests(burst: int, steady: int, started: float, ended: float) -> int:
    """The most requests Klaviyo's two fixed windows let through between two instants of
    `time.time()`. The windows are the clock's whole seconds and minutes (as the stand-in
    keeps them), so a run touches every one it overlaps, its first and last included, and
    each minute allows at most `steady` and at most `burst` per second it touched. (Counting
    `ceil(seconds)` windows from the run's length alone undercounts a run that straddles a
    boundary, which overstated the share by up to a window.)"""
    allowed = 0
    for minute in range(int(started // 60), int(ended // 60) + 1):
        first = max(int(started), minute * 60)
        last = min(int(ended), minute * 60 + 59)
        allowed += min(steady, burst * (last - first + 1))
    return allowed


def _serve_klaviyo(conn: Any, latency: float) -> None:
    """The Klaviyo stand-in alone, in a child process: the sync and the stand-in each get a
    core instead of sharing one interpreter lock."""
    from sandbox.klaviyo import KlaviyoStandIn
    from sandbox.server import DEFAULT_KLAVIYO_KEY, Router, _Server

    standin = KlaviyoStandIn(DEFAULT_KLAVIYO_KEY, latency=latency)
    httpd = _Server(("127.0.0.1", 0), Router([standin]), None)
    conn.send(httpd.server_address[1])
    httpd.serve_forever(poll_interval=0.1)


@contextmanager
def klaviyo_process(latency: float) -> Iterator[str]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve_klaviyo, args=(child, latency), daemon=True)
    proc.start()
    try:
        deadline = time.monotonic() + 120
        while not parent.poll(0.5):
            if not proc.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Klaviyo stand-in process did not start")
        yield f"http://127.0.0.1:{parent.recv()}"
    finally:
        proc.terminate()
        proc.join(10)


def run_klaviyo(record: Any) -> None:
    """Klaviyo: a first sync, an unchanged re-sync, a 1% re-sync and a run of erasures,
    against the stand-in at Klaviyo's real per-endpoint limits (see the module doc)."""
    import requests
    from tailor.destinations.klaviyo import TIERS, KlaviyoConfig, KlaviyoDestination
    from tailor.destinations.sync import sync_destination

    from sandbox.server import DEFAULT_KLAVIYO_KEY

    _load_sync_imports()
    n = int(os.environ.get("TAILOR_BENCH_SYNC_KLAVIYO_MEMBERS", "20000"))
    record = at_scale(record, n)
    with tempfile.TemporaryDirectory() as tmp, klaviyo_process(LATENCY) as url:
        warehouse = Path(tmp) / "warehouse.duckdb"

        def stats() -> dict[str, Any]:
            return requests.get(f"{url}/api/_sandbox/stats", timeout=30).json()

        def sync(
            run_id: str, path: Path = warehouse
        ) -> tuple[float, dict[str, int], int, tuple[float, float]]:
            before = stats()
            dest = KlaviyoDestination(KlaviyoConfig(api_key=DEFAULT_KLAVIYO_KEY, base_url=url))
            started, wall = time.perf_counter(), time.time()
            try:
                report = sync_destination(path, dest, run_id=run_id, force=True)
            finally:
                dest.close()
            seconds = time.perf_counter() - started
            span = (wall, wall + seconds)
            assert report.totals().failed == 0, report.summary()
            after = stats()
            sent = dict(Counter(after["requests"]) - Counter(before["requests"]))
            refused = Counter(after["throttled"]) - Counter(before["throttled"])
            throttled_by_endpoint.update(refused)
            return seconds, sent, sum(refused.values()), span

        throttled_by_endpoint: Counter[str] = Counter()  # 429s, for the figures' params
        _write_members(warehouse, n)
        seconds, sent, throttled, span = sync("first")
        # Each endpoint has its own windows; the busiest one's share of what its windows
        # allowed over the run. A first sync becomes bound by them (the profile look-ups,
        # 100 addresses a call, 750 calls a minute) only above about 75,000 members.
        shares = {}
        for endpoint, count in sent.items():
            method, path = endpoint.split(" ", 1)
            key = f"{method} /api" + path.replace("{job_id}", "{id}").replace("{list_id}", "{id}")
            if key in TIERS:
                shares[key] = (count / allowed_requests(*TIERS[key], *span), count)
        busiest = max(shares, key=lambda k: shares[k][0])
        record("sync.klaviyo.members_per_s", n / seconds, "members/s", members=n)
        record(
            "sync.klaviyo.first_sync_ceiling_fraction",
            shares[busiest][0],
            "ratio",
            members=n,
            endpoint=busiest,
            requests=shares[busiest][1],
        )
        record("sync.klaviyo.first_sync_s", seconds, "s", members=n, requests=sum(sent.values()))
        record(
            "sync.klaviyo.throttled",
            throttled,
            "429s",
            members=n,
            target=0,
            by_endpoint=dict(throttled_by_endpoint),
        )

        seconds, sent, _, _ = sync("unchanged")
        record("sync.klaviyo.unchanged_requests", sum(sent.values()), "requests", target=0)

        _write_members(warehouse, n, changed_every=100)
        seconds, sent, _, _ = sync("changed")
        changed = len(range(0, n, 100))
        record(
            "sync.klaviyo.changed_1pct_requests",
            sum(sent.values()),
            "requests",
            members=n,
            changed=changed,
            target=changed + 1,  # 1% of the members plus one batch (an import job)
            by_endpoint=sent,
        )
        record("sync.klaviyo.changed_1pct_s", seconds, "s", members=n)

        # Rate-bound: erasures are one deletion job each, on an endpoint that allows 3 a
        # second and 60 a minute, so this run shows how close the pacing gets to a ceiling.
        # They run from a warehouse of their own with no members, so that the time is the
        # erasures' alone, not that of reading the audiences (a minute at S1).
        import duckdb

        erasures = [f"customer{i:07d}@mail.tailor-shop.com" for i in range(ERASURES)]
        erasure_warehouse = Path(tmp) / "erasures.duckdb"
        _write_members(erasure_warehouse, 0)
        con = duckdb.connect(str(erasure_warehouse))
        try:
            con.execute(
                "create or replace table main.erasure_requests as "
                "select unnest(?::varchar[]) as email",
                [erasures],
            )
        finally:
            con.close()
        seconds, sent, throttled, span = sync("erasures", erasure_warehouse)
        key = "POST /api/data-privacy-deletion-jobs"
        deletions = sent.get("POST /data-privacy-deletion-jobs", 0)
        record(
            "sync.klaviyo.ceiling_fraction",
            deletions / allowed_requests(*TIERS[key], *span),
            "ratio",
            endpoint=key,
            requests=deletions,
            seconds=round(seconds, 2),
            throttled=throttled,
            target=0.9,
        )


def _serve_mailchimp(conn: Any, latency: float, cpus: set[int] | None = None) -> None:
    """The Mailchimp stand-in alone, in a child process (see `_serve_klaviyo`), on `cpus`
    if given (before any thread starts: its threads keep them)."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    from sandbox.mailchimp import MailchimpStandIn
    from sandbox.server import DEFAULT_MAILCHIMP_KEY, Router, _Server

    standin = MailchimpStandIn(DEFAULT_MAILCHIMP_KEY, latency=latency)
    httpd = _Server(("127.0.0.1", 0), Router([standin]), None)
    conn.send(httpd.server_address[1])
    httpd.serve_forever(poll_interval=0.1)


@contextmanager
def mailchimp_process(latency: float, cpus: set[int] | None = None) -> Iterator[str]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve_mailchimp, args=(child, latency, cpus), daemon=True)
    proc.start()
    try:
        deadline = time.monotonic() + 120
        while not parent.poll(0.5):
            if not proc.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Mailchimp stand-in process did not start")
        yield f"http://127.0.0.1:{parent.recv()}"
    finally:
        proc.terminate()
        proc.join(10)


def cpu_split() -> tuple[set[int], set[int]] | None:
    """(the client's CPUs, the Mailchimp stand-in's CPU), or None on a single CPU.

    The stand-in plays a remote API, which has machines of its own; sharing two CPUs with
    the sync, its single-threaded work waited for a CPU whenever the sync's threads ran
    (16 seconds of run-queue waits across its threads in a 12-second, 200,000-member sync),
    and the sync's own CPU made the API it measures itself against slower: a fraction of
    0.87 at 200,000 against 1.0 with the stand-in on a CPU of its own. Probes and syncs
    run alike."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return set(cpus[:-1]), {cpus[-1]}


@contextmanager
def pinned(cpus: set[int] | None) -> Iterator[None]:
    """This process's threads (DuckDB's included) on `cpus` meanwhile, if given."""
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)

    def pin(to: set[int]) -> None:
        for task in os.listdir("/proc/self/task"):
            # A thread may end meanwhile.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.sched_setaffinity(int(task), to)

    pin(cpus)
    try:
        yield
    finally:
        pin(before)


PROBE_CALLS = 40  # 500-member call pairs (20,000 members) the Mailchimp ceiling is probed with


def mailchimp_ceiling(
    url: str, api_key: str, list_id: str, connections: int, probe: str = "probe", reset: bool = True
) -> dict[str, float]:
    """What `connections` connections move when they carry nothing but the calls a first
    sync must make per 500 new members (a batch subscribe, then the tag's segment add),
    with bodies built beforehand and answers read but not parsed: the members per second
    the API, at its connection limit and per-request cost, allows a client. Also the time
    of one such pair alone. With `reset` the stand-in is reset afterwards; without, the
    probe's members (named after `probe`) stay in the list."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import requests

    base = f"{url}/3.0/lists/{list_id}"
    session = requests.Session()
    session.auth = ("bench", api_key)
    for tag in ("ORDERS", "SPENT"):
        session.post(f"{base}/merge-fields", json={"tag": tag, "name": tag, "type": "text"})
    segment = session.post(f"{base}/segments", json={"name": probe, "static_segment": []})
    segment_id = segment.json()["id"]
    pairs = []
    for k in range(PROBE_CALLS + 1):
        emails = [f"{probe}{k}x{i}@mail.tailor-shop.com" for i in range(500)]
        merge = {"FNAME": "Probe", "LNAME": "Probe", "ORDERS": "3", "SPENT": "10.50"}
        subscribe = {
            "members": [
                {"email_address": e, "status": "subscribed", "merge_fields": merge} for e in emails
            ],
            "update_existing": False,
        }
        pairs.append((json.dumps(subscribe), json.dumps({"members_to_add": emails})))
    local = threading.local()
    headers = {"Content-Type": "application/json"}

    def send(pair: tuple[str, str]) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.auth = ("bench", api_key)
        for path, body in ((base, pair[0]), (f"{base}/segments/{segment_id}", pair[1])):
            response = local.session.post(path, data=body, headers=headers, timeout=120)
            assert response.status_code == 200, response.text[:300]

    started = time.perf_counter()
    send(pairs[0])
    pair_s = time.perf_counter() - started
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=connections) as pool:
        list(pool.map(send, pairs[1:]))
    seconds = time.perf_counter() - started
    if reset:
        session.post(f"{url}/3.0/_sandbox/reset")
    return {"members_per_s": PROBE_CALLS * 500 / seconds, "pair_s": pair_s}


def run_mailchimp(record: Any) -> None:
    """Mailchimp: a first sync, an unchanged re-sync and a 1% re-sync (see the module doc)."""
    import requests
    from tailor.destinations.mailchimp import MailchimpConfig, MailchimpDestination
    from tailor.destinations.sync import sync_destination

    from sandbox.mailchimp import LIST_ID, MAX_CONNECTIONS
    from sandbox.server import DEFAULT_MAILCHIMP_KEY

    _load_sync_imports()
    n = int(os.environ.get("TAILOR_BENCH_SYNC_MEMBERS", "20000"))
    record = at_scale(record, n)
    split = cpu_split()
    client_cpus, standin_cpus = split or (None, None)
    layout = (
        f"stand-in on CPU {sorted(standin_cpus)}, client on CPUs {sorted(client_cpus)}"
        if split
        else "one CPU, shared"
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        mailchimp_process(LATENCY, standin_cpus) as url,
        pinned(client_cpus),
    ):
        warehouse = Path(tmp) / "warehouse.duckdb"

        def stats() -> dict[str, Any]:
            return requests.get(f"{url}/3.0/_sandbox/stats", timeout=30).json()

        def sync(run_id: str) -> tuple[float, dict[str, int]]:
            before = Counter(stats()["requests"])
            dest = MailchimpDestination(
                MailchimpConfig(base_url=url, api_key=DEFAULT_MAILCHIMP_KEY, list_id=LIST_ID)
            )
            started = time.perf_counter()
            try:
                report = sync_destination(warehouse, dest, run_id=run_id)
            finally:
                dest.close()
            assert report.totals().failed == 0, report.summary()
            seconds = time.perf_counter() - started
            return seconds, dict(Counter(stats()["requests"]) - before)

        before = mailchimp_ceiling(url, DEFAULT_MAILCHIMP_KEY, LIST_ID, MAX_CONNECTIONS)
        _write_members(warehouse, n)
        seconds, sent = sync("first")
        requests_sent = sum(sent.values())
        peak = stats()["peak_connections"]
        # Probed again with the list as full as the sync left it (a stand-in holding a
        # million members answers more slowly than an empty one); the ceiling over the
        # run is the mean of the two. The probe's calls fall between syncs, uncounted.
        after = mailchimp_ceiling(
            url, DEFAULT_MAILCHIMP_KEY, LIST_ID, MAX_CONNECTIONS, "probe-after", reset=False
        )
        ceiling = {
            "members_per_s": (before["members_per_s"] + after["members_per_s"]) / 2,
            "pair_s": before["pair_s"],
        }
        members_per_s = n / seconds
        record(
            "sync.mailchimp.members_per_s", members_per_s, "members/s", members=n, latency_s=LATENCY
        )
        record("sync.mailchimp.requests_per_s", requests_sent / seconds, "requests/s", members=n)
        # The first definition: requests per second against 10 / latency. It predates the
        # 500-address tag calls and no longer measures the use of the limit (a sync needs
        # ~2 requests per 500 members, each far slower than `latency`); kept for history,
        # superseded by `members_ceiling_fraction`.
        record(
            "sync.mailchimp.ceiling_fraction",
            requests_sent / seconds / (MAX_CONNECTIONS / LATENCY),
            "ratio",
            members=n,
            ceiling_rps=MAX_CONNECTIONS / LATENCY,
            requests=requests_sent,
            peak_connections=peak,
            superseded_by="sync.mailchimp.members_ceiling_fraction",
        )
        # The ceiling: members per second that Mailchimp's 10 connections move carrying
        # only the calls a sync must make (see `mailchimp_ceiling`), probed just before.
        record(
            "sync.mailchimp.ceiling_members_per_s",
            ceiling["members_per_s"],
            "members/s",
            connections=MAX_CONNECTIONS,
            latency_s=LATENCY,
            calls_per_500_members=2,
            one_pair_s=round(ceiling["pair_s"], 4),
            empty_list=round(before["members_per_s"], 1),
            full_list=round(after["members_per_s"], 1),
            cpus=layout,
        )
        record(
            "sync.mailchimp.members_ceiling_fraction",
            members_per_s / ceiling["members_per_s"],
            "ratio",
            members=n,
            peak_connections=peak,
            cpus=layout,
            target=0.9,
        )
        record(
            "sync.mailchimp.first_sync_s",
            seconds,
            "s",
            members=n,
            requests=requests_sent,
            by_endpoint=sent,
        )
        record(
            "sync.mailchimp.requests_per_1000_members",
            requests_sent * 1000 / n,
            "requests",
            members=n,
        )

        seconds, sent = sync("unchanged")
        record("sync.unchanged_requests", sum(sent.values()), "requests", members=n, target=0)
        record("sync.unchanged_s", seconds, "s", members=n)

        _write_members(warehouse, n, changed_every=100)
        seconds, sent = sync("changed")
        changed = len(range(0, n, 100))
        record(
            "sync.changed_1pct_requests",
            sum(sent.values()),
            "requests",
            members=n,
            target=changed + 1,  # 1% of the members plus one batch
            changed=changed,
            by_endpoint=sent,
        )
        record("sync.changed_1pct_s", seconds, "s", members=n)
