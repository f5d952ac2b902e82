"""
### tailor_abandoned_cart

The abandoned-cart refresh, every 15 minutes, so a cart-recovery email goes out while
the cart is still warm. For the 15-minute interval that just ended it

1. **extracts** Shopify's abandoned checkouts, orders and customers updated in the
   interval (one landing file each; `shopify_api` pool);
2. **rebuilds** only what the `seg_abandoned_cart` segment needs, and what is built from
   it: `dbt build --select +seg_abandoned_cart+` with `as_of` = the interval's end;
3. **gates** the tables it rebuilt; a passing gate emits `tailor://warehouse/audiences`,
   which schedules `tailor_audience_sync`.

One run at a time, no catch-up: a missed interval is covered by the next one's landing
files and the nightly's full build. It needs the history a nightly run has landed
(trigger `tailor_nightly` with `{"full_refresh": true}` once). The build and the gate run
in the `duckdb_writer` pool, so they never overlap the nightly's writes.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task
from tailor.airflow_support import callbacks, pools
from tailor.airflow_support.assets import AUDIENCES, landing

SEGMENT = "seg_abandoned_cart"
ENTITIES = ("abandoned_checkouts", "orders", "customers")


@dag(
    dag_id="tailor_abandoned_cart",
    schedule=CronDataIntervalTimetable("*/15 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=14),
    tags=["tailor", "abandoned-cart", "near-real-time"],
    doc_md=__doc__,
    # Short retries: the next interval starts in 15 minutes.
    default_args=callbacks.default_args(retries=1, retry_delay=timedelta(seconds=20)),
)
def tailor_abandoned_cart():
    @task(pool=pools.SHOPIFY_API)
    def extract(entity: str, data_interval_start=None, data_interval_end=None) -> dict:
        from tailor import pipeline

        return pipeline.extract("shopify", entity, data_interval_start, data_interval_end)

    @task(pool=pools.DUCKDB_WRITER)
    def dbt_build_abandoned_cart(data_interval_end=None) -> dict:
        from tailor import pipeline

        return pipeline.build(data_interval_end, select=f"+{SEGMENT}+")

    # A failed gate is a finding about the data, not a transient fault: no retry.
    @task(retries=0, outlets=[AUDIENCES], pool=pools.DUCKDB_WRITER)
    def quality_gate(built: dict, run_id=None, data_interval_end=None) -> dict:
        from tailor import pipeline

        return pipeline.gate(
            run_id, data_interval_end, layers=("staging", "marts"), only=built["built"]
        )

    landed = [
        extract.override(
            task_id=f"extract_shopify_{entity}",
            outlets=[landing("shopify", entity)],
        )(entity)
        for entity in ENTITIES
    ]
    built = dbt_build_abandoned_cart()
    landed >> built
    quality_gate(built)


tailor_abandoned_cart()
