"""Property: over any history of consent changes in the sources, unsubscribes in the ESP and
erasure requests, no sync ever leaves an unsubscribed or erased person subscribed."""

from __future__ import annotations

import uuid
from pathlib import Path

from destination_helpers import member_row, write_members
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tailor.destinations.sync import sync_destination

PEOPLE = 6
SOURCE_STATES = ("subscribed", "unsubscribed", "cleaned", "bounced", "not_subscribed")
REVOKED = {"unsubscribed", "cleaned", "bounced"}

# One night: per person, (source consent, in the segment, ESP action before the sync,
# erasure requested). `as_row` lets a bad upstream send a non-subscribed row anyway.
person_night = st.tuples(
    st.sampled_from(SOURCE_STATES),
    st.booleans(),
    st.sampled_from([None, None, None, "unsubscribed", "cleaned"]),
    st.sampled_from([False] * 7 + [True]),
    st.booleans(),
)
history = st.lists(st.lists(person_night, min_size=PEOPLE, max_size=PEOPLE), min_size=1, max_size=4)


def email(i: int) -> str:
    return f"customer{i:05d}@mail.tailor-shop.com"


def write_sources(warehouse: Path, night, erased: set[int]) -> None:
    import duckdb
    import pandas as pd

    rows = []
    for i, (consent, in_segment, _esp, _erase, as_row) in enumerate(night):
        if in_segment and (consent == "subscribed" or as_row):
            rows.append(member_row(i, status=consent))
    write_members(warehouse, rows)
    con = duckdb.connect(str(warehouse))
    try:
        dim = pd.DataFrame(
            {
                "customer_id": [f"c{i:05d}" for i in range(PEOPLE)],
                "email_consent_state": [n[0] for n in night],
            }
        )
        con.register("dim", dim)
        con.execute("create or replace table main.dim_customers as select * from dim")
        erasures = pd.DataFrame({"email": [email(i) for i in sorted(erased)]}, dtype="string")
        con.register("erasures", erasures)
        con.execute("create or replace table main.erasure_requests as select * from erasures")
    finally:
        con.close()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(nights=history)
def test_nobody_unsubscribed_or_erased_is_ever_subscribed(
    nights, standin, make_destination, tmp_path
):
    standin.reset()
    warehouse = tmp_path / f"{uuid.uuid4().hex}.duckdb"
    erased: set[int] = set()
    esp_opted_out: set[int] = set()
    revoked_while_held: set[int] = set()
    for n, night in enumerate(nights):
        for i, (_consent, _seg, esp_action, erase, _row) in enumerate(night):
            if esp_action and standin.member(email(i)) is not None:
                standin.set_status(email(i), esp_action)  # they unsubscribed in the ESP
                esp_opted_out.add(i)
            if erase:
                erased.add(i)
        write_sources(warehouse, night, erased)

        sync_destination(warehouse, make_destination(), run_id=f"r{n}", force=True)

        for i, (consent, *_rest) in enumerate(night):
            member = standin.member(email(i))
            if i in erased:
                assert member is None, (n, i)
                continue
            if member is None:
                continue
            if consent in REVOKED:
                revoked_while_held.add(i)
            # Revoked now, revoked once while the ESP held them, or opted out in the ESP:
            # only the person can subscribe again, never a sync.
            if consent in REVOKED or i in revoked_while_held or i in esp_opted_out:
                assert member["status"] != "subscribed", (n, i, consent, member["status"])
