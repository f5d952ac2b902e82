"""Mailchimp Marketing API 3.0: email activity (opens, clicks, bounces, unsubscribes) in one
data interval, one landed row per activity.

Mailchimp reports activity per campaign, not per time, so an interval [start, end) reads the
campaigns sent from `activity_lookback_days` (connection extra, default 30) before `start`
until `end`, then each campaign's `reports/{id}/email-activity` with `since` just before
`start` (opens, clicks, bounces) and `reports/{id}/unsubscribed` (which has no time filter),
and keeps what happened in [start, end). Activity on a campaign older than the lookback is
not read.

Every list pages with `count` and `offset` over a set that grows while it is read (a member
who opens now joins it). Pages therefore overlap by `PAGE_OVERLAP` entries, so a few members
joining between two requests push nobody out of sight; rows are deduplicated by id, which is
the SHA-256 of campaign, lower-cased address, action and timestamp (two identical actions in
the same second are one row).

Mailchimp limits simultaneous connections (10 per user), not requests per second: report
pages are fetched over that many connections at once (`extra.max_connections`), and landed
in campaign and offset order whichever answer comes first (`parallel_pages`).

The connection is the one the Mailchimp destination uses (`mailchimp`: the API key as
password, the data centre from the host or the key's suffix, `extra.list_id` naming the
audience whose campaigns are read).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tailor.connections import ApiConnection
from tailor.http import HttpClient
from tailor.redact import get_logger
from tailor.sources import contracts
from tailor.sources.landing import LandingWriter, LandResult, parse_timestamp
from tailor.sources.parallel_pages import Listing, ParallelPages
from tailor.sources.shopify import retry_policy

log = get_logger(__name__)

PAGE_SIZE = 1000  # Mailchimp's maximum `count`
PAGE_OVERLAP = 50
LOOKBACK_DAYS = 30
ACTIONS = ("open", "click", "bounce")
# Mailchimp's limit of simultaneous connections per user; `extra.max_connections` lowers it
# (e.g. when a sync to the same account runs at the same time)
MAX_CONNECTIONS = 10


def api_root(conn: ApiConnection) -> str:
    """The API root (`.../3.0`): the connection's host, or the data centre in the key."""
    base = conn.base_url if conn.base_url not in ("", "https://", "http://") else ""
    if not base:
        dc = (conn.password or "").rpartition("-")[2] or "us1"
        base = f"https://{dc}.api.mailchimp.com"
    base = base.rstrip("/")
    return base if base.endswith("/3.0") else f"{base}/3.0"


