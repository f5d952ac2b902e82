"""Every DAG imports cleanly, is documented and retried, and parses without heavy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sandbox import local

DAGS = local.ROOT / "dags"
HEAVY = ["duckdb", "dbt", "great_expectations", "pandas", "pyarrow", "requests"]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert "tailor_nightly" in dagbag.dags


def test_every_dag_is_tagged_documented_and_retried(dagbag) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert dag_id.startswith("tailor_"), dag_id
        assert dag.tags, dag_id
        assert dag.doc_md and len(dag.doc_md) > 100, dag_id
        assert dag.catchup is False, dag_id
        for task in dag.tasks:
            if task.task_id != "quality_gate":  # a failed gate is data, not a transient fault
                assert task.retries >= 1, f"{dag_id}.{task.task_id}"


def test_nightly_wires_extract_then_build_gate_export_sync(dagbag) -> None:
    dag = dagbag.dags["tailor_nightly"]
    extracts = {t.task_id for t in dag.tasks if t.task_id.startswith("extract_")}
    assert extracts == {
        "extract_shopify_customers",
        "extract_shopify_orders",
        "extract_hubspot_contacts",
    }
    build = dag.get_task("dbt_build")
    assert build.upstream_task_ids == extracts
    assert dag.get_task("quality_gate").upstream_task_ids == {"dbt_build"}
    assert dag.get_task("export_files").upstream_task_ids == {"quality_gate"}
    assert dag.get_task("sync_mailchimp").upstream_task_ids == {"export_files"}
    timetable = type(dag.timetable).__name__
    assert timetable == "CronDataIntervalTimetable", timetable


@pytest.mark.parametrize("dag_file", sorted(p.name for p in DAGS.glob("*.py")))
def test_parsing_imports_nothing_heavy(dag_file: str) -> None:
    """Parse each DAG file in a fresh interpreter and list the heavy modules it pulled in."""
    code = (
        "import runpy, sys, json\n"
        f"runpy.run_path({str(DAGS / dag_file)!r})\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = (
        subprocess.run(
            [sys.executable, "-c", code],
            env=os.environ,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    assert json.loads(out) == []
