"""Runs dbt in-process (dbt's Python API) with `as_of`, the target and Tailor's paths."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tailor import settings
from tailor.redact import get_logger

log = get_logger(__name__)


# Unit tests whose fixtures are DuckDB SQL (lists, range()) or that need values the loader
# has not normalised; they run on DuckDB only.
POSTGRES_EXCLUDE = "tag:duckdb_only"


class DbtFailed(RuntimeError):
    pass


@dataclass
class DbtResult:
    command: str
    nodes: int
    failures: list[str] = field(default_factory=list)
    models: int = 0
    tests: int = 0
    built: list[str] = field(default_factory=list)  # names of the models that ran


def as_of_var(as_of: datetime) -> str:
    """The `tailor_as_of` var: the interval's end as naive UTC text."""
    return as_of.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def dbt_env(warehouse: Path | None = None, landing: Path | None = None) -> dict[str, str]:
    return {
        "TAILOR_WAREHOUSE": str(warehouse or settings.warehouse_path()),
        "TAILOR_LANDING_DIR": str(landing or settings.landing_dir()),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set variables for one dbt call (dbt reads them through env_var()), then restore them,
    so that paths given for one call never leak into the rest of the process."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_dbt(
    command: str,
    as_of: datetime,
    *,
    select: str | None = None,
    target: str | None = None,
    extra_args: list[str] | None = None,
    warehouse: Path | None = None,
    landing: Path | None = None,
) -> DbtResult:
    """`dbt <command>` for `as_of`; raises DbtFailed naming every failed node."""
    from dbt.cli.main import dbtRunner

    project = settings.dbt_project_dir()
    env = dbt_env(warehouse, landing)
    Path(env["TAILOR_WAREHOUSE"]).parent.mkdir(parents=True, exist_ok=True)
    on_postgres = (target or os.environ.get("TAILOR_DBT_TARGET", "duckdb")) == "postgres"
    if on_postgres and command in ("build", "run"):
        # PostgreSQL cannot read the landing files: copy them in first (idempotent).
        from tailor import warehouse_postgres

        warehouse_postgres.load_landing(Path(env["TAILOR_LANDING_DIR"]))
    args = [
        command,
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--vars",
        json.dumps({"tailor_as_of": as_of_var(as_of)}),
        "--no-use-colors",
    ]
    if target:
        args += ["--target", target]
    if select:
        args += ["--select", select]
    args += extra_args or []
    if on_postgres and command in ("build", "test") and "--exclude" not in args:
        args += ["--exclude", POSTGRES_EXCLUDE]
    # Where this process's dbt writes its artifacts when the caller names no folder
    # (dbt_project/target otherwise); two processes building at once need one each.
    if os.environ.get("TAILOR_DBT_TARGET_PATH") and "--target-path" not in args:
        args += ["--target-path", str(settings.dbt_target_dir())]
    log.info("dbt %s (as_of %s)", command, as_of_var(as_of))
    try:
        with environment(env):
            outcome = dbtRunner().invoke(args)
    finally:
        _release_duckdb()
    if outcome.exception is not None:
        raise DbtFailed(f"dbt {command} could not run: {outcome.exception}")
    results = list(outcome.result or []) if command in ("build", "run", "test") else []
    failures = [
        f"{r.node.resource_type} {r.node.name}: {r.status}"
        + (f" ({r.message})" if r.message else "")
        for r in results
        if str(r.status) in ("error", "fail", "runtime error")
    ]
    result = DbtResult(
        command,
        nodes=len(results),
        failures=failures,
        models=sum(1 for r in results if r.node.resource_type == "model"),
        tests=sum(1 for r in results if r.node.resource_type in ("test", "unit_test")),
        built=sorted(r.node.name for r in results if r.node.resource_type == "model"),
    )
    if failures or not outcome.success:
        raise DbtFailed(f"dbt {command} failed: " + "; ".join(failures or ["see the dbt log"]))
    return result


def _release_duckdb() -> None:
    """Close the DuckDB handle dbt-duckdb keeps for the process.

    Left open, it holds the warehouse file, and the next step in the same process (the
    gate under `airflow dags test`) cannot open it with another configuration.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager as manager
    except ImportError:
        return
    with manager._LOCK:
        if manager._ENV is not None:
            manager._ENV.close()
            manager._ENV = None


def build(as_of: datetime, **kw) -> DbtResult:
    return run_dbt("build", as_of, **kw)
