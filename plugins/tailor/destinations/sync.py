"""The reverse-ETL engine every destination shares: diff, send, record.

For each audience it compares the dbt table `audience_members` with what was last sent
to this destination (`sync_state`), and sends only the difference:

- add: a row not in the state (or removed earlier): upsert the contact, tag it;
- update: a row whose payload hash changed, or whose last attempt failed: upsert again
  (and move the tag if the email or the tag changed);
- removal: a row sent earlier that left the audience: its tag is set inactive, and, as the
  audience's `on_leave` says, its merge fields are cleared (`clear`) or the contact is
  archived (`delete`) unless it is still in another audience of this destination;
- unchanged: nothing is sent;
- skipped: a row that may not be sent (its `email_status` allows no marketing, or the
  person asked to be erased); counted, never sent.

Consent: nobody is ever sent with a status other than `subscribed`/`transactional`, and
those only as `status_if_new` (an ESP-side unsubscribe stands). A person whose consent is
revoked in any source (`dim_customers.email_consent_state` unsubscribed, cleaned, bounced,
erased...) leaves every audience and is set to unsubscribed in the ESP. An erasure request
(`main.erasure_requests`, or a file of addresses) deletes the person permanently from the
destination once, is remembered by hash in `sync_erasures`, and blanks their state rows.

Safety: when a run would remove more than `max_removal_share` (default 20%) of an
audience's synced members, nothing is sent and `SafetyStop` says why, unless forced: a
broken upstream load must not empty a list. The share is counted in SQL before anything
is sent; the plan counts it again from the rows and is checked before removing.

Streaming: an audience's rows are read, planned and sent in one stream, a chunk at a
time, so the first batches are on the wire while the rest are still being read (a
million rows took 12 seconds to read and plan before the first request), and no
audience is ever held whole in memory; only the state read at the start is. A table is
read a slice of row ids at a time, so that no read stays open while the state is written
(DuckDB then checkpoints as it goes, not all at once on closing). The destination's
preparation (merge fields, tags) runs in a thread while the first batches are planned.

State is committed after every batch the destination acknowledged, in one transaction,
so a crash between batches neither loses a send nor repeats one; a crash inside a batch
repeats at most that batch, which every destination call tolerates (upserts and tag
changes are idempotent). A destination may set `pipeline_depth` (default 1) to have that
many batches in flight at once, each replaced on the wire by the next as soon as it is
acknowledged, while a writer thread commits it (with the others acknowledged within a
quarter of a second): if the process is killed, a re-run repeats at most the batches in
flight and those acknowledged in its last quarter of a second; an error (the destination
failing, a row that cannot be read) still commits every acknowledged batch first.
A row the ESP rejects is recorded as `failed` with the ESP's message and retried on the
next run; it never fails the rest of its batch.

The payload hash covers email, email_status, the merge fields (canonical JSON) and the
ESP tag. `sync_state` also keeps the tag and email that were sent, so a removal or a
changed email can take the tag off the right contact.
"""

from __future__ import annotations

import gc
import hashlib
import json
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from tailor.destinations import Contact, Destination, Member, Outcome, TagChange
from tailor.destinations.audiences import AudienceSpec
from tailor.redact import get_logger, mask_email

log = get_logger(__name__)

STATE_COLUMNS = [
    "destination",
    "audience",
    "customer_id",
    "email",
    "payload_hash",
    "status",
    "last_error",
    "last_run_id",
    "updated_at",
    "esp_tag",
]
STATE_DDL = """
create table if not exists main.sync_state (
    destination  varchar not null,
    audience     varchar not null,
    customer_id  varchar not null,
    email        varchar,
    payload_hash varchar,
    status       varchar not null,   -- synced | failed | removed | erased
    last_error   varchar,
    last_run_id  varchar,
    updated_at   timestamptz,
    esp_tag      varchar,            -- the tag last sent, to remove it later
    primary key (destination, audience, customer_id)
)
"""
RUNS_DDL = """
create table if not exists main.sync_runs (
    run_id      varchar not null,
    destination varchar not null,
    audience    varchar not null,
    started_at  timestamptz,
    finished_at timestamptz,
    adds        integer,
    updates     integer,
    removals    integer,
    unchanged   integer,
    failed      integer,
    status      varchar,             -- success | partial | failed | stopped
    skipped     integer,
    primary key (run_id, destination, audience)
)
"""
ERASURES_DDL = """
create table if not exists main.sync_erasures (
    destination varchar not null,
    email_hash  varchar not null,     -- sha256 of the lower-cased address, never the address
    erased_at   timestamptz,
    run_id      varchar,
    primary key (destination, email_hash)
)
"""
REVOCATIONS_DDL = """
create table if not exists main.sync_revocations (
    destination varchar not null,
    email_hash  varchar not null,     -- contacts unsubscribed because a source revoked consent
    revoked_at  timestamptz,
    run_id      varchar,
    primary key (destination, email_hash)
)
"""
SENDABLE_STATUSES = frozenset({"subscribed", "transactional"})
SENDABLE_SQL = ", ".join(f"'{status}'" for status in sorted(SENDABLE_STATUSES))
REVOKED_CONSENT = frozenset(
    {"unsubscribed", "cleaned", "bounced", "erased", "redacted", "invalid", "complained"}
)
DEFAULT_MAX_REMOVAL_SHARE = 0.2
SAMPLE_SIZE = 5
READ_CHUNK = 10_000  # audience_members rows fetched at a time
FIRST_CHUNK = 1_000
# Seconds between state transactions while batches stream: a transaction costs about as
# much as writing a thousand rows; one per quarter second, not one per batch, cut the
# client's CPU by a sixth in a 200,000-member sync. A killed process's re-run repeats at
# most the batches in flight and those acknowledged this long (an error still writes
# every acknowledged batch before it is raised).
STATE_WRITE_INTERVAL = 0.25
# In the table's own order: sorting a million rows first held the first batch back half
# a second (the plan needs no order: a customer listed twice is caught by its id). DuckDB
# returns a table's rows in the order they were written unless asked otherwise
# (`preserve_insertion_order`, on by default), so a run's batches do not vary.
MEMBERS_SQL = """
select esp_tag, customer_id, email, email_status, first_name, last_name, merge_fields
from main.audience_members
where audience = ?
"""


