"""The reverse-ETL engine every destination shares: diff, send, record.

For each audience it compares the dbt table `audience_members` with what was last sent
to this destination (`sync_state`), and sends only the difference:

- add: a row not in the state (or removed earlier): upsert the contact, tag it;
- update: a row whose payload hash changed, or whose last attempt failed: upsert again
  (and move the tag if the email or the tag changed);
- removal: a row sent earlier that left the audience: its tag is set inactive (the
  contact stays in the ESP, with its subscription status untouched);
- unchanged: nothing is sent.

State is committed after every batch the destination acknowledged, in one transaction,
so a crash between batches neither loses a send nor repeats one; a crash inside a batch
repeats at most that batch, which every destination call tolerates (upserts and tag
changes are idempotent). A row the ESP rejects is recorded as `failed` with the ESP's
message and retried on the next run; it never fails the rest of its batch.

The payload hash covers email, email_status, the merge fields (canonical JSON) and the
ESP tag. `sync_state` also keeps the tag and email that were sent, so a removal or a
changed email can take the tag off the right contact.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tailor.destinations import Destination, Member, Outcome, TagChange
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
    status       varchar not null,   -- synced | failed | removed
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
    status      varchar,             -- success | partial | failed
    primary key (run_id, destination, audience)
)
"""
MEMBERS_SQL = """
select audience, esp_tag, customer_id, email, email_status, first_name, last_name,
       merge_fields
from main.audience_members
order by audience, customer_id
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
            f"{t.unchanged} unchanged, {t.failed} failed"
        )
        lines = [head]
        for name, c in sorted(self.audiences.items()):
            lines.append(
                f"  {name}: +{c.adds} ~{c.updates} -{c.removals} ={c.unchanged} !{c.failed}"
            )
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
    audience: str
    sends: list[tuple[_Row, _Prev | None]] = field(default_factory=list)  # adds and updates
    removals: list[tuple[str, _Prev]] = field(default_factory=list)  # (customer_id, prev)
    adds: int = 0
    updates: int = 0
    unchanged: int = 0


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def merge_values(raw: str | None, first_name: str | None, last_name: str | None) -> dict[str, str]:
    """The merge fields to send: the row's JSON object, values as strings; FNAME/LNAME
    filled from the name columns when the object lacks them."""
    parsed = json.loads(raw) if raw else {}
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
    return hashlib.sha256(canonical(doc).encode("utf-8")).hexdigest()


def _read_members(con: Any) -> dict[str, dict[str, _Row]]:
    df = con.execute(MEMBERS_SQL).df()
    by_audience: dict[str, dict[str, _Row]] = {}
    for r in df.itertuples(index=False):
        first = None if _missing(r.first_name) else r.first_name
        last = None if _missing(r.last_name) else r.last_name
        merge = merge_values(None if _missing(r.merge_fields) else r.merge_fields, first, last)
        row = _Row(
            r.audience,
            str(r.customer_id),
            r.email,
            r.email_status,
            r.esp_tag,
            merge,
            payload_hash(r.email, r.email_status, merge, r.esp_tag),
        )
        by_audience.setdefault(row.audience, {})[row.customer_id] = row
    return by_audience


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _read_state(con: Any, destination: str) -> dict[str, dict[str, _Prev]]:
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'main' and table_name = 'sync_state'"
    ).fetchall()[0][0]
    if not exists:
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


def plan_audience(audience: str, rows: dict[str, _Row], state: dict[str, _Prev]) -> _Plan:
    plan = _Plan(audience)
    for customer_id, row in rows.items():
        prev = state.get(customer_id)
        if prev is None or prev.status == "removed":
            plan.sends.append((row, prev))
            plan.adds += 1
        elif prev.status == "failed" or prev.payload_hash != row.payload_hash:
            plan.sends.append((row, prev))
            plan.updates += 1
        else:
            plan.unchanged += 1
    for customer_id, prev in state.items():
        if customer_id not in rows and prev.status != "removed":
            plan.removals.append((customer_id, prev))
    return plan


# ---- running ------------------------------------------------------------------------------


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _now() -> datetime:
    return datetime.now(UTC)


class _Engine:
    def __init__(self, con: Any, destination: Destination, run_id: str, known: set[str]):
        self.con = con
        self.dest = destination
        self.run_id = run_id
        self.known = known  # emails the destination has acknowledged (any audience)
        self.upserted: dict[str, str] = {}  # email -> payload upserted OK in this run

    def commit(self, records: Iterable[dict[str, Any]]) -> None:
        """Write one batch's outcomes to sync_state in one transaction (bulk, via Arrow)."""
        import pandas as pd

        frame = pd.DataFrame(list(records), columns=STATE_COLUMNS)
        if frame.empty:
            return
        frame["updated_at"] = pd.to_datetime(frame["updated_at"], utc=True)
        self.con.register("_tailor_sync_batch", frame)
        try:
            self.con.execute("begin transaction")
            self.con.execute(
                f"insert or replace into main.sync_state ({', '.join(STATE_COLUMNS)}) "
                f"select {', '.join(STATE_COLUMNS)} from _tailor_sync_batch"
            )
            self.con.execute("commit")
        except Exception:
            self.con.execute("rollback")
            raise
        finally:
            self.con.unregister("_tailor_sync_batch")

    def send_batch(
        self,
        audience: str,
        batch: Sequence[tuple[_Row, _Prev | None]],
        counts: AudienceCounts,
        failures: list[Failure],
    ) -> None:
        members: list[Member] = []
        for row, _prev in batch:
            body = canonical([row.email_status, row.merge_fields])
            if self.upserted.get(row.email.lower()) == body:
                continue  # the same contact was upserted identically for another audience
            members.append(
                Member(
                    row.customer_id,
                    row.email,
                    row.email_status,
                    row.merge_fields,
                    known=row.email.lower() in self.known,
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
            if (
                prev is None
                or prev.status != "synced"
                or prev.esp_tag != row.esp_tag
                or (prev.email or "").lower() != row.email.lower()
            ):
                tag_changes.append(TagChange(row.customer_id, row.email, row.esp_tag, True))
        tag_errors: dict[str, str] = {}
        for o in self.dest.set_tags(tag_changes) if tag_changes else []:
            if not o.ok:
                tag_errors.setdefault(o.key, o.error or "tag change failed")

        now = _now()
        records = []
        for row, prev in batch:
            outcome = upserts.get(row.customer_id)
            if outcome is None and row.customer_id in sent:
                outcome = Outcome(row.customer_id, False, "no outcome from the destination")
            error = (
                (outcome.error or "rejected")
                if outcome is not None and not outcome.ok
                else tag_errors.get(row.customer_id)
            )
            if error is None:
                self.known.add(row.email.lower())
                self.upserted[row.email.lower()] = canonical([row.email_status, row.merge_fields])
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
                    )
                )
        self.commit(records)

    def remove_batch(
        self,
        audience: str,
        batch: Sequence[tuple[str, _Prev]],
        counts: AudienceCounts,
        failures: list[Failure],
    ) -> None:
        changes = [
            TagChange(cid, prev.email or "", prev.esp_tag or "", False)
            for cid, prev in batch
            if prev.email and prev.esp_tag
        ]
        errors: dict[str, str] = {}
        for o in self.dest.set_tags(changes) if changes else []:
            if not o.ok:
                errors.setdefault(o.key, o.error or "tag removal failed")
        now = _now()
        records = []
        for cid, prev in batch:
            error = errors.get(cid)
            if error is None:
                counts.removals += 1
            else:
                counts.failed += 1
                failures.append(Failure(audience, cid, mask_email(prev.email), error))
            records.append(
                self._record(
                    audience,
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
    ) -> dict[str, Any]:
        return {
            "destination": self.dest.name,
            "audience": audience,
            "customer_id": customer_id,
            "email": email,
            "payload_hash": phash,
            "status": status,
            "last_error": error,
            "last_run_id": self.run_id,
            "updated_at": now,
            "esp_tag": esp_tag,
        }

    def record_run(
        self, audience: str, started: datetime, counts: AudienceCounts, status: str
    ) -> None:
        self.con.execute(
            "insert or replace into main.sync_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ],
        )


def ensure_state_tables(con: Any) -> None:
    con.execute(STATE_DDL)
    con.execute(RUNS_DDL)


def sync_destination(
    warehouse_path: str | Path,
    destination: Destination,
    *,
    run_id: str,
    dry_run: bool = False,
) -> SyncReport:
    """Send every audience's adds, updates and removals to `destination`; see the module doc.

    A dry run opens the warehouse read-only, sends nothing, writes nothing and reports what
    would be sent. Raises if the destination fails as a whole (the batches already
    acknowledged stay committed); per-row rejections are reported, not raised.
    """
    import duckdb

    report = SyncReport(destination.name, run_id, dry_run)
    con = duckdb.connect(str(warehouse_path), read_only=dry_run)
    try:
        if not dry_run:
            ensure_state_tables(con)
        members = _read_members(con)
        state = _read_state(con, destination.name)
        audiences = sorted(set(members) | set(state))
        plans = [plan_audience(a, members.get(a, {}), state.get(a, {})) for a in audiences]
        if dry_run:
            for p in plans:
                report.audiences[p.audience] = AudienceCounts(
                    p.adds, p.updates, len(p.removals), p.unchanged, 0
                )
            return report

        merge_tags = {tag for p in plans for row, _ in p.sends for tag in row.merge_fields}
        if any(p.sends for p in plans):
            destination.prepare(sorted(merge_tags))
        known = {
            prev.email.lower()
            for by_customer in state.values()
            for prev in by_customer.values()
            if prev.status == "synced" and prev.email
        }
        engine = _Engine(con, destination, run_id, known)
        size = max(1, int(destination.batch_size))
        for plan in plans:
            started = _now()
            counts = AudienceCounts(unchanged=plan.unchanged)
            report.audiences[plan.audience] = counts
            try:
                for batch in _chunks(plan.sends, size):
                    engine.send_batch(plan.audience, batch, counts, report.failures)
                for batch in _chunks(plan.removals, size):
                    engine.remove_batch(plan.audience, batch, counts, report.failures)
            except BaseException:
                engine.record_run(plan.audience, started, counts, "failed")
                raise
            engine.record_run(
                plan.audience, started, counts, "success" if counts.failed == 0 else "partial"
            )
            log.info(
                "%s %s: +%d ~%d -%d =%d !%d",
                destination.name,
                plan.audience,
                counts.adds,
                counts.updates,
                counts.removals,
                counts.unchanged,
                counts.failed,
            )
        return report
    finally:
        con.close()
