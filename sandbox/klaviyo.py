"""A stand-in for the Klaviyo API (profiles, lists, subscriptions, deletion), revision 2026-07-15.

Built from Klaviyo's OpenAPI description of the profiles category (kept compressed in
`sandbox/schemas/`) and its documented behaviour, strict where the real API is strict:

- Every call needs `Authorization: Klaviyo-API-Key <private key>` and a `revision` header
  naming a published revision (`YYYY-MM-DD[.suffix]`); a missing or unknown one is a 400.
- Bodies are JSON:API documents, validated against the spec's request schemas (for lists and
  deletion jobs, which the profiles spec lacks, against schemas of the same shape written
  here); an attribute the schema does not declare is refused, so a client's typo shows.
  Errors are JSON:API `errors` arrays.
- Bulk profile import: at most 10,000 profiles, 5 MB per request and 100 KB per profile. The
  job is queued and completes after `job_seconds`; a profile that cannot be imported (an
  invalid address) is reported as an import error of the job, the rest are imported.
- Properties: a null value leaves a property as it was; only `meta.patch_properties.unset`
  removes one.
- Subscription jobs take at most 1,000 profiles, unsubscription and suppression jobs 100.
  Subscribing removes an unsubscribe suppression, as the real API does: a client that must
  not re-subscribe anyone has to check first. `resubscribed` counts such profiles.
- Lists: create, find by name, add or remove at most 1,000 profiles (by id) per call.
- Data-privacy deletion jobs delete one profile (by email or id) and its list memberships.
- Rate limits per endpoint, with two fixed windows (burst per second, steady per minute) at
  the endpoint's tier; every answer below the limit carries `RateLimit-Limit`,
  `RateLimit-Remaining` and `RateLimit-Reset` (the steady window), and a refused one is a 429
  with `Retry-After`. `enforce_limits=False` turns them off.

Faults: `inject_faults(rate, seed, kinds)` refuses that share of API requests with a 429,
500 or 503, reproducibly; the server's `--fault-*` options apply too (`throttled_response`).

Not part of the real API, under `/api/_sandbox/`: `GET stats` (requests per method and path
template, 429s given) and `POST reset`.
"""

from __future__ import annotations

import copy
import gzip
import json
import math
import os
import random
import re
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from sandbox.http_base import BadRequest, Request, Response

SPEC_PATH = Path(__file__).parent / "schemas" / "klaviyo-profiles_2026-07-15.openapi.json.gz"
LATEST_REVISION = "2026-07-15"
# Published revisions: quarterly on the 15th since mid-2023, and the earlier ones between.
REVISIONS = frozenset(
    {f"{y}-{m:02d}-15" for y in range(2023, 2027) for m in (1, 4, 7, 10)}
    - {"2023-01-15", "2023-04-15", "2026-10-15"}
    | {"2023-01-24", "2023-02-22", "2023-06-15", "2023-08-15", "2023-09-15", "2023-12-15"}
    | {"2024-02-15", "2024-05-15", "2024-06-15"}
)
REVISION_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(\.[a-z0-9]+)?$")
MAX_IMPORT_PROFILES = 10_000
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_PROFILE_BYTES = 100 * 1024
MAX_SUBSCRIBE = 1000
MAX_UNSUBSCRIBE = 100
MAX_SUPPRESS = 100
MAX_LIST_CHANGE = 1000
MAX_PAGE = 100
MAX_ANY_VALUES = 100
JSON_API = "application/vnd.api+json"