# ---- report -------------------------------------------------------------------------------


@dataclass
class AudienceCounts:
    """Rows per outcome. adds/updates/removals count what succeeded (or, in a dry run,
    what would be sent); `failed` counts rows the ESP rejected."""

    adds: int = 0
    updates: int = 0
    removals: int = 0
    unchanged: int = 0
    failed: int = 0
    skipped: int = 0


class SafetyStop(RuntimeError):
    """The sync would remove too large a share of an audience; nothing was sent."""


@dataclass
class Failure:
    audience: str
    customer_id: str
    email: str  # masked
    message: str


@dataclass
class SyncReport:
    destination: str
    run_id: str
    dry_run: bool = False
    audiences: dict[str, AudienceCounts] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    samples: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # masked emails
    erased: int = 0
    unsubscribed: int = 0  # contacts set to unsubscribed because a source revoked consent
    stopped: list[str] = field(default_factory=list)  # why the safety stop fired

    def totals(self) -> AudienceCounts:
        total = AudienceCounts()
        for counts in self.audiences.values():
            for name, value in asdict(counts).items():
                setattr(total, name, getattr(total, name) + value)
        return total

    def summary(self) -> str:
        t = self.totals()
        head = (
            f"{self.destination} {'dry run' if self.dry_run else 'sync'} {self.run_id}: "
            f"{t.adds} added, {t.updates} updated, {t.removals} removed, "
            f"{t.unchanged} unchanged, {t.failed} failed, {t.skipped} skipped, "
            f"{self.erased} erased, {self.unsubscribed} unsubscribed"
        )
        lines = [head]
        for name, c in sorted(self.audiences.items()):
            lines.append(
                f"  {name}: +{c.adds} ~{c.updates} -{c.removals} ={c.unchanged} !{c.failed} "
                f"skipped {c.skipped}"
            )
            for action, emails in sorted(self.samples.get(name, {}).items()):
                if emails:
                    lines.append(f"    {action}: {', '.join(emails)}")
        for reason in self.stopped:
            lines.append(f"  STOPPED: {reason}")
        for f in self.failures[:10]:
            lines.append(f"  failed {f.audience}/{f.customer_id} {f.email}: {f.message}")
        if len(self.failures) > 10:
            lines.append(f"  ... and {len(self.failures) - 10} more failures")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- planning -----------------------------------------------------------------------------


@dataclass
class _Row:
    audience: str
    customer_id: str
    email: str
    email_status: str
    esp_tag: str
    merge_fields: dict[str, str]
    payload_hash: str


@dataclass
class _Prev:
    email: str | None
    esp_tag: str | None
    payload_hash: str | None
    status: str


@dataclass
class _Plan:
    """One audience's plan, counted as its rows stream past: only the removals (state
    entries no row holds any more) and a few sample addresses are kept."""

    audience: str
    removals: list[tuple[str, _Prev]] = field(default_factory=list)  # (customer_id, prev)
    adds: int = 0
    updates: int = 0
    unchanged: int = 0
    skipped: int = 0
    active_before: int = 0  # members synced (or failing) before this run
    seen: set[str] = field(default_factory=set)  # customer ids read
    present: set[str] = field(default_factory=set)  # ids with state that may be sent
    sample: dict[str, list[str]] = field(
        default_factory=lambda: {"add": [], "update": [], "remove": [], "skip": []}
    )

    def note(self, action: str, email: str | None) -> None:
        if len(self.sample[action]) < SAMPLE_SIZE:
            self.sample[action].append(mask_email(email))

    def samples(self) -> dict[str, list[str]]:
        return {action: list(emails) for action, emails in self.sample.items()}


def canonical_bytes(value: Any) -> bytes:
    """JSON with sorted keys, no spaces and text as is, the form payload hashes are taken of.
    orjson writes exactly what `json.dumps(sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)` writes, ten times faster; json takes what orjson refuses (a lone
    surrogate, a key that is not a string), so a hash never changes with the library."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        dumped = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return dumped.encode("utf-8", "surrogatepass")


def canonical(value: Any) -> str:
    return canonical_bytes(value).decode("utf-8", "surrogatepass")


def _parse_json(raw: str) -> Any:
    """orjson where it can; json for what only json reads (NaN, integers beyond 64 bits)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def merge_values(raw: str | None, first_name: str | None, last_name: str | None) -> dict[str, str]:
    """The merge fields to send: the row's JSON object, values as strings; FNAME/LNAME
    filled from the name columns when the object lacks them."""
    parsed = _parse_json(raw) if raw else {}
    if not isinstance(parsed, dict):
        raise ValueError(f"merge_fields must hold a JSON object, not {type(parsed).__name__}")
    values = {str(k): "" if v is None else str(v) for k, v in parsed.items()}
    if first_name is not None and "FNAME" not in values:
        values["FNAME"] = first_name
    if last_name is not None and "LNAME" not in values:
        values["LNAME"] = last_name
    return values


def payload_hash(email: str, email_status: str, merge_fields: dict[str, str], esp_tag: str) -> str:
    doc = {
        "email": email,
        "email_status": email_status,
        "merge_fields": merge_fields,
        "esp_tag": esp_tag,
    }
    return hashlib.sha256(canonical_bytes(doc)).hexdigest()


def _member_rows(con: Any, audience: str) -> Iterator[_Row]:
    """One audience's rows of `audience_members`, parsed and hashed as they are fetched,
    a chunk at a time (no data frame, and never the whole table in memory)."""
    for chunk in _member_chunks(con, audience):
        for esp_tag, customer_id, email, status, first, last, raw in chunk:
            merge = _row_merge_values(raw, first, last)
            yield _Row(
                audience,
                str(customer_id),
                email,
                status,
                esp_tag,
                merge,
                payload_hash(email, status, merge, esp_tag),
            )


