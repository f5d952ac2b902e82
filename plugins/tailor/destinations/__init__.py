"""Destinations: where audiences go (an ESP, or files), and the interface the sync engine uses.

A destination is small on purpose, so that adding an ESP means writing one module:

- `name`: the key of its rows in the `sync_state` table (e.g. "mailchimp").
- `batch_size`: how many members the engine hands over per call; the engine commits its
  state after every acknowledged call, so this is also the unit a crash can repeat.
- `pipeline_depth` (optional, default 1): how many such calls the engine may have in
  flight at once; each is committed once acknowledged, so a crash repeats at most that many.
- `prepare(merge_tags, tags)`: make sure the ESP can store these merge fields and has
  these tags (create what is missing) before anything is sent; raise if it cannot.
- `upsert_members(members)`: create or update contacts; never change an existing contact's
  subscription status and never re-subscribe anyone. One outcome per member, in any order.
- `set_tags(changes)`: add or remove one tag per change (Mailchimp: a member tag; Klaviyo:
  membership of the list the tag names). One outcome per change.
- `clear_fields(contacts, merge_tags)`: empty these merge fields on existing contacts (a
  contact the ESP does not hold counts as done; none is created).
- `archive_members(contacts)`: take contacts off the audience (Mailchimp archives, which is
  reversible; Klaviyo has no archive and deletes, keeping any profile that holds an opt-out).
- `unsubscribe_members(contacts)`: set existing contacts to unsubscribed (consent revoked
  in a source); a contact the ESP does not hold counts as done.
- `erase_members(contacts)`: delete contacts permanently (an erasure request); absent
  contacts count as done.
- `close()`.

Outcomes carry the ESP's own message for a rejected row; a destination raises only when
the whole call failed (bad credentials, the ESP unreachable), never for one bad address.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Member:
    """One contact to create or update. `key` is the engine's id for matching outcomes."""

    key: str
    email: str
    status_if_new: str  # the ESP status for a NEW contact: "subscribed" or "transactional"
    merge_fields: dict[str, str] = field(default_factory=dict)
    known: bool = False  # the destination acknowledged this email before: it probably exists


@dataclass(frozen=True)
class TagChange:
    """Add (`active`) or remove one tag on the contact with this email."""

    key: str
    email: str
    tag: str
    active: bool


@dataclass(frozen=True)
class Contact:
    """An existing contact the engine acts on (archive, unsubscribe, erase, clear)."""

    key: str
    email: str


@dataclass(frozen=True)
class Outcome:
    key: str
    ok: bool
    error: str | None = None


class Destination(Protocol):
    name: str
    batch_size: int

    def prepare(self, merge_tags: Collection[str], tags: Collection[str] = ()) -> None: ...

    def upsert_members(self, members: Sequence[Member]) -> list[Outcome]: ...

    def set_tags(self, changes: Sequence[TagChange]) -> list[Outcome]: ...

    def clear_fields(
        self, contacts: Sequence[Contact], merge_tags: Collection[str]
    ) -> list[Outcome]: ...

    def archive_members(self, contacts: Sequence[Contact]) -> list[Outcome]: ...

    def unsubscribe_members(self, contacts: Sequence[Contact]) -> list[Outcome]: ...

    def erase_members(self, contacts: Sequence[Contact]) -> list[Outcome]: ...

    def close(self) -> None: ...


__all__ = ["Contact", "Destination", "Member", "Outcome", "TagChange"]
