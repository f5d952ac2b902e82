"""Failure alerts: the log line, a real Slack-style webhook on 127.0.0.1, a real SMTP server,
and a failing task run through `airflow dags test` that fires the notifier."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pendulum
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from tailor.alerts import EMAIL_CONN_ID, SLACK_CONN_ID, TailorFailureNotifier, on_failure_notifiers

from sandbox import local
from tests.ops.airflow_home import prepare

WEBHOOK_TOKEN = "T0000/B0000/hook-secret-0042"
SMTP_PASSWORD = "smtp-secret-0042"
START = pendulum.datetime(2026, 11, 19, tz="UTC")
END = pendulum.datetime(2026, 11, 20, tz="UTC")
LOG_URL = "http://127.0.0.1:8080/dags/tailor_nightly/runs/manual__2026/tasks/dbt_build?try_number=1"


class Webhook:
    """A Slack-style incoming webhook: records JSON posts, answers with `status`."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.posts.append({"path": self.path, "json": json.loads(body)})
                self.send_response(outer.status)
                self.end_headers()
                self.wfile.write(b"ok" if outer.status == 200 else b"invalid_token")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/services/{WEBHOOK_TOKEN}"


class Mailbox:
    """aiosmtpd handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802, ANN001
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    thread = threading.Thread(target=hook.server.serve_forever, daemon=True)
    thread.start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()

    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:  # noqa: ANN001
        ok = auth_data.login == b"alerts" and auth_data.password == SMTP_PASSWORD.encode()
        return AuthResult(success=ok)

    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,  # loopback only; production servers use STARTTLS or SSL
    )
    controller.start()
    yield box, port
    controller.stop()


def slack_conn(url: str) -> str:
    return json.dumps({"conn_type": "http", "password": url})


def email_conn(port: int) -> str:
    return json.dumps(
        {
            "conn_type": "email",
            "host": "127.0.0.1",
            "port": port,
            "login": "alerts",
            "password": SMTP_PASSWORD,
            "extra": {
                "to": "ops@example.com, oncall@example.com",
                "from_email": "tailor@example.com",
            },
        }
    )


def failed_context() -> dict:
    """The keys Airflow's task context gives a failure callback."""
    ti = types.SimpleNamespace(
        dag_id="tailor_nightly",
        task_id="dbt_build",
        run_id="manual__2026",
        try_number=1,
        log_url=LOG_URL,
    )
    return {
        "ti": ti,
        "run_id": ti.run_id,
        "data_interval_start": START,
        "data_interval_end": END,
        "exception": RuntimeError("model stg_x failed for jane.doe@example.com\nmore detail"),
    }


@pytest.fixture
def no_alert_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    for conn_id in (SLACK_CONN_ID, EMAIL_CONN_ID):
        monkeypatch.delenv(f"AIRFLOW_CONN_{conn_id.upper()}", raising=False)


def test_the_log_line_names_dag_task_interval_and_url(
    no_alert_connections: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="tailor.alerts"):
        TailorFailureNotifier()(failed_context())
    lines = [r.getMessage() for r in caplog.records if r.name == "tailor.alerts"]
    assert len(lines) == 1, "without connections only the log line is written"
    line = lines[0]
    assert "dag=tailor_nightly" in line and "task=dbt_build" in line
    assert f"interval={START.isoformat()}..{END.isoformat()}" in line
    assert f"log={LOG_URL}" in line
    assert "RuntimeError: model stg_x failed for j***@example.com" in line
    assert "jane.doe" not in line and "more detail" not in line