def _member_chunks(con: Any, audience: str) -> Iterator[list[tuple[Any, ...]]]:
    """The audience's rows, about `READ_CHUNK` at a time (`FIRST_CHUNK` first, so that the
    first batch goes out sooner), in the table's order.

    A table is read a slice of row ids at a time, each slice a short read of its own: one
    read held open for the whole run kept DuckDB from checkpointing the state written
    meanwhile, so closing the warehouse checkpointed it all at once (a second at S1, after
    the last send) and the write-ahead log grew by every row sent. Slices are sized by the
    audience's share of the table, so each holds about as many of its rows as asked. A view
    has no row ids and is read in one stream."""
    if not _table_exists(con, "audience_members", views=False):
        cursor = con.execute(MEMBERS_SQL, [audience])
        size = FIRST_CHUNK
        while chunk := cursor.fetchmany(size):
            size = READ_CHUNK
            yield chunk
        return
    first, last, total, rows = con.execute(
        "select min(rowid), max(rowid), count(*), count(*) filter (where audience = ?) "
        "from main.audience_members",
        [audience],
    ).fetchall()[0]
    if not rows:
        return
    spread = total / rows  # row ids per row of this audience
    start, size = first, FIRST_CHUNK
    while start <= last:
        end = start + max(1, round(size * spread))
        sql = MEMBERS_SQL + "and rowid >= ? and rowid < ?"
        if chunk := con.execute(sql, [audience, start, end]).fetchall():
            yield chunk
        start, size = end, READ_CHUNK


def _row_merge_values(raw: Any, first: Any, last: Any) -> dict[str, str]:
    """`merge_values` of one `audience_members` row as fetched (a missing value may come
    back as None or NaN)."""
    return merge_values(
        None if _missing(raw) else raw,
        None if _missing(first) else first,
        None if _missing(last) else last,
    )


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _read_state(con: Any, destination: str) -> dict[str, dict[str, _Prev]]:
    if not _table_exists(con, "sync_state"):
        return {}
    rows = con.execute(
        "select audience, customer_id, email, esp_tag, payload_hash, status "
        "from main.sync_state where destination = ?",
        [destination],
    ).fetchall()
    state: dict[str, dict[str, _Prev]] = {}
    for audience, customer_id, email, esp_tag, phash, status in rows:
        state.setdefault(audience, {})[customer_id] = _Prev(email, esp_tag, phash, status)
    return state


def plan_rows(
    plan: _Plan,
    rows: Iterable[_Row],
    state: dict[str, _Prev],
    erased: frozenset[str] = frozenset(),
) -> Iterator[tuple[_Row, _Prev | None]]:
    """The adds and updates among `rows` (one audience's), as they come; the plan counts
    the rest. A row whose status allows no marketing, or whose address is to be erased, is
    skipped. A customer listed twice keeps its first row (the model's tests forbid it)."""
    for row in rows:
        if row.customer_id in plan.seen:
            log.warning(
                "%s lists customer %s twice; the first row is used", plan.audience, row.customer_id
            )
            continue
        plan.seen.add(row.customer_id)
        if row.email_status not in SENDABLE_STATUSES or row.email.lower() in erased:
            plan.skipped += 1
            plan.note("skip", row.email)
            continue
        prev = state.get(row.customer_id)
        if prev is not None:  # only state entries can be removals: `finish_plan`
            plan.present.add(row.customer_id)
        if prev is None or prev.status == "removed":
            plan.adds += 1
            plan.note("add", row.email)
        elif prev.status == "failed" or prev.payload_hash != row.payload_hash:
            plan.updates += 1
            plan.note("update", row.email)
        else:
            plan.unchanged += 1
            continue
        yield row, prev


def finish_plan(plan: _Plan, state: dict[str, _Prev], erased: frozenset[str] = frozenset()) -> None:
    """Once every row has been planned: the members sent before that no row holds now
    leave the audience (an erased one is handled by the erasure instead)."""
    for customer_id, prev in state.items():
        if prev.status in ("removed", "erased"):
            continue
        plan.active_before += 1
        if customer_id not in plan.present and (prev.email or "").lower() not in erased:
            plan.removals.append((customer_id, prev))
            plan.note("remove", prev.email)


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


# ---- running ------------------------------------------------------------------------------


@dataclass
class _Delivery:
    """What the destination answered for one batch of sends."""

    upserts: dict[str, Outcome]
    sent: set[str]
    tag_errors: dict[str, str]
    # Per row of the batch: what an identical upsert would send, for emails listed more
    # than once (None for the others).
    bodies: list[str | None]


def _state_schema() -> Any:
    """sync_state's columns as Arrow types (a batch goes in without a data frame)."""
    import pyarrow as pa

    return pa.schema(
        [
            (name, pa.timestamp("us", tz="UTC") if name == "updated_at" else pa.string())
            for name in STATE_COLUMNS
        ]
    )


def _now() -> datetime:
    return datetime.now(UTC)


