"""The email activity of Mailchimp's campaign reports, indexed once so that a page is a slice.

Reports are read-only, so each campaign's members (in subscriber-hash order) are encoded to
JSON once, with all their activity. A page asked for with ``since`` keeps the members with
activity after it, and re-encodes only those who also have activity at or before it. Which
members a ``since`` keeps is worked out once and remembered: every page of one extraction
asks with the same ``since``. Serving a page is then a slice and a join, so the stand-in's
lock is held for a moment, not for the time it takes to build a thousand members' activity.

Anything with ``page(since, offset, count) -> (total, entries)`` serves the endpoint (the
scale store's made-on-demand activity does too); ``activity_body`` wraps the entries.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any, Protocol

REMEMBERED_SINCES = 16  # per campaign; one extraction asks with one `since`


class ActivityPages(Protocol):
    def page(self, since: float | None, offset: int, count: int) -> tuple[int, list[str]]:
        """(members with activity after `since`, the JSON of those in [offset, offset+count))."""
        ...


def encode(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def member_entry(campaign_id: str, member: dict[str, Any], activity: list[dict]) -> str:
    """One member of `GET /reports/{id}/email-activity`, as JSON."""
    return encode(
        {
            "campaign_id": campaign_id,
            "list_id": member["list_id"],
            "list_is_active": True,
            "email_id": member["email_id"],
            "email_address": member["email_address"],
            "activity": activity,
            "_links": [],
        }
    )


def activity_body(campaign_id: str, total: int, entries: list[str]) -> bytes:
    """The response body around a page of member entries."""
    return (
        f'{{"emails":[{",".join(entries)}],"campaign_id":{encode(campaign_id)},'
        f'"total_items":{total},"_links":[]}}'
    ).encode()


class StoredActivity:
    """One campaign's activity from the generated store.

    ``members``: dicts with ``email_id``, ``email_address``, ``list_id`` and ``rows``, a list
    of ``(epoch seconds, activity item)`` in the order the API lists them.
    """

    def __init__(self, campaign_id: str, members: list[dict[str, Any]]) -> None:
        self.campaign_id = campaign_id
        self._members = [m for m in members if m["rows"]]
        self._latest = [max(at for at, _ in m["rows"]) for m in self._members]
        self._earliest = [min(at for at, _ in m["rows"]) for m in self._members]
        self._whole = [
            member_entry(campaign_id, m, [item for _, item in m["rows"]]) for m in self._members
        ]
        self._first = min(self._earliest, default=0.0)
        self._kept: OrderedDict[float, list[int]] = OrderedDict()
        self._lock = threading.Lock()

    def _kept_after(self, since: float) -> list[int]:
        with self._lock:
            kept = self._kept.get(since)
            if kept is None:
                kept = [i for i, at in enumerate(self._latest) if at > since]
                self._kept[since] = kept
                while len(self._kept) > REMEMBERED_SINCES:
                    self._kept.popitem(last=False)
            else:
                self._kept.move_to_end(since)
            return kept

    def page(self, since: float | None, offset: int, count: int) -> tuple[int, list[str]]:
        if since is None or since < self._first:
            return len(self._whole), self._whole[offset : offset + count]
        kept = self._kept_after(since)
        entries = []
        for i in kept[offset : offset + count]:
            if self._earliest[i] > since:
                entries.append(self._whole[i])
                continue
            member = self._members[i]
            later = [item for at, item in member["rows"] if at > since]
            entries.append(member_entry(self.campaign_id, member, later))
        return len(kept), entries
