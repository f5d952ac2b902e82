"""The local Airflow as a person uses it: `tailor_nightly` runs to success, then Chromium
signs in to the UI, finds the run and its dbt tasks in the grid, and saves a screenshot.
Beside it, every port the local parts opened must be bound to 127.0.0.1.

The parts are those `make airflow` runs (`sandbox.airflow_parts`) with the sandbox APIs.
The browser is Debian's Chromium (`make test` installs it when missing); Playwright never
downloads one.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest

from sandbox import airflow_parts, local
from sandbox.generate import generate
from tests.ops.airflow_home import prepare
from tests.pipeline import spine_helpers as h

pytestmark = pytest.mark.e2e

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = local.ROOT / "data" / "screenshots"  # data/ is git-ignored
# cosmos renders dbt as one task group per layer; without a manifest it is one dbt_build task.
DBT_LAYER_GROUPS = {"staging", "intermediate", "marts", "segments"}
FINISHED_RUN = r"DagRun Finished: dag_id=tailor_nightly, .*?run_id=([^,\s]+)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_chromium() -> None:
    """Skip with a clear reason where Chromium is absent; under CI that is a failure."""
    if CHROMIUM.exists():
        return
    message = (
        f"Debian's chromium is not installed at {CHROMIUM}: `make test` installs it as root "
        "(apt-get install -y chromium)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}, and CI=true: tests that need it must not skip")
    pytest.skip(message)


@pytest.fixture(scope="module")
def local_airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A nightly run through `airflow dags test`, then the parts of `make airflow` on the
    same metadata DB, with the sandbox APIs, all started by this process."""
    base = tmp_path_factory.mktemp("local_airflow")
    store = base / "store"
    generate(store, customers=150, seed=5, as_of=AS_OF)
    port = free_port()
    with local.sandbox_process(store, log_file=base / "sandbox.log") as sandbox_url:
        env = {
            **h.airflow_environment(base / "home", base / "data", sandbox_url),
            **airflow_parts.parts_env(port),
            # No dbt manifest: the DAG then runs dbt as one `dbt_build` task, in one dbt
            # invocation instead of one per model (minutes here). The grid check below
            # accepts either layout.
            "TAILOR_DBT_MANIFEST": str(base / "no-manifest.json"),
        }
        prepare(env)
        nightly_ok, output = h.run_nightly(env, AS_OF, log=base / "nightly.log")
        finished = re.findall(FINISHED_RUN, output)
        with airflow_parts.running(env, port, base / "logs") as procs:
            yield {
                "url": f"http://127.0.0.1:{port}",
                "env": env,
                "procs": procs,
                "sandbox_url": sandbox_url,
                "nightly_ok": nightly_ok,
                "nightly_output": output,
                "run_id": finished[-1] if finished else None,
            }


def test_the_ui_shows_a_successful_nightly_run_and_its_dbt_tasks(local_airflow: dict) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    output = local_airflow["nightly_output"]
    # The failure notifier's lines name each failed task; the tail has the traceback.
    alerts = "\n".join(line for line in output.splitlines() if "Tailor task failed:" in line)
    assert local_airflow["nightly_ok"], f"tailor_nightly failed:\n{alerts}\n{output[-3000:]}"
    run_id = local_airflow["run_id"]
    assert run_id, "the run id is missing from `airflow dags test`'s output"
    base = local_airflow["url"]
    login = json.loads(airflow_parts.password_file(local_airflow["env"]).read_text())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as playwright:
        # --no-sandbox: Chromium refuses to start as root otherwise (CI runs as root); it
        # only ever loads this local Airflow.
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(f"{base}/dags/tailor_nightly/runs")
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill(login["admin"])
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/dags/tailor_nightly/runs**")

            row = page.locator("tr", has=page.locator(f"p[title='{run_id}']"))
            expect(row.locator("td[data-testid='table-cell-state']")).to_contain_text("Success")

            page.goto(f"{base}/dags/tailor_nightly/runs/{run_id}")
            rows = page.locator("[data-testid^='task-'][data-task-id]")
            rows.first.wait_for()
            task_ids = [rows.nth(i).get_attribute("data-task-id") for i in range(rows.count())]
            dbt_tasks = [t for t in task_ids if t and ("dbt" in t or t in DBT_LAYER_GROUPS)]
            assert dbt_tasks, f"no dbt task or layer group in the grid: {task_ids}"
            for task_id in dbt_tasks:
                expect(page.locator(f"a[data-testid='grid-{run_id}-{task_id}']")).to_be_visible()
            page.screenshot(path=str(SCREENSHOTS / "tailor_nightly_grid.png"), full_page=True)
        finally:
            browser.close()
    assert (SCREENSHOTS / "tailor_nightly_grid.png").stat().st_size > 10_000


def listening(pids: list[int]) -> list[tuple[str, int, str, int]]:
    """(command, pid, address, port) of every listening TCP socket of these processes and
    of their children."""
    found = []
    for pid in pids:
        parent = psutil.Process(pid)
        for proc in [parent, *parent.children(recursive=True)]:
            try:
                name = " ".join(proc.cmdline()[:3])
                connections = proc.net_connections(kind="tcp")
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            found += [
                (name, proc.pid, c.laddr.ip, c.laddr.port)
                for c in connections
                if c.status == psutil.CONN_LISTEN
            ]
    return found


def test_nothing_the_local_airflow_started_listens_beyond_loopback(local_airflow: dict) -> None:
    procs = local_airflow["procs"]
    assert all(p.poll() is None for p in procs.values()), "a part stopped early"
    sandbox_port = int(local_airflow["sandbox_url"].rsplit(":", 1)[1])
    sandbox = [
        c.pid
        for c in psutil.Process().children(recursive=True)
        if any(conn.laddr.port == sandbox_port for conn in c.net_connections(kind="tcp"))
    ]
    assert sandbox, "the sandbox process was not found"
    sockets = listening([p.pid for p in procs.values()] + sandbox)
    beyond = [s for s in sockets if not ipaddress.ip_address(s[2]).is_loopback]
    assert beyond == [], f"listening beyond 127.0.0.1: {beyond}"
    # The check saw real sockets: the api-server's and the sandbox's.
    api_port = int(local_airflow["url"].rsplit(":", 1)[1])
    assert {api_port, sandbox_port} <= {s[3] for s in sockets}
