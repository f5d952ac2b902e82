"""The Klaviyo stand-in is as strict as Klaviyo: headers, schemas, limits, property rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.http_base import CaseInsensitiveDict, Request, Response
from sandbox.klaviyo import KlaviyoStandIn

KEY = "pk_test"
HEADERS = {"Authorization": f"Klaviyo-API-Key {KEY}", "revision": "2026-07-15"}


@pytest.fixture
def api() -> KlaviyoStandIn:
    return KlaviyoStandIn(KEY)


def call(
    api: KlaviyoStandIn,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    **query: str,
) -> Response:
    return api.handle(
        Request(
            method,
            f"/api{path}",
            query={k: [v] for k, v in query.items()},
            headers=CaseInsensitiveDict(HEADERS if headers is None else headers),
            body=b"" if body is None else json.dumps(body).encode(),
        )
    )


def import_job(*profiles: dict[str, Any]) -> dict[str, Any]:
    return {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {"profiles": {"data": list(profiles)}},
        }
    }


def profile(email: str, meta: dict | None = None, **attributes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "profile", "attributes": {"email": email, **attributes}}
    if meta:
        item["meta"] = meta
    return item


def consent_job(kind: str, emails: list[str], consent: str) -> dict[str, Any]:
    return {
        "data": {
            "type": kind,
            "attributes": {
                "profiles": {
                    "data": [
                        {
                            "type": "profile",
                            "attributes": {
                                "email": e,
                                "subscriptions": {"email": {"marketing": {"consent": consent}}},
                            },
                        }
                        for e in emails
                    ]
                }
            },
        }
    }


def test_revision_and_key_are_required(api):
    no_revision = {"Authorization": HEADERS["Authorization"]}
    resp = call(api, "GET", "/profiles", headers=no_revision)
    assert resp.status == 400 and "revision" in resp.body["errors"][0]["detail"]
    unknown = {**HEADERS, "revision": "2031-01-15"}
    assert call(api, "GET", "/profiles", headers=unknown).status == 400
    assert (
        call(api, "GET", "/profiles", headers={**HEADERS, "revision": "2025-10-15.pre"}).status
        == 200
    )
    assert call(api, "GET", "/profiles", headers={"revision": "2026-07-15"}).status == 401
    bearer = {**HEADERS, "Authorization": f"Bearer {KEY}"}
    assert call(api, "GET", "/profiles", headers=bearer).status == 401
    wrong = {**HEADERS, "Authorization": "Klaviyo-API-Key pk_other"}
    assert call(api, "GET", "/profiles", headers=wrong).status == 401
    ok = call(api, "GET", "/profiles")
    assert ok.status == 200 and ok.headers["Content-Type"] == "application/vnd.api+json"


def test_bodies_follow_the_spec_schemas(api):
    typo = import_job(profile("a@shop.com", firstname="Ann"))  # not an attribute
    resp = call(api, "POST", "/profile-bulk-import-jobs", typo)
    assert resp.status == 400 and "firstname" in resp.body["errors"][0]["detail"]
    wrong_type = {"data": {"type": "profile-import-job", "attributes": {"profiles": {"data": []}}}}
    assert call(api, "POST", "/profile-bulk-import-jobs", wrong_type).status == 400
    bad_consent = consent_job("profile-subscription-bulk-create-job", ["a@shop.com"], "YES")
    assert call(api, "POST", "/profile-subscription-bulk-create-jobs", bad_consent).status == 400


def test_import_reports_bad_profiles_and_imports_the_rest(api):
    job = import_job(profile("a@shop.com", first_name="Ann"), profile("not-an-address"))
    created = call(api, "POST", "/profile-bulk-import-jobs", job)
    assert created.status == 202 and created.body["data"]["attributes"]["status"] == "queued"
    job_id = created.body["data"]["id"]
    status = call(api, "GET", f"/profile-bulk-import-jobs/{job_id}").body["data"]["attributes"]
    assert status["status"] == "complete" and status["failed_count"] == 1
    errors = call(api, "GET", f"/profile-bulk-import-jobs/{job_id}/import-errors").body["data"]
    assert [e["attributes"]["source"]["pointer"] for e in errors] == [
        "/data/attributes/profiles/data/1/attributes/email"
    ]
    assert api.profile("a@shop.com")["first_name"] == "Ann"


def test_import_limits(api):
    many = import_job(*[profile(f"p{i}@shop.com") for i in range(10_001)])
    resp = call(api, "POST", "/profile-bulk-import-jobs", many)
    assert resp.status == 400 and "10000" in resp.body["errors"][0]["detail"]
    big = "x" * 600_000
    heavy = import_job(*[profile(f"p{i}@shop.com", properties={"notes": big}) for i in range(9)])
    assert call(api, "POST", "/profile-bulk-import-jobs", heavy).status == 413
    huge = import_job(profile("one@shop.com", properties={"notes": "y" * 120_000}))
    job_id = call(api, "POST", "/profile-bulk-import-jobs", huge).body["data"]["id"]
    status = call(api, "GET", f"/profile-bulk-import-jobs/{job_id}").body["data"]["attributes"]
    assert status["failed_count"] == 1 and api.profile("one@shop.com") is None


def test_null_keeps_a_property_and_only_unset_removes_it(api):
    call(
        api,
        "POST",
        "/profile-bulk-import-jobs",
        import_job(profile("a@shop.com", properties={"ORDERS": "3", "SPENT": "9.50"})),
    )
    call(
        api,
        "POST",
        "/profile-bulk-import-jobs",
        import_job(profile("a@shop.com", first_name=None, properties={"ORDERS": None})),
    )
    assert api.profile("a@shop.com")["properties"] == {"ORDERS": "3", "SPENT": "9.50"}
    unset = {"patch_properties": {"unset": ["ORDERS"]}}
    call(api, "POST", "/profile-bulk-import-jobs", import_job(profile("a@shop.com", meta=unset)))
    assert api.profile("a@shop.com")["properties"] == {"SPENT": "9.50"}


def test_subscribing_lifts_an_unsubscribe_and_jobs_have_limits(api):
    sub = "profile-subscription-bulk-create-job"
    unsub = "profile-subscription-bulk-delete-job"
    assert (
        call(
            api,
            "POST",
            "/profile-subscription-bulk-create-jobs",
            consent_job(sub, ["a@shop.com"], "SUBSCRIBED"),
        ).status
        == 202
    )
    call(
        api,
        "POST",
        "/profile-subscription-bulk-delete-jobs",
        consent_job(unsub, ["a@shop.com"], "UNSUBSCRIBED"),
    )
    assert api.profile("a@shop.com")["consent"] == "UNSUBSCRIBED"
    call(
        api,
        "POST",
        "/profile-subscription-bulk-create-jobs",
        consent_job(sub, ["a@shop.com"], "SUBSCRIBED"),
    )
    assert api.profile("a@shop.com")["consent"] == "SUBSCRIBED" and api.resubscribed == 1
    emails = [f"p{i}@shop.com" for i in range(1001)]
    assert (
        call(
            api,
            "POST",
            "/profile-subscription-bulk-create-jobs",
            consent_job(sub, emails, "SUBSCRIBED"),
        ).status
        == 400
    )
    assert (
        call(
            api,
            "POST",
            "/profile-subscription-bulk-delete-jobs",
            consent_job(unsub, emails[:101], "UNSUBSCRIBED"),
        ).status
        == 400
    )


def test_lists_take_profile_ids_and_deletion_removes_memberships(api):
    created = call(api, "POST", "/lists", {"data": {"type": "list", "attributes": {"name": "VIP"}}})
    list_id = created.body["data"]["id"]
    found = call(api, "GET", "/lists", filter='equals(name,"VIP")').body["data"]
    assert [x["id"] for x in found] == [list_id]
    call(api, "POST", "/profile-bulk-import-jobs", import_job(profile("a@shop.com")))
    pid = api.profile("a@shop.com")["id"]
    members = {"data": [{"type": "profile", "id": pid}]}
    assert call(api, "POST", f"/lists/{list_id}/relationships/profiles", members).status == 204
    assert api.profile("a@shop.com")["lists"] == ["VIP"]
    unknown = {"data": [{"type": "profile", "id": "01NOPE"}]}
    assert call(api, "POST", f"/lists/{list_id}/relationships/profiles", unknown).status == 404
    too_many = {"data": [{"type": "profile", "id": pid}] * 1001}
    assert call(api, "POST", f"/lists/{list_id}/relationships/profiles", too_many).status == 400
    deletion = {
        "data": {
            "type": "data-privacy-deletion-job",
            "attributes": {
                "profile": {"data": {"type": "profile", "attributes": {"email": "a@shop.com"}}}
            },
        }
    }
    assert call(api, "POST", "/data-privacy-deletion-jobs", deletion).status == 202
    assert api.profile("a@shop.com") is None and api.lists[list_id]["members"] == set()


def test_rate_limits_answer_headers_then_429_with_retry_after(api):
    answers = [call(api, "GET", "/profile-bulk-import-jobs/none") for _ in range(25)]
    first = answers[0]  # a 404, but counted and answered with the steady window's state
    assert first.headers["RateLimit-Limit"] == "150"
    assert first.headers["RateLimit-Remaining"] == "149"
    assert 1 <= int(first.headers["RateLimit-Reset"]) <= 60
    refused = [a for a in answers if a.status == 429]
    assert len(refused) >= 5, "at most 10 a second (two seconds at most: 20) may pass"
    assert refused[0].headers["Retry-After"] == "1"
    assert refused[0].body["errors"][0]["code"] == "throttled"
    assert api.throttled["GET /profile-bulk-import-jobs/{job_id}"] == len(refused)


def test_profiles_filter_by_email_with_subscriptions(api):
    call(api, "POST", "/profile-bulk-import-jobs", import_job(profile("A@Shop.com")))
    resp = call(
        api,
        "GET",
        "/profiles",
        filter='any(email,["a@shop.com","b@shop.com"])',
        **{"additional-fields[profile]": "subscriptions", "page[size]": "100"},
    )
    assert [p["attributes"]["email"] for p in resp.body["data"]] == ["a@shop.com"]
    marketing = resp.body["data"][0]["attributes"]["subscriptions"]["email"]["marketing"]
    assert marketing["consent"] == "NEVER_SUBSCRIBED"
    assert call(api, "GET", "/profiles", **{"page[size]": "101"}).status == 400
    assert call(api, "GET", "/profiles", filter="contains(email,'a')").status == 400
