"""Airflow: how long each DAG file takes to parse, and how long `tailor_nightly` takes
from trigger to success under a real scheduler, at demo scale.

Parsing: each file in its own fork of a fresh interpreter with Airflow loaded (as the
dag-processor has it), with the dbt manifest built, so the nightly's cosmos task groups
are rendered (target: at most 1 s per file).

The run: SQLite metadata, the LocalExecutor, and the api-server, scheduler and
dag-processor as separate processes (what `airflow standalone` starts), against the
sandbox APIs serving a generated store. `TAILOR_BENCH_AIRFLOW_CUSTOMERS` sets its size
(3,000, as `make demo`). `TAILOR_BENCH_AIRFLOW_PARSE_ONLY=1` measures the parse times only
(the other figures in results.json stay as they were).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox import dag_parse, local
from sandbox.generate import generate


def last_midnight() -> datetime:
    """The end of the latest whole day: the data interval a triggered nightly run gets
    (Airflow 3 infers a manual run's interval from when it runs), so the store is
    generated up to it and the gate's freshness checks hold."""
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


RUN_TIMEOUT = 1800


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def airflow(env: dict[str, str], *args: str, timeout: int = 300) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)}: {proc.stderr[-2000:]}")
    return proc.stdout


def dag_run(env: dict[str, str], run_id: str) -> dict:
    out = airflow(env, "dags", "list-runs", "tailor_nightly", "-o", "json")
    lines = [line for line in out.splitlines() if line.startswith(("[{", "[]"))]
    runs = json.loads(lines[-1]) if lines else []
    return next((r for r in runs if r["run_id"] == run_id), {})


def wait_for_dag(env: dict[str, str]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        proc = subprocess.run(
            [sys.executable, "-m", "airflow", "dags", "details", "tailor_nightly"],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        if proc.returncode == 0:
            return
        time.sleep(3)
    raise RuntimeError("the dag-processor did not register tailor_nightly in time")


def parse_times(record: Any, env: dict[str, str]) -> None:
    files = sorted((local.ROOT / "dags").glob("*.py"))
    for result in dag_parse.parse_all(files, env):
        name = Path(result["file"]).stem
        if result["import_errors"] or result["heavy"]:
            raise RuntimeError(f"{name}: {result['import_errors'] or result['heavy']}")
        record(f"airflow_parse_{name}", result["parse_seconds"], "s", tasks=result["tasks"])
    record("airflow_import_before_parse", result["airflow_import_seconds"], "s")


def nightly_under_scheduler(
    record: Any, env: dict[str, str], home: Path, customers: int, as_of: datetime
) -> None:
    api_port = free_port()
    env = {
        **env,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API_AUTH__JWT_SECRET": "benchmark-secret-not-for-production",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # Only the triggered run: no scheduled run for the latest wall-clock interval
        # (whose data the sandbox does not have) competes with it.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    }
    procs: list[subprocess.Popen] = []
    try:
        for name, cmd in [
            ("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(api_port)]),
            ("scheduler", ["scheduler"]),
            ("dag-processor", ["dag-processor"]),
        ]:
            log = open(home / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "airflow", *cmd],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        wait_for_dag(env)
        run_id = f"bench__{int(time.time())}"
        started = time.monotonic()
        airflow(
            env,
            "dags",
            "trigger",
            "tailor_nightly",
            "--run-id",
            run_id,
            "--logical-date",
            as_of.isoformat(),
            "--conf",
            json.dumps({"full_refresh": True}),
        )
        airflow(env, "dags", "unpause", "tailor_nightly")
        state, found = None, {}
        while time.monotonic() - started < RUN_TIMEOUT:
            found = dag_run(env, run_id)
            state = found.get("state")
            if state in ("success", "failed"):
                break
            time.sleep(2)
        elapsed = time.monotonic() - started
        airflow(env, "dags", "pause", "tailor_nightly")
        if state not in ("success", "failed"):
            raise RuntimeError(f"tailor_nightly still {state} after {elapsed:.0f} s; see {home}")
        tasks = airflow(env, "tasks", "list", "tailor_nightly").split()
        # A failed run (the gate can fail on the data) still measures the dbt tasks; its
        # state is part of the figure.
        if found.get("start_date") and found.get("end_date"):
            ran = datetime.fromisoformat(found["end_date"]) - datetime.fromisoformat(
                found["start_date"]
            )
            record(
                "airflow_nightly_run_start_to_end",
                ran.total_seconds(),
                "s",
                customers=customers,
                state=state,
            )
        record(
            "airflow_nightly_trigger_to_end",
            elapsed,
            "s",
            customers=customers,
            executor="LocalExecutor",
            metadata="sqlite",
            tasks=len(tasks),
            state=state,
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def run(record: Any) -> None:
    customers = int(os.environ.get("TAILOR_BENCH_AIRFLOW_CUSTOMERS", "3000"))
    work = Path(tempfile.mkdtemp(prefix="tailor-bench-airflow-"))
    home, data = work / "airflow", work / "data"
    store = data / "sandbox"
    as_of = last_midnight()
    generate(store, customers=customers, seed=7, as_of=as_of)
    env = {
        **os.environ,
        **local.airflow_env(home),
        "TAILOR_DATA_DIR": str(data),
        "TAILOR_DBT_MANIFEST": str(work / "dbt" / "manifest.json"),
    }
    for key in ("TAILOR_WAREHOUSE", "TAILOR_LANDING_DIR"):
        env.pop(key, None)
    with local.sandbox_process(store) as url:
        env.update(local.connection_env(url))
        local.prepare_airflow(env, work / "prepare.log")
        parse_times(record, env)
        if os.environ.get("TAILOR_BENCH_AIRFLOW_PARSE_ONLY") != "1":
            nightly_under_scheduler(record, env, home, customers, as_of)
