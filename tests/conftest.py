"""Shared helpers: services that some tests need, and what CI demands of them."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest

from sandbox import local

# Airflow reads its configuration when first imported: point it at a throwaway home with
# SQLite metadata and this repo's DAGs before any test imports it.
os.environ.update(local.airflow_env(Path(tempfile.mkdtemp(prefix="tailor-airflow-"))))
# Under pytest-xdist each worker gets its own dbt target folder and data folder: dbt
# rewrites its partial-parse file and run results in place, and two workers sharing
# them would read each other's half-written files. (Not DBT_TARGET_PATH: cosmos runs dbt
# in a fresh copy of the project per task, and a partial-parse file shared between copies
# points at a copy that is gone.)
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER:
    _SCRATCH = Path(tempfile.mkdtemp(prefix=f"tailor-{_WORKER}-"))
    os.environ.setdefault("TAILOR_DBT_TARGET_PATH", str(_SCRATCH / "dbt-target"))
    os.environ.setdefault("TAILOR_DATA_DIR", str(_SCRATCH / "data"))


def service_up(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip with a clear reason where the service is absent; under CI that is a failure."""
    if service_up(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}, and CI=true: tests that need it must not skip")
    pytest.skip(message)
