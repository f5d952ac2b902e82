"""The production topology for real: Airflow with PostgreSQL as metadata DB, Redis as the
Celery broker, a scheduler, a dag-processor, an api-server and one Celery worker. Trigger
`tailor_nightly` for an interval and wait for success; then backfill two intervals through
the scheduler with `airflow backfill create`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
import pytest

from sandbox import local
from sandbox.generate import generate
from tests.conftest import require_service

pytestmark = pytest.mark.e2e

# A manual run covers the last whole day before it is triggered, whatever logical date it
# is given; the store's history ends two days before that, so the backfilled intervals
# ([-3d, -2d) and [-2d, -1d)) see no record from their future, and every run's newest
# record is within the gate's freshness window.
MIDNIGHT = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
AS_OF = MIDNIGHT - timedelta(days=2)
DB = "tailor_airflow_it"
RUN_TIMEOUT = 900


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database() -> str:
    con = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(f"drop database if exists {DB} with (force)")
        cur.execute(f"create database {DB}")
    con.close()
    return f"postgresql+psycopg2://postgres@127.0.0.1:5432/{DB}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    require_service("Redis", "127.0.0.1", 6379)
    home = tmp_path_factory.mktemp("airflow_celery")
    data = tmp_path_factory.mktemp("data")
    store = data / "sandbox"
    generate(store, customers=600, seed=3, as_of=AS_OF)
    api_port = free_port()
    env = {
        **os.environ,
        **local.airflow_env(home),
        "TAILOR_DATA_DIR": str(data),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": fresh_database(),
        "AIRFLOW__CELERY__BROKER_URL": "redis://127.0.0.1:6379/7",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://postgres@127.0.0.1:5432/{DB}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API_AUTH__JWT_SECRET": "integration-test-secret-not-for-production",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # Only the runs this test asks for: no run for the latest wall-clock interval, whose
        # data the sandbox does not have (its gate would rightly fail and hold the one slot).
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        # dbt as one task: the per-model layout costs a dbt start-up per model, minutes per
        # run here; the end-to-end test and `make bench` run that layout.
        "TAILOR_DBT_TASKS": "single",
    }
    env.pop("TAILOR_WAREHOUSE", None)
    procs: list[subprocess.Popen] = []
    with local.sandbox_process(store) as url:
        env.update(local.connection_env(url))
        local.prepare_airflow(env, home / "prepare.log")  # migrate, pools
        for name, cmd in [
            (
                "api-server",
                ["airflow", "api-server", "--host", "127.0.0.1", "--port", str(api_port)],
            ),
            ("scheduler", ["airflow", "scheduler"]),
            ("dag-processor", ["airflow", "dag-processor"]),
            ("worker", ["airflow", "celery", "worker", "--skip-serve-logs", "--concurrency", "2"]),
        ]:
            log = open(home / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
            procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
        try:
            yield {"env": env, "home": home, "data": data}
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def day(offset: int) -> datetime:
    return MIDNIGHT + timedelta(days=offset)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def airflow(env: dict, *args: str) -> str:
    proc = subprocess.run(["airflow", *args], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


def runs(env: dict) -> list[dict]:
    out = airflow(env, "dags", "list-runs", "tailor_nightly", "-o", "json")
    lines = [line for line in out.splitlines() if line.startswith(("[{", "[]"))]
    return json.loads(lines[-1]) if lines else []


def wait_for(env: dict, home: Path, count: int) -> list[dict]:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        current = runs(env)
        if any(r["state"] == "failed" for r in current):
            break
        if len(current) >= count and all(r["state"] == "success" for r in current):
            return current
        time.sleep(5)
    logs = "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(home.glob("*.log"))
    )
    pytest.fail(f"runs did not all succeed in time: {runs(env)}\n{logs}")


def wait_for_dag(env: dict) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        proc = subprocess.run(
            ["airflow", "dags", "details", "tailor_nightly"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode == 0:
            return
        time.sleep(5)
    pytest.fail("the dag-processor did not register tailor_nightly in time")


def test_trigger_then_backfill_under_the_scheduler_with_celery(cluster: dict) -> None:
    env, home = cluster["env"], cluster["home"]
    wait_for_dag(env)
    airflow(env, "dags", "unpause", "tailor_nightly")
    # Without a logical date an Airflow 3 manual run has no data interval.
    airflow(
        env,
        "dags",
        "trigger",
        "tailor_nightly",
        "--logical-date",
        day(-1).isoformat(),
        "--conf",
        json.dumps({"full_refresh": True}),
    )
    first = wait_for(env, home, 1)
    assert [r["state"] for r in first] == ["success"]

    airflow(
        env,
        "backfill",
        "create",
        "--dag-id",
        "tailor_nightly",
        "--from-date",
        day(-3).isoformat(),
        "--to-date",
        day(-2).isoformat(),
        "--reprocess-behavior",
        "none",
    )
    every = wait_for(env, home, 3)
    assert len(every) == 3
    landing = cluster["data"] / "landing" / "shopify" / "orders"
    names = sorted(p.name for p in landing.glob("*.parquet"))
    # the full refresh (all history up to the last midnight), then the two backfilled days
    assert any(n.endswith(f"__{stamp(day(0))}.parquet") for n in names), names
    for start in (-3, -2):
        assert f"{stamp(day(start))}__{stamp(day(start + 1))}.parquet" in names
