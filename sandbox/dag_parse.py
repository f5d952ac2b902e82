"""Parse DAG files the way the dag-processor does, and report per file how long it took and
which heavy modules it pulled in (tests and benchmarks use it).

One fresh interpreter loads Airflow (as a dag-processor has), then forks once per file, so
each file is parsed with nothing else imported before it, without paying for Airflow's
import again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from sandbox import local

HEAVY = ("duckdb", "dbt", "great_expectations", "pandas", "pyarrow", "requests")

_PROBE = """
import json, os, sys, time
started = time.perf_counter()
import airflow.sdk
from airflow.dag_processing.dagbag import DagBag
airflow_seconds = time.perf_counter() - started

def probe(path):
    began = time.perf_counter()
    bag = DagBag(dag_folder=path)
    return {
        "file": path,
        "parse_seconds": round(time.perf_counter() - began, 3),
        "airflow_import_seconds": round(airflow_seconds, 3),
        "dags": sorted(bag.dags),
        "tasks": sum(len(d.tasks) for d in bag.dags.values()),
        "import_errors": {str(k): v for k, v in bag.import_errors.items()},
        "heavy": [m for m in HEAVY if m in sys.modules],
    }

for path in sys.argv[1:]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.write(write, json.dumps(probe(path)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        print("RESULT " + pipe.read(), flush=True)
    os.waitpid(pid, 0)
"""


def parse_all(dag_files: list[Path], env: dict[str, str] | None = None) -> list[dict]:
    """Parse each file in its own fork of one fresh interpreter; env defaults to a
    throwaway Airflow home."""
    if env is None:
        home = Path(os.environ.get("AIRFLOW_HOME") or tempfile.mkdtemp(prefix="tailor-parse-"))
        env = {**os.environ, **local.airflow_env(home.resolve())}
    code = f"HEAVY = {list(HEAVY)!r}\n" + _PROBE
    proc = subprocess.run(
        [sys.executable, "-c", code, *map(str, dag_files)],
        env=env,
        cwd=local.ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    results = [
        json.loads(line.removeprefix("RESULT "))
        for line in proc.stdout.splitlines()
        if line.startswith("RESULT ")
    ]
    if proc.returncode != 0 or len(results) != len(dag_files):
        raise RuntimeError(f"parsing {dag_files} failed:\n{proc.stderr[-3000:]}")
    return results