def test_slack_and_email_both_receive_the_alert(
    webhook: Webhook,
    mailbox: tuple[Mailbox, int],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    box, port = mailbox
    monkeypatch.setenv(f"AIRFLOW_CONN_{SLACK_CONN_ID.upper()}", slack_conn(webhook.url))
    monkeypatch.setenv(f"AIRFLOW_CONN_{EMAIL_CONN_ID.upper()}", email_conn(port))
    with caplog.at_level(logging.INFO, logger="tailor.alerts"):
        for notifier in on_failure_notifiers():
            notifier(failed_context())

    assert [p["path"] for p in webhook.posts] == [f"/services/{WEBHOOK_TOKEN}"]
    text = webhook.posts[0]["json"]["text"]
    assert "tailor_nightly.dbt_build" in text
    assert f"{START.isoformat()} .. {END.isoformat()}" in text
    assert LOG_URL in text

    assert len(box.messages) == 1
    mail = box.messages[0]
    assert mail["To"] == "ops@example.com, oncall@example.com"
    assert mail["From"] == "tailor@example.com"
    assert mail["Subject"].startswith("[tailor] tailor_nightly.dbt_build failed for 2026-11-19")
    assert LOG_URL in mail.get_content()

    logged = caplog.text
    assert "alert sent through tailor_alerts_slack" in logged
    assert "alert sent through tailor_alerts_email" in logged
    assert WEBHOOK_TOKEN not in logged and SMTP_PASSWORD not in logged


def test_a_refused_webhook_is_logged_without_its_url_and_email_still_goes(
    webhook: Webhook,
    mailbox: tuple[Mailbox, int],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    box, port = mailbox
    webhook.status = 403
    monkeypatch.setenv(f"AIRFLOW_CONN_{SLACK_CONN_ID.upper()}", slack_conn(webhook.url))
    monkeypatch.setenv(f"AIRFLOW_CONN_{EMAIL_CONN_ID.upper()}", email_conn(port))
    with caplog.at_level(logging.INFO, logger="tailor.alerts"):
        TailorFailureNotifier()(failed_context())
    assert len(webhook.posts) == 1 and len(box.messages) == 1
    assert "alert through tailor_alerts_slack failed: AlertError Slack answered HTTP 403" in (
        caplog.text
    )
    assert WEBHOOK_TOKEN not in caplog.text


def test_an_unreachable_smtp_server_is_logged_and_does_not_raise(
    no_alert_connections: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{EMAIL_CONN_ID.upper()}", email_conn(free_port()))
    with caplog.at_level(logging.INFO, logger="tailor.alerts"):
        TailorFailureNotifier()(failed_context())
    assert "alert through tailor_alerts_email failed: ConnectionRefusedError" in caplog.text
    assert SMTP_PASSWORD not in caplog.text


PROBE_DAG = '''
"""A task that always fails, to see the failure notifier fire."""
import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task
from tests.ops.airflow_home import prepare
from tailor.alerts import on_failure_notifiers


@dag(
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 0, "on_failure_callback": on_failure_notifiers()},
)
def tailor_alert_probe():
    @task
    def fail_on_purpose():
        raise RuntimeError("the probe fails on purpose")

    fail_on_purpose()


tailor_alert_probe()
'''


def test_a_failing_task_under_airflow_fires_the_notifier(
    tmp_path: Path, webhook: Webhook, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "tailor_alert_probe.py").write_text(PROBE_DAG)
    env = {
        **os.environ,
        **local.airflow_env(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__API__BASE_URL": "http://127.0.0.1:8080",
        f"AIRFLOW_CONN_{SLACK_CONN_ID.upper()}": slack_conn(webhook.url),
        f"AIRFLOW_CONN_{EMAIL_CONN_ID.upper()}": email_conn(port),
    }
    prepare(env)
    proc = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", "tailor_alert_probe", END.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert "the probe fails on purpose" in output, output[-3000:]

    interval = f"{START.isoformat()}..{END.isoformat()}"
    assert "Tailor task failed: tailor_alert_probe.fail_on_purpose" in output, output[-3000:]
    assert f"interval={interval}" in output
    assert "log=http://127.0.0.1:8080/dags/tailor_alert_probe/runs/" in output

    assert len(webhook.posts) == 1, output[-3000:]
    text = webhook.posts[0]["json"]["text"]
    assert "tailor_alert_probe.fail_on_purpose" in text
    assert "RuntimeError: the probe fails on purpose" in text
    assert "/tasks/fail_on_purpose" in text
    assert len(box.messages) == 1
    assert "tailor_alert_probe.fail_on_purpose failed" in box.messages[0]["Subject"]
    assert WEBHOOK_TOKEN not in output and SMTP_PASSWORD not in output
