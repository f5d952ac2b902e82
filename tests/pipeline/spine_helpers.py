"""Run `tailor_nightly` through Airflow against the sandbox, and compute the truth directly.

The direct computations read the generator's files with plain Python, independent of
Tailor's SQL, so a test compares two implementations of the same rule.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from sandbox import local

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)


def airflow_environment(home: Path, data: Path, sandbox_url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, **local.airflow_env(home), **local.connection_env(sandbox_url)}
    for key in (
        "TAILOR_WAREHOUSE",
        "TAILOR_LANDING_DIR",
        "TAILOR_EXPORTS_DIR",
        "TAILOR_REPORTS_DIR",
        "TAILOR_EXPECTATIONS_DIR",
    ):
        env.pop(key, None)
    env.update({"TAILOR_DATA_DIR": str(data), **extra})
    return env


def migrate(env: dict[str, str]) -> None:
    """Airflow's metadata, the pools and the dbt manifest (what `make airflow` prepares)."""
    local.prepare_airflow(env)


def run_dag(
    env: dict[str, str],
    dag_id: str,
    as_of: datetime = AS_OF,
    conf: dict | None = None,
    log: Path | None = None,
) -> tuple[bool, str]:
    """`airflow dags test DAG_ID` for the logical date as_of."""
    cmd = [sys.executable, "-m", "airflow", "dags", "test", dag_id]
    cmd.append(as_of.strftime("%Y-%m-%dT%H:%M:%S+00:00"))
    if conf is not None:
        cmd += ["--conf", json.dumps(conf)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    output = proc.stdout + proc.stderr
    if log:
        log.write_text(output)
    succeeded = proc.returncode == 0 and "state=success" in output
    return succeeded, output


def run_nightly(
    env: dict[str, str], as_of: datetime = AS_OF, full_refresh: bool = True, log: Path | None = None
) -> tuple[bool, str]:
    """`airflow dags test tailor_nightly` for the interval ending at as_of."""
    return run_dag(env, "tailor_nightly", as_of, {"full_refresh": full_refresh}, log)


def run_audience_sync(env: dict[str, str], log: Path | None = None) -> tuple[bool, str]:
    """`tailor_audience_sync` runs on the asset the nightly's gate emits; `dags test` does
    not follow assets, so it is run explicitly."""
    return run_dag(env, "tailor_audience_sync", log=log)


def asset_events(env: dict[str, str], name: str) -> int:
    """How many events Airflow's metadata holds for the asset called `name`."""
    import sqlite3

    database = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as con:
        return con.execute(
            "select count(*) from asset_event e join asset a on a.id = e.asset_id where a.name = ?",
            (name,),
        ).fetchone()[0]


def task_states(output: str) -> dict[str, str]:
    """Final state per task that ran, from `dags test` output."""
    states: dict[str, str] = {}
    current = None
    for line in output.splitlines():
        if "[DAG TEST] starting task_id=" in line:
            current = line.split("task_id=")[1].split()[0]
        elif current and "Task instance state updated" in line and "new_state=" in line:
            states[current] = line.split("new_state=")[1].split()[0]
    return states


def read_jsonl(path: Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def truth_emails(sandbox_dir: Path) -> set[str]:
    with open(sandbox_dir / "truth.csv") as f:
        return {row["email_normalized"] for row in csv.DictReader(f) if row["email_normalized"]}


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def direct_segments(
    sandbox_dir: Path, as_of: datetime = AS_OF, frequent_over: int = 3, days: int = 30
) -> dict[str, set[str]]:
    """Emails of frequent buyers and recent purchasers, straight from the generated files."""
    email_of = {}
    for c in read_jsonl(sandbox_dir / "shopify_customers.jsonl"):
        email = (c.get("email") or "").strip().lower()
        email_of[c["id"]] = email
    valid = truth_emails(sandbox_dir)
    counts: dict[str, int] = defaultdict(int)
    start = as_of - timedelta(days=days)
    for order in read_jsonl(sandbox_dir / "shopify_orders.jsonl"):
        if order.get("cancelledAt") or not order.get("customer"):
            continue
        email = email_of.get(order["customer"]["id"], "")
        if email in valid and start <= _ts(order["createdAt"]) < as_of:
            counts[email] += 1
    return {
        "frequent_buyers": {e for e, n in counts.items() if n > frequent_over},
        "recent_purchasers": {e for e, n in counts.items() if n >= 1},
    }


def sendable_emails(sandbox_dir: Path) -> set[str]:
    """People Tailor may email: subscribed in Shopify, not unsubscribed anywhere."""
    subscribed, blocked = set(), set()
    for c in read_jsonl(sandbox_dir / "shopify_customers.jsonl"):
        email = (c.get("email") or "").strip().lower()
        state = (c.get("emailMarketingConsent") or {}).get("marketingState")
        if state == "SUBSCRIBED":
            subscribed.add(email)
        if state in ("UNSUBSCRIBED", "REDACTED", "INVALID"):
            blocked.add(email)
    for contact in read_jsonl(sandbox_dir / "hubspot_contacts.jsonl"):
        props = contact["properties"]
        if (props.get("hs_email_optout") or "").lower() == "true":
            blocked.add((props.get("email") or "").strip().lower())
    return (subscribed - blocked) & truth_emails(sandbox_dir)


def esp_members(sandbox_url: str, list_id: str = local.MAILCHIMP_LIST_ID) -> dict[str, dict]:
    """Every member the Mailchimp stand-in holds, by email, with its active tags."""
    auth = ("tailor", local.MAILCHIMP_KEY)
    members: dict[str, dict] = {}
    offset = 0
    while True:
        page = requests.get(
            f"{sandbox_url}/3.0/lists/{list_id}/members",
            auth=auth,
            params={"count": 1000, "offset": offset},
            timeout=30,
        ).json()
        for m in page["members"]:
            members[m["email_address"].lower()] = m
        offset += len(page["members"])
        if not page["members"] or offset >= page["total_items"]:
            return members


def esp_request_count(sandbox_url: str) -> int:
    return requests.get(f"{sandbox_url}/3.0/_sandbox/stats", timeout=30).json()["total_requests"]
