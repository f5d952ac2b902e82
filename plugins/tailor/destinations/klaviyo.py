"""Klaviyo (API revision 2026-07-15) as a destination: profiles, lists and consent.

The Klaviyo-native shape of an audience is a list: each audience's ESP tag names a Klaviyo
list (created when missing), and its merge fields are profile properties (FNAME and LNAME
are the profile's first and last name). How each rule of the API shapes the calls:

- Contacts go through bulk profile import jobs (≤ 10,000 profiles and 5 MB per job), which
  are polled until complete; a profile the job could not import (an invalid address) comes
  back as an import error and fails alone.
- A null property leaves the old value in place, so a value that became empty is removed
  explicitly with `meta.patch_properties.unset`, never sent as null or "".
- Consent goes through subscription jobs (≤ 1,000 profiles). A subscribe lifts an
  unsubscribe suppression, so only profiles Tailor has never acknowledged are candidates,
  and only those whose email consent Klaviyo reports as NEVER_SUBSCRIBED are subscribed:
  a person who unsubscribed in Klaviyo stays unsubscribed. Unsubscribes go in jobs of 100.
- List membership is changed by profile id (≤ 1,000 per call); ids come from the profiles
  endpoint (`any(email, [...])`, 100 per page) and are kept for the run.
- Erasure is a data-privacy deletion job per profile. Klaviyo has no archive, so leaving an
  audience whose `on_leave` is `delete` deletes the profile too, except a profile that is
  unsubscribed or suppressed: deleting it would forget the opt-out, and a later sync could
  then subscribe the person again.
- The sync engine keeps `pipeline_depth` (default 2) batches in flight, so one batch's
  import job runs while another's profiles are looked up.
- Every endpoint has its own rate limits (a burst per second and a steady rate per minute).
  Calls keep under the burst of the endpoint's tier and under the steady budget that the
  `RateLimit-Remaining`/`RateLimit-Reset` headers report; a 429 or 5xx is retried after
  `Retry-After` (tailor.http).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests

from tailor.destinations import Contact, Member, Outcome, TagChange
from tailor.http import HttpClient, HttpError, RollingWindow
from tailor.redact import get_logger, mask_email

log = get_logger(__name__)

REVISION = "2026-07-15"
MAX_IMPORT_PROFILES = 10_000
MAX_IMPORT_BYTES = 4_500_000  # under Klaviyo's 5 MB, leaving room for the envelope
MAX_SUBSCRIBE = 1000
MAX_UNSUBSCRIBE = 100
MAX_LIST_CHANGE = 1000
PAGE_SIZE = 100
NEW_WINDOW_JUMP = 10.0  # seconds a steady window's reset moves on when a new one starts
NAME_FIELDS = {"FNAME": "first_name", "LNAME": "last_name"}
# (burst per second, steady per minute) of each endpoint Tailor calls, from Klaviyo's reference.
TIERS: dict[str, tuple[int, int]] = {
    "GET /api/profiles": (75, 750),
    "POST /api/profile-bulk-import-jobs": (10, 150),
    "GET /api/profile-bulk-import-jobs/{id}": (10, 150),
    "GET /api/profile-bulk-import-jobs/{id}/import-errors": (10, 150),
    "POST /api/profile-subscription-bulk-create-jobs": (75, 750),
    "POST /api/profile-subscription-bulk-delete-jobs": (75, 750),
    "GET /api/lists": (75, 750),
    "POST /api/lists": (10, 150),
    "POST /api/lists/{id}/relationships/profiles": (10, 150),
    "DELETE /api/lists/{id}/relationships/profiles": (10, 150),
    "POST /api/data-privacy-deletion-jobs": (3, 60),
}
POINTER_INDEX = re.compile(r"/data/attributes/profiles/data/(\d+)")

T = TypeVar("T")
R = TypeVar("R")


class KlaviyoError(RuntimeError):
    """The whole call failed (configuration, credentials, a job that never finished)."""


@dataclass
class KlaviyoConfig:
    api_key: str = field(repr=False)
    base_url: str = "https://a.klaviyo.com"
    revision: str = REVISION
    batch_size: int = MAX_IMPORT_PROFILES
    max_connections: int = 4  # per batch in flight
    # Batches the sync engine has in flight: while one batch's profiles are looked up (the
    # look-ups' own limits bind a large first sync), the next one's import job runs.
    pipeline_depth: int = 2
    job_timeout: float = 900.0  # seconds to wait for one import job

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_IMPORT_PROFILES:
            raise ValueError(f"batch_size must be between 1 and {MAX_IMPORT_PROFILES}")
        if not 1 <= self.max_connections <= 16:
            raise ValueError("max_connections must be between 1 and 16")
        if not 1 <= self.pipeline_depth <= 4:
            raise ValueError("pipeline_depth must be between 1 and 4")

    @classmethod
    def from_connection(cls, conn: Any, **overrides: Any) -> KlaviyoConfig:
        """From Tailor's `ApiConnection` ("klaviyo"): password = private API key; the host
        defaults to a.klaviyo.com; extra may set revision, batch_size, max_connections and
        pipeline_depth."""
        if not conn.password:
            raise KlaviyoError("the klaviyo connection needs the private API key as password")
        base = conn.base_url if conn.base_url not in ("", "https://", "http://") else ""
        settings: dict[str, Any] = {"base_url": base or "https://a.klaviyo.com"}
        extra = dict(conn.extra or {})
        if "revision" in extra:
            settings["revision"] = str(extra["revision"])
        for name in ("batch_size", "max_connections", "pipeline_depth"):
            if name in extra:
                settings[name] = int(extra[name])
        settings.update(overrides)
        return cls(api_key=conn.password, **settings)


def error_message(response: requests.Response) -> str:
    """Klaviyo's own words from a JSON:API errors body: `title: detail (pointer)`."""
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"
    parts = []
    for e in errors[:3]:
        if not isinstance(e, dict):
            continue
        text = ": ".join(str(e[k]) for k in ("title", "detail") if e.get(k))
        pointer = (e.get("source") or {}).get("pointer")
        parts.append(f"{text} ({pointer})" if pointer else text)
    return "; ".join(p for p in parts if p) or f"HTTP {response.status_code}"


