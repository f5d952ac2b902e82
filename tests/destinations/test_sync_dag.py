"""`tailor_audience_sync` parses, runs on the gated audiences asset and stays thin."""

from __future__ import annotations

import pytest

from sandbox import local

DAG_FILE = local.ROOT / "dags" / "tailor_audience_sync.py"


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.dags["tailor_audience_sync"]


def test_the_schedule_is_the_gated_audiences_asset(dag) -> None:
    assert type(dag.timetable).__name__ == "AssetTriggeredTimetable"
    uris = [asset.uri for asset in dag.timetable.asset_condition.objects]
    assert uris == ["tailor://warehouse/audiences"]
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert dag.owner == "tailor" and "sync" in dag.tags and len(dag.doc_md) > 200


def test_one_task_per_destination_then_the_export_each_holding_the_warehouse(dag) -> None:
    tasks = {t.task_id: t for t in dag.tasks}
    assert set(tasks) == {"sync_mailchimp", "sync_klaviyo", "export_files"}
    # Each keeps the DuckDB warehouse open (sync state, the export's read): a dbt build of
    # the abandoned-cart DAG must wait for it, not fail on the file's lock.
    assert {t.pool for t in tasks.values()} == {"duckdb_writer"}
    assert tasks["sync_klaviyo"].upstream_task_ids == {"sync_mailchimp"}
    assert tasks["export_files"].upstream_task_ids == {"sync_klaviyo"}
    # One ESP failing must not keep the other from being synced.
    assert tasks["sync_klaviyo"].trigger_rule == "all_done"
    assert tasks["export_files"].trigger_rule == "all_done"
    assert all(t.retries >= 1 for t in dag.tasks)


def test_a_destination_without_a_connection_is_skipped_with_the_reason(monkeypatch) -> None:
    from tailor import pipeline

    monkeypatch.delenv("AIRFLOW_CONN_KLAVIYO", raising=False)
    result = pipeline.sync_if_configured("klaviyo", "r1")
    assert result == {"skipped": result["skipped"]}
    assert "AIRFLOW_CONN_KLAVIYO" in result["skipped"]
