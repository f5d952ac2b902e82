"""The HubSpot CRM v3 contacts stand-in over real HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.server import SandboxServer

CONTACTS = "/crm/v3/objects/contacts"
AUTH = {"Authorization": "Bearer pat-sandbox"}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _ms(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


@pytest.fixture(scope="module")
def hs(sandbox_server: SandboxServer):
    session = requests.Session()
    session.headers.update(AUTH)
    session.base = sandbox_server.url  # type: ignore[attr-defined]
    yield session
    session.close()


def _search(hs, body: dict[str, Any]) -> requests.Response:
    return hs.post(hs.base + CONTACTS + "/search", json=body, timeout=30)


def test_list_pages_through_every_contact_once(hs, sandbox_data: Path) -> None:
    stored = _jsonl(sandbox_data / "hubspot_contacts.jsonl")
    seen, after, pages = [], None, 0
    while True:
        params = {"limit": 100, "properties": "email,lifecyclestage"}
        if after:
            params["after"] = after
        body = hs.get(hs.base + CONTACTS, params=params, timeout=30).json()
        pages += 1
        seen += body["results"]
        if "paging" not in body:
            break
        after = body["paging"]["next"]["after"]
        assert isinstance(after, str)
        assert body["paging"]["next"]["link"].startswith(hs.base + CONTACTS + "?")
    assert [c["id"] for c in seen] == [c["id"] for c in stored]
    assert pages == -(-len(stored) // 100)
    first = seen[0]
    assert set(first["properties"]) == {
        "email",
        "lifecyclestage",
        "createdate",
        "lastmodifieddate",
        "hs_object_id",
    }
    assert first["properties"]["email"] == stored[0]["properties"]["email"]
    assert set(first) == {"id", "properties", "createdAt", "updatedAt", "archived"}


def test_list_defaults(hs) -> None:
    body = hs.get(hs.base + CONTACTS, timeout=10).json()
    assert len(body["results"]) == 10 and "paging" in body
    assert set(body["results"][0]["properties"]) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    # repeated properties= parameters work like a comma list; unknown ones are ignored
    body = hs.get(
        hs.base + CONTACTS,
        params=[("properties", "phone"), ("properties", "nope"), ("limit", "1")],
        timeout=10,
    ).json()
    assert "phone" in body["results"][0]["properties"]
    assert "nope" not in body["results"][0]["properties"]
    archived = hs.get(hs.base + CONTACTS, params={"archived": "true"}, timeout=10).json()
    assert archived["results"] == [] and "paging" not in archived


def test_read_one_contact(hs, sandbox_data: Path) -> None:
    contact = _jsonl(sandbox_data / "hubspot_contacts.jsonl")[5]
    body = hs.get(hs.base + f"{CONTACTS}/{contact['id']}", timeout=10).json()
    assert body["id"] == contact["id"]
    email = contact["properties"]["email"].strip()
    by_email = hs.get(
        hs.base + f"{CONTACTS}/{email}", params={"idProperty": "email"}, timeout=10
    ).json()
    assert by_email["id"] == contact["id"]
    missing = hs.get(hs.base + f"{CONTACTS}/999999999", timeout=10)
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"


def test_search_window_is_exact(hs, sandbox_data: Path) -> None:
    stored = _jsonl(sandbox_data / "hubspot_contacts.jsonl")
    start = datetime(2026, 9, 1, tzinfo=UTC)
    end = datetime(2026, 11, 20, tzinfo=UTC)
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    expected = sorted(
        (c for c in stored if start_ms <= _ms(c["properties"]["lastmodifieddate"]) < end_ms),
        key=lambda c: (_ms(c["properties"]["lastmodifieddate"]), int(c["id"])),
    )
    assert len(expected) > 200  # so the window needs more than one page
    for start_value, end_value in (
        (str(start_ms), str(end_ms)),
        ("2026-09-01T00:00:00.000Z", "2026-11-20T00:00:00Z"),
    ):
        got, after, total = [], None, None
        while True:
            body = {
                "filterGroups": [
                    {
                        "filters": [
                            {
                                "propertyName": "lastmodifieddate",
                                "operator": "GTE",
                                "value": start_value,
                            },
                            {
                                "propertyName": "lastmodifieddate",
                                "operator": "LT",
                                "value": end_value,
                            },
                        ]
                    }
                ],
                "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                "properties": ["email", "lastmodifieddate"],
                "limit": 200,
            }
            if after:
                body["after"] = after
            resp = _search(hs, body)
            assert resp.status_code == 200, resp.text
            page = resp.json()
            total = page["total"]
            got += page["results"]
            if "paging" not in page:
                break
            after = page["paging"]["next"]["after"]
        assert total == len(expected)
        assert [c["id"] for c in got] == [c["id"] for c in expected]


def test_search_between_and_or_groups(hs, sandbox_data: Path) -> None:
    stored = _jsonl(sandbox_data / "hubspot_contacts.jsonl")
    lo, hi = "2026-06-01T00:00:00Z", "2026-06-30T00:00:00Z"
    between = _search(
        hs,
        {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "createdate",
                            "operator": "BETWEEN",
                            "value": str(_ms(lo)),
                            "highValue": str(_ms(hi)),
                        }
                    ]
                }
            ],
            "limit": 200,
        },
    ).json()
    assert between["total"] == sum(
        1 for c in stored if _ms(lo) <= _ms(c["properties"]["createdate"]) <= _ms(hi)
    )
    groups = _search(
        hs,
        {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "lifecyclestage", "operator": "EQ", "value": "lead"}
                    ]
                },
                {
                    "filters": [
                        {"propertyName": "hs_email_optout", "operator": "EQ", "value": "true"}
                    ]
                },
            ],
            "limit": 1,
        },
    ).json()
    assert groups["total"] == sum(
        1
        for c in stored
        if c["properties"]["lifecyclestage"] == "lead"
        or c["properties"]["hs_email_optout"] == "true"
    )
    desc = _search(
        hs, {"sorts": [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}], "limit": 5}
    ).json()
    dates = [r["properties"]["lastmodifieddate"] for r in desc["results"]]
    assert dates == sorted(dates, reverse=True) and desc["total"] == len(stored)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"limit": 201}, "limit"),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}
                ]
                * 7
            },
            "filterGroups",
        ),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * 7}
                ]
            },
            "filters",
        ),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "email", "operator": "LIKE", "value": "x"}]}
                ]
            },
            "operator",
        ),
    ],
)
def test_search_limits_are_400(hs, body: dict[str, Any], fragment: str) -> None:
    resp = _search(hs, body)
    assert resp.status_code == 400
    error = resp.json()
    assert error["status"] == "error" and error["category"] == "VALIDATION_ERROR"
    assert fragment in error["message"] and error["correlationId"]


def test_search_cannot_page_past_10000(hs) -> None:
    ok = _search(hs, {"after": "9800", "limit": 200})
    assert ok.status_code == 200 and ok.json()["results"] == []
    for after, limit in (("9900", 200), ("10000", 1)):
        resp = _search(hs, {"after": after, "limit": limit})
        assert resp.status_code == 400, (after, limit)
        assert resp.json()["category"] == "VALIDATION_ERROR"
        assert "10000" in resp.json()["message"]


def test_list_limit_cap(hs) -> None:
    resp = hs.get(hs.base + CONTACTS, params={"limit": 101}, timeout=10)
    assert resp.status_code == 400
    assert resp.json()["category"] == "VALIDATION_ERROR"
    assert hs.get(hs.base + CONTACTS, params={"limit": 100}, timeout=10).status_code == 200


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "pat-sandbox"}]
)
def test_bad_token_is_401(sandbox_server: SandboxServer, headers: dict[str, str]) -> None:
    for method, path in (("GET", CONTACTS), ("POST", CONTACTS + "/search")):
        resp = requests.request(
            method, sandbox_server.url + path, headers=headers, json={}, timeout=10
        )
        assert resp.status_code == 401
        body = resp.json()
        assert body["status"] == "error" and body["category"] == "INVALID_AUTHENTICATION"
        assert body["message"].startswith("Authentication credentials not found")
        assert body["correlationId"]
