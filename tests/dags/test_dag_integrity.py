"""Every DAG imports cleanly, is documented, owned and retried, uses only defined pools,
and parses fast without heavy imports; the nightly renders its dbt models as tasks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from tailor.airflow_support import manifest, pools

from sandbox import dag_parse, local

DAGS = local.ROOT / "dags"
DAG_FILES = sorted(p.name for p in DAGS.glob("*.py"))
# The dag-processor's default timeout is 30 s; Tailor aims at 1 s per file. The bound here
# leaves room for a loaded CI machine (bench/bench_airflow.py records the real figure).
PARSE_SECONDS_LIMIT = 5.0


@pytest.fixture(scope="module")
def built_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dbt") / "manifest.json"
    data = tmp_path_factory.mktemp("data")
    saved = os.environ.get("TAILOR_DATA_DIR")
    os.environ["TAILOR_DATA_DIR"] = str(data)
    try:
        return manifest.build(path)
    finally:
        if saved is None:
            os.environ.pop("TAILOR_DATA_DIR", None)
        else:
            os.environ["TAILOR_DATA_DIR"] = saved


def _dagbag(manifest_path: Path) -> Iterator:
    from airflow.dag_processing.dagbag import DagBag

    saved = os.environ.get("TAILOR_DBT_MANIFEST")
    os.environ["TAILOR_DBT_MANIFEST"] = str(manifest_path)
    try:
        yield DagBag(dag_folder=str(DAGS))
    finally:
        if saved is None:
            os.environ.pop("TAILOR_DBT_MANIFEST", None)
        else:
            os.environ["TAILOR_DBT_MANIFEST"] = saved


@pytest.fixture(scope="module")
def dagbag(built_manifest: Path) -> Iterator:
    """The DAGs as the dag-processor sees them with a current manifest."""
    yield from _dagbag(built_manifest)


@pytest.fixture(scope="module")
def fallback_dagbag(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """The DAGs on a fresh clone before the manifest is built."""
    yield from _dagbag(tmp_path_factory.mktemp("none") / "manifest.json")


def test_no_import_errors(dagbag, fallback_dagbag) -> None:
    for bag in (dagbag, fallback_dagbag):
        assert bag.import_errors == {}
        assert {"tailor_nightly", "tailor_abandoned_cart"} <= set(bag.dags)


def test_every_dag_is_tagged_documented_owned_and_retried(dagbag) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert dag_id.startswith("tailor_"), dag_id
        assert dag.tags, dag_id
        assert dag.doc_md and len(dag.doc_md) > 100, dag_id
        assert dag.catchup is False, dag_id
        assert dag.max_active_runs == 1, dag_id
        for task in dag.tasks:
            where = f"{dag_id}.{task.task_id}"
            assert task.owner == "tailor", where
            assert task.on_failure_callback, where
            if task.task_id != "quality_gate":  # a failed gate is data, not a transient fault
                assert task.retries >= 1, where
                assert task.retry_exponential_backoff, where


def test_every_pool_a_task_uses_is_defined(dagbag, fallback_dagbag) -> None:
    defined = set(pools.defined()) | {"default_pool"}
    assert {"shopify_api", "hubspot_api", "esp_api", "duckdb_writer"} <= defined
    assert pools.defined()["duckdb_writer"]["slots"] == 1
    for bag in (dagbag, fallback_dagbag):
        for dag_id, dag in bag.dags.items():
            for task in dag.tasks:
                assert task.pool in defined, f"{dag_id}.{task.task_id}: {task.pool}"


def test_nightly_renders_one_task_per_model_by_layer(dagbag, built_manifest: Path) -> None:
    from tailor.sources import ENTITIES

    dag = dagbag.dags["tailor_nightly"]
    layout = manifest.layout(manifest.read(built_manifest))
    assert layout.problems == []
    extracts = {t.task_id for t in dag.tasks if t.task_id.startswith("extract_")}
    assert extracts == {f"extract_{s}_{e}" for s, entities in ENTITIES.items() for e in entities}
    for task_id in extracts:
        source = task_id.split("_")[1]
        assert dag.get_task(task_id).pool == pools.for_source(source)
    dbt_tasks = [t for t in dag.tasks if t.task_id.split(".")[0] in manifest.LAYERS]
    for layer, models in layout.models.items():
        for model in models:
            assert any(dag.has_task(f"{layer}.{model}_{kind}") for kind in ("run", "seed")), (
                layer,
                model,
            )
    assert {t.pool for t in dbt_tasks} == {"duckdb_writer"}
    assert all(
        t.vars == {"tailor_as_of": "{{ tailor_as_of(data_interval_end) }}"} for t in dbt_tasks
    )
    assert not dag.has_task("dbt_build")
    # Extracts feed the first layer; the gate waits for the last layer's tests.
    first = [t for t in dbt_tasks if t.task_id.startswith("staging.")]
    assert any(t.upstream_task_ids == extracts for t in first)
    gate = dag.get_task("quality_gate")
    assert len(gate.upstream_task_ids) == 1
    (last,) = gate.upstream_task_ids
    assert last.startswith("segments.") and last.endswith("_test")
    assert gate.pool == "duckdb_writer"
    assert [a.uri for a in gate.outlets] == ["tailor://warehouse/audiences"]
    assert not dag.has_task("sync_mailchimp"), "the ESP sync is tailor_audience_sync's"
    assert "astronomer-cosmos" in dag.doc_md


def test_without_a_manifest_the_nightly_runs_dbt_as_one_task(fallback_dagbag) -> None:
    dag = fallback_dagbag.dags["tailor_nightly"]
    build = dag.get_task("dbt_build")
    extracts = {t.task_id for t in dag.tasks if t.task_id.startswith("extract_")}
    assert build.upstream_task_ids == extracts
    assert build.pool == "duckdb_writer"
    assert dag.get_task("quality_gate").upstream_task_ids == {"dbt_build"}
    assert "no dbt manifest" in dag.doc_md
    timetable = type(dag.timetable).__name__
    assert timetable == "CronDataIntervalTimetable", timetable


def test_a_stale_manifest_is_not_rendered(built_manifest: Path, tmp_path: Path) -> None:
    stale = tmp_path / "manifest.json"
    stale.write_bytes(built_manifest.read_bytes())
    os.utime(stale, (0, 0))
    assert "older than" in manifest.staleness(stale)
    assert manifest.staleness(built_manifest) is None


def test_abandoned_cart_runs_every_15_minutes_and_emits_audiences(dagbag) -> None:
    dag = dagbag.dags["tailor_abandoned_cart"]
    assert dag.timetable.expression == "*/15 * * * *"
    assert dag.max_active_runs == 1 and dag.catchup is False
    extracts = {t.task_id for t in dag.tasks if t.task_id.startswith("extract_")}
    assert extracts == {
        "extract_shopify_abandoned_checkouts",
        "extract_shopify_orders",
        "extract_shopify_customers",
    }
    build = dag.get_task("dbt_build_abandoned_cart")
    assert build.upstream_task_ids == extracts and build.pool == "duckdb_writer"
    gate = dag.get_task("quality_gate")
    assert gate.upstream_task_ids == {"dbt_build_abandoned_cart"}
    assert [a.uri for a in gate.outlets] == ["tailor://warehouse/audiences"]
    assert dag.default_args["retry_delay"] <= timedelta(minutes=1)


def test_audience_sync_is_scheduled_on_the_gated_audiences(dagbag) -> None:
    dag = dagbag.dags["tailor_audience_sync"]
    names = {asset.name for asset in dag.timetable.asset_condition.objects}
    assert names == {"tailor://warehouse/audiences"}


@pytest.fixture(scope="module")
def parsed(built_manifest: Path) -> dict[str, dict]:
    """Each DAG file parsed on its own, in a fresh interpreter, with the manifest rendered."""
    env = {
        **os.environ,
        **local.airflow_env(built_manifest.parent / "airflow"),
        "TAILOR_DBT_MANIFEST": str(built_manifest),
    }
    results = dag_parse.parse_all([DAGS / name for name in DAG_FILES], env)
    return {Path(r["file"]).name: r for r in results}


@pytest.mark.parametrize("dag_file", DAG_FILES)
def test_parsing_is_fast_and_imports_nothing_heavy(dag_file: str, parsed: dict) -> None:
    result = parsed[dag_file]
    assert result["import_errors"] == {}
    assert result["dags"], dag_file
    assert result["heavy"] == []
    assert result["parse_seconds"] < PARSE_SECONDS_LIMIT, result


def _shape(bag) -> dict[str, tuple]:
    dag = bag.dags["tailor_nightly"]
    return {t.task_id: (sorted(t.upstream_task_ids), getattr(t, "select", None)) for t in dag.tasks}


def test_layer_manifests_render_the_same_tasks_as_the_full_one(
    built_manifest: Path, dagbag, tmp_path: Path
) -> None:
    """The slim per-layer manifests only make parsing cheaper: without them (a manifest
    built before they existed) the nightly has the same tasks, edges and test selections."""
    assert all(
        manifest.layer_manifest_path(layer, built_manifest).exists() for layer in manifest.LAYERS
    )
    full_only = tmp_path / "manifest.json"
    full_only.write_bytes(built_manifest.read_bytes())
    assert not manifest.layer_manifest_path("staging", full_only).exists()
    (fallback,) = [bag for bag in _dagbag(full_only)]
    assert len(_shape(dagbag)) > 40
    assert _shape(fallback) == _shape(dagbag)
