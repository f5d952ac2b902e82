"""
### tailor_audience_sync

Sends the audiences to every destination, once they have passed the quality gate.

It is scheduled on the asset `tailor://warehouse/audiences`, which the nightly's
`quality_gate` task (and the abandoned-cart DAG's gate) emits only when the gate passes:
an audience that failed its checks is never sent.

1. **sync_mailchimp**: each audience as a Mailchimp tag, merge fields, consent;
2. **sync_klaviyo**: each audience as a Klaviyo list, merge fields as profile properties,
   consent through subscription jobs; skipped when no `klaviyo` connection is configured;
3. **export_files**: each audience as `exports/<audience>.csv`.

Each sync sends only what changed since the last run (`sync_state`, per destination) and
never subscribes anyone who unsubscribed. Every task keeps the DuckDB warehouse open (the
syncs record their state there), so each runs in the `duckdb_writer` pool: a dbt build of
another DAG waits for it instead of failing on the file's lock. The syncs run one after
another (this DAG is the only one that calls the ESPs' write APIs, one run at a time), and
a failed sync does not keep the next from running. Re-running a task is
safe: it resumes from what the destination acknowledged.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task
from tailor.airflow_support import callbacks
from tailor.airflow_support.assets import AUDIENCES
from tailor.airflow_support.pools import DUCKDB_WRITER


@dag(
    dag_id="tailor_audience_sync",
    schedule=[AUDIENCES],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["tailor", "sync", "esp"],
    doc_md=__doc__,
    default_args=callbacks.default_args(),
)
def tailor_audience_sync():
    @task(pool=DUCKDB_WRITER)
    def sync(destination: str, run_id=None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException
        from tailor import pipeline

        result = pipeline.sync_if_configured(destination, run_id)
        if "skipped" in result:
            raise AirflowSkipException(result["skipped"])
        return result

    @task(trigger_rule="all_done", pool=DUCKDB_WRITER)
    def export_files() -> dict:
        from tailor import pipeline

        return pipeline.export_files()

    mailchimp = sync.override(task_id="sync_mailchimp")("mailchimp")
    klaviyo = sync.override(task_id="sync_klaviyo", trigger_rule="all_done")("klaviyo")
    mailchimp >> klaviyo >> export_files()


tailor_audience_sync()
