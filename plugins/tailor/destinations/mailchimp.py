"""Mailchimp (Marketing API 3.0) as a destination: merge fields, member upserts and tags.

How each rule of the API shapes the calls:

- New contacts go through batch subscribe (`POST /lists/{list_id}`, ≤ 500 members) with
  `update_existing: false`. The batch only knows `status` (no `status_if_new`), and with
  `update_existing: true` it would overwrite an existing contact's status; with `false` an
  existing contact comes back as `ERROR_CONTACT_EXISTS` and is left untouched.
- Existing contacts (known from earlier syncs, or reported as existing by the batch) are
  upserted with `PUT .../members/{hash}` and `status_if_new`, which sets a status only for
  a new contact: nobody's status changes, nobody is re-subscribed. Batch subscribe cannot
  do this (it has no `status_if_new`), so more than a few such calls go as one batch
  operation (`POST /batches`, polled with `GET /batches/{id}`, answers read from the
  archive at `response_body_url`): three requests per 1,000 contacts, not one each.
- Neither call carries tags. A Mailchimp tag is a static segment, so tags are set in bulk:
  the tag's segment is found (`GET .../segments?type=static`, once per run, beside the
  merge fields' look-up before the first batch) or created (`POST .../segments` with an
  empty `static_segment`), then members are added or removed
  with `POST .../segments/{segment_id}` (`members_to_add` / `members_to_remove`, ≤ 500
  addresses a call): one request per 500 tag changes instead of one per contact. Calls
  for different tags or chunks run at most `max_connections` at a time (Mailchimp allows
  10 simultaneous connections per user). An address the batch reports in `errors` fails
  only that change; the member tags endpoint is not used any more.
- The sync engine is handed `parallel_batches` (default 1) API batches at once: their batch
  subscribes go out side by side, then their segment calls, and the engine commits state
  once they are all acknowledged. `pipeline_depth` (default 10, the connection limit) such
  groups are in flight, each replaced by the next as soon as it is acknowledged (its state
  is written meanwhile), so every connection carries a batch subscribe and then its
  segment call, back to back; a semaphore keeps requests at `max_connections` at once.
  Bodies are written with orjson. A batch subscribe's answer holds 500 whole members and
  a segment call's the members it tagged (about 400 kB each): msgspec decodes only the
  fields read here and skips the rest, four times faster than building every member.
- Merge fields must exist before values for them are kept (unknown tags are silently
  dropped), and a list holds at most 30: `prepare` creates what is missing or fails clearly.
- Leaving and consent go through single-member calls (as batch operations when more
  than a few), 404 meaning "already gone": PATCH clears merge fields (to "") or sets
  `unsubscribed`, DELETE archives (reversible), and `actions/delete-permanent` erases
  (the address can then never be re-imported by API).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import msgspec
import orjson
import requests

from tailor.destinations import Contact, Member, Outcome, TagChange
from tailor.http import HttpClient, HttpError
from tailor.redact import get_logger, mask_email

log = get_logger(__name__)

MAX_BATCH = 500
MAX_MERGE_FIELDS = 30
MAX_CONNECTIONS = 10
SINGLE_CALLS_MAX = 3  # a batch operation costs 3 requests: fewer calls than that go alone
JSON_BODY = {"Content-Type": "application/json"}
MERGE_TAG_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class _Operation:
    """One call on one member, sent alone or as an operation of a batch."""

    key: str
    method: str
    path: str
    body: dict[str, Any] | None
    email: str


class MailchimpError(RuntimeError):
    """The whole call failed (configuration, credentials, limits): nothing per-row about it."""


# The parts of the two bulk answers the sync reads; anything else in them is skipped.
class _NewMember(msgspec.Struct):
    email_address: Any = ""


class _SubscribeError(msgspec.Struct):
    email_address: Any = ""
    error: Any = None
    error_code: Any = None
    field: Any = None
    field_message: Any = None


class _SubscribeAnswer(msgspec.Struct):
    new_members: list[_NewMember] | None = None
    errors: list[_SubscribeError] | None = None
    total_created: Any = 0


class _SegmentError(msgspec.Struct):
    email_addresses: list[Any] | None = None
    error: Any = None


class _SegmentAnswer(msgspec.Struct):
    errors: list[_SegmentError] | None = None


_SUBSCRIBE_ANSWER = msgspec.json.Decoder(_SubscribeAnswer)
_SEGMENT_ANSWER = msgspec.json.Decoder(_SegmentAnswer)
_S = TypeVar("_S")


def _invoke(call: Callable[[], R]) -> R:
    return call()


def _json(response: requests.Response) -> Any:
    return orjson.loads(response.content)


def _answer(response: requests.Response, decoder: msgspec.json.Decoder[_S]) -> _S:
    try:
        return decoder.decode(response.content)
    except msgspec.DecodeError as exc:  # ValidationError included
        raise MailchimpError(
            f"Mailchimp answered {response.request.method} {response.request.path_url} with a "
            f"body the sync cannot read: {exc}"
        ) from None


@dataclass
class MailchimpConfig:
    base_url: str  # API root, e.g. https://us21.api.mailchimp.com/3.0 ("/3.0" added if absent)
    api_key: str = field(repr=False)
    list_id: str
    batch_size: int = 500  # members (addresses) per batch subscribe or segment call
    max_connections: int = 10
    # Calls of `batch_size` sent at once per step; the sync commits state after each group
    # of `batch_size * parallel_batches` rows, so a crash repeats at most that group.
    parallel_batches: int = 1
    # Groups in flight at once, each replaced by the next as soon as it is acknowledged
    # (and committed meanwhile): with one call per group and as many groups as connections, every
    # connection carries a batch subscribe then its segment call, back to back, as the
    # limit allows. Requests never exceed `max_connections` at a time whatever these say.
    pipeline_depth: int = 10
    batch_operations: int = 1000  # single-member calls per batch operation
    batch_timeout: float = 600.0  # seconds a batch operation may take

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
        if not 1 <= self.max_connections <= MAX_CONNECTIONS:
            raise ValueError(f"max_connections must be between 1 and {MAX_CONNECTIONS}")
        if not 1 <= self.parallel_batches <= MAX_CONNECTIONS:
            raise ValueError(f"parallel_batches must be between 1 and {MAX_CONNECTIONS}")
        if not 1 <= self.pipeline_depth <= MAX_CONNECTIONS:
            raise ValueError(f"pipeline_depth must be between 1 and {MAX_CONNECTIONS}")

    @classmethod
    def from_connection(cls, conn: Any, **overrides: Any) -> MailchimpConfig:
        """From Tailor's `ApiConnection` ("mailchimp"): password = API key, extra.list_id.

        With no host, the data centre is taken from the key's suffix (`...-us21`).
        """
        key = conn.password or ""
        base = conn.base_url if conn.base_url not in ("", "https://", "http://") else ""
        if not base:
            dc = key.rpartition("-")[2] or "us1"
            base = f"https://{dc}.api.mailchimp.com/3.0"
        extra = dict(conn.extra or {})
        settings: dict[str, Any] = {"list_id": extra.get("list_id", "")}
        for name in ("batch_size", "max_connections", "parallel_batches", "pipeline_depth"):
            if name in extra:
                settings[name] = int(extra[name])
        settings.update(overrides)
        if not settings["list_id"]:
            raise MailchimpError("the mailchimp connection needs extra.list_id (the audience id)")
        return cls(base_url=base, api_key=key, **settings)


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lower-cased address."""
    return hashlib.md5(email.lower().encode("utf-8")).hexdigest()


