"""Where Tailor keeps its files; every path can be overridden from the environment."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# The start of history for a full load: any record updated before it is ignored.
HISTORY_START = datetime(2000, 1, 1, tzinfo=UTC)


def _path(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value).expanduser().resolve() if value else default


def data_dir() -> Path:
    return _path("TAILOR_DATA_DIR", PROJECT_ROOT / "data")


def warehouse_path() -> Path:
    return _path("TAILOR_WAREHOUSE", data_dir() / "warehouse.duckdb")


def landing_dir() -> Path:
    return _path("TAILOR_LANDING_DIR", data_dir() / "landing")


def exports_dir() -> Path:
    return _path("TAILOR_EXPORTS_DIR", data_dir() / "exports")


def reports_dir() -> Path:
    return _path("TAILOR_REPORTS_DIR", data_dir() / "reports")


def dbt_project_dir() -> Path:
    return _path("TAILOR_DBT_PROJECT_DIR", PROJECT_ROOT / "dbt_project")


def dbt_target_dir() -> Path:
    """Where Tailor's own dbt calls write their artifacts (manifest, run results)."""
    return _path("TAILOR_DBT_TARGET_PATH", dbt_project_dir() / "target")


def collector_retention_days() -> float:
    """How long the collector's spool keeps records (and their de-duplication keys) after
    they arrived, once their interval has landed: `TAILOR_COLLECTOR_RETENTION_DAYS`, 7."""
    return float(os.environ.get("TAILOR_COLLECTOR_RETENTION_DAYS", "7"))
