"""A stand-in for the Mailchimp Marketing API 3.0: lists, merge fields, members and tags.

Built from Mailchimp's OpenAPI description (`/work/shared/api/mailchimp-marketing.openapi.json`,
API 3.0.85) and its documented behaviour, strict where the real API is strict:

- Basic auth with any user name and the API key as password; every error is a problem
  detail (`type`, `title`, `status`, `detail`, `instance`) sent as application/problem+json.
- Batch subscribe (`POST /lists/{list_id}`) takes at most 500 members; each member accepts
  only the fields of the spec's `AddListMembers` (`status`, not `status_if_new`; no `tags`).
  An existing member is reported as `ERROR_CONTACT_EXISTS` unless `update_existing` is true.
- The upsert (`PUT .../members/{hash}`) needs `email_address` and `status_if_new`, which
  only applies to a new member; an explicit `status: subscribed` on an unsubscribed or
  cleaned member is refused with "Member In Compliance State", in batches too.
- At most 30 merge fields per list; tags ≤ 10 characters of A-Z, 0-9 and _; merge values
  must be strings or numbers; unknown merge tags are ignored, as the real API does.
- A permanently deleted address cannot be re-imported; more than 10 simultaneous
  connections get 429, as Mailchimp's per-user connection limit does.
- Tags are static segments, as in Mailchimp: one store serves both the member tags
  endpoint and `GET|POST /lists/{list_id}/segments` (list, or create with `name` and
  `static_segment`), `GET /lists/{list_id}/segments/{segment_id}` and the batch
  `POST /lists/{list_id}/segments/{segment_id}` (`members_to_add` / `members_to_remove`,
  at most 500 addresses each). A member's tags are the static segments it is in. An
  address that is no list member (never added, archived, or erased) comes back in the
  batch's `errors` (`email_addresses`, `error`), not as a failure of the call; adding a
  member already in the segment, or removing one not in it, changes nothing. Only static
  segments exist here: creating a saved segment (`options`) is refused.

Batch operations (`POST /batches` with `operations`: `method`, `path`, `params`, `body` as
a JSON string, `operation_id`) run each operation as its own request would, at once, and
answer `pending`; `GET /batches/{batch_id}` then reports `finished` with a
`response_body_url`: a gzipped tar of JSON files, each an array of `status_code`,
`operation_id` and `response` (the body as a string). As with Mailchimp's signed storage
URL, fetching it needs no key; it is still counted in the stats (`GET /batch-results/...`).
Operations are not counted as requests of their own, and do not take connections.

Faults for resilience tests: `fault_rate` (0..1) of requests, drawn from `fault_seed`, are
refused before they are processed with one of `fault_kinds` (429 with `Retry-After`, 500,
503), in Mailchimp's problem-detail shape; `GET /3.0/_sandbox/stats` counts them.

Campaign reports, read from the files `sandbox.generate` wrote when a data folder is given
(`mailchimp_campaigns.jsonl`, `mailchimp_email_activity.jsonl`): `GET /campaigns` (filters
`status`, `type`, `list_id`, `since_/before_send_time`, `since_/before_create_time`, sorted
by `sort_field`/`sort_dir`), `GET /campaigns/{id}`, `GET /reports/{id}/email-activity`
(members with their opens, clicks and bounces; `since` keeps activity after that instant,
and the members who have some) and `GET /reports/{id}/unsubscribed`. All page with `count`
(at most 1,000) and `offset`. Unlike the real API, a member with no activity at all is not
listed in the email activity, and `fields`/`exclude_fields` are ignored (whole objects come
back).

Not part of the real API, under `/3.0/_sandbox/`: `GET stats` (requests per method and
path template, for tests and benchmarks to count what a sync sent) and `POST reset`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gc
import hashlib
import io
import json
import os
import random
import re
import tarfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox.http_base import BadRequest, Request, Response, read_jsonl
from sandbox.mailchimp_reports import ActivityPages, StoredActivity, activity_body

LIST_ID = "5d1e2f3a4b"
LIST_NAME = "Tailor sandbox"
MAX_BATCH_MEMBERS = 500
MAX_SEGMENT_MEMBERS = 500  # per list in one batch add/remove (spec: "A maximum of 500")
MAX_TAG_NAME = 100
NOT_ON_LIST = "Email address is not a member of this audience"
MAX_COUNT = 1000
MAX_MERGE_FIELDS = 30
MAX_CONNECTIONS = 10
MAX_BATCH_OPERATIONS = 10_000  # this stand-in's bound; Mailchimp documents none
BATCH_RESULTS_PER_FILE = 1000
ERROR_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"

STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
PATCH_STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending")
COMPLIANCE_STATES = ("unsubscribed", "cleaned")
MERGE_TYPES = (
    "text",
    "number",
    "address",
    "phone",
    "date",
    "url",
    "imageurl",
    "radio",
    "dropdown",
    "birthday",
    "zip",
)
TAG_RE = re.compile(r"^[A-Z0-9_]{1,10}$")
# Syntax Mailchimp accepts, plus the RFC 2606 reserved top-level domains it rejects as fake.
EMAIL_RE = re.compile(
    r"^(?!\.)(?!.*\.\.)[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}(?<!\.)"
    r"@(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
FAKE_TLDS = ("test", "invalid", "example", "localhost")

# Fields of the spec's request schemas (components/schemas/AddListMembers*).
BATCH_MEMBER_FIELDS = frozenset(
    {
        "email_address",
        "email_type",
        "timestamp_opt",
        "merge_fields",
        "timestamp_signup",
        "ip_opt",
        "language",
        "location",
        "ip_signup",
        "interests",
        "vip",
        "status",
    }
)
BATCH_FIELDS = frozenset({"members", "sync_tags", "update_existing"})
PUT_FIELDS = frozenset(
    {
        "marketing_permissions",
        "email_type",
        "timestamp_opt",
        "merge_fields",
        "timestamp_signup",
        "language",
        "ip_signup",
        "email_address",
        "status_if_new",
        "ip_opt",
        "location",
        "interests",
        "vip",
        "status",
    }
)
PATCH_FIELDS = PUT_FIELDS - {"status_if_new"}
MERGE_FIELD_FIELDS = frozenset(
    {
        "public",
        "name",
        "display_order",
        "options",
        "default_value",
        "tag",
        "type",
        "required",
        "help_text",
    }
)

DEFAULT_MERGE_FIELDS = (
    ("FNAME", "First Name", "text"),
    ("LNAME", "Last Name", "text"),
    ("ADDRESS", "Address", "address"),
    ("PHONE", "Phone Number", "phone"),
    ("BIRTHDAY", "Birthday", "birthday"),
)

# (method, compiled pattern, template used in stats, handler name)
_ROUTES: list[tuple[str, re.Pattern[str], str, str]] = []


def _route(method: str, template: str, handler: str) -> None:
    pattern = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$"
    _ROUTES.append((method, re.compile(pattern), template, handler))


_route("GET", "/_sandbox/stats", "_sandbox_stats")
_route("POST", "/_sandbox/reset", "_sandbox_reset")
_route("GET", "/lists", "_get_lists")
_route("GET", "/lists/{list_id}", "_get_list")
_route("POST", "/lists/{list_id}", "_batch_subscribe")
_route("GET", "/lists/{list_id}/merge-fields", "_get_merge_fields")
_route("POST", "/lists/{list_id}/merge-fields", "_post_merge_field")
_route("GET", "/lists/{list_id}/members", "_get_members")
_route("POST", "/lists/{list_id}/members", "_post_member")
_route("GET", "/lists/{list_id}/members/{hash}", "_get_member")
_route("PUT", "/lists/{list_id}/members/{hash}", "_put_member")
_route("PATCH", "/lists/{list_id}/members/{hash}", "_patch_member")
_route("DELETE", "/lists/{list_id}/members/{hash}", "_archive_member")
_route("GET", "/lists/{list_id}/members/{hash}/tags", "_get_member_tags")
_route("POST", "/lists/{list_id}/members/{hash}/tags", "_post_member_tags")
_route("POST", "/lists/{list_id}/members/{hash}/actions/delete-permanent", "_delete_permanent")
_route("GET", "/lists/{list_id}/segments", "_get_segments")
_route("POST", "/lists/{list_id}/segments", "_post_segment")
_route("GET", "/lists/{list_id}/segments/{segment_id}", "_get_segment")
_route("POST", "/lists/{list_id}/segments/{segment_id}", "_batch_segment_members")
_route("POST", "/batches", "_post_batch")
_route("GET", "/batches/{batch_id}", "_get_batch")
_route("GET", "/batch-results/{batch_id}", "_get_batch_results")
_route("GET", "/campaigns", "_get_campaigns")
_route("GET", "/campaigns/{campaign_id}", "_get_campaign")
_route("GET", "/reports/{campaign_id}/email-activity", "_get_email_activity")
_route("GET", "/reports/{campaign_id}/unsubscribed", "_get_unsubscribed")

CAMPAIGN_STATUSES = ("save", "paused", "schedule", "sending", "sent")
SEGMENT_TYPES = ("saved", "static", "fuzzy")
BATCH_OPERATION_FIELDS = frozenset({"method", "path", "params", "body", "operation_id"})
BATCH_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# The results archive is fetched from storage with its signed URL, not from the API: no key.
PUBLIC_TEMPLATES = ("/batch-results/{batch_id}",)
SEGMENT_FIELDS = frozenset({"name", "static_segment", "options"})
SEGMENT_BATCH_FIELDS = frozenset({"members_to_add", "members_to_remove"})
CAMPAIGN_TYPES = ("regular", "plaintext", "absplit", "rss", "variate")


class ApiError(Exception):
    """An error the stand-in answers as a problem detail."""

    def __init__(self, status: int, title: str, detail: str, errors: list[dict] | None = None):
        super().__init__(detail)
        self.status, self.title, self.detail, self.errors = status, title, detail, errors


class MemberError(Exception):
    """A member-level failure: a 400 for single calls, one `errors` entry in a batch."""

    def __init__(
        self,
        title: str,
        detail: str,
        *,
        field: str = "",
        field_message: str = "",
        code: str = "ERROR_GENERIC",
    ):
        super().__init__(detail)
        self.title, self.detail, self.field, self.field_message, self.code = (
            title,
            detail,
            field,
            field_message,
            code,
        )

    def as_api_error(self) -> ApiError:
        errors = [{"field": self.field, "message": self.field_message}] if self.field else None
        return ApiError(400, self.title, self.detail, errors)


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lower-cased address."""
    return hashlib.md5(email.lower().encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _invalid(detail: str, errors: list[dict] | None = None) -> ApiError:
    return ApiError(400, "Invalid Resource", detail, errors)


def _schema_error(field: str, message: str) -> ApiError:
    return _invalid(
        "The resource submitted could not be validated. For field-specific details, "
        "see the 'errors' array.",
        [{"field": field, "message": message}],
    )


def _not_found() -> ApiError:
    return ApiError(404, "Resource Not Found", "The requested resource could not be found.")


def _problem(exc: ApiError | BadRequest, instance: str) -> Response:
    """An error as Mailchimp answers it: a problem detail."""
    if isinstance(exc, BadRequest):
        exc = ApiError(
            400, "JSON Parse Error", f"We encountered an unspecified JSON parsing error. {exc}"
        )
    body: dict[str, Any] = {
        "type": ERROR_DOC,
        "title": exc.title,
        "status": exc.status,
        "detail": exc.detail,
        "instance": instance,
    }
    if exc.errors:
        body["errors"] = exc.errors
    return Response(exc.status, body, {"Content-Type": "application/problem+json; charset=utf-8"})


def _check_fields(body: Any, allowed: frozenset[str], where: str = "") -> dict:
    if not isinstance(body, dict):
        raise _schema_error(where or "body", "Schema describes object, NULL or other found instead")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise _schema_error(
            f"{where}{unknown[0]}", f"Property '{unknown[0]}' is not accepted by this endpoint."
        )
    return body


def _instant(value: str) -> float:
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "+"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _time_param(req: Request, name: str) -> float | None:
    """An ISO 8601 query parameter as epoch seconds; a value Mailchimp cannot read is a 400."""
    raw = req.query_value(name)
    if raw is None or raw == "":
        return None
    try:
        return _instant(raw)
    except ValueError:
        raise _schema_error(name, f"{name} must be an ISO 8601 date-time") from None


def _choice_param(req: Request, name: str, allowed: tuple[str, ...]) -> str | None:
    raw = req.query_value(name)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        raise _schema_error(
            name, f"Data presented is not one of the accepted values: {', '.join(allowed)}."
        )
    return raw


def _int_param(req: Request, name: str, default: int, maximum: int | None = None) -> int:
    raw = req.query_value(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _schema_error(name, f"{name} must be an integer") from None
    if value < 0 or (maximum is not None and value > maximum):
        raise _schema_error(name, f"{name} must be between 0 and {maximum}")
    return value


class MailchimpStandIn:
    """The Mailchimp Marketing API 3.0 subset Tailor uses, in memory, persisted on close."""

    prefix = "/3.0/"

    def __init__(
        self,
        api_key: str,
        state_path: Path | str | None = None,
        *,
        max_connections: int = MAX_CONNECTIONS,
        latency: float = 0.0,
        fault_rate: float = 0.0,
        fault_seed: int = 0,
        fault_kinds: tuple[str, ...] = ("429", "500", "503"),
        retry_after: int = 1,
        data_dir: Path | str | None = None,
    ) -> None:
        self.faults_injected: Counter[str] = Counter()
        self._load_reports(Path(data_dir) if data_dir else None)
        self.inject_faults(fault_rate, fault_seed, fault_kinds, retry_after)
        self.api_key = api_key
        self.state_path = Path(state_path) if state_path else None
        self.max_connections = max_connections
        self.latency = latency
        self._lock = threading.RLock()
        self._stats: Counter[str] = Counter()
        self._in_flight = 0
        self._peak = 0
        self._batches: dict[str, dict] = {}  # batch operations and their answers
        self._lists: dict[str, dict] = {}
        if self.state_path and self.state_path.exists():
            self._lists = json.loads(self.state_path.read_text(encoding="utf-8"))["lists"]
        else:
            self._lists = {LIST_ID: self._new_list(LIST_ID, LIST_NAME)}

    # ---- lifecycle and sandbox-only helpers -------------------------------------------

    @staticmethod
    def _new_list(list_id: str, name: str) -> dict:
        fields = [
            {
                "merge_id": i,
                "tag": tag,
                "name": title,
                "type": kind,
                "required": False,
                "default_value": "",
                "public": True,
                "display_order": i,
                "options": {},
                "help_text": "",
                "list_id": list_id,
            }
            for i, (tag, title, kind) in enumerate(DEFAULT_MERGE_FIELDS, start=1)
        ]
        return {
            "id": list_id,
            "web_id": 100001,
            "name": name,
            "date_created": _now(),
            "merge_fields": fields,
            "next_merge_id": len(fields) + 1,
            "members": {},
            "forgotten": [],
            "tags": {},  # tag (static segment) name -> segment id
            "segment_dates": {},  # tag name -> [created_at, updated_at]
            "next_tag_id": 1,
            "next_web_id": 1,
        }

    def stats(self) -> dict[str, int]:
        """Requests served per `METHOD /path/template` (the `/3.0` prefix left out)."""
        with self._lock:
            return dict(self._stats)

    def reset(self) -> None:
        """Forget every member, tag, added merge field and request count."""
        with self._lock:
            self._lists = {LIST_ID: self._new_list(LIST_ID, LIST_NAME)}
            self._stats.clear()
            self._batches.clear()
            self._peak = 0

    def save(self) -> None:
        """Write the state atomically (temporary file, then rename)."""
        if not self.state_path:
            return
        with self._lock:
            text = json.dumps({"lists": self._lists}, separators=(",", ":"))
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(f".{self.state_path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.state_path)

    def close(self) -> None:
        self.save()

    # Direct access for tests: the member as the API would show it, or None.
    def member(self, email: str, list_id: str = LIST_ID) -> dict | None:
        with self._lock:
            m = self._lists[list_id]["members"].get(subscriber_hash(email))
            return self._member_view(self._lists[list_id], m) if m else None

    def set_status(self, email: str, status: str, list_id: str = LIST_ID) -> None:
        """Change a member's status as a subscriber would (e.g. clicking unsubscribe)."""
        with self._lock:
            self._lists[list_id]["members"][subscriber_hash(email)]["status"] = status

    # ---- dispatch ---------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        path = "/" + req.path[len(self.prefix) :].strip("/")
        instance = str(uuid.uuid4())
        matched = [(m, p, t, h) for m, p, t, h in _ROUTES if p.match(path)]
        route = next(((p, t, h) for m, p, t, h in matched if m == req.method), None)
        template = route[1] if route else (matched[0][2] if matched else "<unknown>")
        sandbox_only = template.startswith("/_sandbox/")
        if not sandbox_only:
            with self._lock:
                self._stats[f"{req.method} {template}"] += 1
        try:
            if not sandbox_only and template not in PUBLIC_TEMPLATES:
                self._authenticate(req)
                self._maybe_fault()
            if route is None:
                if matched:
                    raise ApiError(
                        405,
                        "Method Not Allowed",
                        "The requested method and resource are not compatible. See the Allow "
                        "header for this resource's available methods.",
                    )
                raise _not_found()
            pattern, _, handler = route
            with self._connection():
                if self.latency:
                    time.sleep(self.latency)
                with self._lock:
                    return getattr(self, handler)(req, **pattern.match(path).groupdict())
        except (ApiError, BadRequest) as exc:
            response = _problem(exc, instance)
            if response.status in (429, 503):
                response.headers["Retry-After"] = str(self.retry_after)
            return response

    def inject_faults(
        self,
        rate: float,
        seed: int = 0,
        kinds: tuple[str, ...] = ("429", "500", "503"),
        retry_after: int = 1,
    ) -> None:
        """Refuse `rate` of the API requests from now on, reproducibly from `seed`."""
        if not 0.0 <= rate <= 1.0 or not kinds or set(kinds) - {"429", "500", "503"}:
            raise ValueError("fault rate must be in [0, 1] and kinds among 429, 500, 503")
        with self._lock if hasattr(self, "_lock") else contextlib.nullcontext():
            self.fault_rate, self.fault_kinds, self.retry_after = rate, tuple(kinds), retry_after
            self._faults = random.Random(seed)

    def _maybe_fault(self) -> None:
        if self.fault_rate <= 0:
            return
        with self._lock:
            if self._faults.random() >= self.fault_rate:
                return
            kind = self._faults.choice(self.fault_kinds)
            self.faults_injected[kind] += 1
        if kind == "429":
            raise ApiError(
                429,
                "Too Many Requests",
                "You have exceeded the limit of 10 simultaneous connections.",
            )
        raise ApiError(
            int(kind),
            "Internal Server Error" if kind == "500" else "Service Unavailable",
            "An unexpected error occurred; try again.",
        )

    def _authenticate(self, req: Request) -> None:
        header = req.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if not header:
            raise ApiError(401, "API Key Missing", "Your request did not include an API key.")
        key = None
        if scheme.lower() == "basic":
            try:
                key = base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
            except (binascii.Error, UnicodeDecodeError):
                key = None
        if key != self.api_key:
            raise ApiError(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            )

    class _Slot:
        def __init__(self, owner: MailchimpStandIn):
            self.owner = owner

        def __enter__(self) -> None:
            o = self.owner
            with o._lock:
                if o._in_flight >= o.max_connections:
                    raise ApiError(
                        429,
                        "Too Many Requests",
                        f"You have exceeded the limit of {o.max_connections} simultaneous "
                        "connections.",
                    )
                o._in_flight += 1
                o._peak = max(o._peak, o._in_flight)

        def __exit__(self, *exc: object) -> None:
            with self.owner._lock:
                self.owner._in_flight -= 1

    def _connection(self) -> MailchimpStandIn._Slot:
        return MailchimpStandIn._Slot(self)

    # ---- sandbox-only -----------------------------------------------------------------

    def _sandbox_stats(self, req: Request) -> Response:
        counts = dict(self._stats)
        return Response(
            200,
            {
                "requests": counts,
                "total_requests": sum(counts.values()),
                "peak_connections": self._peak,
                "faults_injected": dict(self.faults_injected),
            },
        )

    def _sandbox_reset(self, req: Request) -> Response:
        self.reset()
        return Response(204)

    # ---- batch operations -----------------------------------------------------------

    def _post_batch(self, req: Request) -> Response:
        """Run the operations (as Mailchimp would, later) and keep their answers."""
        body = _check_fields(req.json(), frozenset({"operations"}))
        operations = body.get("operations")
        if not isinstance(operations, list) or not operations:
            raise _schema_error("operations", "Required property 'operations' must be an array.")
        if len(operations) > MAX_BATCH_OPERATIONS:
            raise _invalid(
                f"A batch may hold at most {MAX_BATCH_OPERATIONS} operations; "
                f"you sent {len(operations)}."
            )
        for i, op in enumerate(operations):
            where = f"operations.item:{i}."
            _check_fields(op, BATCH_OPERATION_FIELDS, where)
            if op.get("method") not in BATCH_METHODS:
                accepted = ", ".join(BATCH_METHODS)
                raise _schema_error(
                    f"{where}method",
                    f"Data presented is not one of the accepted values: {accepted}.",
                )
            if not isinstance(op.get("path"), str) or not op["path"].startswith("/"):
                raise _schema_error(f"{where}path", "path must be a string starting with /")
            if "body" in op and not isinstance(op["body"], str):
                raise _schema_error(f"{where}body", "body must be a JSON string")
        results = [self._operation(op) for op in operations]
        batch_id = uuid.uuid4().hex[:10]
        host = req.headers.get("Host") or "127.0.0.1"
        self._batches[batch_id] = {
            "id": batch_id,
            "submitted_at": _now(),
            "completed_at": _now(),
            "total_operations": len(results),
            "errored_operations": sum(1 for r in results if r["status_code"] >= 400),
            "results": results,
            "url": f"http://{host}{self.prefix}batch-results/{batch_id}",
        }
        # As in Mailchimp, the batch is only accepted here; its status tells when it is done.
        return Response(200, self._batch_view(self._batches[batch_id], "pending"))

    def _operation(self, op: dict) -> dict:
        """One operation of a batch, answered as its own request would be."""
        path = "/" + op["path"].strip("/")
        query = {k: [str(v)] for k, v in (op.get("params") or {}).items()}
        body = op.get("body", "").encode("utf-8")
        inner = Request(op["method"], self.prefix + path.lstrip("/"), query, {}, body)
        route = next(
            (
                (p, h)
                for m, p, t, h in _ROUTES
                if m == op["method"]
                and p.match(path)
                and not t.startswith("/_sandbox/")
                and t not in PUBLIC_TEMPLATES
                and not t.startswith("/batches")
            ),
            None,
        )
        try:
            if route is None:
                raise _not_found()
            response = getattr(self, route[1])(inner, **route[0].match(path).groupdict())
        except (ApiError, BadRequest) as exc:
            response = _problem(exc, str(uuid.uuid4()))
        payload, _ = response.encode()
        return {
            "status_code": response.status,
            "operation_id": op.get("operation_id"),
            "response": payload.decode("utf-8"),
        }

    def _batch_view(self, batch: dict, status: str = "finished") -> dict:
        done = status == "finished"
        return {
            "id": batch["id"],
            "status": status,
            "total_operations": batch["total_operations"],
            "finished_operations": batch["total_operations"] if done else 0,
            "errored_operations": batch["errored_operations"] if done else 0,
            "submitted_at": batch["submitted_at"],
            "completed_at": batch["completed_at"] if done else "",
            "response_body_url": batch["url"] if done else "",
            "_links": [],
        }

    def _get_batch(self, req: Request, batch_id: str) -> Response:
        batch = self._batches.get(batch_id)
        if batch is None:
            raise _not_found()
        return Response(200, self._batch_view(batch))

    def _get_batch_results(self, req: Request, batch_id: str) -> Response:
        """The gzipped tar of JSON files, each an array of the operations' answers."""
        batch = self._batches.get(batch_id)
        if batch is None:
            raise _not_found()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            results = batch["results"]
            for part, start in enumerate(range(0, len(results), BATCH_RESULTS_PER_FILE)):
                data = json.dumps(results[start : start + BATCH_RESULTS_PER_FILE]).encode()
                info = tarfile.TarInfo(f"{batch_id}/{part}.json")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        return Response(200, buffer.getvalue(), {"Content-Type": "application/x-gzip"})

    # ---- campaigns and reports --------------------------------------------------------

    def _load_reports(self, data_dir: Path | None) -> None:
        """Campaigns and their activity, per campaign and member, as the reports serve them."""
        campaigns = read_jsonl(data_dir / "mailchimp_campaigns.jsonl") if data_dir else []
        rows = read_jsonl(data_dir / "mailchimp_email_activity.jsonl") if data_dir else []
        self._campaigns = {c["id"]: c for c in campaigns}
        members: dict[str, dict[str, dict]] = {c: {} for c in self._campaigns}
        self._unsubscribes: dict[str, list[dict]] = {c: [] for c in self._campaigns}
        for row in rows:
            campaign_id, email = row["campaign_id"], row["email_address"]
            if campaign_id not in members:
                continue
            if row["action"] == "unsub":
                self._unsubscribes[campaign_id].append(row)
                continue
            h = subscriber_hash(email)
            member = members[campaign_id].setdefault(
                h, {"email_id": h, "email_address": email, "list_id": row["list_id"], "rows": []}
            )
            item = {"action": row["action"], "timestamp": row["timestamp"], "ip": row.get("ip")}
            if row["action"] == "bounce":
                item["type"] = row.get("type") or "soft"
            if row["action"] == "click":
                item["url"] = row.get("url") or ""
            member["rows"].append((_instant(row["timestamp"]), item))
        self.serve_reports(
            self._campaigns,
            {c: StoredActivity(c, [m[h] for h in sorted(m)]) for c, m in members.items()},
            self._unsubscribes,
        )

    def serve_reports(
        self,
        campaigns: dict[str, dict],
        activity: dict[str, ActivityPages],
        unsubscribes: dict[str, Sequence[dict]],
    ) -> None:
        """Serve these campaigns, their email activity and unsubscribes (read-only)."""
        self._campaigns, self._activity, self._unsubscribes = campaigns, activity, unsubscribes

    def _campaign(self, campaign_id: str) -> dict:
        campaign = self._campaigns.get(campaign_id)
        if campaign is None:
            raise _not_found()
        return campaign

    def _get_campaigns(self, req: Request) -> Response:
        count = _int_param(req, "count", 10, MAX_COUNT)
        offset = _int_param(req, "offset", 0)
        status = _choice_param(req, "status", CAMPAIGN_STATUSES)
        kind = _choice_param(req, "type", CAMPAIGN_TYPES)
        sort_field = _choice_param(req, "sort_field", ("create_time", "send_time"))
        sort_dir = _choice_param(req, "sort_dir", ("ASC", "DESC"))
        list_id = req.query_value("list_id")
        bounds = {
            name: _time_param(req, name)
            for name in (
                "since_send_time",
                "before_send_time",
                "since_create_time",
                "before_create_time",
            )
        }

        def keep(c: dict) -> bool:
            if (status and c["status"] != status) or (kind and c["type"] != kind):
                return False
            if list_id and c["recipients"]["list_id"] != list_id:
                return False
            for field in ("send_time", "create_time"):
                at = _instant(c[field]) if c.get(field) else None
                since, before = bounds[f"since_{field}"], bounds[f"before_{field}"]
                if since is not None and (at is None or at <= since):
                    return False
                if before is not None and (at is None or at >= before):
                    return False
            return True

        chosen = [c for c in self._campaigns.values() if keep(c)]
        by = sort_field or "create_time"
        chosen.sort(key=lambda c: (_instant(c[by]) if c.get(by) else 0.0, c["id"]))
        if sort_dir == "DESC":
            chosen.reverse()
        return Response(
            200,
            {
                "campaigns": chosen[offset : offset + count],
                "total_items": len(chosen),
                "_links": [],
            },
        )

    def _get_campaign(self, req: Request, campaign_id: str) -> Response:
        return Response(200, self._campaign(campaign_id))

    def _get_email_activity(self, req: Request, campaign_id: str) -> Response:
        self._campaign(campaign_id)
        count = _int_param(req, "count", 10, MAX_COUNT)
        offset = _int_param(req, "offset", 0)
        since = _time_param(req, "since")
        total, entries = self._activity[campaign_id].page(since, offset, count)
        return Response(
            200,
            activity_body(campaign_id, total, entries),
            {"Content-Type": "application/json; charset=utf-8"},
        )

    def _get_unsubscribed(self, req: Request, campaign_id: str) -> Response:
        self._campaign(campaign_id)
        count = _int_param(req, "count", 10, MAX_COUNT)
        offset = _int_param(req, "offset", 0)
        rows = self._unsubscribes[campaign_id]
        page = [
            {
                "email_id": subscriber_hash(row["email_address"]),
                "email_address": row["email_address"],
                "merge_fields": {},
                "vip": False,
                "timestamp": row["timestamp"],
                "reason": row.get("reason") or "",
                "campaign_id": campaign_id,
                "list_id": row["list_id"],
                "list_is_active": True,
                "_links": [],
            }
            for row in rows[offset : offset + count]
        ]
        return Response(
            200,
            {
                "unsubscribes": page,
                "campaign_id": campaign_id,
                "total_items": len(rows),
                "_links": [],
            },
        )

    # ---- lists ------------------------------------------------------------------------

    def _list(self, list_id: str) -> dict:
        lst = self._lists.get(list_id)
        if lst is None:
            raise _not_found()
        return lst

    def _list_view(self, lst: dict) -> dict:
        counts = Counter(m["status"] for m in lst["members"].values())
        return {
            "id": lst["id"],
            "web_id": lst["web_id"],
            "name": lst["name"],
            "date_created": lst["date_created"],
            "list_rating": 0,
            "email_type_option": False,
            "visibility": "prv",
            "double_optin": False,
            "contact": {
                "company": "Tailor",
                "address1": "",
                "city": "",
                "state": "",
                "zip": "",
                "country": "US",
            },
            "permission_reminder": "You signed up on our store.",
            "campaign_defaults": {
                "from_name": "Tailor",
                "from_email": "hello@tailor.invalid",
                "subject": "",
                "language": "en",
            },
            "stats": {
                "member_count": counts["subscribed"],
                "unsubscribe_count": counts["unsubscribed"],
                "cleaned_count": counts["cleaned"],
                "total_contacts": sum(counts[s] for s in STATUSES),
                "merge_field_count": len(lst["merge_fields"]),
            },
            "_links": [],
        }

    def _get_lists(self, req: Request) -> Response:
        count = _int_param(req, "count", 10, MAX_COUNT)
        offset = _int_param(req, "offset", 0)
        lists = list(self._lists.values())
        return Response(
            200,
            {
                "lists": [self._list_view(x) for x in lists[offset : offset + count]],
                "total_items": len(lists),
                "constraints": {},
                "_links": [],
            },
        )

    def _get_list(self, req: Request, list_id: str) -> Response:
        return Response(200, self._list_view(self._list(list_id)))

    # ---- merge fields -----------------------------------------------------------------

    def _get_merge_fields(self, req: Request, list_id: str) -> Response:
        lst = self._list(list_id)
        count = _int_param(req, "count", 10, MAX_COUNT)
        offset = _int_param(req, "offset", 0)
        fields = lst["merge_fields"]
        if req.query_value("type"):
            fields = [f for f in fields if f["type"] == req.query_value("type")]
        return Response(
            200,
            {
                "merge_fields": [dict(f) for f in fields[offset : offset + count]],
                "list_id": list_id,
                "total_items": len(fields),
                "_links": [],
            },
        )

    def _post_merge_field(self, req: Request, list_id: str) -> Response:
        lst = self._list(list_id)
        body = _check_fields(req.json(), MERGE_FIELD_FIELDS)
        name, kind = body.get("name"), body.get("type")
        if not isinstance(name, str) or not name.strip():
            raise _schema_error("name", "This value should not be blank.")
        if kind not in MERGE_TYPES:
            raise _schema_error(
                "type",
                f"Data presented is not one of the accepted values: {', '.join(MERGE_TYPES)}.",
            )
        if len(lst["merge_fields"]) >= MAX_MERGE_FIELDS:
            raise _invalid(
                f"This audience already has the maximum of {MAX_MERGE_FIELDS} "
                "merge fields (audience fields)."
            )
        tag = body.get("tag") or f"MMERGE{lst['next_merge_id']}"
        if not isinstance(tag, str) or not TAG_RE.match(tag):
            raise _schema_error(
                "tag",
                "Merge tags may be at most 10 characters of upper-case letters, "
                "digits and underscores.",
            )
        if any(f["tag"] == tag for f in lst["merge_fields"]):
            raise _invalid(f'A Merge Field with the tag "{tag}" already exists for this list.')
        merge_id = lst["next_merge_id"]
        lst["next_merge_id"] += 1
        field = {
            "merge_id": merge_id,
            "tag": tag,
            "name": name,
            "type": kind,
            "required": bool(body.get("required", False)),
            "default_value": str(body.get("default_value") or ""),
            "public": bool(body.get("public", False)),
            "display_order": int(body.get("display_order") or merge_id),
            "options": body.get("options") or {},
            "help_text": str(body.get("help_text") or ""),
            "list_id": list_id,
        }
        lst["merge_fields"].append(field)
        return Response(200, dict(field, _links=[]))

    # ---- members: validation ----------------------------------------------------------

    @staticmethod
    def _check_email(email: Any) -> str:
        if not isinstance(email, str) or not email:
            raise MemberError(
                "Invalid Resource",
                "Please provide an email address.",
                field="email_address",
                field_message="This value is required.",
            )
        domain = email.rpartition("@")[2].lower()
        if not EMAIL_RE.match(email) or domain.rpartition(".")[2] in FAKE_TLDS:
            raise MemberError(
                "Invalid Resource",
                f"{email} looks fake or invalid, please enter a real email address.",
                field="email_address",
                field_message="Invalid email address",
            )
        return email

    @staticmethod
    def _check_status(status: Any, field: str, allowed: tuple[str, ...] = STATUSES) -> str:
        if status not in allowed:
            raise MemberError(
                "Invalid Resource",
                "The resource submitted could not be validated. For field-specific details, "
                "see the 'errors' array.",
                field=field,
                field_message=f"Data presented is not one of the accepted values: "
                f"{', '.join(allowed)}.",
            )
        return status

    @staticmethod
    def _merge_values(lst: dict, values: Any) -> dict[str, Any]:
        """Validated merge values by tag; unknown tags are dropped as the real API does."""
        if values is None:
            return {}
        if not isinstance(values, dict):
            raise MemberError(
                "Invalid Resource",
                "Your merge fields were invalid.",
                field="merge_fields",
                field_message="merge_fields must be an object",
            )
        types = {f["tag"]: f["type"] for f in lst["merge_fields"]}
        clean: dict[str, Any] = {}
        for tag, value in values.items():
            kind = types.get(tag)
            if kind is None:
                continue
            if kind == "address" and isinstance(value, dict):
                clean[tag] = value
                continue
            if value is None:
                clean[tag] = ""
                continue
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise MemberError(
                    "Invalid Resource",
                    "Your merge fields were invalid.",
                    field=tag,
                    field_message="Merge field values must be strings or numbers.",
                )
            if kind == "number" and value != "":
                try:
                    number = float(value)
                except ValueError:
                    raise MemberError(
                        "Invalid Resource",
                        "Your merge fields were invalid.",
                        field=tag,
                        field_message="Please enter a number",
                    ) from None
                value = int(number) if number.is_integer() else number
            elif isinstance(value, str) and len(value) > 255:
                raise MemberError(
                    "Invalid Resource",
                    "Your merge fields were invalid.",
                    field=tag,
                    field_message="Value must be 255 characters or fewer",
                )
            clean[tag] = value if kind == "number" else str(value)
        return clean

    @staticmethod
    def _check_transition(member: dict, new_status: str) -> None:
        if new_status == "subscribed" and member["status"] in COMPLIANCE_STATES:
            raise MemberError(
                "Member In Compliance State",
                f"{member['email_address']} is in a compliance state due to unsubscribe, "
                "bounce, or compliance review and cannot be subscribed.",
            )

    @staticmethod
    def _check_not_forgotten(lst: dict, email: str) -> None:
        if subscriber_hash(email) in lst["forgotten"]:
            raise MemberError(
                "Forgotten Email Not Subscribed",
                f"{email} was permanently deleted and cannot be re-imported. The contact must "
                "re-subscribe to get back on the list.",
            )

    # ---- members: writes --------------------------------------------------------------

    def _create(self, lst: dict, email: str, status: str, merge: dict, body: dict) -> dict:
        h = subscriber_hash(email)
        old = lst["members"].get(h)  # an archived member comes back with its tags
        now = _now()
        lst["next_web_id"] += 1
        member = {
            "id": h,
            "email_address": email,
            "unique_email_id": h[:10],
            "contact_id": h[10:30],
            "web_id": lst["next_web_id"],
            "status": status,
            "merge_fields": {**(old["merge_fields"] if old else {}), **merge},
            "tags": old["tags"] if old else {},
            "email_type": body.get("email_type") or "html",
            "language": body.get("language") or "",
            "vip": bool(body.get("vip", False)),
            "ip_signup": body.get("ip_signup") or "",
            "timestamp_signup": body.get("timestamp_signup") or "",
            "ip_opt": body.get("ip_opt") or "",
            "timestamp_opt": body.get("timestamp_opt") or (now if status == "subscribed" else ""),
            "last_changed": now,
            "source": "API - Generic",
        }
        lst["members"][h] = member
        return member

    def _update(self, lst: dict, member: dict, status: str | None, merge: dict, body: dict) -> None:
        if status is not None and status != member["status"]:
            self._check_transition(member, status)
            member["status"] = status
            if status == "subscribed":
                member["timestamp_opt"] = _now()
        member["merge_fields"].update(merge)
        for key in (
            "email_type",
            "language",
            "ip_signup",
            "timestamp_signup",
            "ip_opt",
            "timestamp_opt",
        ):
            if body.get(key):
                member[key] = body[key]
        if "vip" in body:
            member["vip"] = bool(body["vip"])
        member["last_changed"] = _now()

    def _batch_subscribe(self, req: Request, list_id: str) -> Response:
        lst = self._list(list_id)
        body = _check_fields(req.json(), BATCH_FIELDS)
        members = body.get("members")
        if not isinstance(members, list):
            raise _schema_error("members", "Required property 'members' must be an array.")
        if len(members) > MAX_BATCH_MEMBERS:
            raise _invalid(
                f"You may only submit up to {MAX_BATCH_MEMBERS} members in a "
                f"single batch subscribe; you sent {len(members)}.",
                [{"field": "members", "message": f"Maximum {MAX_BATCH_MEMBERS} items"}],
            )
        for i, item in enumerate(members):
            _check_fields(item, BATCH_MEMBER_FIELDS, f"members.item:{i}.")
        update_existing = bool(body.get("update_existing", False))
        sync_tags = bool(body.get("sync_tags", False))
        skip_duplicates = (req.query_value("skip_duplicate_check") or "").lower() == "true"

        new, updated, errors, seen = [], [], [], set()
        for item in members:
            email = item.get("email_address")
            try:
                email = self._check_email(email)
                h = subscriber_hash(email)
                if h in seen:
                    if skip_duplicates:
                        continue
                    raise MemberError(
                        "Invalid Resource", f"{email} is a duplicate in this batch request."
                    )
                seen.add(h)
                self._check_not_forgotten(lst, email)
                status = self._check_status(item.get("status"), "status")
                merge = self._merge_values(lst, item.get("merge_fields"))
                existing = lst["members"].get(h)
                if existing is None or existing["status"] == "archived":
                    new.append(self._create(lst, email, status, merge, item))
                elif not update_existing:
                    raise MemberError(
                        "Member Exists",
                        f"{email} is already a list member, do you want to update? please "
                        "provide update_existing:true in the request body",
                        code="ERROR_CONTACT_EXISTS",
                    )
                else:
                    self._update(lst, existing, status, merge, item)
                    if sync_tags:  # the request carries no tags, so they are all replaced by none
                        existing["tags"] = {}
                    updated.append(existing)
            except MemberError as exc:
                errors.append(
                    {
                        "email_address": email if isinstance(email, str) else "",
                        "error": exc.detail,
                        "error_code": exc.code,
                        "field": exc.field,
                        "field_message": exc.field_message,
                    }
                )
        if new:
            # The list only grows (a million members at scale): frozen, the members stop
            # being re-scanned by every full collection, which would slow each request
            # down as the list fills, as the real API does not.
            gc.freeze()
        return Response(
            200,
            {
                "new_members": [self._member_view(lst, m) for m in new],
                "updated_members": [self._member_view(lst, m) for m in updated],
                "errors": errors,
                "total_created": len(new),
                "total_updated": len(updated),
                "error_count": len(errors),
                "_links": [],
            },
        )

    def _post_member(self, req: Request, list_id: str) -> Response:
        lst = self._list(list_id)
        body = _check_fields(req.json(), PUT_FIELDS - {"status_if_new"} | {"tags"})
        try:
            email = self._check_email(body.get("email_address"))
            self._check_not_forgotten(lst, email)
            status = self._check_status(body.get("status"), "status")
            merge = self._merge_values(lst, body.get("merge_fields"))
        except MemberError as exc:
            raise exc.as_api_error() from None
        existing = lst["members"].get(subscriber_hash(email))
        if existing is not None and existing["status"] != "archived":
            raise ApiError(
                400,
                "Member Exists",
                f"{email} is already a list member. Use PUT to insert or update list members.",
            )
        member = self._create(lst, email, status, merge, body)
        for name in body.get("tags") or []:
            if isinstance(name, str) and name:
                self._tag(lst, member, name, True)
        return Response(200, self._member_view(lst, member))

    def _put_member(self, req: Request, list_id: str, hash: str) -> Response:
        lst = self._list(list_id)
        body = _check_fields(req.json(), PUT_FIELDS)
        for required in ("email_address", "status_if_new"):
            if required not in body:
                raise _schema_error(required, f"Required property '{required}' is missing.")
        try:
            email = self._check_email(body["email_address"])
            if subscriber_hash(email) != hash.lower():
                raise MemberError(
                    "Invalid Resource",
                    "The email address does not match the subscriber hash.",
                    field="email_address",
                    field_message="does not match the hash",
                )
            self._check_not_forgotten(lst, email)
            status_if_new = self._check_status(body["status_if_new"], "status_if_new")
            status = body.get("status")
            if status is not None:
                self._check_status(status, "status")
            merge = self._merge_values(lst, body.get("merge_fields"))
            existing = lst["members"].get(hash.lower())
            if existing is None or existing["status"] == "archived":
                member = self._create(lst, email, status or status_if_new, merge, body)
            else:
                member = existing
                self._update(lst, member, status, merge, body)
        except MemberError as exc:
            raise exc.as_api_error() from None
        return Response(200, self._member_view(lst, member))

    def _patch_member(self, req: Request, list_id: str, hash: str) -> Response:
        lst = self._list(list_id)
        member = self._existing(lst, hash)
        body = _check_fields(req.json(), PATCH_FIELDS)
        try:
            status = body.get("status")
            if status is not None:
                self._check_status(status, "status", PATCH_STATUSES)
            merge = self._merge_values(lst, body.get("merge_fields"))
            new_email = body.get("email_address")
            if new_email is not None and new_email.lower() != member["email_address"].lower():
                self._check_email(new_email)
                new_hash = subscriber_hash(new_email)
                if new_hash in lst["members"]:
                    raise MemberError("Invalid Resource", f"{new_email} is already a list member.")
                del lst["members"][member["id"]]
                member.update(id=new_hash, email_address=new_email)
                lst["members"][new_hash] = member
            self._update(lst, member, status, merge, body)
        except MemberError as exc:
            raise exc.as_api_error() from None
        return Response(200, self._member_view(lst, member))

    def _archive_member(self, req: Request, list_id: str, hash: str) -> Response:
        member = self._existing(self._list(list_id), hash)
        member["status"] = "archived"
        member["last_changed"] = _now()
        return Response(204)

    def _delete_permanent(self, req: Request, list_id: str, hash: str) -> Response:
        lst = self._list(list_id)
        if hash.lower() not in lst["members"]:
            raise _not_found()
        del lst["members"][hash.lower()]
        lst["forgotten"].append(hash.lower())
        return Response(204)

    # ---- members: reads ---------------------------------------------------------------

    def _existing(self, lst: dict, hash: str) -> dict:
        member = lst["members"].get(hash.lower())
        if member is None:
            raise _not_found()
        return member

    def _member_view(self, lst: dict, m: dict) -> dict:
        merge: dict[str, Any] = {f["tag"]: "" for f in lst["merge_fields"]}
        merge.update(m["merge_fields"])
        tags = [{"id": lst["tags"][name], "name": name} for name in m["tags"]]
        full = " ".join(str(merge.get(k) or "") for k in ("FNAME", "LNAME")).strip()
        return {
            "id": m["id"],
            "email_address": m["email_address"],
            "unique_email_id": m["unique_email_id"],
            "contact_id": m["contact_id"],
            "full_name": full,
            "web_id": m["web_id"],
            "email_type": m["email_type"],
            "status": m["status"],
            "consents_to_one_to_one_messaging": True,
            "merge_fields": merge,
            "interests": {},
            "stats": {"avg_open_rate": 0, "avg_click_rate": 0},
            "ip_signup": m["ip_signup"],
            "timestamp_signup": m["timestamp_signup"],
            "ip_opt": m["ip_opt"],
            "timestamp_opt": m["timestamp_opt"],
            "member_rating": 2,
            "last_changed": m["last_changed"],
            "language": m["language"],
            "vip": m["vip"],
            "email_client": "",
            "location": {
                "latitude": 0,
                "longitude": 0,
                "gmtoff": 0,
                "dstoff": 0,
                "country_code": "",
                "timezone": "",
                "region": "",
            },
            "source": m["source"],
            "tags_count": len(tags),
            "tags": tags[:50],
            "list_id": lst["id"],
            "_links": [],
        }

    def _get_members(self, req: Request, list_id: str) -> Response:
        lst = self._list(list_id)
        count = _int_param(req, "count", 10, MAX_COUNT)
        offset = _int_param(req, "offset", 0)
        members = list(lst["members"].values())
        status = req.query_value("status")
        if status:
            members = [m for m in members if m["status"] == status]
        page = members[offset : offset + count]
        return Response(
            200,
            {
                "members": [self._member_view(lst, m) for m in page],
                "list_id": list_id,
                "total_items": len(members),
                "_links": [],
            },
        )

    def _get_member(self, req: Request, list_id: str, hash: str) -> Response:
        lst = self._list(list_id)
        return Response(200, self._member_view(lst, self._existing(lst, hash)))

    # ---- tags -------------------------------------------------------------------------

    @staticmethod
    def _new_tag(lst: dict, name: str) -> int:
        """The static segment (tag) named `name`, created when missing; its id."""
        if name not in lst["tags"]:
            lst["tags"][name] = lst["next_tag_id"]
            lst["next_tag_id"] += 1
            now = _now()
            lst.setdefault("segment_dates", {})[name] = [now, now]
        return lst["tags"][name]

    def _tag(self, lst: dict, member: dict, name: str, active: bool) -> bool:
        """Put the member in (or take it out of) the tag's static segment; True if changed."""
        if active:
            self._new_tag(lst, name)
            if name in member["tags"]:
                return False
            member["tags"][name] = _now()
        elif member["tags"].pop(name, None) is None:
            return False
        dates = lst.setdefault("segment_dates", {}).setdefault(name, [_now(), _now()])
        dates[1] = _now()
        return True

    def _get_member_tags(self, req: Request, list_id: str, hash: str) -> Response:
        lst = self._list(list_id)
        member = self._existing(lst, hash)
        count = _int_param(req, "count", 10, MAX_COUNT)
        offset = _int_param(req, "offset", 0)
        tags = [
            {"id": lst["tags"][name], "name": name, "date_added": added}
            for name, added in member["tags"].items()
        ]
        return Response(
            200, {"tags": tags[offset : offset + count], "total_items": len(tags), "_links": []}
        )

    def _post_member_tags(self, req: Request, list_id: str, hash: str) -> Response:
        lst = self._list(list_id)
        member = self._existing(lst, hash)
        body = _check_fields(req.json(), frozenset({"tags", "is_syncing"}))
        tags = body.get("tags")
        if not isinstance(tags, list):
            raise _schema_error("tags", "Required property 'tags' is missing or not an array.")
        changes = []
        for i, tag in enumerate(tags):
            _check_fields(tag, frozenset({"name", "status"}), f"tags.item:{i}.")
            name, status = tag.get("name"), tag.get("status")
            if not isinstance(name, str) or not name.strip() or len(name) > 100:
                raise _schema_error(f"tags.item:{i}.name", "Tag names must be 1 to 100 characters.")
            if status not in ("active", "inactive"):
                raise _schema_error(
                    f"tags.item:{i}.status",
                    "Data presented is not one of the accepted values: active, inactive.",
                )
            changes.append((name.strip(), status == "active"))
        for name, active in changes:
            self._tag(lst, member, name, active)
        member["last_changed"] = _now()
        return Response(204)

    # ---- segments (tags are static segments) ------------------------------------------

    def _segment_name(self, lst: dict, segment_id: str) -> str:
        by_id = {str(i): name for name, i in lst["tags"].items()}
        name = by_id.get(segment_id)
        if name is None:
            raise _not_found()
        return name

    def _segment_view(self, lst: dict, name: str, req: Request) -> dict:
        # member_count counts subscribed members, and others only when asked to.
        counted = {"subscribed"} | {
            status
            for status in ("cleaned", "transactional", "unsubscribed")
            if (req.query_value(f"include_{status}") or "").lower() == "true"
        }
        created, updated = lst.get("segment_dates", {}).get(name) or (_now(), _now())
        return {
            "id": lst["tags"][name],
            "name": name,
            "member_count": sum(
                1 for m in lst["members"].values() if name in m["tags"] and m["status"] in counted
            ),
            "type": "static",
            "created_at": created,
            "updated_at": updated,
            "list_id": lst["id"],
            "_links": [],
        }

    def _get_segments(self, req: Request, list_id: str) -> Response:
        lst = self._list(list_id)
        count = _int_param(req, "count", 10, MAX_COUNT)
        offset = _int_param(req, "offset", 0)
        kind = _choice_param(req, "type", SEGMENT_TYPES)
        names = list(lst["tags"]) if kind in (None, "static") else []
        return Response(
            200,
            {
                "segments": [
                    self._segment_view(lst, n, req) for n in names[offset : offset + count]
                ],
                "list_id": list_id,
                "total_items": len(names),
                "_links": [],
            },
        )

    def _get_segment(self, req: Request, list_id: str, segment_id: str) -> Response:
        lst = self._list(list_id)
        return Response(200, self._segment_view(lst, self._segment_name(lst, segment_id), req))

    @staticmethod
    def _address_list(body: dict, field: str) -> list[str]:
        value = body.get(field)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
            raise _schema_error(field, f"{field} must be an array of email addresses.")
        if len(value) > MAX_SEGMENT_MEMBERS:
            raise _invalid(
                f"You may only submit up to {MAX_SEGMENT_MEMBERS} addresses in {field}; "
                f"you sent {len(value)}.",
                [{"field": field, "message": f"Maximum {MAX_SEGMENT_MEMBERS} items"}],
            )
        return value

    def _post_segment(self, req: Request, list_id: str) -> Response:
        lst = self._list(list_id)
        body = _check_fields(req.json(), SEGMENT_FIELDS)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_TAG_NAME:
            raise _schema_error("name", f"Segment names must be 1 to {MAX_TAG_NAME} characters.")
        if "static_segment" not in body:
            if "options" in body:
                raise _invalid("This stand-in keeps static segments (tags) only, not saved ones.")
            raise _invalid('Must provide either an "options" field or a "static_segment" field')
        emails = self._address_list(body, "static_segment")
        name = name.strip()
        if name in lst["tags"]:
            raise _invalid(f'A segment or tag named "{name}" already exists in this audience.')
        self._new_tag(lst, name)
        for email in emails:  # addresses that are not list members are ignored here
            member = self._listed(lst, email)
            if member is not None:
                self._tag(lst, member, name, True)
        return Response(200, self._segment_view(lst, name, req))

    @staticmethod
    def _listed(lst: dict, email: str) -> dict | None:
        member = lst["members"].get(subscriber_hash(email))
        return member if member is not None and member["status"] != "archived" else None

    def _batch_segment_members(self, req: Request, list_id: str, segment_id: str) -> Response:
        lst = self._list(list_id)
        name = self._segment_name(lst, segment_id)
        body = _check_fields(req.json(), SEGMENT_BATCH_FIELDS)
        to_add = self._address_list(body, "members_to_add")
        to_remove = self._address_list(body, "members_to_remove")
        added, removed, unknown = [], [], []
        for emails, active, done in ((to_add, True, added), (to_remove, False, removed)):
            for email in emails:
                member = self._listed(lst, email)
                if member is None:
                    unknown.append(email)
                elif self._tag(lst, member, name, active):
                    member["last_changed"] = _now()
                    done.append(member)
        errors = [{"email_addresses": unknown, "error": NOT_ON_LIST}] if unknown else []
        return Response(
            200,
            {
                "members_added": [self._member_view(lst, m) for m in added],
                "members_removed": [self._member_view(lst, m) for m in removed],
                "errors": errors,
                "total_added": len(added),
                "total_removed": len(removed),
                "error_count": len(unknown),
                "_links": [],
            },
        )