def problem_message(response: requests.Response) -> str:
    """The ESP's own words from a problem-detail body: `title: detail (field: message)`."""
    return problem_text(response.status_code, response.text)


def problem_text(status: int, text: str) -> str:
    """`problem_message` for a status and a body (a batch operation's answer)."""
    try:
        body = json.loads(text)
    except ValueError:
        return f"HTTP {status}: {text[:200]}"
    if not isinstance(body, dict):
        return f"HTTP {status}"
    text = ": ".join(str(body[k]) for k in ("title", "detail") if body.get(k))
    details = [
        f"{e.get('field')}: {e.get('message')}"
        for e in body.get("errors") or []
        if isinstance(e, dict) and e.get("field")
    ]
    if details:
        text += f" ({'; '.join(details)})"
    return text or f"HTTP {status}"


class MailchimpDestination:
    """One Mailchimp audience (list). See the module docstring for how it calls the API."""

    name = "mailchimp"

    def __init__(self, config: MailchimpConfig, *, client: HttpClient | None = None):
        self.config = config
        # What the sync engine hands over (and commits) at once: several API batches,
        # sent side by side, so that the connections Mailchimp allows are used.
        self.batch_size = config.batch_size * config.parallel_batches
        self.pipeline_depth = config.pipeline_depth
        # Mailchimp refuses more than 10 simultaneous connections per user: every request
        # holds a slot, however many groups and calls are in flight.
        self._slots = threading.BoundedSemaphore(config.max_connections)
        base = config.base_url.rstrip("/")
        if not base.endswith("/3.0"):
            base += "/3.0"
        self.http = client or HttpClient(
            base,
            auth=("tailor", config.api_key),
            pool_size=config.max_connections,
        )
        self._list = f"/lists/{config.list_id}"
        self._segments: dict[str, int] | None = None  # tag name -> static segment id
        self._segments_lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> MailchimpDestination:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- merge fields ------------------------------------------------------------------

    def merge_fields(self) -> list[dict[str, Any]]:
        fields: list[dict[str, Any]] = []
        while True:
            page = _json(
                self._call(
                    "GET",
                    f"{self._list}/merge-fields",
                    params={"count": 1000, "offset": len(fields)},
                )
            )
            fields.extend(page.get("merge_fields") or [])
            if not page.get("merge_fields") or len(fields) >= page.get("total_items", 0):
                return fields

    def prepare(self, merge_tags: Collection[str], tags: Collection[str] = ()) -> None:
        """Create the merge fields (type text) and the tags' static segments that the list
        lacks; fail before sending. The two look-ups go side by side, then every creation:
        two round trips, where one after another they held the first batches back."""
        bad = sorted(t for t in merge_tags if not t or len(t) > 10 or set(t) - MERGE_TAG_CHARS)
        if bad:
            raise MailchimpError(
                f"merge tags {bad} are not valid Mailchimp tags (at most 10 characters of "
                "A-Z, 0-9 and _)"
            )
        lookups: list[Callable[[], Any]] = []
        if merge_tags:
            lookups.append(self.merge_fields)
        if tags:
            lookups.append(self._load_segments)
        found = self._parallel(_invoke, lookups)
        missing: list[str] = []
        if merge_tags:
            existing = {f["tag"] for f in found[0]}
            missing = sorted(set(merge_tags) - existing)
            if len(existing) + len(missing) > MAX_MERGE_FIELDS:
                raise MailchimpError(
                    f"audience {self.config.list_id} has {len(existing)} merge fields and needs "
                    f"{len(missing)} more ({', '.join(missing)}); Mailchimp allows "
                    f"{MAX_MERGE_FIELDS} per audience. Remove unused merge fields in Mailchimp "
                    "or drop some from the segments' meta.audience.merge_fields."
                )

        def create_field(tag: str) -> None:
            name = tag.replace("_", " ").title()
            self._call(
                "POST",
                f"{self._list}/merge-fields",
                json={"tag": tag, "name": name, "type": "text", "public": False},
            )
            log.info("created merge field %s in audience %s", tag, self.config.list_id)

        creations: list[Callable[[], Any]] = [partial(create_field, tag) for tag in missing]
        creations += [partial(self._segment_id, tag, create=True) for tag in sorted(set(tags))]
        self._parallel(_invoke, creations)

    # ---- members -----------------------------------------------------------------------

    def upsert_members(self, members: Sequence[Member]) -> list[Outcome]:
        """Create new contacts in batches and update known ones; status only if new."""
        outcomes: list[Outcome] = []
        to_put: list[Member] = [m for m in members if m.known]
        fresh: list[Member] = []
        seen: set[str] = set()
        for m in members:
            if m.known:
                continue
            # A batch refuses the same address twice: later copies take the single path.
            (to_put if m.email.lower() in seen else fresh).append(m)
            seen.add(m.email.lower())
        size = self.config.batch_size
        chunks = [fresh[start : start + size] for start in range(0, len(fresh), size)]
        for done, exists in self._parallel(self._batch_subscribe, chunks):
            outcomes.extend(done)
            to_put.extend(exists)
        outcomes.extend(self._put_members(to_put))
        return outcomes

    def _batch_subscribe(self, chunk: Sequence[Member]) -> tuple[list[Outcome], list[Member]]:
        body = {
            "members": [
                {
                    "email_address": m.email,
                    "status": m.status_if_new,
                    "merge_fields": m.merge_fields,
                }
                for m in chunk
            ],
            "update_existing": False,
        }
        result = _answer(self._call("POST", self._list, json=body), _SUBSCRIBE_ANSWER)
        by_email = {m.email.lower(): m for m in chunk}
        outcomes: list[Outcome] = []
        exists: list[Member] = []
        answered: set[str] = set()
        for new in result.new_members or ():
            email = str(new.email_address or "").lower()
            if email in by_email:
                outcomes.append(Outcome(by_email[email].key, True))
                answered.add(email)
        for err in result.errors or ():
            email = str(err.email_address or "").lower()
            member = by_email.get(email)
            if member is None:
                continue
            answered.add(email)
            if err.error_code == "ERROR_CONTACT_EXISTS":
                exists.append(member)
                continue
            message = str(err.error or "rejected by Mailchimp")
            if err.field:
                message += f" ({err.field}: {err.field_message or ''})".rstrip()
            outcomes.append(Outcome(member.key, False, message))
            log.info("mailchimp rejected %s: %s", mask_email(member.email), message)
        for email, member in by_email.items():
            if email not in answered:
                outcomes.append(Outcome(member.key, False, "Mailchimp did not report this member"))
        log.info(
            "batch subscribe: %d new, %d existing, %d rejected",
            result.total_created,
            len(exists),
            sum(1 for o in outcomes if not o.ok),
        )
        return outcomes, exists

    def _put_members(self, members: Sequence[Member]) -> list[Outcome]:
        ops = [
            _Operation(
                m.key,
                "PUT",
                f"{self._list}/members/{subscriber_hash(m.email)}",
                {
                    "email_address": m.email,
                    "status_if_new": m.status_if_new,
                    "merge_fields": dict(m.merge_fields),
                },
                m.email,
            )
            for m in members
        ]
        return self._member_operations(ops, "PUT", missing_ok=False)

    # ---- tags (static segments) ------------------------------------------------------

    def set_tags(self, changes: Sequence[TagChange]) -> list[Outcome]:
        """Add or remove members per tag, `batch_size` a call, `max_connections` at a time.

        The last word per (contact, tag) wins. Removing a tag that has no segment, or from
        an address that is not in the audience, is done; adding one to such an address fails.
        """
        latest: dict[tuple[str, str], TagChange] = {}
        for change in changes:
            latest.pop((change.email.lower(), change.tag), None)
            latest[(change.email.lower(), change.tag)] = change
        groups: dict[tuple[str, bool], list[TagChange]] = defaultdict(list)
        for change in latest.values():
            groups[(change.tag, change.active)].append(change)
        ids = {tag: self._segment_id(tag, create=active) for tag, active in groups}
        outcomes: dict[tuple[str, str], Outcome] = {}
        calls: list[tuple[int, bool, list[TagChange]]] = []
        for (tag, active), group in groups.items():
            if ids[tag] is None:  # no such tag in Mailchimp: nobody has it to remove
                outcomes.update({(c.email.lower(), c.tag): Outcome(c.key, True) for c in group})
                continue
            size = self.config.batch_size  # the segment call takes ≤ 500 addresses too
            for start in range(0, len(group), size):
                calls.append((ids[tag], active, group[start : start + size]))
        for results in self._parallel(lambda call: self._segment_batch(*call), calls):
            outcomes.update(results)
        # Every change gets the outcome of its (contact, tag), superseded ones included.
        results = []
        for c in changes:
            final = outcomes[(c.email.lower(), c.tag)]
            results.append(Outcome(c.key, final.ok, final.error))
        return results

    def _segment_batch(
        self, segment_id: int, active: bool, chunk: Sequence[TagChange]
    ) -> dict[tuple[str, str], Outcome]:
        field_name = "members_to_add" if active else "members_to_remove"
        body = {field_name: [c.email for c in chunk]}
        path = f"{self._list}/segments/{segment_id}"
        response = self._call("POST", path, json=body, accept=(400, 404))
        if response.status_code in (400, 404):
            # 404: the segment was deleted in Mailchimp during the run.
            message = problem_message(response)
            log.info("mailchimp refused a tag batch of %d: %s", len(chunk), message)
            return {(c.email.lower(), c.tag): Outcome(c.key, False, message) for c in chunk}
        refused: dict[str, str] = {}
        for err in _answer(response, _SEGMENT_ANSWER).errors or ():
            for email in err.email_addresses or ():
                refused[str(email).lower()] = str(err.error or "rejected by Mailchimp")
        results: dict[tuple[str, str], Outcome] = {}
        for c in chunk:
            error = refused.get(c.email.lower())
            if error is not None and active:
                log.info("mailchimp refused tag %s for %s: %s", c.tag, mask_email(c.email), error)
                results[(c.email.lower(), c.tag)] = Outcome(c.key, False, error)
            else:  # a removal Mailchimp refuses is one for an address it does not hold
                results[(c.email.lower(), c.tag)] = Outcome(c.key, True)
        return results

    def _segment_id(self, tag: str, *, create: bool) -> int | None:
        """The static segment id of `tag` (read once per run), created when missing if asked."""
        segments = self._load_segments()
        with self._segments_lock:
            if tag not in segments and create:
                created = _json(
                    self._call(
                        "POST", f"{self._list}/segments", json={"name": tag, "static_segment": []}
                    )
                )
                segments[tag] = int(created["id"])
                log.info("created tag %r in audience %s", tag, self.config.list_id)
            return segments.get(tag)

    def _load_segments(self) -> dict[str, int]:
        """The list's static segments by name, read once per run."""
        with self._segments_lock:
            if self._segments is None:
                self._segments = self._static_segments()
            return self._segments

    def _static_segments(self) -> dict[str, int]:
        found: dict[str, int] = {}
        offset = 0
        while True:
            page = _json(
                self._call(
                    "GET",
                    f"{self._list}/segments",
                    params={"type": "static", "count": 1000, "offset": offset},
                )
            )
            segments = page.get("segments") or []
            for segment in segments:
                found.setdefault(str(segment["name"]), int(segment["id"]))
            offset += len(segments)
            if not segments or offset >= page.get("total_items", 0):
                return found

    # ---- leaving, consent and erasure ------------------------------------------------

    def clear_fields(
        self, contacts: Sequence[Contact], merge_tags: Collection[str]
    ) -> list[Outcome]:
        body = {"merge_fields": {tag: "" for tag in sorted(merge_tags)}}
        return self._contact_operations(contacts, "PATCH", "", body)

    def archive_members(self, contacts: Sequence[Contact]) -> list[Outcome]:
        return self._contact_operations(contacts, "DELETE", "")

    def unsubscribe_members(self, contacts: Sequence[Contact]) -> list[Outcome]:
        return self._contact_operations(contacts, "PATCH", "", {"status": "unsubscribed"})

    def erase_members(self, contacts: Sequence[Contact]) -> list[Outcome]:
        return self._contact_operations(contacts, "POST", "/actions/delete-permanent")

    def _contact_operations(
        self,
        contacts: Sequence[Contact],
        method: str,
        suffix: str,
        body: dict[str, Any] | None = None,
    ) -> list[Outcome]:
        ops = [
            _Operation(
                c.key,
                method,
                f"{self._list}/members/{subscriber_hash(c.email)}{suffix}",
                body,
                c.email,
            )
            for c in contacts
        ]
        return self._member_operations(ops, method, missing_ok=True)

    # ---- single calls or batch operations --------------------------------------------

    def _member_operations(
        self, ops: Sequence[_Operation], what: str, *, missing_ok: bool
    ) -> list[Outcome]:
        """One outcome per operation on one member. A few go as single calls side by side;
        more go as batch operations (`POST /batches`), `batch_operations` a batch, each
        batch costing three requests (submit, status, results) whatever its size.

        A 400 fails its member with Mailchimp's words; a 404 is done when `missing_ok`
        (nothing to act on, which is the goal); anything else fails the member, to be
        retried on the next run."""
        if len(ops) <= SINGLE_CALLS_MAX:
            answers = self._parallel(self._single, ops)
        else:
            size = self.config.batch_operations
            chunks = [ops[start : start + size] for start in range(0, len(ops), size)]
            answers = [a for part in self._parallel(self._batch, chunks) for a in part]
        outcomes = []
        for op, (status, text) in zip(ops, answers, strict=True):
            if status < 300 or (status == 404 and missing_ok):
                outcomes.append(Outcome(op.key, True))
                continue
            message = problem_text(status, text)
            log.info("mailchimp refused %s on %s: %s", what, mask_email(op.email), message)
            outcomes.append(Outcome(op.key, False, message))
        return outcomes

    def _single(self, op: _Operation) -> tuple[int, str]:
        response = self._call(op.method, op.path, json=op.body, accept=(400, 404))
        return response.status_code, response.text

    def _batch(self, ops: Sequence[_Operation]) -> list[tuple[int, str]]:
        """Submit one batch of operations, wait for it, read every answer."""
        operations = []
        for i, op in enumerate(ops):
            operation: dict[str, Any] = {"method": op.method, "path": op.path}
            if op.body is not None:
                operation["body"] = orjson.dumps(op.body).decode()
            operation["operation_id"] = str(i)
            operations.append(operation)
        batch = _json(self._call("POST", "/batches", json={"operations": operations}))
        deadline = time.monotonic() + self.config.batch_timeout
        pause = 0.05
        while batch.get("status") != "finished":
            if time.monotonic() > deadline:
                raise MailchimpError(
                    f"Mailchimp batch {batch.get('id')} did not finish within "
                    f"{self.config.batch_timeout:.0f} s (status {batch.get('status')})"
                )
            time.sleep(pause)
            pause = min(pause * 2, 2.0)
            batch = _json(self._call("GET", f"/batches/{batch['id']}"))
        answers: dict[str, tuple[int, str]] = {}
        for item in self._batch_results(str(batch.get("response_body_url") or "")):
            answers[str(item.get("operation_id"))] = (
                int(item.get("status_code") or 500),
                str(item.get("response") or ""),
            )
        missing = (500, "Mailchimp's batch results do not hold this operation")
        return [answers.get(str(i), missing) for i in range(len(ops))]

    def _batch_results(self, url: str) -> list[dict[str, Any]]:
        """The answers in a finished batch's archive (a gzipped tar of JSON arrays). The
        URL is signed storage, not the API: it gets no API key."""
        if not url:
            raise MailchimpError("Mailchimp reported a finished batch without results")
        with self._slots:
            response = requests.get(url, timeout=120)
        if response.status_code != 200:
            raise MailchimpError(f"Mailchimp batch results: HTTP {response.status_code}")
        items: list[dict[str, Any]] = []
        with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
            for entry in archive.getmembers():
                if entry.isfile() and entry.name.endswith(".json"):
                    handle = archive.extractfile(entry)
                    if handle is not None:
                        items.extend(orjson.loads(handle.read()))
        return items

    # ---- plumbing ----------------------------------------------------------------------

    def _call(
        self, method: str, path: str, *, accept: Iterable[int] = (), **kw: Any
    ) -> requests.Response:
        """A request whose failure (other than the accepted statuses) fails the whole call.
        The body is written by orjson; `_json` reads an answer."""
        body = kw.pop("json", None)
        if body is not None:
            kw["data"], kw["headers"] = orjson.dumps(body), JSON_BODY
        try:
            with self._slots:
                response = self.http.request(method, path, accept=accept, **kw)
        except HttpError as exc:
            raise MailchimpError(
                f"Mailchimp {method} {path} failed: {problem_message(exc.response)}"
            ) from None
        return response

    def _parallel(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if len(items) <= 1:
            return [fn(item) for item in items]
        workers = min(self.config.max_connections, len(items))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mailchimp") as pool:
            return list(pool.map(fn, items))