class _StateWriter:
    """Commits the records it is given, in a thread of its own, in order; what arrives
    while a transaction is written goes into the next one. A failed write stops it: the
    failure is raised by the next `put` and by `close`, which waits for the rest."""

    def __init__(self, commit: Callable[[list[_Record]], None], interval: float = 0.0):
        self._commit = commit
        self.interval = interval
        self._hurry = threading.Event()  # set: write at once, no pause
        self._queue: queue.SimpleQueue[list[_Record] | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sync-state", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        closing = False
        last = 0.0
        while not closing:
            records = self._queue.get()
            if records is None:
                return
            # At most one transaction per `interval`, holding all acknowledged meanwhile.
            pause = last + self.interval - time.monotonic()
            if pause > 0:
                self._hurry.wait(pause)
            last = time.monotonic()
            while True:  # everything already waiting goes in the same transaction
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    closing = True
                    break
                records += more
            if self._error is not None:
                continue
            try:
                self._commit(records)
            except BaseException as exc:  # noqa: BLE001 - handed to the sending thread
                self._error = exc
            # What outlives a batch (addresses sent, customers seen) only grows, a million
            # entries at scale: frozen, full collections stop re-scanning it. The run
            # unfreezes it at its end.
            gc.freeze()

    def put(self, records: list[_Record]) -> None:
        if self._error is not None:
            raise self._error
        if records:
            self._queue.put(records)

    def hurry(self) -> None:
        """Write what comes from now on at once: the last batches are on the wire, and the
        sync ends when they are written (a pause now only lengthens its tail)."""
        self._hurry.set()

    def close(self) -> None:
        self._hurry.set()
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


# A sync_state row as the engine writes it: whether its key had no row when the run
# began (so it is inserted, not replaced), then the `STATE_COLUMNS` values in order.
_Record = tuple[Any, ...]


class _Engine:
    def __init__(
        self,
        con: Any,
        destination: Destination,
        run_id: str,
        known: set[str],
        *,
        shared: frozenset[str] = frozenset(),
        still_present: frozenset[str] = frozenset(),
    ):
        self.con = con
        self.dest = destination
        self.run_id = run_id
        self.known = known  # emails the destination has acknowledged (any audience)
        # Emails listed more than once in audience_members: only their upserts can repeat
        # in a run, so only for them is what was sent remembered (a million-entry
        # dictionary otherwise, for nothing).
        self.shared = shared
        self.upserted: dict[str, str] = {}  # email -> payload upserted OK in this run
        self.still_present = still_present  # emails in some audience after this run
        # For contacts that leave an audience but stay in another: the merge tags their
        # remaining rows send (which leaving must not clear), by lower-cased email.
        self.kept_fields: dict[str, set[str]] = {}
        # The destination's preparation (merge fields, tags) that the next batch waits for.
        self.ready: Future[None] | None = None

    def commit(self, records: Iterable[_Record]) -> None:
        """Write outcomes to sync_state in one transaction (bulk, via Arrow). Records marked
        fresh (no state row when the run began) are inserted, without the replace's
        look-up, which costs more than the insert; should one exist after all (another run
        wrote it meanwhile), the whole transaction is written again as replaces."""
        import duckdb

        rows = list(records)
        if not rows:
            return
        fresh = [r for r in rows if r[0]]
        known = [r for r in rows if not r[0]] if fresh else rows
        try:
            self._write([("insert", fresh), ("insert or replace", known)])
        except duckdb.ConstraintException:
            self._write([("insert or replace", rows)])

    def _write(self, parts: Sequence[tuple[str, list[_Record]]]) -> None:
        import pyarrow as pa

        columns = ", ".join(STATE_COLUMNS)
        schema = _state_schema()
        self.con.execute("begin transaction")
        try:
            for verb, part in parts:
                if not part:
                    continue
                # Column by column from the records' tuples: a third of the time of
                # building the table from one dict per record.
                values = list(zip(*part, strict=True))[1:]  # [0] is the fresh mark
                arrays = [pa.array(v, f.type) for v, f in zip(values, schema, strict=True)]
                table = pa.Table.from_arrays(arrays, schema=schema)
                self.con.register("_tailor_sync_batch", table)
                try:
                    self.con.execute(
                        f"{verb} into main.sync_state ({columns}) "
                        f"select {columns} from _tailor_sync_batch"
                    )
                finally:
                    self.con.unregister("_tailor_sync_batch")
            self.con.execute("commit")
        except BaseException:
            self.con.execute("rollback")
            raise

    def send_batch(
        self,
        audience: str,
        batch: Sequence[tuple[_Row, _Prev | None]],
        counts: AudienceCounts,
        failures: list[Failure],
    ) -> None:
        self.settle(audience, batch, self.deliver(batch, self.ready), counts, failures)

    def send_batches(
        self,
        audience: str,
        batches: Iterable[Sequence[tuple[_Row, _Prev | None]]],
        counts: AudienceCounts,
        failures: list[Failure],
        depth: int,
    ) -> None:
        """Send batches with up to `depth` in flight, each replaced on the wire by the next
        as soon as it is acknowledged, and committed by a writer thread meanwhile (the
        batches acknowledged while it writes go in its next transaction): the destination's
        connections stay busy while the state is written. The network part runs in worker
        threads, the planning (`batches` is read lazily) here, the warehouse writes in the
        writer alone. After a failure (sending, planning or writing) nothing new is sent,
        the batches already on the wire are waited for and those acknowledged are still
        committed, then the failure is raised: a crash repeats at most the batches in
        flight and those not yet written.
        """
        if depth <= 1:
            for batch in batches:
                self.send_batch(audience, batch, counts, failures)
            return
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        todo = iter(batches)
        in_flight: dict[Future, Sequence[tuple[_Row, _Prev | None]]] = {}
        error: BaseException | None = None
        writer = _StateWriter(self.commit, STATE_WRITE_INTERVAL)
        # Every row makes a dozen short-lived containers (ten million at scale): collected
        # every 700 allocations, as by default, the young generations cost seconds of
        # interpreter time that the sending threads wait for.
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], 20_000), *thresholds[1:])
        try:
            with ThreadPoolExecutor(max_workers=depth, thread_name_prefix="sync") as pool:

                def refill() -> None:
                    nonlocal error
                    while error is None and len(in_flight) < depth:
                        try:
                            batch = next(todo, None)
                        except BaseException as exc:  # noqa: BLE001 - raised once all settle
                            error = exc
                            return
                        if batch is None:
                            writer.hurry()
                            return
                        in_flight[pool.submit(self.deliver, batch, self.ready)] = batch

                refill()
                while in_flight:
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    acknowledged = [(future, in_flight.pop(future)) for future in done]
                    refill()  # the places are back on the wire before anything is recorded
                    records: list[_Record] = []
                    for future, batch in acknowledged:
                        try:
                            delivery = future.result()
                        except BaseException as exc:  # noqa: BLE001 - as above
                            error = error or exc
                            continue
                        records += self.outcomes(audience, batch, delivery, counts, failures)
                    try:
                        writer.put(records)
                    except BaseException as exc:  # noqa: BLE001 - as above
                        error = error or exc
        finally:
            gc.set_threshold(*thresholds)
            try:
                writer.close()
            except BaseException as exc:  # noqa: BLE001 - as above
                error = error or exc
        if error is not None:
            raise error

    def deliver(
        self, batch: Sequence[tuple[_Row, _Prev | None]], ready: Future[None] | None = None
    ) -> _Delivery:
        """Upsert and tag one batch, once `ready` (the destination's preparation for it)
        is done; the outcomes, for `settle` to record."""
        if ready is not None:
            ready.result()  # a failed preparation fails the batch before anything is sent
        members: list[Member] = []
        bodies: list[str | None] = []
        for row, _prev in batch:
            email = row.email.lower()
            body = None
            if email in self.shared:
                body = canonical([row.email_status, row.merge_fields])
            bodies.append(body)
            if body is not None and self.upserted.get(email) == body:
                continue  # the same contact was upserted identically for another audience
            members.append(
                Member(
                    row.customer_id,
                    row.email,
                    row.email_status,
                    row.merge_fields,
                    known=email in self.known,
                )
            )
        upserts = {o.key: o for o in self.dest.upsert_members(members)} if members else {}
        sent = {m.key for m in members}

        tag_changes: list[TagChange] = []
        for row, prev in batch:
            outcome = upserts.get(row.customer_id)
            if outcome is not None and not outcome.ok:
                continue
            if (
                prev is not None
                and prev.status != "removed"
                and prev.email
                and prev.esp_tag
                and (prev.email.lower() != row.email.lower() or prev.esp_tag != row.esp_tag)
            ):
                tag_changes.append(TagChange(row.customer_id, prev.email, prev.esp_tag, False))
            if _tags(row, prev):
                tag_changes.append(TagChange(row.customer_id, row.email, row.esp_tag, True))
        tag_errors: dict[str, str] = {}
        for o in self.dest.set_tags(tag_changes) if tag_changes else []:
            if not o.ok:
                tag_errors.setdefault(o.key, o.error or "tag change failed")
        return _Delivery(upserts, sent, tag_errors, bodies)

    def settle(
        self,
        audience: str,
        batch: Sequence[tuple[_Row, _Prev | None]],
        delivery: _Delivery,
        counts: AudienceCounts,
        failures: list[Failure],
    ) -> None:
        """Count and commit one delivered batch's outcomes."""
        self.commit(self.outcomes(audience, batch, delivery, counts, failures))

    def outcomes(
        self,
        audience: str,
        batch: Sequence[tuple[_Row, _Prev | None]],
        delivery: _Delivery,
        counts: AudienceCounts,
        failures: list[Failure],
    ) -> list[_Record]:
        """Count one delivered batch's outcomes; its sync_state records, to commit."""
        upserts, sent, tag_errors = delivery.upserts, delivery.sent, delivery.tag_errors
        now = _now()
        records = []
        for position, (row, prev) in enumerate(batch):
            outcome = upserts.get(row.customer_id)
            if outcome is None and row.customer_id in sent:
                outcome = Outcome(row.customer_id, False, "no outcome from the destination")
            error = (
                (outcome.error or "rejected")
                if outcome is not None and not outcome.ok
                else tag_errors.get(row.customer_id)
            )
            if error is None:
                body = delivery.bodies[position]
                if body is not None:  # listed again: a later upsert may be known, or skipped
                    self.known.add(row.email.lower())
                    self.upserted[row.email.lower()] = body
                if prev is None or prev.status == "removed":
                    counts.adds += 1
                else:
                    counts.updates += 1
                records.append(
                    self._record(
                        audience,
                        row.customer_id,
                        row.email,
                        row.payload_hash,
                        "synced",
                        None,
                        now,
                        row.esp_tag,
                        fresh=prev is None,
                    )
                )
            else:
                counts.failed += 1
                failures.append(Failure(audience, row.customer_id, mask_email(row.email), error))
                # Keep what was last acknowledged, so the retry can still move an old tag.
                keep = prev is not None and prev.status == "synced"
                records.append(
                    self._record(
                        audience,
                        row.customer_id,
                        prev.email if keep else row.email,
                        prev.payload_hash if keep else row.payload_hash,
                        "failed",
                        error,
                        now,
                        prev.esp_tag if keep else row.esp_tag,
                        fresh=prev is None,
                    )
                )
        return records

    def remove_batch(
        self,
        spec: AudienceSpec,
        batch: Sequence[tuple[str, _Prev]],
        counts: AudienceCounts,
        failures: list[Failure],
    ) -> None:
        """Untag, then as `spec.on_leave` says: archive the contacts no other audience
        still holds, or clear this audience's merge fields (of a contact still in another
        audience, only those that no audience it stays in sends)."""
        errors: dict[str, str] = {}

        def collect(outcomes: Iterable[Outcome], what: str) -> None:
            for o in outcomes:
                if not o.ok:
                    errors.setdefault(o.key, o.error or f"{what} failed")

        changes = [
            TagChange(cid, prev.email or "", prev.esp_tag or "", False)
            for cid, prev in batch
            if prev.email and prev.esp_tag
        ]
        if changes:
            collect(self.dest.set_tags(changes), "tag removal")
        leaving: list[Contact] = []  # in no audience of this destination any more
        clearing: dict[tuple[str, ...], list[Contact]] = {}  # merge tags -> contacts
        for cid, prev in batch:
            if not prev.email or cid in errors:
                continue
            contact = Contact(cid, prev.email)
            email = prev.email.lower()
            if email not in self.still_present:
                leaving.append(contact)
                if spec.on_leave == "clear" and spec.merge_fields:
                    clearing.setdefault(tuple(sorted(spec.merge_fields)), []).append(contact)
            elif spec.on_leave == "clear":
                # Still in another audience: clear what only this one sent (a cart's total
                # and items), keep what the others send (a first name).
                tags = set(spec.merge_fields) - self.kept_fields.get(email, set())
                if tags:
                    clearing.setdefault(tuple(sorted(tags)), []).append(contact)
        for tags, contacts in clearing.items():
            collect(self.dest.clear_fields(contacts, tags), "clearing merge fields")
        if leaving and spec.on_leave == "delete":
            collect(self.dest.archive_members(leaving), "archiving")
        now = _now()
        records = []
        for cid, prev in batch:
            error = errors.get(cid)
            if error is None:
                counts.removals += 1
            else:
                counts.failed += 1
                failures.append(Failure(spec.name, cid, mask_email(prev.email), error))
            records.append(
                self._record(
                    spec.name,
                    cid,
                    prev.email,
                    prev.payload_hash,
                    "removed" if error is None else "failed",
                    error,
                    now,
                    prev.esp_tag,
                )
            )
        self.commit(records)

    def revoke(self, revoked: frozenset[str], report: SyncReport) -> None:
        """Unsubscribe in the ESP every contact it holds whose consent a source revoked,
        once per revocation (remembered by hash in `sync_revocations`; a person who consents
        again is forgotten there, so a later revocation is sent again)."""
        rows = self.con.execute(
            "select distinct customer_id, email from main.sync_state "
            "where destination = ? and status <> 'erased' and email is not null",
            [self.dest.name],
        ).fetchall()
        done = {
            r[0]
            for r in self.con.execute(
                "select email_hash from main.sync_revocations where destination = ?",
                [self.dest.name],
            ).fetchall()
        }
        wanted: dict[str, str] = {}
        for customer_id, email in rows:
            if customer_id in revoked:
                wanted.setdefault(email_hash(email), email)
        self.con.execute(
            "delete from main.sync_revocations where destination = ? and not "
            "list_contains(?, email_hash)",
            [self.dest.name, sorted(wanted)],
        )
        todo = [email for h, email in sorted(wanted.items()) if h not in done]
        for batch in _batched(todo, max(1, int(self.dest.batch_size))):
            outcomes = self.dest.unsubscribe_members([Contact(e, e) for e in batch])
            failed = {o.key: o.error or "unsubscribe failed" for o in outcomes if not o.ok}
            for email, message in failed.items():
                report.failures.append(Failure("*", "*", mask_email(email), message))
            ok = [email_hash(e) for e in batch if e not in failed]
            if ok:
                self.con.execute(
                    "insert or replace into main.sync_revocations "
                    "select ?, unnest(?::varchar[]), now(), ?",
                    [self.dest.name, ok, self.run_id],
                )
            report.unsubscribed += len(ok)

    def erase(self, emails: Sequence[str], report: SyncReport) -> None:
        """Permanently delete these addresses, remember them by hash, blank their state."""
        size = max(1, int(self.dest.batch_size))
        for batch in _batched(emails, size):
            outcomes = self.dest.erase_members([Contact(e, e) for e in batch])
            failed = {o.key: o.error or "erasure failed" for o in outcomes if not o.ok}
            done = [e for e in batch if e not in failed]
            for email, message in failed.items():
                report.failures.append(Failure("*", "*", mask_email(email), message))
            if not done:
                continue
            import pandas as pd

            frame = pd.DataFrame(
                {
                    "destination": self.dest.name,
                    "email_hash": [email_hash(e) for e in done],
                    "erased_at": pd.Timestamp(_now()),
                    "run_id": self.run_id,
                }
            )
            self.con.register("_tailor_erased", frame)
            try:
                self.con.execute("begin transaction")
                self.con.execute(
                    "insert or replace into main.sync_erasures "
                    "select destination, email_hash, erased_at, run_id from _tailor_erased"
                )
                self.con.execute(
                    "update main.sync_state set status = 'erased', email = null, "
                    "esp_tag = null, payload_hash = null, last_error = null, last_run_id = ? "
                    "where destination = ? and sha256(lower(email)) in "
                    "(select email_hash from _tailor_erased)",
                    [self.run_id, self.dest.name],
                )
                self.con.execute("commit")
            except Exception:
                self.con.execute("rollback")
                raise
            finally:
                self.con.unregister("_tailor_erased")
            report.erased += len(done)
            self.known.difference_update(e.lower() for e in done)

    def _record(
        self,
        audience: str,
        customer_id: str,
        email: str | None,
        phash: str | None,
        status: str,
        error: str | None,
        now: datetime,
        esp_tag: str | None,
        fresh: bool = False,
    ) -> _Record:
        """A sync_state row, in `STATE_COLUMNS` order, after its fresh mark."""
        return (
            fresh,
            self.dest.name,
            audience,
            customer_id,
            email,
            phash,
            status,
            error,
            self.run_id,
            now,
            esp_tag,
        )

    def record_run(
        self, audience: str, started: datetime, counts: AudienceCounts, status: str
    ) -> None:
        self.con.execute(
            "insert or replace into main.sync_runs (run_id, destination, audience, started_at, "
            "finished_at, adds, updates, removals, unchanged, failed, status, skipped) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                self.run_id,
                self.dest.name,
                audience,
                started,
                _now(),
                counts.adds,
                counts.updates,
                counts.removals,
                counts.unchanged,
                counts.failed,
                status,
                counts.skipped,
            ],
        )


