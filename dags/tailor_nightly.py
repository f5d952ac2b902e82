"""
### tailor_nightly

The nightly refresh. For the data interval that just ended it

1. **extracts** customers and orders from Shopify and contacts from HubSpot, in parallel,
   into one landing file per source, entity and interval;
2. **builds** the dbt project (staging, identity, profiles, segments, `audience_members`)
   with `as_of` = the interval's end;
3. **gates** the marts with the Great Expectations suites: a failed critical expectation
   stops the run here and nothing is sent;
4. **syncs** the audiences to Mailchimp (only what changed) and exports them as CSV.

Trigger with `{"full_refresh": true}` to extract all history up to the interval's end
(the first load). Every task is idempotent: re-running any of them is safe.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, task
from tailor.sources import ENTITIES

MARTS = Asset("tailor://warehouse/marts")
AUDIENCES = Asset("tailor://warehouse/audience_members")


@dag(
    dag_id="tailor_nightly",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["tailor", "nightly"],
    doc_md=__doc__,
    default_args={
        "owner": "tailor",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": True,
    },
    params={
        "full_refresh": Param(
            False, type="boolean", description="Extract all history up to the interval's end."
        ),
    },
)
def tailor_nightly():
    @task
    def extract(
        source: str, entity: str, data_interval_start=None, data_interval_end=None, params=None
    ) -> dict:
        from tailor import pipeline

        return pipeline.extract(
            source,
            entity,
            data_interval_start,
            data_interval_end,
            full_refresh=bool(params and params.get("full_refresh")),
        )

    @task(outlets=[MARTS])
    def dbt_build(data_interval_end=None) -> dict:
        from tailor import pipeline

        return pipeline.build(data_interval_end)

    @task(retries=0)
    def quality_gate(run_id=None, data_interval_end=None) -> dict:
        from tailor import pipeline

        return pipeline.gate(run_id, data_interval_end)

    @task(outlets=[AUDIENCES])
    def sync_mailchimp(run_id=None) -> dict:
        from tailor import pipeline

        return pipeline.sync_mailchimp(run_id)

    @task
    def export_files() -> dict:
        from tailor import pipeline

        return pipeline.export_files()

    landed = [
        extract.override(task_id=f"extract_{source}_{entity}")(source, entity)
        for source, entities in ENTITIES.items()
        for entity in entities
    ]
    gate = quality_gate()
    # One writer at a time on the DuckDB file: export, then sync.
    landed >> dbt_build() >> gate >> export_files() >> sync_mailchimp()


tailor_nightly()
