"""The collector's durable, append-only spool: SQLite in WAL mode, fsync'ed on every commit.

A request is acknowledged only after the transaction holding its records has committed
(`synchronous=FULL`: the WAL is fsync'ed before COMMIT returns), so a crash after the ack
loses nothing. De-duplication is the table's unique key (stream, record key): it lives in
the same file and the same transaction as the records, so it survives a restart and can
never disagree with them. Requests that arrive together share one transaction (group
commit), so the cost of an fsync is paid once for all of them.

Records are never updated, so an interval read from the spool is the same on every read
once no more records for it arrive. They are deleted only by `prune`, after their interval
has landed and once they arrived longer ago than the retention (7 days by default): until
then a record's key is still there, so a late replay of it is still a duplicate. A pruned
interval is not landed again from the spool (`was_pruned`); its landing file stands.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
create table if not exists landed (
    stream text not null,
    start_us integer not null,
    end_us integer not null,
    primary key (stream, start_us, end_us)
);
create table if not exists pruned (
    stream text primary key,
    before_us integer not null
);
"""
BUSY_TIMEOUT_MS = 30_000  # the collector's writer holds the lock for one group commit


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


def _writer(directory: Path) -> sqlite3.Connection:
    """A connection that may write beside a running collector (WAL: one writer at a time)."""
    db = sqlite3.connect(
        directory / FILE_NAME, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
    )
    db.execute(f"pragma busy_timeout={BUSY_TIMEOUT_MS}")
    db.execute("pragma journal_mode=wal")
    db.execute("pragma synchronous=full")
    db.executescript(_SCHEMA)
    return db


def was_pruned(directory: Path, stream: str, start: datetime, end: datetime) -> bool:
    """Whether [start, end) landed and its records may since have been pruned."""
    db = _reader(directory)
    if db is None:
        return False
    try:
        row = db.execute(
            "select 1 from landed l join pruned p on p.stream = l.stream where l.stream = ?"
            " and l.start_us = ? and l.end_us = ? and l.end_us <= p.before_us",
            (stream, micros(start), micros(end)),
        ).fetchone()
    except sqlite3.OperationalError:  # a spool written before pruning existed
        return False
    finally:
        db.close()
    return row is not None


def mark_landed_and_prune(
    directory: Path,
    stream: str,
    start: datetime,
    end: datetime,
    retention: timedelta,
    now: datetime,
) -> int:
    """Record that [start, end) of the stream has landed, then delete the records of landed
    intervals that ended before `now - retention` and that arrived before it too; returns
    how many records were deleted. Calls refused at intake go the same way."""
    if not (directory / FILE_NAME).exists():
        return 0
    cutoff = micros(now - retention)
    db = _writer(directory)
    try:
        db.execute("begin immediate")
        db.execute(
            "insert or ignore into landed (stream, start_us, end_us) values (?, ?, ?)",
            (stream, micros(start), micros(end)),
        )

        def covered(column: str) -> str:
            return (
                "exists (select 1 from landed l where l.stream = t.stream"
                f" and l.end_us <= :cutoff and t.{column} >= l.start_us and t.{column} < l.end_us)"
            )

        # a late event lands with its own interval and with the one it arrived in: both
        # must have landed before it goes
        deleted = db.execute(
            "delete from records as t where stream = :stream and received_us < :cutoff"
            f" and {covered('event_us')} and {covered('received_us')}",
            {"stream": stream, "cutoff": cutoff},
        ).rowcount
        db.execute(
            "delete from rejected as t where stream = :stream and received_us < :cutoff"
            f" and {covered('received_us')}",
            {"stream": stream, "cutoff": cutoff},
        )
        db.execute(
            "insert into pruned (stream, before_us) values (?, ?) on conflict (stream)"
            " do update set before_us = max(before_us, excluded.before_us)",
            (stream, cutoff),
        )
        db.execute("commit")
        # give the WAL's pages back now rather than at the next automatic checkpoint
        db.execute("pragma wal_checkpoint(truncate)")
        return deleted
    except BaseException:
        if db.in_transaction:
            db.execute("rollback")
        raise
    finally:
        db.close()
