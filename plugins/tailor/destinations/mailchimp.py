"""Mailchimp (Marketing API 3.0) as a destination: merge fields, member upserts and tags.

How each rule of the API shapes the calls:

- New contacts go through batch subscribe (`POST /lists/{list_id}`, ≤ 500 members) with
  `update_existing: false`. The batch only knows `status` (no `status_if_new`), and with
  `update_existing: true` it would overwrite an existing contact's status; with `false` an
  existing contact comes back as `ERROR_CONTACT_EXISTS` and is left untouched.
- Existing contacts (known from earlier syncs, or reported as existing by the batch) are
  upserted one by one with `PUT .../members/{hash}` and `status_if_new`, which sets a
  status only for a new contact: nobody's status changes, nobody is re-subscribed.
- Neither call carries tags: tags go through `POST .../members/{hash}/tags`, one call per
  contact with all of its tag changes, at most `max_connections` at a time (Mailchimp
  allows 10 simultaneous connections per user).
- Merge fields must exist before values for them are kept (unknown tags are silently
  dropped), and a list holds at most 30: `prepare` creates what is missing or fails clearly.
- Leaving and consent go through single-member calls, 404 meaning "already gone": PATCH
  clears merge fields or sets `unsubscribed`, DELETE archives (reversible), and
  `actions/delete-permanent` erases (the address can then never be re-imported by API).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests

from tailor.destinations import Contact, Member, Outcome, TagChange
from tailor.http import HttpClient, HttpError
from tailor.redact import get_logger, mask_email

log = get_logger(__name__)

MAX_BATCH = 500
MAX_MERGE_FIELDS = 30
MAX_CONNECTIONS = 10
MERGE_TAG_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")

T = TypeVar("T")
R = TypeVar("R")


class MailchimpError(RuntimeError):
    """The whole call failed (configuration, credentials, limits): nothing per-row about it."""


@dataclass
class MailchimpConfig:
    base_url: str  # API root, e.g. https://us21.api.mailchimp.com/3.0 ("/3.0" added if absent)
    api_key: str = field(repr=False)
    list_id: str
    batch_size: int = 500
    max_connections: int = 10

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
        if not 1 <= self.max_connections <= MAX_CONNECTIONS:
            raise ValueError(f"max_connections must be between 1 and {MAX_CONNECTIONS}")

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
        for name in ("batch_size", "max_connections"):
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
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    text = ": ".join(str(body[k]) for k in ("title", "detail") if body.get(k))
    details = [
        f"{e.get('field')}: {e.get('message')}"
        for e in body.get("errors") or []
        if isinstance(e, dict) and e.get("field")
    ]
    if details:
        text += f" ({'; '.join(details)})"
    return text or f"HTTP {response.status_code}"


class MailchimpDestination:
    """One Mailchimp audience (list). See the module docstring for how it calls the API."""

    name = "mailchimp"

    def __init__(self, config: MailchimpConfig, *, client: HttpClient | None = None):
        self.config = config
        self.batch_size = config.batch_size
        base = config.base_url.rstrip("/")
        if not base.endswith("/3.0"):
            base += "/3.0"
        self.http = client or HttpClient(
            base,
            auth=("tailor", config.api_key),
            pool_size=config.max_connections,
        )
        self._list = f"/lists/{config.list_id}"

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
            page = self._call(
                "GET", f"{self._list}/merge-fields", params={"count": 1000, "offset": len(fields)}
            ).json()
            fields.extend(page.get("merge_fields") or [])
            if not page.get("merge_fields") or len(fields) >= page.get("total_items", 0):
                return fields

    def prepare(self, merge_tags: Collection[str]) -> None:
        """Create the merge fields (type text) that the list lacks; fail before sending."""
        bad = sorted(t for t in merge_tags if not t or len(t) > 10 or set(t) - MERGE_TAG_CHARS)
        if bad:
            raise MailchimpError(
                f"merge tags {bad} are not valid Mailchimp tags (at most 10 characters of "
                "A-Z, 0-9 and _)"
            )
        existing = {f["tag"] for f in self.merge_fields()}
        missing = sorted(set(merge_tags) - existing)
        if len(existing) + len(missing) > MAX_MERGE_FIELDS:
            raise MailchimpError(
                f"audience {self.config.list_id} has {len(existing)} merge fields and needs "
                f"{len(missing)} more ({', '.join(missing)}); Mailchimp allows "
                f"{MAX_MERGE_FIELDS} per audience. Remove unused merge fields in Mailchimp or "
                "drop some from the segments' meta.audience.merge_fields."
            )
        for tag in missing:
            name = tag.replace("_", " ").title()
            self._call(
                "POST",
                f"{self._list}/merge-fields",
                json={"tag": tag, "name": name, "type": "text", "public": False},
            )
            log.info("created merge field %s in audience %s", tag, self.config.list_id)

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
        for start in range(0, len(fresh), self.batch_size):
            chunk = fresh[start : start + self.batch_size]
            done, exists = self._batch_subscribe(chunk)
            outcomes.extend(done)
            to_put.extend(exists)
        outcomes.extend(self._parallel(self._put_member, to_put))
        return outcomes

    def _batch_subscribe(self, chunk: Sequence[Member]) -> tuple[list[Outcome], list[Member]]:
        body = {
            "members": [
                {
                    "email_address": m.email,
                    "status": m.status_if_new,
                    "merge_fields": dict(m.merge_fields),
                }
                for m in chunk
            ],
            "update_existing": False,
        }
        result = self._call("POST", self._list, json=body).json()
        by_email = {m.email.lower(): m for m in chunk}
        outcomes: list[Outcome] = []
        exists: list[Member] = []
        answered: set[str] = set()
        for new in result.get("new_members") or []:
            email = str(new.get("email_address", "")).lower()
            if email in by_email:
                outcomes.append(Outcome(by_email[email].key, True))
                answered.add(email)
        for err in result.get("errors") or []:
            email = str(err.get("email_address", "")).lower()
            member = by_email.get(email)
            if member is None:
                continue
            answered.add(email)
            if err.get("error_code") == "ERROR_CONTACT_EXISTS":
                exists.append(member)
                continue
            message = str(err.get("error") or "rejected by Mailchimp")
            if err.get("field"):
                message += f" ({err['field']}: {err.get('field_message') or ''})".rstrip()
            outcomes.append(Outcome(member.key, False, message))
            log.info("mailchimp rejected %s: %s", mask_email(member.email), message)
        for email, member in by_email.items():
            if email not in answered:
                outcomes.append(Outcome(member.key, False, "Mailchimp did not report this member"))
        log.info(
            "batch subscribe: %d new, %d existing, %d rejected",
            result.get("total_created", 0),
            len(exists),
            sum(1 for o in outcomes if not o.ok),
        )
        return outcomes, exists

    def _put_member(self, m: Member) -> Outcome:
        body = {
            "email_address": m.email,
            "status_if_new": m.status_if_new,
            "merge_fields": dict(m.merge_fields),
        }
        response = self._call(
            "PUT", f"{self._list}/members/{subscriber_hash(m.email)}", json=body, accept=(400,)
        )
        if response.status_code == 400:
            message = problem_message(response)
            log.info("mailchimp rejected %s: %s", mask_email(m.email), message)
            return Outcome(m.key, False, message)
        return Outcome(m.key, True)

    # ---- tags --------------------------------------------------------------------------

    def set_tags(self, changes: Sequence[TagChange]) -> list[Outcome]:
        """One tags call per contact (all its changes at once), `max_connections` at a time."""
        by_email: dict[str, list[TagChange]] = defaultdict(list)
        for change in changes:
            by_email[change.email.lower()].append(change)
        results = self._parallel(self._post_tags, list(by_email.values()))
        return [outcome for group in results for outcome in group]

    def _post_tags(self, group: list[TagChange]) -> list[Outcome]:
        latest: dict[str, TagChange] = {c.tag: c for c in group}  # last word per tag wins
        body = {
            "tags": [
                {"name": c.tag, "status": "active" if c.active else "inactive"}
                for c in latest.values()
            ]
        }
        path = f"{self._list}/members/{subscriber_hash(group[0].email)}/tags"
        response = self._call("POST", path, json=body, accept=(400, 404))
        if response.status_code == 404:
            # No such contact: removing a tag from nobody is done; adding one is not.
            return [
                Outcome(
                    c.key,
                    not c.active,
                    None if not c.active else f"member not found: {problem_message(response)}",
                )
                for c in group
            ]
        if response.status_code == 400:
            message = problem_message(response)
            return [Outcome(c.key, False, message) for c in group]
        return [Outcome(c.key, True) for c in group]

    # ---- leaving, consent and erasure ------------------------------------------------

    def clear_fields(
        self, contacts: Sequence[Contact], merge_tags: Collection[str]
    ) -> list[Outcome]:
        body = {"merge_fields": {tag: "" for tag in sorted(merge_tags)}}
        return self._parallel(lambda c: self._member_call(c, "PATCH", "", body), list(contacts))

    def archive_members(self, contacts: Sequence[Contact]) -> list[Outcome]:
        return self._parallel(lambda c: self._member_call(c, "DELETE", ""), list(contacts))

    def unsubscribe_members(self, contacts: Sequence[Contact]) -> list[Outcome]:
        body = {"status": "unsubscribed"}
        return self._parallel(lambda c: self._member_call(c, "PATCH", "", body), list(contacts))

    def erase_members(self, contacts: Sequence[Contact]) -> list[Outcome]:
        return self._parallel(
            lambda c: self._member_call(c, "POST", "/actions/delete-permanent"), list(contacts)
        )

    def _member_call(
        self, contact: Contact, method: str, suffix: str, body: dict[str, Any] | None = None
    ) -> Outcome:
        path = f"{self._list}/members/{subscriber_hash(contact.email)}{suffix}"
        response = self._call(method, path, json=body, accept=(400, 404))
        if response.status_code == 400:
            message = problem_message(response)
            log.info("mailchimp refused %s on %s: %s", method, mask_email(contact.email), message)
            return Outcome(contact.key, False, message)
        return Outcome(contact.key, True)  # 404: nothing to act on, which is the goal

    # ---- plumbing ----------------------------------------------------------------------

    def _call(
        self, method: str, path: str, *, accept: Iterable[int] = (), **kw: Any
    ) -> requests.Response:
        """A request whose failure (other than the accepted statuses) fails the whole call."""
        try:
            return self.http.request(method, path, accept=accept, **kw)
        except HttpError as exc:
            raise MailchimpError(
                f"Mailchimp {method} {path} failed: {problem_message(exc.response)}"
            ) from None

    def _parallel(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if len(items) <= 1:
            return [fn(item) for item in items]
        workers = min(self.config.max_connections, len(items))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mailchimp") as pool:
            return list(pool.map(fn, items))
