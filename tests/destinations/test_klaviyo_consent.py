"""Property: over any history of consent changes in the sources, unsubscribes in Klaviyo and
erasure requests, no Klaviyo sync ever leaves an unsubscribed or erased person subscribed."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from tailor.destinations.klaviyo import KlaviyoConfig, KlaviyoDestination
from tailor.destinations.sync import sync_destination
from test_consent_properties import REVOKED, email, history, write_sources

from sandbox.server import DEFAULT_KLAVIYO_KEY


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(nights=history)
def test_nobody_unsubscribed_or_erased_is_ever_subscribed_in_klaviyo(nights, server, tmp_path):
    klaviyo = server.klaviyo
    klaviyo.reset()
    warehouse = tmp_path / f"{uuid.uuid4().hex}.duckdb"
    erased: set[int] = set()
    opted_out: set[int] = set()
    revoked_while_held: set[int] = set()
    for n, night in enumerate(nights):
        for i, (_consent, _seg, esp_action, erase, _row) in enumerate(night):
            if esp_action and klaviyo.profile(email(i)) is not None:
                klaviyo.set_consent(email(i), "UNSUBSCRIBED")  # an unsubscribe link, a bounce
                opted_out.add(i)
            if erase:
                erased.add(i)
        write_sources(warehouse, night, erased)

        config = KlaviyoConfig(api_key=DEFAULT_KLAVIYO_KEY, base_url=server.url)
        with KlaviyoDestination(config) as dest:
            sync_destination(warehouse, dest, run_id=f"r{n}", force=True)

        for i, (consent, *_rest) in enumerate(night):
            profile = klaviyo.profile(email(i))
            if i in erased:
                assert profile is None, (n, i)
                continue
            if profile is None:
                continue
            if consent in REVOKED:
                revoked_while_held.add(i)
            if consent in REVOKED or i in revoked_while_held or i in opted_out:
                assert profile["consent"] != "SUBSCRIBED", (n, i, consent)
    assert klaviyo.resubscribed == 0
