"""The collector's durable, append-only spool: SQLite in WAL mode, fsync'ed on every commit.

A request is acknowledged only after the transaction holding its records has committed
(`synchronous=FULL`: the WAL is fsync'ed before COMMIT returns), so a crash after the ack
loses nothing. De-duplication is the table's unique key (stream, record key): it lives in
the same file and the same transaction as the records, so it survives a restart and can
never disagree with them. Requests that arrive together share one transaction (group
commit), so the cost of an fsync is paid once for all of them.

Records are never updated or deleted, so an interval read from the spool is the same on
every read once no more records for it arrive.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tailor.redact import get_logger

log = get_logger(__name__)

FILE_NAME = "spool.sqlite"
GROUP_COMMIT_MAX_REQUESTS = 256

_SCHEMA = """
create table if not exists records (
    seq integer primary key,
    stream text not null,
    record_key text not null,
    event_us integer not null,
    received_us integer not null,
    payload text not null,
    unique (stream, record_key)
);
create index if not exists records_by_event on records (stream, event_us, record_key);
create index if not exists records_by_received on records (stream, received_us, record_key);
create table if not exists rejected (
    seq integer primary key,
    stream text not null,
    digest text not null,
    received_us integer not null,
    reason text not null,
    payload text not null,
    unique (stream, digest)
);
create index if not exists rejected_by_received on rejected (stream, received_us, digest);
"""


def micros(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True)
class Record:
    stream: str
    key: str
    event_at: datetime
    received_at: datetime
    payload: str


@dataclass(frozen=True)
class Rejected:
    stream: str
    digest: str
    received_at: datetime
    reason: str
    payload: str


@dataclass
class _Job:
    records: Sequence[Record]
    rejected: Sequence[Rejected]
    stored: list[bool] = field(default_factory=list)
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Spool:
    """Append records and learn which were new; one writer thread commits for everyone."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / FILE_NAME
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("pragma journal_mode=wal")
        self._db.execute("pragma synchronous=full")
        self._db.executescript(_SCHEMA)
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name="spool-writer", daemon=True)
        self._writer.start()
        self.commits = 0

    def append(self, records: Sequence[Record], rejected: Sequence[Rejected] = ()) -> list[bool]:
        """Store durably; for each record, True if new, False if its key was already stored."""
        job = _Job(records, rejected)
        self._jobs.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.stored

    def _write_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            jobs = [job]
            while len(jobs) < GROUP_COMMIT_MAX_REQUESTS:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._jobs.put(None)  # stop after this group
                    break
                jobs.append(more)
            self._commit(jobs)

    def _commit(self, jobs: list[_Job]) -> None:
        try:
            self._db.execute("begin immediate")
            for job in jobs:
                job.stored = [self._insert(r) for r in job.records]
                for r in job.rejected:
                    self._db.execute(
                        "insert or ignore into rejected (stream, digest, received_us, reason,"
                        " payload) values (?, ?, ?, ?, ?)",
                        (r.stream, r.digest, micros(r.received_at), r.reason, r.payload),
                    )
            self._db.execute("commit")
            self.commits += 1
        except BaseException as exc:  # nothing of the group is acknowledged
            if self._db.in_transaction:
                self._db.execute("rollback")
            log.error("spool commit failed: %s", exc)
            for job in jobs:
                job.error = exc
        finally:
            for job in jobs:
                job.done.set()

    def _insert(self, r: Record) -> bool:
        cursor = self._db.execute(
            "insert or ignore into records (stream, record_key, event_us, received_us, payload)"
            " values (?, ?, ?, ?, ?)",
            (r.stream, r.key, micros(r.event_at), micros(r.received_at), r.payload),
        )
        return cursor.rowcount == 1

    def close(self) -> None:
        self._jobs.put(None)
        self._writer.join(timeout=30)
        self._db.close()


def _reader(directory: Path) -> sqlite3.Connection | None:
    path = directory / FILE_NAME
    if not path.exists():
        return None
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def read_events(
    directory: Path, stream: str, start: datetime, end: datetime, late_by_arrival: bool
) -> Iterator[tuple[str, str, int]]:
    """(record key, payload, event time in microseconds) of the stream's records for
    [start, end), in a fixed order.

    A record belongs to the interval of its event time; with `late_by_arrival`, a record
    that arrived in [start, end) for an earlier interval (a late event) is read here too.
    """
    db = _reader(directory)
    if db is None:
        return
    lo, hi = micros(start), micros(end)
    query = (
        "select record_key, payload, event_us from records"
        " where stream = ? and event_us >= ? and event_us < ?"
    )
    params: tuple[object, ...] = (stream, lo, hi)
    if late_by_arrival:
        query += (
            " union all select record_key, payload, event_us from records"
            " where stream = ? and received_us >= ? and received_us < ? and event_us < ?"
        )
        params += (stream, lo, hi, lo)
    try:
        ordered = f"select * from ({query}) order by event_us, record_key"
        cursor = db.execute(ordered, params)
        while rows := cursor.fetchmany(5000):
            yield from rows
    finally:
        db.close()


def read_rejected(
    directory: Path, stream: str, start: datetime, end: datetime
) -> Iterator[tuple[str, str]]:
    """(reason, raw payload) of calls refused at intake that arrived in [start, end)."""
    db = _reader(directory)
    if db is None:
        return
    try:
        cursor = db.execute(
            "select reason, payload from rejected where stream = ? and received_us >= ?"
            " and received_us < ? order by received_us, digest",
            (stream, micros(start), micros(end)),
        )
        while rows := cursor.fetchmany(5000):
            yield from rows
    finally:
        db.close()
