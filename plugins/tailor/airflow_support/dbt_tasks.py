"""The nightly's dbt tasks: one Airflow task per model, grouped by layer, with cosmos.

astronomer-cosmos renders each layer (staging, intermediate, marts, segments) as a task
group from the prebuilt manifest (`LoadMode.DBT_MANIFEST`: no dbt at parse time); each
model (and seed) is one `dbt run` task and each layer ends with one `dbt test` task over
its models, so a failed test stops the build before the next layer. A model that reads a
later layer's model runs with that layer. Every task runs in the `duckdb_writer` pool:
DuckDB allows one writer per file.

Each dbt call pays dbt's start-up and parse, so the per-model DAG takes several times as
long as one `dbt build`: the price of seeing and retrying each model on its own.

Without a usable manifest (missing, stale, or a model outside the layer folders) the DAG
keeps one `dbt_build` task instead, and its doc says why.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tailor import settings
from tailor.airflow_support import manifest
from tailor.airflow_support.pools import DUCKDB_WRITER

# Templates the dbt tasks render at run time, through the DAG's user_defined_macros.
AS_OF_TEMPLATE = "{{ tailor_as_of(data_interval_end) }}"


def as_of_macro(moment: Any) -> str:
    """The `tailor_as_of` dbt var for an interval end (naive UTC text, as dbt expects)."""
    from tailor.transform import as_of_var

    return as_of_var(moment)


USER_DEFINED_MACROS: dict[str, Callable[..., Any]] = {
    "tailor_as_of": as_of_macro,
    "tailor_warehouse": lambda: str(settings.warehouse_path()),
    "tailor_landing_dir": lambda: str(settings.landing_dir()),
}


def release_warehouse(project_dir: str, **_: Any) -> None:
    """Cosmos callback after each dbt call: close dbt-duckdb's handle on the warehouse, so
    the next step in the same process (the gate, under `airflow dags test`) can open it."""
    from tailor.transform import _release_duckdb

    _release_duckdb()


@dataclass
class Plan:
    """How the DAG runs dbt: the manifest's layers, or one task and the reason why."""

    layout: manifest.Layout | None
    reason: str | None

    @property
    def note(self) -> str:
        """A paragraph for the DAG's doc_md."""
        if self.layout is None:
            return (
                f"\n\n**dbt runs as one `dbt_build` task** because {self.reason}. Run "
                "`python -m tailor.airflow_support.manifest` to render one task per model.\n"
            )
        counts = ", ".join(f"{len(m)} {layer}" for layer, m in self.layout.models.items() if m)
        moved = (
            " Run with a later layer, because they read its models: "
            + ", ".join(self.layout.moved)
            + "."
            if self.layout.moved
            else ""
        )
        return (
            f"\n\n**dbt tasks** ({counts} models) are rendered by astronomer-cosmos from "
            f"`{manifest.manifest_path()}`; each layer ends with a `test` task over its "
            f"models.{moved}\n"
        )

    def render(self, fallback: Callable[[], Any]) -> tuple[Any, Any]:
        """The first and last dbt tasks: layer groups in order, or `fallback()`'s one task."""
        if self.layout is None:
            task = fallback()
            return task, task
        groups = [_layer_group(layer, m) for layer, m in self.layout.models.items() if m]
        for upstream, downstream in zip(groups, groups[1:], strict=False):
            upstream >> downstream
        return groups[0], groups[-1]


def plan() -> Plan:
    """Read the manifest once; fall back when asked to, or when the manifest is missing,
    stale or out of layer order."""
    if os.environ.get("TAILOR_DBT_TASKS", "per_model") == "single":
        return Plan(None, "TAILOR_DBT_TASKS=single asks for dbt as one task")
    reason = manifest.staleness()
    if reason:
        return Plan(None, reason)
    try:
        layout = manifest.layout(manifest.read())
    except (OSError, ValueError, KeyError) as exc:
        return Plan(None, f"the dbt manifest cannot be read ({exc})")
    if layout.problems:
        return Plan(None, "some models are outside the layers: " + "; ".join(layout.problems))
    if not any(layout.models.values()):
        return Plan(None, "the dbt manifest holds no model")
    return Plan(layout, None)


def _layer_group(layer: str, models: list[str]) -> Any:
    from cosmos import (
        DbtTaskGroup,
        ExecutionConfig,
        LoadMode,
        ProfileConfig,
        ProjectConfig,
        RenderConfig,
        TestBehavior,
    )
    from cosmos.constants import ExecutionMode, InvocationMode, TestIndirectSelection

    project = settings.dbt_project_dir()
    project_config = ProjectConfig(
        dbt_project_path=project,
        manifest_path=manifest.manifest_path(),
        project_name="tailor",
        install_dbt_deps=False,
    )
    # Cosmos wraps every manifest path in an ObjectStoragePath, whose first use loads all
    # Airflow plugins (cosmos's own imports FastAPI): half a second of every parse. The
    # manifest is a local file; a plain Path reads it the same way. The layer's slim
    # manifest, when present, spares cosmos matching names against the whole project.
    slim = manifest.layer_manifest_path(layer)
    project_config.manifest_path = slim if slim.exists() else manifest.manifest_path()
    return DbtTaskGroup(
        group_id=layer,
        project_config=project_config,
        profile_config=ProfileConfig(
            profile_name="tailor",
            target_name=os.environ.get("TAILOR_DBT_TARGET", "duckdb"),
            profiles_yml_filepath=project / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.DBT_RUNNER,
            # A layer's test task runs the tests whose models are built by now: a test
            # that also reads a later layer's model runs with that layer.
            test_indirect_selection=TestIndirectSelection.BUILDABLE,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            select=list(models),
            test_behavior=TestBehavior.AFTER_ALL,
            emit_datasets=False,
            enable_owner_inheritance=False,
        ),
        operator_args={
            "pool": DUCKDB_WRITER,
            "install_deps": False,
            "vars": {"tailor_as_of": AS_OF_TEMPLATE},
            # The project runs from a temporary copy: give dbt absolute paths.
            "env": {
                "TAILOR_WAREHOUSE": "{{ tailor_warehouse() }}",
                "TAILOR_LANDING_DIR": "{{ tailor_landing_dir() }}",
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            },
            "callback": "tailor.airflow_support.dbt_tasks.release_warehouse",
        },
    )