def ensure_state_tables(con: Any) -> None:
    con.execute(STATE_DDL)
    con.execute(RUNS_DDL)
    con.execute("alter table main.sync_runs add column if not exists skipped integer")
    con.execute(ERASURES_DDL)
    con.execute(REVOCATIONS_DDL)


def email_hash(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def _table_exists(con: Any, name: str, *, views: bool = True) -> bool:
    """A table or (unless not `views`) a view `main.name` (a dbt model may be either). Read
    from duckdb_tables() and duckdb_views(), in half the time of information_schema: a run
    asks often."""
    return bool(
        con.execute(
            "select (select count(*) from duckdb_tables() where database_name = "
            "current_database() and schema_name = 'main' and table_name = $1) + (select "
            "count(*) from duckdb_views() where $2 and database_name = current_database() "
            "and schema_name = 'main' and view_name = $1)",
            [name, views],
        ).fetchall()[0][0]
    )


def read_erasure_requests(con: Any, erasure_file: str | Path | None = None) -> set[str]:
    """Lower-cased addresses to erase: `main.erasure_requests(email)` and/or a file with
    one address per line (a CSV with an `email` header works too)."""
    emails: set[str] = set()
    if _table_exists(con, "erasure_requests"):
        rows = con.execute("select email from main.erasure_requests").fetchall()
        emails.update(str(r[0]).strip().lower() for r in rows if r[0])
    if erasure_file is not None:
        for line in Path(erasure_file).read_text(encoding="utf-8").splitlines():
            value = line.split(",", 1)[0].strip().strip('"').lower()
            if value and value != "email":
                emails.add(value)
    bad = sorted(mask_email(e) for e in emails if "@" not in e)
    if bad:
        raise ValueError(f"erasure requests hold values that are not addresses: {bad[:5]}")
    return emails


def _erased_hashes(con: Any, destination: str) -> set[str]:
    if not _table_exists(con, "sync_erasures"):
        return set()
    rows = con.execute(
        "select email_hash from main.sync_erasures where destination = ?", [destination]
    ).fetchall()
    return {r[0] for r in rows}


def _revoked_customers(con: Any) -> frozenset[str]:
    """Customers whose consent some source revoked, from `dim_customers` when it exists."""
    if not _table_exists(con, "dim_customers"):
        return frozenset()
    states = ", ".join(f"'{s}'" for s in sorted(REVOKED_CONSENT))
    rows = con.execute(
        f"select customer_id from main.dim_customers where lower(email_consent_state) in ({states})"
    ).fetchall()
    return frozenset(str(r[0]) for r in rows)


def _staying(
    con: Any, emails: Iterable[str | None], erased: frozenset[str]
) -> tuple[frozenset[str], dict[str, set[str]]]:
    """Of these addresses (contacts leaving an audience), those some audience still holds
    after the run, lower-cased, and the merge tags those audiences send them."""
    wanted = sorted({e.lower() for e in emails if e})
    if not wanted:
        return frozenset(), {}
    rows = con.execute(
        "select email, first_name, last_name, merge_fields from main.audience_members "
        f"where email_status in ({SENDABLE_SQL}) "
        "and lower(email) in (select unnest(?::varchar[]))",
        [wanted],
    ).fetchall()
    kept: dict[str, set[str]] = {}
    for email, first, last, raw in rows:
        email = email.lower()
        if email in erased:
            continue
        kept.setdefault(email, set()).update(_row_merge_values(raw, first, last))
    return frozenset(kept), kept


@dataclass
class _Prepared:
    """What the destination has been asked to have this run (see `_prepared`)."""

    fields: set[str] = field(default_factory=set)  # merge tags
    tags: set[str] = field(default_factory=set)


@dataclass
class _Run:
    """How one run sends: batch size, batches in flight, merge fields made, safety."""

    size: int
    depth: int
    prepared: _Prepared
    max_removal_share: float
    force: bool
    dry_run: bool


def _sync_audience(
    engine: _Engine,
    reader: Any,
    plan: _Plan,
    past: dict[str, _Prev],
    erased: frozenset[str],
    spec: AudienceSpec,
    report: SyncReport,
    run: _Run,
) -> None:
    """Stream one audience's rows through planning into the destination, then remove
    the members no row holds any more; record the run."""
    name = plan.audience
    started = _now()
    counts = report.audiences[name] = AudienceCounts()
    sends = plan_rows(plan, _member_rows(reader, name), past, erased)
    try:
        if run.dry_run:
            for _ in sends:
                pass
        else:
            batches = _prepared(_batched(sends, run.size), engine, run.prepared)
            engine.send_batches(name, batches, counts, report.failures, run.depth)
        finish_plan(plan, past, erased)
        counts.unchanged, counts.skipped = plan.unchanged, plan.skipped
        report.samples[name] = plan.samples()
        share = [(name, len(plan.removals), plan.active_before)]
        stop = [] if run.force else _safety_reasons(share, run.max_removal_share)
        if run.dry_run:
            report.stopped += stop
            counts.adds, counts.updates = plan.adds, plan.updates
            counts.removals = len(plan.removals)
            return
        if stop:  # the rows disagree with the count made before sending: remove nothing
            report.stopped += stop
            raise SafetyStop(f"{engine.dest.name} sync stopped before removing: " + "; ".join(stop))
        if plan.removals:
            leaving = (prev.email for _, prev in plan.removals)
            engine.still_present, engine.kept_fields = _staying(reader, leaving, erased)
        for batch in _batched(plan.removals, run.size):
            engine.remove_batch(spec, batch, counts, report.failures)
    except SafetyStop:
        engine.record_run(name, started, counts, "stopped")
        raise
    except BaseException:
        if not run.dry_run:
            engine.record_run(name, started, counts, "failed")
        raise
    engine.record_run(name, started, counts, "success" if counts.failed == 0 else "partial")
    log.info(
        "%s %s: +%d ~%d -%d =%d !%d skipped %d",
        engine.dest.name,
        name,
        counts.adds,
        counts.updates,
        counts.removals,
        counts.unchanged,
        counts.failed,
        counts.skipped,
    )


def _shared_emails(con: Any) -> frozenset[str]:
    """The (lower-cased) emails listed more than once in audience_members."""
    rows = con.execute(
        "select lower(email) from main.audience_members where email is not null "
        "group by 1 having count(*) > 1"
    ).fetchall()
    return frozenset(r[0] for r in rows)


def _audience_names(con: Any) -> list[str]:
    rows = con.execute("select distinct audience from main.audience_members").fetchall()
    return [r[0] for r in rows]


def _prepared(
    batches: Iterable[list[tuple[_Row, _Prev | None]]],
    engine: _Engine,
    prepared: _Prepared,
) -> Iterator[list[tuple[_Row, _Prev | None]]]:
    """The batches, each sent once the destination has the merge fields and the tags it
    needs. The destination is asked before the first batch that needs them (a run that
    sends nothing asks nothing), in a thread: its look-ups are round trips, during which
    the next batches are planned; `engine.ready` is what the batch waits for."""
    for batch in batches:
        fields = set().union(*[row.merge_fields for row, _ in batch]) - prepared.fields
        tags = {row.esp_tag for row, prev in batch if row.esp_tag and _tags(row, prev)}
        tags -= prepared.tags
        if fields or tags:
            prepare = engine.dest.prepare
            engine.ready = _started(prepare, sorted(fields), sorted(tags), after=engine.ready)
            prepared.fields.update(fields)
            prepared.tags.update(tags)
        yield batch


def _tags(row: _Row, prev: _Prev | None) -> bool:
    """Whether sending `row` adds its tag (the contact is new to it, or moved to it)."""
    return (
        prev is None
        or prev.status != "synced"
        or prev.esp_tag != row.esp_tag
        or (prev.email or "").lower() != row.email.lower()
    )


def _started(call: Callable[..., None], *args: Any, after: Future[None] | None) -> Future[None]:
    """`call(*args)` in a thread of its own, once `after` (if any) is done: its future."""
    future: Future[None] = Future()

    def run() -> None:
        try:
            if after is not None:
                after.result()
            call(*args)
        except BaseException as exc:  # noqa: BLE001 - raised where the batch waits
            future.set_exception(exc)
        else:
            future.set_result(None)

    threading.Thread(target=run, name="sync-prepare", daemon=True).start()
    return future


def _removal_counts(
    con: Any, destination: str, erased: frozenset[str]
) -> list[tuple[str, int, int]]:
    """Per audience: how many members synced before no row holds any more, and how many
    were synced before. Counted in SQL before anything is sent, for the safety stop; the
    plan counts them again as the rows stream past, and is checked before removing."""
    if not _table_exists(con, "sync_state"):
        return []
    rows = con.execute(
        f"""
        with present as (
            select distinct audience, customer_id::varchar as customer_id
            from main.audience_members
            where email_status in ({SENDABLE_SQL})
              and lower(email) not in (select unnest(?::varchar[]))
        )
        select s.audience, count(*) as active_before,
               count(*) filter (
                   where p.customer_id is null
                     and lower(coalesce(s.email, '')) not in (select unnest(?::varchar[]))
               ) as removals
        from main.sync_state s
        left join present p on p.audience = s.audience and p.customer_id = s.customer_id
        where s.destination = ? and s.status not in ('removed', 'erased')
        group by s.audience
        order by s.audience
        """,
        [sorted(erased), sorted(erased), destination],
    ).fetchall()
    return [(audience, removals, active_before) for audience, active_before, removals in rows]


def _safety_reasons(counts: Iterable[tuple[str, int, int]], share: float) -> list[str]:
    """Why the removals (audience, removals, members before) may not go ahead, if so."""
    reasons = []
    for audience, removals, before in counts:
        if removals and before and removals > share * before:
            reasons.append(
                f"{audience}: would remove {removals} of {before} members "
                f"({removals / before:.0%}), more than the {share:.0%} allowed; "
                "check the upstream load, or re-run with --force if this is intended"
            )
    return reasons


def sync_destination(
    warehouse_path: str | Path,
    destination: Destination,
    *,
    run_id: str,
    dry_run: bool = False,
    audiences: Mapping[str, AudienceSpec] | None = None,
    max_removal_share: float = DEFAULT_MAX_REMOVAL_SHARE,
    force: bool = False,
    erasure_file: str | Path | None = None,
) -> SyncReport:
    """Send every audience's adds, updates and removals to `destination`; see the module doc.

    `audiences` (from the dbt manifest) gives each audience's `on_leave`; an audience not
    in it is untagged on leaving. A dry run opens the warehouse read-only, sends nothing,
    writes nothing and reports the plan with a masked sample per action. Raises
    `SafetyStop` before sending anything when a removal share is over the limit (unless
    `force`), and raises if the destination fails as a whole (batches already acknowledged
    stay committed); per-row rejections are reported, not raised.
    """
    import duckdb

    if not 0.0 <= max_removal_share <= 1.0:
        raise ValueError("max_removal_share must be between 0 and 1")
    report = SyncReport(destination.name, run_id, dry_run)
    specs = dict(audiences or {})
    frozen = False
    reader = None
    con = duckdb.connect(str(warehouse_path), read_only=dry_run)
    try:
        if not dry_run:
            ensure_state_tables(con)
        done = _erased_hashes(con, destination.name)
        requested = read_erasure_requests(con, erasure_file)
        erasures = sorted(e for e in requested if email_hash(e) not in done)
        erased = frozenset(requested)
        revoked = _revoked_customers(con)
        engine = _Engine(con, destination, run_id, set(), shared=_shared_emails(con))
        if not dry_run:
            # Consent first: erasures and revocations are sent even if the safety stop fires.
            if erasures:
                engine.erase(erasures, report)
            engine.revoke(revoked, report)
        state = _read_state(con, destination.name)
        # The state read lives until the end of the run (a million entries at scale):
        # frozen, the collector stops re-scanning it on every full collection.
        gc.freeze()
        frozen = True
        names = sorted(set(_audience_names(con)) | set(state))
        # Checked in SQL before anything is sent: the rows themselves are then read,
        # planned and sent in one stream, so that the first batches go out at once.
        if not (force or dry_run):
            counted = _removal_counts(con, destination.name, erased)
            report.stopped = _safety_reasons(counted, max_removal_share)
        if report.stopped:
            for name in names:
                report.audiences[name] = AudienceCounts()
                engine.record_run(name, _now(), report.audiences[name], "stopped")
            raise SafetyStop(
                f"{destination.name} sync stopped, nothing sent: " + "; ".join(report.stopped)
            )
        engine.known = {
            prev.email.lower()
            for by_customer in state.values()
            for prev in by_customer.values()
            if prev.status == "synced" and prev.email
        }
        size = max(1, int(destination.batch_size))
        depth = max(1, int(getattr(destination, "pipeline_depth", 1)))
        prepared = _Prepared()
        # Rows are fetched through a connection of their own: the state commits on `con`
        # must not close the result they come from.
        reader = con.cursor()
        for name in names:
            _sync_audience(
                engine,
                reader,
                _Plan(name),
                state.get(name, {}),
                erased,
                specs.get(name) or AudienceSpec(name, name),
                report,
                _Run(size, depth, prepared, max_removal_share, force, dry_run),
            )
        if dry_run:
            report.erased = len(erasures)
        return report
    finally:
        if frozen:
            gc.unfreeze()
        if reader is not None:
            reader.close()
        con.close()
