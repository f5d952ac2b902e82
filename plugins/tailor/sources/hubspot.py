"""HubSpot CRM v3: contacts modified in one data interval, through the search endpoint.

Search pages with `limit` <= 200 and `after`, and cannot page past 10,000 results for one
query, so a window holding more is split in halves until each part fits; the first page of
a window tells its total, so a window that fits costs no extra request.

A private app may send 190 requests per 10 seconds, and searches have their own limit of 4
per second per token: the client keeps both as rolling windows, so it goes as fast as it
may and is rarely refused; a 429 is waited out as its `Retry-After` says.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from tailor.connections import ApiConnection
from tailor.http import HttpClient, RollingWindow
from tailor.redact import get_logger
from tailor.sources import contracts
from tailor.sources.landing import LandingWriter, LandResult
from tailor.sources.shopify import retry_policy

log = get_logger(__name__)

SEARCH_PAGE_SIZE = 200
SEARCH_RESULT_CAP = 10_000
REQUESTS_PER_10_S = 190
SEARCHES_PER_S = 4

CONTACT_PROPERTIES = [
    "email",
    "firstname",
    "lastname",
    "phone",
    "mobilephone",
    "address",
    "city",
    "state",
    "zip",
    "country",
    "hs_language",
    "lifecyclestage",
    "hs_lead_status",
    "hs_email_optout",
    "createdate",
    "lastmodifieddate",
]


def _window(conn: ApiConnection, key: str, default: int, per: float) -> list[RollingWindow]:
    """A rolling window from the connection's extra (plans differ; 0 turns it off)."""
    limit = int(conn.extra.get(key, default))
    return [RollingWindow(limit, per)] if limit > 0 else []


class HubSpotClient(HttpClient):
    """The shared client, plus the search endpoints' own rolling window."""

    search_limits: list[RollingWindow] = []


def client_for(conn: ApiConnection) -> HubSpotClient:
    client = HubSpotClient(
        conn.base_url,
        headers={"Authorization": f"Bearer {conn.password or ''}"},
        secrets=[conn.password],
        retry=retry_policy(conn),
        limits=_window(conn, "requests_per_10_seconds", REQUESTS_PER_10_S, 10.0),
    )
    client.search_limits = _window(conn, "searches_per_second", SEARCHES_PER_S, 1.0)
    return client


def _millis(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def search_body(start: datetime, end: datetime, after: str | None, limit: int) -> dict[str, Any]:
    """The search request for contacts modified in [start, end), oldest first."""
    body: dict[str, Any] = {
        "filterGroups": [
            {
                "filters": [
                    {
                        "propertyName": "lastmodifieddate",
                        "operator": "GTE",
                        "value": _millis(start),
                    },
                    {"propertyName": "lastmodifieddate", "operator": "LT", "value": _millis(end)},
                ]
            }
        ],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "properties": CONTACT_PROPERTIES,
        "limit": limit,
    }
    if after:
        body["after"] = after
    return body


def _search(
    client: HubSpotClient, start: datetime, end: datetime, after: str | None, limit: int
) -> dict[str, Any]:
    body = search_body(start, end, after, limit)
    return client.post_json("/crm/v3/objects/contacts/search", body, limits=client.search_limits)


def pages(
    client: HubSpotClient, start: datetime, end: datetime, page_size: int = SEARCH_PAGE_SIZE
) -> Iterator[list[dict[str, Any]]]:
    """Pages of contacts modified in [start, end), splitting windows past the search cap."""
    body = _search(client, start, end, None, page_size)
    if body.get("total", 0) > SEARCH_RESULT_CAP and (end - start).total_seconds() > 1:
        middle = start + (end - start) / 2
        yield from pages(client, start, middle, page_size)
        yield from pages(client, middle, end, page_size)
        return
    while True:
        yield body.get("results", [])
        after = ((body.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return
        body = _search(client, start, end, after, page_size)


def extract(
    conn: ApiConnection,
    entity_name: str,
    start: datetime,
    end: datetime,
    landing_root: Path,
    page_size: int = SEARCH_PAGE_SIZE,
) -> LandResult:
    if entity_name != "contacts":
        raise ValueError(f"unknown HubSpot entity {entity_name!r}")
    with (
        client_for(conn) as client,
        LandingWriter(
            landing_root,
            "hubspot",
            "contacts",
            start,
            end,
            updated_field="properties.lastmodifieddate",
            contract=contracts.HUBSPOT_CONTACTS,
        ) as writer,
    ):
        for page in pages(client, start, end, page_size):
            writer.write_page(page)
    result = writer.result()
    log.info(
        "hubspot contacts: %d rows in %d pages, %d quarantined -> %s",
        result.rows,
        result.pages,
        result.quarantined,
        result.path.name,
    )
    return result
