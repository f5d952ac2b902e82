"""Run Tailor locally against the sandbox: the environment for Airflow and the stand-ins.

Used by the demo, `make airflow`, the end-to-end tests and the benchmarks. Tailor itself
never imports this: it only sees the `AIRFLOW_CONN_*` variables set here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAILCHIMP_LIST_ID = "5d1e2f3a4b"
SHOPIFY_TOKEN = "shpat_sandbox"
HUBSPOT_TOKEN = "pat-sandbox"
MAILCHIMP_KEY = "sandboxkey-us1"
KLAVIYO_KEY = "pk_sandbox"


def connection_env(url: str) -> dict[str, str]:
    """`AIRFLOW_CONN_*` variables that point Tailor's connections at the sandbox."""
    match = re.match(r"(https?)://([^:/]+):(\d+)", url)
    if not match:
        raise ValueError(f"unexpected sandbox url {url!r}")
    scheme, host, port = match.groups()

    def conn(password: str, **extra: str) -> str:
        return json.dumps(
            {
                "conn_type": "http",
                "host": host,
                "port": int(port),
                "schema": scheme,
                "password": password,
                "extra": extra,
            }
        )

    return {
        "AIRFLOW_CONN_SHOPIFY": conn(SHOPIFY_TOKEN),
        "AIRFLOW_CONN_HUBSPOT": conn(HUBSPOT_TOKEN),
        "AIRFLOW_CONN_MAILCHIMP": conn(MAILCHIMP_KEY, list_id=MAILCHIMP_LIST_ID),
        "AIRFLOW_CONN_KLAVIYO": conn(KLAVIYO_KEY),
    }


def airflow_env(home: Path | None = None) -> dict[str, str]:
    """An Airflow with SQLite metadata under a git-ignored folder, this repo's DAGs, no examples."""
    home = home or ROOT / ".airflow"
    home.mkdir(parents=True, exist_ok=True)
    venv_bin = str(Path(sys.executable).parent)
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__API__HOST": "127.0.0.1",
        # Off by default, but binds every interface when enabled. The log servers have no
        # host setting: sandbox/airflow_parts.py starts the parts without them.
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
        "GX_ANALYTICS_ENABLED": "false",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT / "plugins"), str(ROOT), os.environ.get("PYTHONPATH")])
        ),
        # `airflow standalone` starts its parts as `airflow ...`, found on PATH.
        "PATH": os.pathsep.join([venv_bin, os.environ.get("PATH", "")]),
    }


def prepare_airflow(env: dict[str, str], log: Path | None = None) -> None:
    """Migrate Airflow's metadata, create the pools and build the dbt manifest the DAGs
    render their dbt tasks from. Each step is idempotent."""
    steps = [
        [sys.executable, "-m", "airflow", "db", "migrate"],
        [sys.executable, "-m", "airflow", "pools", "import", str(ROOT / "pools.json")],
        [sys.executable, "-m", "tailor.airflow_support.manifest"],
    ]
    for cmd in steps:
        proc = subprocess.run(
            cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
        )
        if log is not None:
            with open(log, "a") as out:
                out.write(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd[1:4])} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
            )


@contextmanager
def sandbox_process(data_dir: Path, port: int = 0, log_file: Path | None = None) -> Iterator[str]:
    """Start `python -m sandbox.server` in its own process; yield its URL; stop it cleanly."""
    with sandbox_server(data_dir, port=port, log_file=log_file) as (url, _pid):
        yield url


@contextmanager
def sandbox_server(
    data_dir: Path,
    *extra_args: str,
    port: int = 0,
    log_file: Path | None = None,
    start_timeout: float = 60,
) -> Iterator[tuple[str, int]]:
    """`sandbox_process` with extra server arguments (`--scale s1`, latencies); yields its URL
    and pid (benchmarks read the server's memory)."""
    log_file = log_file or data_dir / "sandbox.log"
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-u",
                "-m",
                "sandbox.server",
                "--data",
                str(data_dir),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "WARNING",
                *extra_args,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    try:
        deadline = time.monotonic() + start_timeout
        url = None
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                raise RuntimeError(f"the sandbox exited with {proc.returncode}; see {log_file}")
            found = re.search(r"sandbox listening on (\S+)", line or "")
            if found:
                url = found.group(1)
                break
        if url is None:
            raise RuntimeError(
                f"the sandbox did not start within {start_timeout:.0f} s; see {log_file}"
            )
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


COLLECTOR_SECRET = "collector-sandbox-secret"
SHOPIFY_WEBHOOK_SECRET = "shopify-app-sandbox-secret"


def collector_env(url: str) -> dict[str, str]:
    """`AIRFLOW_CONN_TAILOR_COLLECTOR` for a collector at `url`, with the sandbox's secrets."""
    host, port = url.rsplit("//", 1)[-1].split(":")
    conn = {"conn_type": "http", "host": host, "port": int(port), "schema": "http"}
    conn.update(password=COLLECTOR_SECRET, extra={"shopify_webhook_secret": SHOPIFY_WEBHOOK_SECRET})
    return {"AIRFLOW_CONN_TAILOR_COLLECTOR": json.dumps(conn)}


def replay_events(events: Path, env: dict[str, str], log_file: Path) -> str:
    """Start `tailor collector serve`, post the generator's events.jsonl to it, stop it.

    The spool it writes under `$TAILOR_DATA_DIR/collector` is what `collector/*` extracts
    land; posting the same file again stores nothing twice.
    """
    if not events.exists():
        return f"no {events.name} in {events.parent}: the collector has nothing to replay"
    env = {**env, **collector_env("http://127.0.0.1:0")}
    command = [sys.executable, "-u", "-m", "tailor.cli", "collector", "serve", "--port", "0"]
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log)
    try:
        assert proc.stdout is not None
        found = re.search(rb"listening on (\S+)", proc.stdout.readline())
        if not found:
            raise RuntimeError(f"the collector did not start; see {log_file}")
        url = found.group(1).decode()
        replay = [sys.executable, "-m", "tailor.cli", "events", "replay", str(events)]
        out = subprocess.run(
            [*replay, "--url", url], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        totals = json.loads(out.stdout)
        return (
            f"collector on {url}: {totals['sent']} events sent, {totals['accepted']} stored, "
            f"{totals['duplicates']} already stored, {totals['rejected']} refused"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
