"""The Mailchimp stand-in behaves as the Marketing API 3.0 spec and docs describe."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import pytest
import requests
from destination_helpers import KEY

from sandbox.http_base import CaseInsensitiveDict, Request
from sandbox.mailchimp import LIST_ID, MailchimpStandIn, subscriber_hash

EMAIL = "jane.doe@mail.tailor-shop.com"
H = subscriber_hash(EMAIL)
MEMBERS = f"/3.0/lists/{LIST_ID}/members"


def call(
    standin: MailchimpStandIn,
    method: str,
    path: str,
    body: Any = None,
    query: dict[str, str] | None = None,
    key: str | None = KEY,
):
    headers = {}
    if key is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"anyuser:{key}".encode()).decode()
    raw = json.dumps(body).encode() if body is not None else b""
    req = Request(
        method, path, {k: [v] for k, v in (query or {}).items()}, CaseInsensitiveDict(headers), raw
    )
    return standin.handle(req)


@pytest.fixture
def mc() -> MailchimpStandIn:
    return MailchimpStandIn(api_key=KEY)


def put(mc, email=EMAIL, **body):
    return call(
        mc,
        "PUT",
        f"{MEMBERS}/{subscriber_hash(email)}",
        {"email_address": email, "status_if_new": "subscribed", **body},
    )


def assert_problem(resp, status: int, title: str) -> dict:
    assert resp.status == status, resp.body
    assert set(resp.body) >= {"type", "title", "status", "detail", "instance"}
    assert resp.body["title"] == title and resp.body["status"] == status
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    return resp.body


def test_auth_needs_the_key_as_basic_password(mc):
    assert_problem(call(mc, "GET", "/3.0/lists", key=None), 401, "API Key Missing")
    assert_problem(call(mc, "GET", "/3.0/lists", key="wrong"), 401, "API Key Invalid")
    assert call(mc, "GET", "/3.0/lists").status == 200


def test_over_http_errors_are_problem_json(server):
    url = f"{server.url}/3.0/lists/nope"
    r = requests.get(url, auth=("u", "bad"), timeout=10)
    assert r.status_code == 401 and r.headers["Content-Type"].startswith("application/problem")
    r = requests.get(url, auth=("u", KEY), timeout=10)
    assert r.status_code == 404 and r.json()["title"] == "Resource Not Found"


def test_lists_and_member_count(mc):
    lists = call(mc, "GET", "/3.0/lists").body
    assert [(x["id"], x["name"]) for x in lists["lists"]] == [(LIST_ID, "Tailor sandbox")]
    assert lists["total_items"] == 1
    put(mc)
    put(mc, "other@mail.tailor-shop.com", status_if_new="transactional")
    stats = call(mc, "GET", f"/3.0/lists/{LIST_ID}").body["stats"]
    assert stats["member_count"] == 1  # subscribed only
    assert_problem(call(mc, "GET", "/3.0/lists/abc"), 404, "Resource Not Found")


def test_merge_fields_defaults_creation_rules_and_the_30_limit(mc):
    path = f"/3.0/lists/{LIST_ID}/merge-fields"
    page = call(mc, "GET", path, query={"count": "1000"}).body
    assert [f["tag"] for f in page["merge_fields"]] == [
        "FNAME",
        "LNAME",
        "ADDRESS",
        "PHONE",
        "BIRTHDAY",
    ]
    assert (
        call(mc, "GET", path, query={"count": "2", "offset": "1"}).body["merge_fields"][0]["tag"]
        == "LNAME"
    )
    created = call(mc, "POST", path, {"tag": "ORDERS", "name": "Orders", "type": "number"})
    assert created.status == 200 and created.body["merge_id"] == 6
    assert_problem(
        call(mc, "POST", path, {"tag": "ORDERS", "name": "x", "type": "text"}),
        400,
        "Invalid Resource",
    )
    for bad in ("orders", "TOOLONGTAG_1", "SP ACE"):
        assert_problem(
            call(mc, "POST", path, {"tag": bad, "name": "x", "type": "text"}),
            400,
            "Invalid Resource",
        )
    assert_problem(
        call(mc, "POST", path, {"tag": "X", "name": "x", "type": "blob"}), 400, "Invalid Resource"
    )
    for n in range(24):
        assert (
            call(mc, "POST", path, {"tag": f"F{n}", "name": f"F{n}", "type": "text"}).status == 200
        )
    assert call(mc, "GET", path).body["total_items"] == 30
    body = assert_problem(
        call(mc, "POST", path, {"tag": "ONEMORE", "name": "x", "type": "text"}),
        400,
        "Invalid Resource",
    )
    assert "30" in body["detail"]


def test_put_upserts_with_status_if_new_only_for_new_members(mc):
    r = put(mc, merge_fields={"FNAME": "Jane", "NOPE": "ignored"})
    assert r.status == 200 and r.body["id"] == H and r.body["status"] == "subscribed"
    assert r.body["merge_fields"]["FNAME"] == "Jane" and "NOPE" not in r.body["merge_fields"]
    r = put(mc, status_if_new="transactional", merge_fields={"LNAME": "Doe"})
    assert r.body["status"] == "subscribed"  # status_if_new does not touch an existing member
    assert r.body["merge_fields"] == {**r.body["merge_fields"], "FNAME": "Jane", "LNAME": "Doe"}
    for missing in ("email_address", "status_if_new"):
        body = {"email_address": EMAIL, "status_if_new": "subscribed"}
        del body[missing]
        assert_problem(call(mc, "PUT", f"{MEMBERS}/{H}", body), 400, "Invalid Resource")
    assert_problem(
        call(
            mc,
            "PUT",
            f"{MEMBERS}/{'0' * 32}",
            {"email_address": EMAIL, "status_if_new": "subscribed"},
        ),
        400,
        "Invalid Resource",
    )


def test_single_call_validation(mc):
    body = assert_problem(put(mc, "not-an-email@nowhere"), 400, "Invalid Resource")
    assert body["detail"] == (
        "not-an-email@nowhere looks fake or invalid, please enter a real email address."
    )
    assert_problem(put(mc, status_if_new="member"), 400, "Invalid Resource")
    assert_problem(put(mc, merge_fields={"FNAME": {"first": "Jane"}}), 400, "Invalid Resource")
    assert_problem(put(mc, merge_fields={"FNAME": True}), 400, "Invalid Resource")
    assert put(mc, merge_fields={"FNAME": 12}).body["merge_fields"]["FNAME"] == "12"
    assert_problem(put(mc, tags=["x"]), 400, "Invalid Resource")  # the upsert carries no tags
    assert_problem(call(mc, "PUT", f"{MEMBERS}/{H}", None), 400, "JSON Parse Error")


def test_compliance_states_are_never_resubscribed(mc):
    put(mc)
    mc.set_status(EMAIL, "unsubscribed")
    assert put(mc).body["status"] == "unsubscribed"
    body = assert_problem(put(mc, status="subscribed"), 400, "Member In Compliance State")
    assert "is in a compliance state" in body["detail"]
    assert_problem(
        call(mc, "PATCH", f"{MEMBERS}/{H}", {"status": "subscribed"}),
        400,
        "Member In Compliance State",
    )
    batch = call(
        mc,
        "POST",
        f"/3.0/lists/{LIST_ID}",
        {"members": [{"email_address": EMAIL, "status": "subscribed"}], "update_existing": True},
    ).body
    assert batch["error_count"] == 1 and "compliance state" in batch["errors"][0]["error"]
    assert mc.member(EMAIL)["status"] == "unsubscribed"
    # Pending (a confirmation email) is the way back, and PATCH may do that.
    assert call(mc, "PATCH", f"{MEMBERS}/{H}", {"status": "pending"}).body["status"] == "pending"


def test_batch_subscribe_as_the_spec_describes(mc):
    put(mc, merge_fields={"FNAME": "Old"})
    members = [
        {"email_address": EMAIL, "status": "transactional", "merge_fields": {"FNAME": "New"}},
        {
            "email_address": "new1@mail.tailor-shop.com",
            "status": "subscribed",
            "merge_fields": {"FNAME": "A"},
        },
        {"email_address": "bad@@mail.tailor-shop.com", "status": "subscribed"},
        {
            "email_address": "new2@mail.tailor-shop.com",
            "status": "subscribed",
            "merge_fields": {"FNAME": ["x"]},
        },
        {"email_address": "new3@mail.tailor-shop.com", "status": "nope"},
    ]
    r = call(mc, "POST", f"/3.0/lists/{LIST_ID}", {"members": members, "update_existing": False})
    assert r.status == 200
    body = r.body
    assert [m["email_address"] for m in body["new_members"]] == ["new1@mail.tailor-shop.com"]
    assert (body["total_created"], body["total_updated"], body["error_count"]) == (1, 0, 4)
    errors = {e["email_address"]: e for e in body["errors"]}
    assert errors[EMAIL]["error_code"] == "ERROR_CONTACT_EXISTS"
    assert errors["bad@@mail.tailor-shop.com"]["field"] == "email_address"
    assert "looks fake or invalid" in errors["bad@@mail.tailor-shop.com"]["error"]
    assert errors["new2@mail.tailor-shop.com"]["field"] == "FNAME"
    assert errors["new3@mail.tailor-shop.com"]["field"] == "status"
    assert set(errors[EMAIL]) == {"email_address", "error", "error_code", "field", "field_message"}
    assert mc.member(EMAIL)["merge_fields"]["FNAME"] == "Old"  # untouched

    # update_existing changes existing members' status: why Tailor never uses it.
    r = call(mc, "POST", f"/3.0/lists/{LIST_ID}", {"members": members[:1], "update_existing": True})
    assert r.body["total_updated"] == 1
    assert mc.member(EMAIL)["status"] == "transactional"


def test_batch_limits_and_fields(mc):
    path = f"/3.0/lists/{LIST_ID}"
    many = [
        {"email_address": f"u{i}@mail.tailor-shop.com", "status": "subscribed"} for i in range(501)
    ]
    assert_problem(call(mc, "POST", path, {"members": many}), 400, "Invalid Resource")
    assert call(mc, "POST", path, {"members": many[:500]}).body["total_created"] == 500
    # The batch's member schema has `status`, not `status_if_new`, and no tags.
    for extra in ({"status_if_new": "subscribed"}, {"tags": ["VIP"]}):
        member = {"email_address": "x@mail.tailor-shop.com", "status": "subscribed", **extra}
        assert_problem(call(mc, "POST", path, {"members": [member]}), 400, "Invalid Resource")
    dup = [{"email_address": "d@mail.tailor-shop.com", "status": "subscribed"}] * 2
    assert call(mc, "POST", path, {"members": dup}).body["error_count"] == 1
    assert (
        call(mc, "POST", path, {"members": dup}, query={"skip_duplicate_check": "true"}).body[
            "error_count"
        ]
        == 1
    )  # now it exists: ERROR_CONTACT_EXISTS, once


def test_members_listing_pagination(mc):
    for i in range(25):
        put(mc, f"p{i:02d}@mail.tailor-shop.com")
    page = call(mc, "GET", MEMBERS, query={"count": "10", "offset": "20"}).body
    assert page["total_items"] == 25 and len(page["members"]) == 5
    assert page["members"][0]["email_address"] == "p20@mail.tailor-shop.com"
    assert len(call(mc, "GET", MEMBERS).body["members"]) == 10  # default count
    assert_problem(call(mc, "GET", MEMBERS, query={"count": "1001"}), 400, "Invalid Resource")


def test_tags(mc):
    put(mc)
    path = f"{MEMBERS}/{H}/tags"
    r = call(
        mc,
        "POST",
        path,
        {
            "tags": [
                {"name": "Frequent buyers", "status": "active"},
                {"name": "Lapsed", "status": "active"},
            ]
        },
    )
    assert r.status == 204 and r.body is None
    call(mc, "POST", path, {"tags": [{"name": "Lapsed", "status": "inactive"}]})
    tags = call(mc, "GET", path).body
    assert [t["name"] for t in tags["tags"]] == ["Frequent buyers"] and tags["total_items"] == 1
    assert_problem(
        call(mc, "POST", path, {"tags": [{"name": "X", "status": "on"}]}), 400, "Invalid Resource"
    )
    assert_problem(
        call(
            mc, "POST", f"{MEMBERS}/{'f' * 32}/tags", {"tags": [{"name": "X", "status": "active"}]}
        ),
        404,
        "Resource Not Found",
    )


def test_archive_and_permanent_delete(mc):
    put(mc)
    assert call(mc, "DELETE", f"{MEMBERS}/{H}").status == 204
    assert call(mc, "GET", f"{MEMBERS}/{H}").body["status"] == "archived"
    assert put(mc).body["status"] == "subscribed"  # re-adding restores an archived contact
    assert call(mc, "POST", f"{MEMBERS}/{H}/actions/delete-permanent").status == 204
    assert_problem(call(mc, "GET", f"{MEMBERS}/{H}"), 404, "Resource Not Found")
    assert_problem(put(mc), 400, "Forgotten Email Not Subscribed")


def test_stats_reset_and_persistence(tmp_path):
    state = tmp_path / "mailchimp_state.json"
    mc = MailchimpStandIn(api_key=KEY, state_path=state)
    put(mc)
    put(mc, "b@mail.tailor-shop.com")
    call(mc, "GET", f"{MEMBERS}/{H}")
    assert mc.stats() == {
        "PUT /lists/{list_id}/members/{hash}": 2,
        "GET /lists/{list_id}/members/{hash}": 1,
    }
    stats = call(mc, "GET", "/3.0/_sandbox/stats").body
    assert stats["total_requests"] == 3 and stats["requests"] == mc.stats()
    mc.close()
    assert not list(tmp_path.glob("*.tmp"))

    reloaded = MailchimpStandIn(api_key=KEY, state_path=state)
    assert reloaded.member(EMAIL)["status"] == "subscribed"
    assert reloaded.stats() == {}
    assert call(reloaded, "POST", "/3.0/_sandbox/reset").status == 204
    assert reloaded.member(EMAIL) is None


def test_more_than_ten_simultaneous_connections_get_429():
    mc = MailchimpStandIn(api_key=KEY, latency=0.2)
    statuses: list[int] = []
    threads = [
        threading.Thread(target=lambda: statuses.append(call(mc, "GET", "/3.0/lists").status))
        for _ in range(14)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(200) == 10 and statuses.count(429) == 4


SEGMENTS = f"/3.0/lists/{LIST_ID}/segments"


def test_a_tag_is_a_static_segment_whichever_endpoint_sets_it(mc):
    put(mc)
    put(mc, "b@mail.tailor-shop.com")
    call(mc, "POST", f"{MEMBERS}/{H}/tags", {"tags": [{"name": "Lapsed", "status": "active"}]})
    segments = call(mc, "GET", SEGMENTS, query={"type": "static"}).body
    assert [(s["name"], s["type"], s["member_count"]) for s in segments["segments"]] == [
        ("Lapsed", "static", 1)
    ]
    lapsed = segments["segments"][0]["id"]

    made = call(mc, "POST", SEGMENTS, {"name": "VIP", "static_segment": ["b@mail.tailor-shop.com"]})
    assert made.status == 200 and made.body["type"] == "static" and made.body["member_count"] == 1
    batch = call(
        mc,
        "POST",
        f"{SEGMENTS}/{made.body['id']}",
        {"members_to_add": [EMAIL], "members_to_remove": ["b@mail.tailor-shop.com"]},
    ).body
    assert batch["total_added"] == 1 and batch["total_removed"] == 1 and batch["errors"] == []
    assert [m["email_address"] for m in batch["members_added"]] == [EMAIL]
    # The member's own tags are the static segments it is in, and its view says so.
    tags = call(mc, "GET", f"{MEMBERS}/{H}/tags").body["tags"]
    assert {t["name"] for t in tags} == {"Lapsed", "VIP"}
    assert {t["name"] for t in mc.member(EMAIL)["tags"]} == {"Lapsed", "VIP"}
    assert mc.member("b@mail.tailor-shop.com")["tags"] == []
    # Untagging through the member endpoint takes the member out of the segment.
    call(mc, "POST", f"{MEMBERS}/{H}/tags", {"tags": [{"name": "Lapsed", "status": "inactive"}]})
    assert call(mc, "GET", f"{SEGMENTS}/{lapsed}").body["member_count"] == 0
    # Only static segments exist here: a saved-segment filter lists none.
    assert call(mc, "GET", SEGMENTS, query={"type": "saved"}).body["total_items"] == 0


def test_segment_batches_are_idempotent_and_report_unknown_addresses(mc):
    put(mc)
    put(mc, "gone@mail.tailor-shop.com")
    call(mc, "DELETE", f"{MEMBERS}/{subscriber_hash('gone@mail.tailor-shop.com')}")  # archived
    seg = call(mc, "POST", SEGMENTS, {"name": "Frequent buyers", "static_segment": []}).body["id"]
    path = f"{SEGMENTS}/{seg}"
    unknown = ["nobody@mail.tailor-shop.com", "gone@mail.tailor-shop.com"]
    first = call(mc, "POST", path, {"members_to_add": [EMAIL, *unknown]})
    assert first.status == 200  # per-address errors do not fail the call
    assert first.body["total_added"] == 1 and first.body["error_count"] == 2
    assert first.body["errors"] == [
        {"email_addresses": unknown, "error": "Email address is not a member of this audience"}
    ]
    again = call(mc, "POST", path, {"members_to_add": [EMAIL]}).body
    assert again["total_added"] == 0 and again["errors"] == []  # already in: no change
    removed = call(mc, "POST", path, {"members_to_remove": [EMAIL, EMAIL]}).body
    assert removed["total_removed"] == 1 and removed["errors"] == []
    assert mc.member(EMAIL)["tags"] == []


def test_segment_limits_and_schemas(mc):
    put(mc)
    seg = call(mc, "POST", SEGMENTS, {"name": "Lapsed", "static_segment": []}).body["id"]
    path = f"{SEGMENTS}/{seg}"
    many = [f"p{i}@mail.tailor-shop.com" for i in range(501)]
    body = assert_problem(call(mc, "POST", path, {"members_to_add": many}), 400, "Invalid Resource")
    assert body["errors"] == [{"field": "members_to_add", "message": "Maximum 500 items"}]
    assert_problem(call(mc, "POST", path, {"members_to_remove": many}), 400, "Invalid Resource")
    assert call(mc, "POST", path, {"members_to_add": many[:500]}).body["error_count"] == 500
    for bad in ({"members": [EMAIL]}, {"members_to_add": EMAIL}, {"members_to_add": [1]}):
        assert_problem(call(mc, "POST", path, bad), 400, "Invalid Resource")
    assert_problem(
        call(mc, "POST", f"{SEGMENTS}/999", {"members_to_add": [EMAIL]}), 404, "Resource Not Found"
    )
    assert_problem(call(mc, "GET", f"{SEGMENTS}/nope"), 404, "Resource Not Found")
    # Creating: a name of 1..100 characters, a static_segment, and no duplicate names.
    assert_problem(
        call(mc, "POST", SEGMENTS, {"name": "Lapsed", "static_segment": []}),
        400,
        "Invalid Resource",
    )
    assert_problem(
        call(mc, "POST", SEGMENTS, {"name": "x" * 101, "static_segment": []}),
        400,
        "Invalid Resource",
    )
    assert_problem(call(mc, "POST", SEGMENTS, {"name": "No members"}), 400, "Invalid Resource")
    assert_problem(
        call(mc, "POST", SEGMENTS, {"name": "Rule", "options": {"match": "any", "conditions": []}}),
        400,
        "Invalid Resource",
    )
    assert_problem(call(mc, "GET", SEGMENTS, query={"type": "dynamic"}), 400, "Invalid Resource")


def test_segments_page_and_survive_a_restart(tmp_path):
    state = tmp_path / "mailchimp_state.json"
    mc = MailchimpStandIn(api_key=KEY, state_path=state)
    put(mc)
    for i in range(12):
        call(mc, "POST", SEGMENTS, {"name": f"Tag {i:02d}", "static_segment": [EMAIL]})
    page = call(mc, "GET", SEGMENTS, query={"count": "5", "offset": "10"}).body
    assert page["total_items"] == 12 and [s["name"] for s in page["segments"]] == [
        "Tag 10",
        "Tag 11",
    ]
    assert len(call(mc, "GET", SEGMENTS).body["segments"]) == 10  # default count
    mc.close()
    reloaded = MailchimpStandIn(api_key=KEY, state_path=state)
    assert call(reloaded, "GET", SEGMENTS).body["total_items"] == 12
    assert reloaded.member(EMAIL)["tags_count"] == 12


def test_batch_operations_answer_each_call_in_a_results_archive(mc):
    import io
    import tarfile

    put(mc, "gone@mail.tailor-shop.com")
    mc.set_status("gone@mail.tailor-shop.com", "unsubscribed")
    operations = [
        {
            "method": "PUT",
            "path": f"/lists/{LIST_ID}/members/{H}",
            "body": json.dumps({"email_address": EMAIL, "status_if_new": "subscribed"}),
            "operation_id": "new",
        },
        {
            "method": "PATCH",
            "path": f"/lists/{LIST_ID}/members/{subscriber_hash('gone@mail.tailor-shop.com')}",
            "body": json.dumps({"status": "subscribed"}),  # refused: compliance state
            "operation_id": "resubscribe",
        },
        {"method": "DELETE", "path": f"/lists/{LIST_ID}/members/{'0' * 32}", "operation_id": "x"},
    ]
    submitted = call(mc, "POST", "/3.0/batches", {"operations": operations})
    assert submitted.status == 200 and submitted.body["status"] == "pending"
    assert submitted.body["total_operations"] == 3 and not submitted.body["response_body_url"]
    batch = call(mc, "GET", f"/3.0/batches/{submitted.body['id']}").body
    assert batch["status"] == "finished" and batch["errored_operations"] == 2
    # the archive sits behind a signed URL: fetched without a key
    path = "/" + batch["response_body_url"].split("/", 3)[3]
    archive = call(mc, "GET", path, key=None)
    assert archive.status == 200
    answers = {}
    with tarfile.open(fileobj=io.BytesIO(archive.body), mode="r:gz") as tar:
        for entry in tar.getmembers():
            for item in json.load(tar.extractfile(entry)):
                answers[item["operation_id"]] = (item["status_code"], json.loads(item["response"]))
    assert answers["new"][0] == 200 and answers["new"][1]["status"] == "subscribed"
    assert answers["resubscribe"][0] == 400
    assert answers["resubscribe"][1]["title"] == "Member In Compliance State"
    assert answers["x"][0] == 404
    assert mc.member(EMAIL)["status"] == "subscribed"
    assert mc.member("gone@mail.tailor-shop.com")["status"] == "unsubscribed"
    assert mc.stats() == {
        "PUT /lists/{list_id}/members/{hash}": 1,
        "POST /batches": 1,
        "GET /batches/{batch_id}": 1,
        "GET /batch-results/{batch_id}": 1,
    }
    bad = call(mc, "POST", "/3.0/batches", {"operations": [{"method": "HEAD", "path": "/"}]})
    assert_problem(bad, 400, "Invalid Resource")