def scrub(message: str, *emails: str) -> str:
    """The message with these addresses masked: an ESP quotes what it refused, and an
    invalid address escapes the log filter's pattern for valid ones."""
    for address in emails:
        if address:
            message = re.sub(re.escape(address), mask_email(address), message, flags=re.I)
    return message


class EndpointPacer:
    """Keeps one endpoint under its burst (a rolling second, from the tier) and under the
    steady budget the `RateLimit-*` headers of its last answer reported."""

    def __init__(self, burst: int):
        self.burst = RollingWindow(burst, 1.0)
        self.remaining: int | None = None
        self.reset_at = 0.0
        self.waited = 0.0
        self.in_flight = 0  # sent, not answered yet
        self._lock = threading.Lock()

    def before(self) -> list[float]:
        """Wait for the steady budget, then for a place in the burst second: the other way
        round, requests held back by a spent minute would all go out on its turn with burst
        places taken long before, over the burst of the new second. The burst place, for
        `after`."""
        while True:
            with self._lock:
                now = time.monotonic()
                if now >= self.reset_at:
                    self.remaining = None  # a new steady window: the next answer tells
                if self.remaining is None or self.remaining > 0:
                    if self.remaining is not None:
                        self.remaining -= 1
                    self.in_flight += 1
                    break
                wait = self.reset_at - now
                self.waited += wait
            time.sleep(wait)
        return self.burst.acquire()

    def after(self, response: requests.Response | None, place: list[float]) -> None:
        """Once per `before`, with the answer (None if there was none) and its place."""
        self.burst.answered(place)
        with self._lock:
            self.in_flight -= 1
        if response is None:
            return
        try:
            remaining = int(response.headers["RateLimit-Remaining"])
            reset = float(response.headers["RateLimit-Reset"])
        except (KeyError, ValueError):
            return
        with self._lock:
            reset_at = time.monotonic() + reset
            # A new window's reset lies most of a minute beyond the old one's. Within one
            # window the reported reset drifts by a second or two (whole seconds, and the
            # answer's time on the way): taking such an answer for a new window would put
            # back the requests still in flight, and as many would be refused.
            if self.remaining is None or reset_at > self.reset_at + NEW_WINDOW_JUMP:
                # The new window's count does not hold the requests still on their way.
                self.remaining, self.reset_at = max(0, remaining - self.in_flight), reset_at
            else:  # answers arrive out of order: the lower count is the safer one
                self.remaining = min(self.remaining, remaining)
                self.reset_at = max(self.reset_at, reset_at)