# (burst per second, steady per minute) by tier, as Klaviyo's reference lists them.
TIERS = {"S": (3, 60), "M": (10, 150), "L": (75, 750)}
EMAIL_RE = re.compile(
    r"^(?!\.)(?!.*\.\.)[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}(?<!\.)"
    r"@(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)

# (method, pattern, template, handler, tier, schema: spec component name, local name or None)
_ROUTES: list[tuple[str, re.Pattern[str], str, str, str | None, str | None]] = []


def _route(method: str, template: str, handler: str, tier: str | None, schema: str | None) -> None:
    pattern = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$"
    _ROUTES.append((method, re.compile(pattern), template, handler, tier, schema))


_route("GET", "/_sandbox/stats", "_sandbox_stats", None, None)
_route("POST", "/_sandbox/reset", "_sandbox_reset", None, None)
_route("GET", "/profiles", "_get_profiles", "L", None)
_route("POST", "/profile-bulk-import-jobs", "_post_import", "M", "ProfileImportJobCreateQuery")
_route("GET", "/profile-bulk-import-jobs/{job_id}", "_get_import", "M", None)
_route("GET", "/profile-bulk-import-jobs/{job_id}/import-errors", "_get_import_errors", "M", None)
_route(
    "POST",
    "/profile-subscription-bulk-create-jobs",
    "_post_subscribe",
    "L",
    "SubscriptionCreateJobCreateQuery",
)
_route(
    "POST",
    "/profile-subscription-bulk-delete-jobs",
    "_post_unsubscribe",
    "L",
    "SubscriptionDeleteJobCreateQuery",
)
_route(
    "POST",
    "/profile-suppression-bulk-create-jobs",
    "_post_suppress",
    "L",
    "SuppressionCreateJobCreateQuery",
)
_route("GET", "/lists", "_get_lists", "L", None)
_route("POST", "/lists", "_post_list", "M", "ListCreateQuery")
_route("POST", "/lists/{list_id}/relationships/profiles", "_add_to_list", "M", "ListMembersQuery")
_route(
    "DELETE",
    "/lists/{list_id}/relationships/profiles",
    "_remove_from_list",
    "M",
    "ListMembersQuery",
)
_route("POST", "/data-privacy-deletion-jobs", "_post_deletion", "S", "DataPrivacyDeletionJobQuery")

# Schemas of the endpoints outside the profiles spec, in the spec's own style.
_LOCAL_SCHEMAS: dict[str, dict[str, Any]] = {
    "ListCreateQuery": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "object",
                "required": ["type", "attributes"],
                "properties": {
                    "type": {"type": "string", "enum": ["list"]},
                    "attributes": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "opt_in_process": {
                                "type": "string",
                                "enum": ["double_opt_in", "single_opt_in"],
                            },
                        },
                    },
                },
            }
        },
    },
    "ListMembersQuery": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["type", "id"],
                    "properties": {
                        "type": {"type": "string", "enum": ["profile"]},
                        "id": {"type": "string"},
                    },
                },
            }
        },
    },
    "DataPrivacyDeletionJobQuery": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "object",
                "required": ["type", "attributes"],
                "properties": {
                    "type": {"type": "string", "enum": ["data-privacy-deletion-job"]},
                    "attributes": {
                        "type": "object",
                        "required": ["profile"],
                        "properties": {
                            "profile": {
                                "type": "object",
                                "required": ["data"],
                                "properties": {
                                    "data": {
                                        "type": "object",
                                        "required": ["type", "attributes"],
                                        "properties": {
                                            "type": {"type": "string", "enum": ["profile"]},
                                            "id": {"type": "string"},
                                            "attributes": {
                                                "type": "object",
                                                "properties": {
                                                    "email": {"type": "string"},
                                                    "phone_number": {"type": "string"},
                                                },
                                            },
                                        },
                                    }
                                },
                            }
                        },
                    },
                },
            }
        },
    },
}


