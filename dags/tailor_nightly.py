"""
### tailor_nightly

The nightly refresh. For the data interval that just ended it

1. **extracts** every source entity (`tailor.sources.ENTITIES`) in parallel, into one
   landing file per source, entity and interval (assets `tailor://landing/<source>/<entity>`),
   each API's tasks paced by its pool (`shopify_api`, `hubspot_api`, `esp_api`);
2. **builds** the dbt project with `as_of` = the interval's end, one task per model,
   grouped by layer (staging, intermediate, marts, segments), each layer's tests after it;
3. **gates** staging and marts with the Great Expectations suites: a failed critical
   expectation stops the run here. A passing gate emits the asset
   `tailor://warehouse/audiences`, which schedules `tailor_audience_sync` (the ESP syncs
   and the CSV exports): only gated audiences are ever sent.

Every task that opens the DuckDB warehouse runs in the `duckdb_writer` pool (one slot):
DuckDB allows one writing process per file. Trigger with `{"full_refresh": true}` to
extract all history up to the interval's end (the first load). Every task is idempotent:
re-running any of them is safe.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task
from tailor.airflow_support import callbacks, dbt_tasks
from tailor.airflow_support.assets import AUDIENCES, MARTS, landing
from tailor.airflow_support.pools import DUCKDB_WRITER, for_source
from tailor.sources import ENTITIES

DBT = dbt_tasks.plan()


@dag(
    dag_id="tailor_nightly",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["tailor", "nightly", "dbt"],
    doc_md=__doc__ + DBT.note,
    default_args=callbacks.default_args(),
    user_defined_macros=dbt_tasks.USER_DEFINED_MACROS,
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

    @task(outlets=[MARTS], pool=DUCKDB_WRITER)
    def dbt_build(data_interval_end=None) -> dict:
        from tailor import pipeline

        return pipeline.build(data_interval_end)

    # A failed gate is a finding about the data, not a transient fault: no retry.
    @task(retries=0, outlets=[AUDIENCES], pool=DUCKDB_WRITER)
    def quality_gate(run_id=None, data_interval_end=None) -> dict:
        from tailor import pipeline

        return pipeline.gate(run_id, data_interval_end)

    landed = [
        extract.override(
            task_id=f"extract_{source}_{entity}",
            pool=for_source(source),
            outlets=[landing(source, entity)],
        )(source, entity)
        for source, entities in ENTITIES.items()
        for entity in entities
    ]
    first, last = DBT.render(fallback=dbt_build)
    landed >> first
    last >> quality_gate()


tailor_nightly()
