"""Mailchimp campaigns and their email activity for a scale run (S1: about 20,000,000
events over a year of twice-weekly sends to 1,000,000 members), made on demand.

Nothing is held but the campaigns (about a hundred). A campaign's active members are
numbered ``k = 0 .. active - 1``: member ``k`` is the shop's customer
``(offset + k * stride) % customers`` (a stride prime to the audience's size, so no member
appears twice), and its activity (a bounce, or opens and maybe a click) is a pure function of
campaign, ``k`` and seed. Member ``k``'s last event is at ``send + k * span / active``, so
the members with activity after ``since`` are the ``k`` from a bisection on, and any page of
the report is made directly from its offset. Members are listed in that order; Mailchimp
documents no order, only that it is stable.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.generate_activity import (
    LIST_ID,
    SHOP_URL,
    SUBJECTS,
    UNSUB_REASONS,
    _iso_offset,
    campaign_record,
)
from sandbox.mailchimp import MailchimpStandIn, subscriber_hash
from sandbox.mailchimp_reports import member_entry
from sandbox.scale import CRM_SCALES, SCALES, Lazy, _mix, person

DAY = 86_400
SEND_WEEKDAYS = (1, 4)  # Tuesday and Friday, at 15:00
SEND_DAYS = 364
ACTIVITY_SECONDS = 5 * DAY  # a campaign's opens and clicks come within this of its send
BOUNCE_ONE_IN = 50
CLICK_ONE_IN = 4
REOPEN_ONE_IN = 3
# events per active member: a bounce, or an open, maybe a second open, maybe a click
EVENTS_PER_ACTIVE = 1 / BOUNCE_ONE_IN + (1 - 1 / BOUNCE_ONE_IN) * (
    1 + 1 / CLICK_ONE_IN + 1 / REOPEN_ONE_IN
)
UNSUB_PER_ACTIVE = 1 / 400
CATEGORIES = ("footwear", "apparel", "home", "outdoor")


def _stride(n: int) -> int:
    """A step prime to ``n`` near 0.618 n: consecutive members land far apart."""
    step = max(1, int(n * 0.618))
    while math.gcd(step, n) != 1:
        step += 1
    return step


class CampaignActivity:
    """One campaign's report, made on demand (``sandbox.mailchimp_reports.ActivityPages``)."""

    def __init__(self, owner: SyntheticReports, number: int, campaign: dict[str, Any]) -> None:
        self.owner, self.number, self.id = owner, number, campaign["id"]
        self.send = int(datetime.fromisoformat(campaign["send_time"]).timestamp())
        self.active, self.unsubscribes = owner.active_per_campaign, owner.unsubs_per_campaign
        self.span = max(1, min(ACTIVITY_SECONDS, owner.end - self.send - 60))
        self.offset = _mix(owner.seed, "campaign", number) % owner.n_customers
        self.url = (
            f"{SHOP_URL}/collections/{CATEGORIES[number % len(CATEGORIES)]}"
            f"?utm_source=mailchimp&utm_campaign={self.id}"
        )

    def member_index(self, k: int) -> int:
        return (self.offset + k * self.owner.stride) % self.owner.n_customers

    def email(self, k: int) -> str:
        """Member ``k``'s address (``k`` past the active members: those who unsubscribed)."""
        return person(self.owner.seed, self.member_index(k))[2]

    def last_at(self, k: int) -> int:
        """When member ``k``'s last event happened; increases with ``k``."""
        return self.send + 60 + k * self.span // self.active

    def events(self, k: int) -> list[tuple[int, dict[str, Any]]]:
        """Member ``k``'s activity, oldest first, as (epoch seconds, item)."""
        r = _mix(self.owner.seed, f"activity:{self.number}", k)
        last = self.last_at(k)
        if r % BOUNCE_ONE_IN == 0:
            kind = "hard" if (r >> 6) % 5 == 0 else "soft"
            return [
                (
                    last,
                    {"action": "bounce", "timestamp": _iso_offset(last), "ip": None, "type": kind},
                )
            ]
        ip = f"{24 + (r >> 32) % 200}.{(r >> 40) % 256}.{(r >> 48) % 256}.{(r >> 56) % 254 + 1}"
        clicked = (r >> 24) % CLICK_ONE_IN == 0
        reopened = (r >> 28) % REOPEN_ONE_IN == 0
        first = max(self.send + 30, last - (r >> 8) % (6 * 3600)) if clicked or reopened else last
        times = [first]
        if reopened:
            times.append((first + last) // 2 if clicked else last)
        out = [(at, {"action": "open", "timestamp": _iso_offset(at), "ip": ip}) for at in times]
        if clicked:
            out.append(
                (
                    last,
                    {"action": "click", "timestamp": _iso_offset(last), "ip": ip, "url": self.url},
                )
            )
        return out

    def page(self, since: float | None, offset: int, count: int) -> tuple[int, list[str]]:
        first = 0
        if since is not None:
            first = bisect.bisect_right(range(self.active), since, key=self.last_at)
        total = self.active - first
        entries = []
        for k in range(first + offset, min(self.active, first + offset + count)):
            email = self.email(k)
            member = {
                "email_id": subscriber_hash(email),
                "email_address": email,
                "list_id": LIST_ID,
            }
            activity = [item for at, item in self.events(k) if since is None or at > since]
            entries.append(member_entry(self.id, member, activity))
        return total, entries

    def unsubscribe(self, k: int) -> dict[str, Any]:
        """Unsubscribe ``k`` of the campaign, by members who were sent it but did not act."""
        at = self.send + 600 + k * min(2 * DAY, self.span) // self.unsubscribes
        reason = UNSUB_REASONS[_mix(self.owner.seed, f"unsub:{self.number}", k) % 4]
        return {
            "email_address": self.email(self.active + k),
            "timestamp": _iso_offset(at),
            "reason": reason,
            "list_id": LIST_ID,
        }


class SyntheticReports:
    """The campaigns of a year of sends to ``customers`` members, ``events`` events in all."""

    def __init__(
        self,
        customers: int,
        events: int,
        seed: int = 1,
        as_of: datetime = datetime(2026, 11, 20, tzinfo=UTC),
    ) -> None:
        self.n_customers, self.seed = customers, seed
        self.end = int(as_of.timestamp()) - 60
        self.stride = _stride(customers)
        sends = list(self._send_times(as_of))
        per_campaign = events / max(1, len(sends))
        self.active_per_campaign = min(
            customers // 2, max(1, round(per_campaign / EVENTS_PER_ACTIVE))
        )
        self.unsubs_per_campaign = max(1, round(self.active_per_campaign * UNSUB_PER_ACTIVE))
        self.campaigns = {}
        self.activity: dict[str, CampaignActivity] = {}
        for number, send in enumerate(sends):
            campaign = self._campaign(number, send)
            self.campaigns[campaign["id"]] = campaign
            self.activity[campaign["id"]] = CampaignActivity(self, number, campaign)

    @classmethod
    def named(cls, scale: str) -> SyntheticReports:
        return cls(SCALES[scale][0], CRM_SCALES[scale][1])

    def _send_times(self, as_of: datetime) -> Iterator[int]:
        first = (as_of - timedelta(days=SEND_DAYS)).replace(hour=15, minute=0, second=0)
        for day in range(SEND_DAYS + 1):
            send = first + timedelta(days=day)
            if send.weekday() in SEND_WEEKDAYS and send.timestamp() < self.end - DAY // 2:
                yield int(send.timestamp())

    def _campaign(self, number: int, send: int) -> dict[str, Any]:
        campaign_id = f"{_mix(self.seed, 'campaign-id', number) >> 24:010x}"
        subject = SUBJECTS[number % len(SUBJECTS)]
        active = self.active_per_campaign
        openers = round(active * (1 - 1 / BOUNCE_ONE_IN))
        clickers = round(openers / CLICK_ONE_IN)
        return campaign_record(
            campaign_id, 21_001 + number, subject,
            created=send - 3 * DAY, sent_at=send, sent=self.n_customers,
            opens=round(openers * (1 + 1 / REOPEN_ONE_IN)), unique_opens=openers,
            clicks=clickers, subscriber_clicks=clickers,
        )  # fmt: skip

    def serve(self, mailchimp: MailchimpStandIn) -> None:
        """Have the Mailchimp stand-in serve these campaigns' reports."""
        unsubscribes = {
            cid: Lazy(activity.unsubscribe, range(activity.unsubscribes))
            for cid, activity in self.activity.items()
        }
        mailchimp.serve_reports(self.campaigns, dict(self.activity), unsubscribes)
