"""Airflow's parts for a local run, each started on its own and bound to 127.0.0.1.

`airflow standalone` cannot do this: it starts the scheduler and the triggerer with their
log servers, and Airflow binds those to every interface (ports 8793 and 8794; it has no
setting for their host). Locally every part shares one log folder, from which the
api-server reads task logs, so the log servers are skipped (`--skip-serve-logs`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from sandbox import local

AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


def commands(port: int) -> dict[str, list[str]]:
    """What `make airflow` runs: the parts of `airflow standalone`, without log servers."""
    return {
        "api-server": [
            "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ],
        "scheduler": ["airflow", "scheduler", "--skip-serve-logs"],
        "dag-processor": ["airflow", "dag-processor"],
        "triggerer": ["airflow", "triggerer", "--skip-serve-logs"],
    }  # fmt: skip


def parts_env(port: int) -> dict[str, str]:
    """Settings the parts need to find each other on 127.0.0.1:`port`, and one login."""
    base_url = f"http://127.0.0.1:{port}"
    return {
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base_url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
        "AIRFLOW__CORE__AUTH_MANAGER": AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
    }


def password_file(env: dict[str, str]) -> Path:
    """Where SimpleAuthManager writes the generated passwords (user -> password, JSON)."""
    configured = env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    default = Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    return Path(configured) if configured else default


def wait_until_healthy(base_url: str, procs: dict[str, subprocess.Popen], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"airflow {name} exited with {proc.returncode}")
        try:
            if requests.get(f"{base_url}/api/v2/monitor/health", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(1)
    raise RuntimeError(f"the api-server did not answer on {base_url} within {timeout:.0f} s")


def stop(procs: dict[str, subprocess.Popen]) -> None:
    """SIGTERM each part's process group (the parts fork workers), then wait for it."""
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs.values():
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@contextmanager
def running(
    env: dict[str, str], port: int, log_dir: Path, timeout: float = 180
) -> Iterator[dict[str, subprocess.Popen]]:
    """Start every part with `env` (from `local.airflow_env` plus `parts_env`), each logging
    to `log_dir/<part>.log`; yield the processes once the api-server answers; stop them all."""
    log_dir.mkdir(parents=True, exist_ok=True)
    procs: dict[str, subprocess.Popen] = {}
    try:
        for name, command in commands(port).items():
            with open(log_dir / f"{name}.log", "ab") as log:
                procs[name] = subprocess.Popen(
                    command,
                    env=env,
                    cwd=local.ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        wait_until_healthy(f"http://127.0.0.1:{port}", procs, timeout)
        yield procs
    finally:
        stop(procs)