def client_for(conn: ApiConnection, connections: int = 1) -> HttpClient:
    return HttpClient(
        api_root(conn),
        auth=("tailor", conn.password or ""),
        secrets=[conn.password],
        retry=retry_policy(conn),
        pool_size=connections,
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def paged(
    client: HttpClient, path: str, key: str, params: dict[str, Any], page_size: int
) -> Iterator[list[dict[str, Any]]]:
    """Pages of `key` through count/offset, overlapping so that a growing list loses nothing."""
    overlap = min(PAGE_OVERLAP, page_size // 2)
    offset = 0
    while True:
        body = client.get_json(path, params={**params, "count": page_size, "offset": offset})
        items = body.get(key) or []
        yield items
        total = int(body.get("total_items") or 0)
        if not items or offset + len(items) >= total:
            return
        offset += max(1, len(items) - overlap)


def campaigns(
    client: HttpClient,
    since: datetime,
    before: datetime,
    list_id: str | None,
    page_size: int = PAGE_SIZE,
) -> list[dict[str, Any]]:
    """Campaigns sent in [since, before), oldest first.

    Not only `status=sent`: a campaign still sending already has opens and clicks.
    """
    params: dict[str, Any] = {
        "since_send_time": _iso(since - timedelta(seconds=1)),  # Mailchimp's "since" is "after"
        "before_send_time": _iso(before),
        "sort_field": "send_time",
        "sort_dir": "ASC",
    }
    if list_id:
        params["list_id"] = list_id
    seen: dict[str, dict[str, Any]] = {}
    for page in paged(client, "/campaigns", "campaigns", params, page_size):
        for campaign in page:
            seen.setdefault(str(campaign.get("id")), campaign)
    return list(seen.values())


def activity_id(campaign_id: Any, email: Any, action: Any, timestamp: Any) -> str:
    key = f"{campaign_id}|{str(email or '').strip().lower()}|{action}|{timestamp}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _row(campaign_id: str, list_id: Any, email: Any, item: dict[str, Any]) -> dict[str, Any]:
    row = {
        "campaign_id": campaign_id,
        "list_id": list_id,
        "email_address": email,
        "action": item.get("action"),
        "type": item.get("type") or None,
        "timestamp": item.get("timestamp"),
        "url": item.get("url") or None,
        "ip": item.get("ip") or None,
    }
    if "reason" in item:
        row["reason"] = item["reason"] or None
    row["id"] = activity_id(campaign_id, email, row["action"], row["timestamp"])
    return row


def _in_interval(row: dict[str, Any], start: datetime, end: datetime) -> bool:
    """Within [start, end); an unreadable timestamp is kept, for the contract to quarantine."""
    try:
        moment = parse_timestamp(row.get("timestamp"))
    except (TypeError, ValueError):
        return True
    return moment is None or start <= moment < end


def _activity_rows(
    campaign: dict[str, Any], members: list[dict[str, Any]], start: datetime, end: datetime
) -> list[dict[str, Any]]:
    campaign_id = campaign["id"]
    list_id = (campaign.get("recipients") or {}).get("list_id")
    rows = []
    for member in members:
        email = member.get("email_address")
        for item in member.get("activity") or []:
            row = _row(campaign_id, member.get("list_id") or list_id, email, item)
            if _in_interval(row, start, end):
                rows.append(row)
    return rows


def _unsubscribe_rows(
    campaign: dict[str, Any], unsubscribes: list[dict[str, Any]], start: datetime, end: datetime
) -> list[dict[str, Any]]:
    campaign_id = campaign["id"]
    list_id = (campaign.get("recipients") or {}).get("list_id")
    rows = []
    for unsub in unsubscribes:
        item = {"action": "unsub", "timestamp": unsub.get("timestamp")}
        item["reason"] = unsub.get("reason")
        email = unsub.get("email_address")
        row = _row(campaign_id, unsub.get("list_id") or list_id, email, item)
        if _in_interval(row, start, end):
            rows.append(row)
    return rows


def activity_pages(
    client: HttpClient,
    sent: list[dict[str, Any]],
    start: datetime,
    end: datetime,
    page_size: int,
    connections: int,
) -> Iterator[list[dict[str, Any]]]:
    """Pages of activity rows of the campaigns that happened in [start, end), campaign by
    campaign (its email activity, then its unsubscribes), over up to `connections` at once."""
    since = {"since": _iso(start - timedelta(seconds=1))}
    listings, owners = [], {}
    for campaign in sent:
        for listing, to_rows in (
            (Listing(f"/reports/{campaign['id']}/email-activity", "emails", since), _activity_rows),
            (
                Listing(f"/reports/{campaign['id']}/unsubscribed", "unsubscribes", {}),
                _unsubscribe_rows,
            ),
        ):
            listings.append(listing)
            owners[id(listing)] = (campaign, to_rows)

    def fetch(path: str, params: dict[str, Any]) -> dict[str, Any]:
        return client.get_json(path, params=params)

    overlap = min(PAGE_OVERLAP, page_size // 2)
    for listing, items in ParallelPages(fetch, listings, page_size, overlap, connections):
        campaign, to_rows = owners[id(listing)]
        yield to_rows(campaign, items, start, end)


def extract(
    conn: ApiConnection,
    entity_name: str,
    start: datetime,
    end: datetime,
    landing_root: Path,
    page_size: int = PAGE_SIZE,
) -> LandResult:
    if entity_name != "email_activity":
        raise ValueError(f"unknown Mailchimp entity {entity_name!r}")
    if not 1 <= page_size <= PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {PAGE_SIZE}")
    lookback = timedelta(days=float(conn.extra.get("activity_lookback_days", LOOKBACK_DAYS)))
    list_id = conn.extra.get("list_id") or None
    connections = int(conn.extra.get("max_connections", MAX_CONNECTIONS))
    with (
        client_for(conn, connections) as client,
        LandingWriter(
            landing_root,
            "mailchimp",
            "email_activity",
            start,
            end,
            updated_field="timestamp",
            contract=contracts.MAILCHIMP_EMAIL_ACTIVITY,
        ) as writer,
    ):
        sent = campaigns(client, start - lookback, end, list_id, page_size)
        readable = []
        for campaign in sent:
            if isinstance(campaign.get("id"), str) and campaign["id"]:
                readable.append(campaign)
                continue
            # its reports cannot be asked for: the campaign goes to quarantine, with why
            writer.write_page([campaign])
            log.warning("mailchimp: a campaign without a usable id was quarantined")
        # ids embed the campaign and pages come campaign by campaign, so a repeat can only be
        # of the same campaign: the ids kept are one campaign's, not the interval's (millions)
        landed: set[str] = set()
        campaign_id = None
        for rows in activity_pages(client, readable, start, end, page_size, connections):
            if rows and rows[0]["campaign_id"] != campaign_id:
                campaign_id, landed = rows[0]["campaign_id"], set()
            fresh = []
            for row in rows:  # a repeat may be in the same page (one action twice a second)
                if row["id"] not in landed:
                    landed.add(row["id"])
                    fresh.append(row)
            writer.write_page(fresh)
    result = writer.result()
    log.info(
        "mailchimp email_activity: %d rows from %d campaigns, %d quarantined -> %s",
        result.rows,
        len(sent),
        result.quarantined,
        result.path.name,
    )
    return result