class ApiError(Exception):
    """An error answered as a JSON:API `errors` document."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        pointer: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.status, self.code, self.title, self.detail = status, code, title, detail
        self.pointer, self.headers = pointer, headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "status": self.status,
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
        }
        if self.pointer:
            error["source"] = {"pointer": self.pointer}
        return {"errors": [error]}


def _invalid(detail: str, pointer: str = "/data") -> ApiError:
    return ApiError(400, "invalid", "Invalid input.", detail, pointer)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _openapi_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: `nullable` becomes a null alternative, and objects
    that declare their properties refuse others (the stand-in is strict on purpose)."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _openapi_to_jsonschema(v)
        for k, v in node.items()
        if k not in ("nullable", "example", "description")
    }
    if "properties" in node and isinstance(node["properties"], dict):
        out["properties"] = {k: _openapi_to_jsonschema(v) for k, v in node["properties"].items()}
        out.setdefault("additionalProperties", False)
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def _validator(name: str) -> Any:
    import jsonschema

    if name in _LOCAL_SCHEMAS:
        return jsonschema.Draft7Validator(_openapi_to_jsonschema(_LOCAL_SCHEMAS[name]))
    with gzip.open(SPEC_PATH, "rt", encoding="utf-8") as fh:
        components = json.load(fh)["components"]["schemas"]
    # Inline the references once: resolving them at every validation costs seconds per job.
    return jsonschema.Draft7Validator(_openapi_to_jsonschema(_inline(components[name], components)))


def _inline(node: Any, components: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    if isinstance(node, list):
        return [_inline(n, components, seen) for n in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        if name in seen:
            raise ValueError(f"recursive schema {name} cannot be inlined")
        return _inline(components[name], components, (*seen, name))
    return {k: _inline(v, components, seen) for k, v in node.items()}


@cache
def _fast_validator(name: str) -> Any:
    """The same schema compiled to Python by fastjsonschema (a dev dependency; None without
    it), formats unchecked as the jsonschema validator leaves them. A valid body, which
    nearly every one is, passes in a fortieth of the time (10,000 profiles: 12 ms, not
    half a second); one it refuses goes to jsonschema, whose words the error carries."""
    try:
        import fastjsonschema
    except ImportError:
        return None
    check = fastjsonschema.compile(_validator(name).schema, use_formats=False)

    def valid(body: Any) -> bool:
        try:
            check(body)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    return valid


def _validate(name: str, body: Any) -> None:
    fast = _fast_validator(name)
    if fast is not None and fast(body):
        return
    error = next(iter(sorted(_validator(name).iter_errors(body), key=lambda e: e.path)), None)
    if error is not None:
        pointer = "/" + "/".join(str(p) for p in error.absolute_path)
        raise _invalid(f"{error.message} at '{pointer}'", pointer)


class _Windows:
    """Klaviyo's fixed windows for one endpoint: a burst second and a steady minute."""

    def __init__(self, burst: int, steady: int):
        self.burst, self.steady = burst, steady
        self.second = self.minute = -1
        self.in_second = self.in_minute = 0

    def take(self, now: float) -> dict[str, str]:
        second, minute = int(now), int(now // 60)
        if second != self.second:
            self.second, self.in_second = second, 0
        if minute != self.minute:
            self.minute, self.in_minute = minute, 0
        if self.in_minute >= self.steady:
            wait = max(1, math.ceil((minute + 1) * 60 - now))
            raise ApiError(
                429,
                "throttled",
                "Request was throttled.",
                f"Request was throttled. Expected available in {wait} seconds.",
                headers={"Retry-After": str(wait)},
            )
        if self.in_second >= self.burst:
            raise ApiError(
                429,
                "throttled",
                "Request was throttled.",
                "Request was throttled. Expected available in 1 second.",
                headers={"Retry-After": "1"},
            )
        self.in_second += 1
        self.in_minute += 1
        return {
            "RateLimit-Limit": str(self.steady),
            "RateLimit-Remaining": str(self.steady - self.in_minute),
            "RateLimit-Reset": str(max(1, math.ceil((minute + 1) * 60 - now))),
        }


class KlaviyoStandIn:
    """The Klaviyo API subset Tailor uses, in memory, persisted on close."""

    prefix = "/api/"

    def __init__(
        self,
        api_key: str,
        state_path: Path | str | None = None,
        *,
        enforce_limits: bool = True,
        job_seconds: float = 0.0,
        latency: float = 0.0,
    ) -> None:
        self.api_key = api_key
        self.state_path = Path(state_path) if state_path else None
        self.enforce_limits = enforce_limits
        self.job_seconds = job_seconds
        self.latency = latency
        self._lock = threading.RLock()
        # Counting and rate limiting take a lock of their own: a request is counted against
        # its windows when it arrives, as Klaviyo's limiter does, not once another request's
        # work (an import of 10,000 profiles holds `_lock` for a while) lets it through.
        self._meter = threading.Lock()
        self.inject_faults(0.0)
        self._clear()
        if self.state_path and self.state_path.exists():
            saved = json.loads(self.state_path.read_text(encoding="utf-8"))
            self.profiles = saved["profiles"]
            self.lists = {k: {**v, "members": set(v["members"])} for k, v in saved["lists"].items()}
            self._by_email = {p["email"]: pid for pid, p in self.profiles.items() if p["email"]}

    def _clear(self) -> None:
        self.profiles: dict[str, dict[str, Any]] = {}
        self.lists: dict[str, dict[str, Any]] = {}
        self._by_email: dict[str, str] = {}
        self._jobs: dict[str, dict[str, Any]] = {}
        self._windows: dict[str, _Windows] = {}
        self._stats: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.resubscribed = 0
        self.deleted = 0
        # What was asked per address, for tests that count sends: "import a@b", "subscribe a@b".
        self.writes: Counter[str] = Counter()

    # ---- lifecycle and sandbox-only helpers -------------------------------------------

    def stats(self) -> dict[str, int]:
        """Requests served per `METHOD /template` (the `/api` prefix left out)."""
        with self._lock:
            return dict(self._stats)

    def reset(self) -> None:
        """Forget every profile, list, job, rate window and request count."""
        with self._lock:
            self._clear()

    def save(self) -> None:
        if not self.state_path:
            return
        with self._lock:
            lists = {k: {**v, "members": sorted(v["members"])} for k, v in self.lists.items()}
            text = json.dumps({"profiles": self.profiles, "lists": lists}, separators=(",", ":"))
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(f".{self.state_path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.state_path)

    def close(self) -> None:
        self.save()

    def profile(self, email: str) -> dict[str, Any] | None:
        """A copy of the profile with this address (for tests), with `lists` by name."""
        with self._lock:
            pid = self._by_email.get(email.strip().lower())
            if pid is None:
                return None
            view = copy.deepcopy(self.profiles[pid])
            view["lists"] = sorted(
                lst["name"] for lst in self.lists.values() if pid in lst["members"]
            )
            return view

    def set_consent(self, email: str, consent: str) -> None:
        """Change a profile's email consent as the person would (e.g. an unsubscribe link)."""
        with self._lock:
            p = self.profiles[self._by_email[email.strip().lower()]]
            p["consent"] = consent
            p["suppressed"] = consent == "UNSUBSCRIBED"

    def inject_faults(
        self, rate: float, seed: int = 0, kinds: tuple[str, ...] = ("429", "500", "503")
    ) -> None:
        """Refuse `rate` of the API requests from now on, reproducibly from `seed`."""
        if not 0.0 <= rate <= 1.0 or not kinds or set(kinds) - {"429", "500", "503"}:
            raise ValueError("fault rate must be in [0, 1] and kinds among 429, 500, 503")
        with self._lock:
            self.fault_rate, self.fault_kinds = rate, tuple(kinds)
            self._faults = random.Random(seed)
            self.faults_injected: Counter[str] = Counter()

    def throttled_response(self, retry_after: int = 1) -> Response:
        """What Klaviyo answers over its rate limit (used by the server's fault injection)."""
        error = ApiError(
            429,
            "throttled",
            "Request was throttled.",
            f"Request was throttled. Expected available in {retry_after} seconds.",
        )
        return Response(
            429, error.body(), {"Content-Type": JSON_API, "Retry-After": str(retry_after)}
        )

    # ---- dispatch ---------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        path = "/" + req.path[len(self.prefix) :].strip("/")
        matched = [r for r in _ROUTES if r[1].match(path)]
        route = next((r for r in matched if r[0] == req.method), None)
        template = route[2] if route else (matched[0][2] if matched else "<unknown>")
        sandbox_only = template.startswith("/_sandbox/")
        key = f"{req.method} {template}"
        if not sandbox_only:
            with self._meter:
                self._stats[key] += 1
        headers = {"Content-Type": JSON_API}
        try:
            if sandbox_only and route is not None:
                with self._lock:
                    return getattr(self, route[3])(req)
            self._authenticate(req)
            self._check_revision(req)
            if route is None:
                if matched:
                    raise ApiError(405, "method_not_allowed", "Method not allowed.", key)
                raise ApiError(404, "not_found", "Not found.", f"{req.path} does not exist.")
            _, pattern, _, handler, tier, schema = route
            with self._meter:
                self._maybe_fault()
                if self.enforce_limits and tier:
                    window = self._windows.setdefault(key, _Windows(*TIERS[tier]))
                    try:
                        headers.update(window.take(time.time()))
                    except ApiError:
                        self.throttled[key] += 1
                        raise
            body = None
            if schema is not None:
                if req.method == "POST" and len(req.body) > MAX_IMPORT_BYTES:
                    raise ApiError(
                        413,
                        "request_too_large",
                        "Request too large.",
                        f"The payload of {len(req.body)} bytes is over 5 MB.",
                    )
                body = req.json()
                _validate(schema, body)
            if self.latency:
                time.sleep(self.latency)
            with self._lock:
                resp: Response = getattr(self, handler)(
                    req, body, **pattern.match(path).groupdict()
                )
            resp.headers = {**headers, **resp.headers}
            return resp
        except ApiError as exc:
            return Response(exc.status, exc.body(), {**headers, **exc.headers})
        except BadRequest as exc:
            return Response(400, _invalid(str(exc)).body(), headers)

    def _authenticate(self, req: Request) -> None:
        header = req.headers.get("Authorization") or ""
        scheme, _, key = header.partition(" ")
        if scheme != "Klaviyo-API-Key" or not key.strip():
            raise ApiError(
                401,
                "not_authenticated",
                "Authentication credentials were not provided.",
                "Missing or invalid authorization scheme. Please use Klaviyo-API-Key.",
            )
        if key.strip() != self.api_key:
            raise ApiError(
                401,
                "authentication_failed",
                "Incorrect authentication credentials.",
                "Incorrect authentication credentials.",
            )

    @staticmethod
    def _check_revision(req: Request) -> None:
        revision = req.headers.get("revision")
        if not revision:
            raise ApiError(
                400,
                "invalid",
                "Invalid input.",
                "The revision header is required (e.g. revision: 2026-07-15).",
                None,
            )
        match = REVISION_RE.match(revision.strip())
        if not match or match.group(1) not in REVISIONS:
            raise ApiError(
                400,
                "invalid",
                "Invalid input.",
                f"'{revision}' is not a valid revision. The latest revision is {LATEST_REVISION}.",
            )

    def _maybe_fault(self) -> None:
        if self.fault_rate <= 0 or self._faults.random() >= self.fault_rate:
            return
        kind = self._faults.choice(self.fault_kinds)
        self.faults_injected[kind] += 1
        if kind == "429":
            raise ApiError(
                429,
                "throttled",
                "Request was throttled.",
                "Request was throttled. Expected available in 1 second.",
                headers={"Retry-After": "1"},
            )
        raise ApiError(int(kind), "error", "A server error occurred.", "Try again later.")

    # ---- sandbox-only -----------------------------------------------------------------

    def _sandbox_stats(self, req: Request) -> Response:
        return Response(
            200,
            {
                "requests": dict(self._stats),
                "total_requests": sum(self._stats.values()),
                "throttled": dict(self.throttled),
                "faults_injected": dict(self.faults_injected),
            },
        )

    def _sandbox_reset(self, req: Request) -> Response:
        self._clear()
        return Response(204)

    # ---- profiles ---------------------------------------------------------------------

    def _find(self, email: Any) -> dict[str, Any] | None:
        if not isinstance(email, str):
            return None
        pid = self._by_email.get(email.strip().lower())
        return self.profiles.get(pid) if pid else None

    def _create(self, email: str) -> dict[str, Any]:
        pid = "01" + uuid.uuid4().hex[:24].upper()
        profile = {
            "id": pid,
            "email": email.strip().lower(),
            "first_name": None,
            "last_name": None,
            "properties": {},
            "consent": "NEVER_SUBSCRIBED",
            "suppressed": False,
            "created": _now(),
            "updated": _now(),
        }
        self.profiles[pid] = profile
        self._by_email[profile["email"]] = pid
        return profile

    def _view(self, p: dict[str, Any], subscriptions: bool) -> dict[str, Any]:
        attributes = {
            "email": p["email"],
            "first_name": p["first_name"],
            "last_name": p["last_name"],
            "properties": dict(p["properties"]),
            "created": p["created"],
            "updated": p["updated"],
        }
        if subscriptions:
            suppression = [{"reason": "UNSUBSCRIBE", "timestamp": p["updated"]}]
            attributes["subscriptions"] = {
                "email": {
                    "marketing": {
                        "can_receive_email_marketing": p["consent"] == "SUBSCRIBED"
                        and not p["suppressed"],
                        "consent": p["consent"],
                        "suppression": suppression if p["suppressed"] else [],
                    }
                }
            }
        return {"type": "profile", "id": p["id"], "attributes": attributes}

    def _get_profiles(self, req: Request, body: Any) -> Response:
        try:
            size = int(req.query_value("page[size]", "20") or 20)
        except ValueError:
            raise ApiError(
                400, "invalid", "Invalid input.", "page[size] must be a number"
            ) from None
        if not 1 <= size <= MAX_PAGE:
            raise _invalid(f"page[size] must be between 1 and {MAX_PAGE}", "page[size]")
        extra = req.query_value("additional-fields[profile]", "") or ""
        subscriptions = "subscriptions" in extra.split(",")
        emails = _email_filter(req.query_value("filter"))
        ordered = sorted(self.profiles) if emails is None else None
        if emails is not None:
            found = [self._by_email.get(e) for e in emails]
            ordered = sorted({pid for pid in found if pid})
        cursor = req.query_value("page[cursor]")
        start = int(cursor) if cursor and cursor.isdigit() else 0
        page = ordered[start : start + size]
        links: dict[str, str] = {"self": req.path}
        if start + size < len(ordered):
            links["next"] = f"{req.path}?page[cursor]={start + size}&page[size]={size}"
        data = [self._view(self.profiles[pid], subscriptions) for pid in page]
        return Response(200, {"data": data, "links": links})

    def _post_import(self, req: Request, body: dict[str, Any]) -> Response:
        data = body["data"]
        profiles = data["attributes"]["profiles"]["data"]
        if len(profiles) > MAX_IMPORT_PROFILES:
            raise _invalid(
                f"At most {MAX_IMPORT_PROFILES} profiles per import job, got {len(profiles)}.",
                "/data/attributes/profiles/data",
            )
        list_ids = [
            r["id"]
            for r in ((data.get("relationships") or {}).get("lists") or {}).get("data") or []
        ]
        for list_id in list_ids:
            if list_id not in self.lists:
                raise ApiError(404, "not_found", "Not found.", f"List {list_id} does not exist.")
        errors: list[dict[str, Any]] = []
        for i, item in enumerate(profiles):
            pointer = f"/data/attributes/profiles/data/{i}"
            problem = self._import_one(item, list_ids)
            if problem is not None:
                detail, field = problem
                errors.append(
                    {
                        "type": "import-error",
                        "id": str(uuid.uuid4()),
                        "attributes": {
                            "code": "invalid",
                            "title": "Invalid input.",
                            "detail": detail,
                            "source": {"pointer": f"{pointer}{field}"},
                            "original_payload": item.get("attributes") or {},
                        },
                    }
                )
        job_id = uuid.uuid4().hex
        now = time.time()
        job = {
            "id": job_id,
            "created_at": _now(),
            "ready_at": now + self.job_seconds,
            "total_count": len(profiles),
            "failed_count": len(errors),
            "errors": errors,
            "lists": list_ids,
        }
        self._jobs[job_id] = job
        return Response(202, {"data": self._job_view(job, queued=True)})

    def _import_one(self, item: dict[str, Any], list_ids: list[str]) -> tuple[str, str] | None:
        attrs = item.get("attributes") or {}
        email = attrs.get("email")
        if not email:
            return "A profile needs an email, a phone number or an external id.", "/attributes"
        if not isinstance(email, str) or not EMAIL_RE.match(email.strip()):
            return f"Invalid email address: {email!r}"[:200], "/attributes/email"
        if len(json.dumps(item)) > MAX_PROFILE_BYTES:
            return "The profile is larger than 100 KB.", ""
        self.writes[f"import {email.strip().lower()}"] += 1
        profile = self._find(email) or self._create(email)
        for name in ("first_name", "last_name"):
            if attrs.get(name) is not None:  # null leaves the value as it was
                profile[name] = attrs[name]
        for name, value in (attrs.get("properties") or {}).items():
            if value is not None:
                profile["properties"][name] = value
        patch = ((item.get("meta") or {}).get("patch_properties")) or {}
        unset = patch.get("unset") or []
        for name in [unset] if isinstance(unset, str) else unset:
            profile["properties"].pop(name, None)
        profile["updated"] = _now()
        for list_id in list_ids:
            self.lists[list_id]["members"].add(profile["id"])
        return None

    def _job_view(self, job: dict[str, Any], queued: bool = False) -> dict[str, Any]:
        done = not queued and time.time() >= job["ready_at"]
        status = "complete" if done else ("queued" if queued else "processing")
        failed = job["failed_count"] if done else 0
        return {
            "type": "profile-bulk-import-job",
            "id": job["id"],
            "attributes": {
                "status": status,
                "created_at": job["created_at"],
                "total_count": job["total_count"],
                "completed_count": job["total_count"] - failed if done else 0,
                "failed_count": failed,
                "completed_at": _now() if done else None,
                "expires_at": None,
                "started_at": job["created_at"],
            },
            "links": {"self": f"/api/profile-bulk-import-jobs/{job['id']}"},
        }

    def _job(self, job_id: str) -> dict[str, Any]:
        job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(404, "not_found", "Not found.", f"Job {job_id} does not exist.")
        return job

    def _get_import(self, req: Request, body: Any, job_id: str) -> Response:
        return Response(200, {"data": self._job_view(self._job(job_id))})

    def _get_import_errors(self, req: Request, body: Any, job_id: str) -> Response:
        job = self._job(job_id)
        size = int(req.query_value("page[size]", "20") or 20)
        if not 1 <= size <= MAX_PAGE:
            raise _invalid(f"page[size] must be between 1 and {MAX_PAGE}", "page[size]")
        cursor = req.query_value("page[cursor]")
        start = int(cursor) if cursor and cursor.isdigit() else 0
        errors = job["errors"] if time.time() >= job["ready_at"] else []
        links = {"self": req.path}
        if start + size < len(errors):
            links["next"] = f"{req.path}?page[cursor]={start + size}&page[size]={size}"
        return Response(200, {"data": errors[start : start + size], "links": links})

    # ---- consent ----------------------------------------------------------------------

    def _emails(self, body: dict[str, Any], limit: int, what: str) -> list[str]:
        profiles = body["data"]["attributes"]["profiles"]["data"]
        if len(profiles) > limit:
            raise _invalid(
                f"At most {limit} profiles per {what} job, got {len(profiles)}.",
                "/data/attributes/profiles/data",
            )
        emails = []
        for i, item in enumerate(profiles):
            email = (item.get("attributes") or {}).get("email")
            if not isinstance(email, str) or not EMAIL_RE.match(email.strip()):
                raise _invalid(
                    f"Invalid email address: {email!r}"[:200],
                    f"/data/attributes/profiles/data/{i}/attributes/email",
                )
            emails.append(email)
        return emails

    def _list_relationship(self, body: dict[str, Any]) -> str | None:
        rel = ((body["data"].get("relationships") or {}).get("list") or {}).get("data")
        if rel is None:
            return None
        if rel["id"] not in self.lists:
            raise ApiError(404, "not_found", "Not found.", f"List {rel['id']} does not exist.")
        return rel["id"]

    def _post_subscribe(self, req: Request, body: dict[str, Any]) -> Response:
        emails = self._emails(body, MAX_SUBSCRIBE, "subscription")
        list_id = self._list_relationship(body)
        for email in emails:
            self.writes[f"subscribe {email.strip().lower()}"] += 1
            profile = self._find(email) or self._create(email)
            if profile["consent"] == "UNSUBSCRIBED" or profile["suppressed"]:
                self.resubscribed += 1  # the real API lifts the unsubscribe suppression
            profile["consent"], profile["suppressed"] = "SUBSCRIBED", False
            if list_id:
                self.lists[list_id]["members"].add(profile["id"])
        return Response(202)

    def _post_unsubscribe(self, req: Request, body: dict[str, Any]) -> Response:
        emails = self._emails(body, MAX_UNSUBSCRIBE, "unsubscription")
        self._list_relationship(body)
        for email in emails:
            profile = self._find(email) or self._create(email)
            profile["consent"], profile["suppressed"] = "UNSUBSCRIBED", True
        return Response(202)

    def _post_suppress(self, req: Request, body: dict[str, Any]) -> Response:
        emails = self._emails(body, MAX_SUPPRESS, "suppression")
        for email in emails:
            profile = self._find(email) or self._create(email)
            profile["suppressed"] = True
        return Response(202)

    # ---- lists ------------------------------------------------------------------------

    def _list_view(self, lst: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "list",
            "id": lst["id"],
            "attributes": {"name": lst["name"], "created": lst["created"]},
        }

    def _get_lists(self, req: Request, body: Any) -> Response:
        name = _name_filter(req.query_value("filter"))
        found = [lst for lst in self.lists.values() if name is None or lst["name"] == name]
        return Response(200, {"data": [self._list_view(lst) for lst in found], "links": {}})

    def _post_list(self, req: Request, body: dict[str, Any]) -> Response:
        list_id = uuid.uuid4().hex[:6].upper()
        lst = {
            "id": list_id,
            "name": body["data"]["attributes"]["name"],
            "created": _now(),
            "members": set(),
        }
        self.lists[list_id] = lst
        return Response(201, {"data": self._list_view(lst)})

    def _members_change(self, body: dict[str, Any], list_id: str) -> tuple[set[str], list[str]]:
        lst = self.lists.get(list_id)
        if lst is None:
            raise ApiError(404, "not_found", "Not found.", f"List {list_id} does not exist.")
        ids = [item["id"] for item in body["data"]]
        if len(ids) > MAX_LIST_CHANGE:
            raise _invalid(f"At most {MAX_LIST_CHANGE} profiles per request, got {len(ids)}.")
        return lst["members"], ids

    def _add_to_list(self, req: Request, body: dict[str, Any], list_id: str) -> Response:
        members, ids = self._members_change(body, list_id)
        for i, pid in enumerate(ids):
            if pid not in self.profiles:
                raise ApiError(
                    404,
                    "not_found",
                    "Not found.",
                    f"Profile {pid} does not exist.",
                    f"/data/{i}/id",
                )
        members.update(ids)
        return Response(204)

    def _remove_from_list(self, req: Request, body: dict[str, Any], list_id: str) -> Response:
        members, ids = self._members_change(body, list_id)
        members.difference_update(ids)
        return Response(204)

    # ---- deletion ---------------------------------------------------------------------

    def _post_deletion(self, req: Request, body: dict[str, Any]) -> Response:
        data = body["data"]["attributes"]["profile"]["data"]
        email = (data.get("attributes") or {}).get("email")
        pid = data.get("id") or (self._by_email.get(email.strip().lower()) if email else None)
        if not pid and not email:
            raise _invalid("A profile id or an email is required.")
        profile = self.profiles.pop(pid, None) if pid else None
        if profile is not None:
            self._by_email.pop(profile["email"], None)
            for lst in self.lists.values():
                lst["members"].discard(pid)
            self.deleted += 1
        return Response(202)


def _email_filter(text: str | None) -> list[str] | None:
    """Emails from `equals(email,"a")` or `any(email,["a","b"])`; None for no filter."""
    if not text:
        return None
    match = re.fullmatch(r"\s*(equals|any)\(\s*email\s*,\s*(.+)\)\s*", text)
    if not match:
        raise _invalid(f"Invalid filter: {text[:100]}", "filter")
    op, raw = match.groups()
    try:
        value = json.loads(raw.replace("'", '"'))
    except ValueError:
        raise _invalid(f"Invalid filter value: {raw[:100]}", "filter") from None
    values = [value] if op == "equals" else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _invalid("The email filter takes a string or a list of strings.", "filter")
    if len(values) > MAX_ANY_VALUES:
        raise _invalid(f"The any filter takes at most {MAX_ANY_VALUES} values.", "filter")
    return [v.strip().lower() for v in values]


def _name_filter(text: str | None) -> str | None:
    if not text:
        return None
    match = re.fullmatch(r"\s*equals\(\s*name\s*,\s*(['\"])(.*)\1\s*\)\s*", text)
    if not match:
        raise _invalid(f"Invalid filter: {text[:100]}", "filter")
    return match.group(2)
