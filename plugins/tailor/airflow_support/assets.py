"""The assets the DAGs share: one name each, so a producer and its consumer cannot drift."""

from __future__ import annotations

from airflow.sdk import Asset

MARTS = Asset("tailor://warehouse/marts")
# Emitted by a passing gate (nightly, abandoned cart); schedules tailor_audience_sync.
AUDIENCES = Asset("tailor://warehouse/audiences")


def landing(source: str, entity: str) -> Asset:
    return Asset(f"tailor://landing/{source}/{entity}")
