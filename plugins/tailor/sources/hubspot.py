"""HubSpot CRM v3: contacts modified in one data interval, through the search endpoint.

Search pages with `limit` <= 200 and `after`, and cannot page past 10,000 results for one
query, so a window holding more is split in halves until each part fits.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from tailor.connections import ApiConnection
from tailor.http import HttpClient
from tailor.redact import get_logger
from tailor.sources.landing import LandingWriter, LandResult

log = get_logger(__name__)

SEARCH_PAGE_SIZE = 200
SEARCH_RESULT_CAP = 10_000

CONTACT_PROPERTIES = [
    "email",
    "firstname",
    "lastname",
    "phone",
    "address",
    "city",
    "state",
    "zip",
    "country",
    "lifecyclestage",
    "hs_lead_status",
    "hs_email_optout",
    "createdate",
    "lastmodifieddate",
]


def client_for(conn: ApiConnection) -> HttpClient:
    return HttpClient(
        conn.base_url,
        headers={"Authorization": f"Bearer {conn.password or ''}"},
        secrets=[conn.password],
        # 190 requests per 10 s for a private app; keep under it.
        min_interval=10 / 180,
    )


def _millis(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def _search(
    client: HttpClient, start: datetime, end: datetime, after: str | None, limit: int
) -> dict[str, Any]:
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
    return client.post("/crm/v3/objects/contacts/search", json=body).json()


def windows(
    client: HttpClient, start: datetime, end: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """Split [start, end) until each part holds at most the search cap."""
    total = _search(client, start, end, None, 1).get("total", 0)
    if total <= SEARCH_RESULT_CAP or (end - start).total_seconds() <= 1:
        yield start, end
        return
    middle = start + (end - start) / 2
    yield from windows(client, start, middle)
    yield from windows(client, middle, end)


def pages(client: HttpClient, start: datetime, end: datetime) -> Iterator[list[dict[str, Any]]]:
    for lo, hi in windows(client, start, end):
        after: str | None = None
        while True:
            body = _search(client, lo, hi, after, SEARCH_PAGE_SIZE)
            yield body.get("results", [])
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                break


def extract(
    conn: ApiConnection, entity_name: str, start: datetime, end: datetime, landing_root: Path
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
        ) as writer,
    ):
        for page in pages(client, start, end):
            writer.write_page(page)
    result = writer.result()
    log.info(
        "hubspot contacts: %d rows in %d pages -> %s", result.rows, result.pages, result.path.name
    )
    return result