@dataclass
class _Found:
    id: str
    consent: str
    suppressed: bool


class KlaviyoDestination:
    """One Klaviyo account. See the module docstring for how it calls the API."""

    name = "klaviyo"

    def __init__(self, config: KlaviyoConfig, *, client: HttpClient | None = None):
        self.config = config
        self.batch_size = config.batch_size
        self.pipeline_depth = config.pipeline_depth
        self.http = client or HttpClient(
            config.base_url,
            headers={
                "Authorization": f"Klaviyo-API-Key {config.api_key}",
                "revision": config.revision,
                "Accept": "application/vnd.api+json",
                "Content-Type": "application/vnd.api+json",
            },
            secrets=[config.api_key],
            pool_size=config.max_connections * config.pipeline_depth,
        )
        self._pacers = {key: EndpointPacer(burst) for key, (burst, _) in TIERS.items()}
        self._ids: dict[str, str] = {}  # lower-cased email -> profile id, for this run
        self._lists: dict[str, str] = {}  # list name -> id
        self._list_lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> KlaviyoDestination:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def waited_for_rate_limits(self) -> float:
        return sum(p.waited + p.burst.waited for p in self._pacers.values())

    # ---- the Destination interface -------------------------------------------------------

    def prepare(self, merge_tags: Collection[str], tags: Collection[str] = ()) -> None:
        """Properties need no declaring in Klaviyo; only names that cannot be keys fail.
        The tags' lists are found or created now, before the first batch needs them."""
        bad = sorted(t for t in merge_tags if not t or not t.strip() or t.startswith("$"))
        if bad:
            raise KlaviyoError(f"merge tags {bad} cannot be Klaviyo property names")
        for tag in sorted(set(tags)):
            self._list_id(tag)

    def upsert_members(self, members: Sequence[Member]) -> list[Outcome]:
        """Import every member's properties; subscribe the new ones whose consent allows."""
        outcomes: dict[str, Outcome] = {}
        profiles = [(m.key, _profile(m.email, m.merge_fields)) for m in members]
        outcomes.update(self._import(profiles))
        candidates = [
            m
            for m in members
            if m.key not in outcomes and not m.known and m.status_if_new == "subscribed"
        ]
        found = self._lookup([m.email for m in candidates], subscriptions=True)
        to_subscribe: list[Member] = []
        for m in candidates:
            profile = found.get(m.email.lower())
            if profile is None:
                outcomes[m.key] = Outcome(m.key, False, "Klaviyo did not keep the imported profile")
            elif profile.consent == "NEVER_SUBSCRIBED" and not profile.suppressed:
                to_subscribe.append(m)
            else:
                log.info(
                    "not subscribing %s: Klaviyo holds consent %s%s",
                    mask_email(m.email),
                    profile.consent,
                    " (suppressed)" if profile.suppressed else "",
                )
        refused = self._consent_jobs(
            "/api/profile-subscription-bulk-create-jobs",
            "profile-subscription-bulk-create-job",
            [m.email for m in to_subscribe],
            "SUBSCRIBED",
            MAX_SUBSCRIBE,
        )
        for m in members:
            if m.key in outcomes:
                continue
            error = refused.get(m.email.lower())
            outcomes[m.key] = Outcome(m.key, error is None, error)
        return [outcomes[m.key] for m in members]

    def set_tags(self, changes: Sequence[TagChange]) -> list[Outcome]:
        """Add to or remove from the list named by each tag, by profile id, in bulk."""
        latest: dict[tuple[str, str], TagChange] = {}
        for c in changes:
            latest[(c.email.lower(), c.tag)] = c  # the last word per contact and tag wins
        ids = self._profile_ids([email for email, _ in latest])
        errors: dict[tuple[str, str], str] = {}
        groups: dict[tuple[str, bool], list[str]] = {}
        for (email, tag), c in latest.items():
            if email in ids:
                groups.setdefault((tag, c.active), []).append(email)
            elif c.active:
                errors[(email, tag)] = "no Klaviyo profile with this address"
        calls = []
        for (tag, active), emails in groups.items():
            list_id = self._list_id(tag, create=active)
            if list_id is None:
                continue  # no such list: nobody to take off it
            for start in range(0, len(emails), MAX_LIST_CHANGE):
                calls.append((list_id, tag, active, emails[start : start + MAX_LIST_CHANGE]))

        def change(call: tuple[str, str, bool, list[str]]) -> dict[tuple[str, str], str]:
            list_id, tag, active, emails = call
            body = {"data": [{"type": "profile", "id": ids[e]} for e in emails]}
            response = self._call(
                "POST" if active else "DELETE",
                f"/api/lists/{list_id}/relationships/profiles",
                "/api/lists/{id}/relationships/profiles",
                json=body,
                accept=(400, 404),
            )
            if response.status_code in (400, 404):
                message = error_message(response)
                return {(e, tag): message for e in emails}
            return {}

        for failed in self._parallel(change, calls):
            errors.update(failed)
        return [
            Outcome(
                c.key, (c.email.lower(), c.tag) not in errors, errors.get((c.email.lower(), c.tag))
            )
            for c in changes
        ]

    def clear_fields(
        self, contacts: Sequence[Contact], merge_tags: Collection[str]
    ) -> list[Outcome]:
        """Unset these properties (names emptied) on profiles Klaviyo holds; none is created."""
        ids = self._profile_ids([c.email for c in contacts])
        cleared = {tag: "" for tag in merge_tags}
        profiles = [(c.key, _profile(c.email, cleared)) for c in contacts if c.email.lower() in ids]
        outcomes = self._import(profiles)
        return [outcomes.get(c.key, Outcome(c.key, True)) for c in contacts]

    def archive_members(self, contacts: Sequence[Contact]) -> list[Outcome]:
        """Delete the profiles, but never one whose opt-out deleting would forget."""
        found = self._lookup([c.email for c in contacts], subscriptions=True)
        to_delete = []
        for c in contacts:
            profile = found.get(c.email.lower())
            if profile is None:
                continue
            if profile.consent == "UNSUBSCRIBED" or profile.suppressed:
                log.info("keeping %s in Klaviyo: it holds an opt-out", mask_email(c.email))
                continue
            to_delete.append(c)
        deleted = {o.key: o for o in self.erase_members(to_delete)}
        return [deleted.get(c.key, Outcome(c.key, True)) for c in contacts]

    def unsubscribe_members(self, contacts: Sequence[Contact]) -> list[Outcome]:
        refused = self._consent_jobs(
            "/api/profile-subscription-bulk-delete-jobs",
            "profile-subscription-bulk-delete-job",
            [c.email for c in contacts],
            "UNSUBSCRIBED",
            MAX_UNSUBSCRIBE,
        )
        return [
            Outcome(c.key, c.email.lower() not in refused, refused.get(c.email.lower()))
            for c in contacts
        ]

    def erase_members(self, contacts: Sequence[Contact]) -> list[Outcome]:
        """One data-privacy deletion job per address (Klaviyo deletes one profile per job)."""

        def erase(c: Contact) -> Outcome:
            body = {
                "data": {
                    "type": "data-privacy-deletion-job",
                    "attributes": {
                        "profile": {"data": {"type": "profile", "attributes": {"email": c.email}}}
                    },
                }
            }
            response = self._call(
                "POST",
                "/api/data-privacy-deletion-jobs",
                "/api/data-privacy-deletion-jobs",
                json=body,
                accept=(400,),
            )
            if response.status_code == 400:
                return Outcome(c.key, False, scrub(error_message(response), c.email))
            self._ids.pop(c.email.lower(), None)
            return Outcome(c.key, True)

        return self._parallel(erase, list(contacts))

    # ---- imports -----------------------------------------------------------------------

    def _import(self, profiles: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Outcome]:
        """Run import jobs for (key, profile) pairs; the failed ones' outcomes, by key."""
        failed: dict[str, Outcome] = {}
        chunk: list[tuple[str, dict[str, Any]]] = []
        size = 0
        for key, profile in profiles:
            n = len(json.dumps(profile, separators=(",", ":")))
            if chunk and (len(chunk) >= self.batch_size or size + n > MAX_IMPORT_BYTES):
                failed.update(self._import_job(chunk))
                chunk, size = [], 0
            chunk.append((key, profile))
            size += n + 1
        if chunk:
            failed.update(self._import_job(chunk))
        return failed

    def _import_job(self, chunk: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Outcome]:
        body = {
            "data": {
                "type": "profile-bulk-import-job",
                "attributes": {"profiles": {"data": [p for _, p in chunk]}},
            }
        }
        created = self._call(
            "POST", "/api/profile-bulk-import-jobs", "POST /api/profile-bulk-import-jobs", json=body
        ).json()
        job_id = created["data"]["id"]
        job = self._wait_for_job(job_id, created["data"]["attributes"])
        failed: dict[str, Outcome] = {}
        if job.get("failed_count"):
            for error in self._import_errors(job_id):
                attrs = error.get("attributes") or {}
                pointer = str((attrs.get("source") or {}).get("pointer") or "")
                match = POINTER_INDEX.match(pointer)
                if match is None or int(match.group(1)) >= len(chunk):
                    continue
                key, profile = chunk[int(match.group(1))]
                address = str(profile["attributes"].get("email") or "")
                message = ": ".join(str(attrs[k]) for k in ("title", "detail") if attrs.get(k))
                message = scrub(message or "rejected by Klaviyo", address)
                failed[key] = Outcome(key, False, message)
                log.info("klaviyo rejected %s: %s", mask_email(address), message)
        log.info("import job: %d profiles, %d rejected", len(chunk), len(failed))
        return failed

    def _wait_for_job(self, job_id: str, attributes: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + self.config.job_timeout
        pause = 0.05
        while attributes.get("status") not in ("complete", "cancelled"):
            if time.monotonic() > deadline:
                raise KlaviyoError(
                    f"Klaviyo import job {job_id} did not finish within "
                    f"{self.config.job_timeout:.0f} s (status {attributes.get('status')})"
                )
            time.sleep(pause)
            pause = min(pause * 2, 2.0)
            attributes = self._call(
                "GET",
                f"/api/profile-bulk-import-jobs/{job_id}",
                "GET /api/profile-bulk-import-jobs/{id}",
            ).json()["data"]["attributes"]
        if attributes["status"] == "cancelled":
            raise KlaviyoError(f"Klaviyo cancelled import job {job_id}")
        return attributes

    def _import_errors(self, job_id: str) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = []
        url: str | None = f"/api/profile-bulk-import-jobs/{job_id}/import-errors"
        params: dict[str, Any] | None = {"page[size]": PAGE_SIZE}
        while url:
            page = self._call(
                "GET", url, "GET /api/profile-bulk-import-jobs/{id}/import-errors", params=params
            ).json()
            errors.extend(page.get("data") or [])
            url, params = (page.get("links") or {}).get("next"), None
        return errors

    # ---- consent -----------------------------------------------------------------------

    def _consent_jobs(
        self, path: str, job_type: str, emails: Sequence[str], consent: str, limit: int
    ) -> dict[str, str]:
        """Subscription or unsubscription jobs of `limit` addresses; refused ones by email.
        A 400 that points at one profile fails that profile and the rest are sent again."""
        emails = list({e.lower(): e for e in emails}.values())  # once per address
        chunks = [emails[s : s + limit] for s in range(0, len(emails), limit)]

        def send(chunk: list[str]) -> dict[str, str]:
            refused: dict[str, str] = {}
            while chunk:
                body = {
                    "data": {
                        "type": job_type,
                        "attributes": {
                            "profiles": {
                                "data": [
                                    {
                                        "type": "profile",
                                        "attributes": {
                                            "email": e,
                                            "subscriptions": {
                                                "email": {"marketing": {"consent": consent}}
                                            },
                                        },
                                    }
                                    for e in chunk
                                ]
                            }
                        },
                    }
                }
                response = self._call("POST", path, f"POST {path}", json=body, accept=(400,))
                if response.status_code != 400:
                    return refused
                message = error_message(response)
                match = POINTER_INDEX.search(message)
                if match is None or int(match.group(1)) >= len(chunk):
                    refused.update({e.lower(): scrub(message, *chunk) for e in chunk})
                    return refused
                bad = chunk.pop(int(match.group(1)))
                refused[bad.lower()] = scrub(message, bad)
            return refused

        refused: dict[str, str] = {}
        for part in self._parallel(send, chunks):
            refused.update(part)
        return refused

    # ---- profiles and lists ------------------------------------------------------------

    def _lookup(self, emails: Sequence[str], *, subscriptions: bool) -> dict[str, _Found]:
        """Profiles Klaviyo holds for these addresses (100 per request), by lower-cased email."""
        unique = sorted({e.lower() for e in emails})
        pages = [unique[s : s + PAGE_SIZE] for s in range(0, len(unique), PAGE_SIZE)]

        def fetch(page: list[str]) -> dict[str, _Found]:
            params = {
                "filter": f"any(email,{json.dumps(page)})",
                "page[size]": PAGE_SIZE,
                "fields[profile]": "email,subscriptions" if subscriptions else "email",
            }
            if subscriptions:
                params["additional-fields[profile]"] = "subscriptions"
            body = self._call("GET", "/api/profiles", "GET /api/profiles", params=params).json()
            found = {}
            for item in body.get("data") or []:
                attrs = item.get("attributes") or {}
                marketing = ((attrs.get("subscriptions") or {}).get("email") or {}).get(
                    "marketing"
                ) or {}
                email = str(attrs.get("email") or "").lower()
                found[email] = _Found(
                    item["id"],
                    str(marketing.get("consent") or "NEVER_SUBSCRIBED"),
                    bool(marketing.get("suppression")),
                )
            return found

        result: dict[str, _Found] = {}
        for part in self._parallel(fetch, pages):
            result.update(part)
        self._ids.update({email: f.id for email, f in result.items()})
        return result

    def _profile_ids(self, emails: Iterable[str]) -> dict[str, str]:
        wanted = {e.lower() for e in emails}
        missing = [e for e in wanted if e not in self._ids]
        if missing:
            self._lookup(missing, subscriptions=False)
        return {e: self._ids[e] for e in wanted if e in self._ids}

    def _list_id(self, name: str, *, create: bool = True) -> str | None:
        with self._list_lock:
            if name in self._lists:
                return self._lists[name]
            quoted = name.replace("\\", "\\\\").replace('"', '\\"')
            found = self._call(
                "GET", "/api/lists", "GET /api/lists", params={"filter": f'equals(name,"{quoted}")'}
            ).json()
            data = found.get("data") or []
            if data:
                list_id = data[0]["id"]
            elif not create:
                return None
            else:
                body = {"data": {"type": "list", "attributes": {"name": name}}}
                list_id = self._call("POST", "/api/lists", "POST /api/lists", json=body).json()[
                    "data"
                ]["id"]
                log.info("created Klaviyo list %r", name)
            self._lists[name] = list_id
            return list_id

    # ---- plumbing ----------------------------------------------------------------------

    def _call(
        self, method: str, path: str, endpoint: str, *, accept: Iterable[int] = (), **kw: Any
    ) -> requests.Response:
        """One paced request; a failure other than the accepted statuses fails the call."""
        key = endpoint if " " in endpoint else f"{method} {endpoint}"
        pacer = self._pacers.get(key)
        place = pacer.before() if pacer is not None else None
        response: requests.Response | None = None
        try:
            response = self.http.request(method, path, accept=accept, **kw)
        except HttpError as exc:
            response = exc.response
            raise KlaviyoError(
                f"Klaviyo {method} {key.split(' ', 1)[1]} failed: {error_message(exc.response)}"
            ) from None
        finally:
            if pacer is not None and place is not None:
                pacer.after(response, place)
        return response

    def _parallel(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if len(items) <= 1:
            return [fn(item) for item in items]
        workers = min(self.config.max_connections, len(items))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="klaviyo") as pool:
            return list(pool.map(fn, items))


def _profile(email: str, merge_fields: dict[str, str]) -> dict[str, Any]:
    """A profile for an import job: FNAME/LNAME as names, the rest as properties; an
    empty value is unset explicitly (a null would leave the old value)."""
    attributes: dict[str, Any] = {"email": email}
    properties: dict[str, str] = {}
    unset: list[str] = []
    for tag, value in sorted(merge_fields.items()):
        if tag in NAME_FIELDS:
            attributes[NAME_FIELDS[tag]] = value
        elif value == "":
            unset.append(tag)
        else:
            properties[tag] = value
    if properties:
        attributes["properties"] = properties
    profile: dict[str, Any] = {"type": "profile", "attributes": attributes}
    if unset:
        profile["meta"] = {"patch_properties": {"unset": unset}}
    return profile
