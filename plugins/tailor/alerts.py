"""Failure alerts: a log line always, Slack and e-mail when their connections are configured.

Use it in a DAG as `default_args={"on_failure_callback": on_failure_notifiers(), ...}`.
Airflow runs task failure callbacks on the worker, right after the task fails.

Connections (Airflow connections, or `AIRFLOW_CONN_<ID>` variables in JSON form):

- `tailor_alerts_slack`: `password` = the Slack incoming-webhook URL (the URL is the secret).
- `tailor_alerts_email`: an SMTP server: `host`, `port`, `login`, `password`, and
  `extra` = `{"to": "ops@example.com, ...", "from_email": "...", "starttls": true, "ssl": false}`
  (`starttls` defaults to true on port 587, `ssl` to true on port 465).

An alert channel that fails is logged and skipped, never raised: the task has already
failed, and one broken channel must not silence the others.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import BaseNotifier

from tailor.connections import ApiConnection, MissingConnection, get_connection
from tailor.redact import get_logger, redact, register_secret

SLACK_CONN_ID = "tailor_alerts_slack"
EMAIL_CONN_ID = "tailor_alerts_email"
TIMEOUT_SECONDS = 10

log = get_logger("tailor.alerts")


class AlertError(Exception):
    """A channel is misconfigured or refused the alert; the message holds no secret."""


@dataclass(frozen=True)
class Failure:
    """What an alert says about one failed task try."""

    dag_id: str
    task_id: str
    run_id: str
    interval_start: str
    interval_end: str
    try_number: int | None
    log_url: str
    error: str

    @property
    def headline(self) -> str:
        return f"Tailor task failed: {self.dag_id}.{self.task_id}"

    def log_line(self) -> str:
        return (
            f"{self.headline} dag={self.dag_id} task={self.task_id} run={self.run_id} "
            f"interval={self.interval_start}..{self.interval_end} try={self.try_number} "
            f"log={self.log_url} error={self.error}"
        )

    def text(self) -> str:
        return (
            f"{self.headline}\n"
            f"interval: {self.interval_start} .. {self.interval_end}\n"
            f"run: {self.run_id} (try {self.try_number})\n"
            f"error: {self.error}\n"
            f"log: {self.log_url}"
        )


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value or "-")


def failure_from_context(context: dict[str, Any]) -> Failure:
    """The facts an alert needs, from Airflow's task context."""
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    dag_id = getattr(ti, "dag_id", None) or getattr(dag, "dag_id", "?")
    exception = context.get("exception")
    # The first line is enough to recognise the error; the log link has the rest. Emails
    # and registered secrets in it are masked.
    error = "-"
    if exception is not None:
        first_line = (str(exception).strip().splitlines() or [""])[0][:300]
        error = redact(f"{type(exception).__name__}: {first_line}".rstrip(": "))
    return Failure(
        dag_id=dag_id,
        task_id=getattr(ti, "task_id", "?"),
        run_id=str(context.get("run_id") or getattr(ti, "run_id", "-")),
        interval_start=_iso(context.get("data_interval_start")),
        interval_end=_iso(context.get("data_interval_end")),
        try_number=getattr(ti, "try_number", None),
        log_url=str(getattr(ti, "log_url", "") or "-"),
        error=error,
    )


def _optional_connection(conn_id: str) -> ApiConnection | None:
    try:
        return get_connection(conn_id)
    except MissingConnection:
        return None


def post_to_slack(conn: ApiConnection, failure: Failure) -> None:
    """Slack incoming webhook: a JSON body `{"text": ...}`, answered with 200 "ok"."""
    import requests

    url = conn.password if conn.password and "://" in conn.password else conn.base_url
    if not url or "://" not in url:
        raise AlertError(f"connection '{conn.conn_id}' has no webhook URL in its password")
    register_secret(url)
    response = requests.post(url, json={"text": failure.text()}, timeout=TIMEOUT_SECONDS)
    if response.status_code >= 300:
        raise AlertError(f"Slack answered HTTP {response.status_code}")


def send_email(conn: ApiConnection, failure: Failure) -> None:
    """One plain-text message through the SMTP server the connection names."""
    parts = urlsplit(conn.base_url)
    host, port = parts.hostname, parts.port or 25
    recipients = conn.extra.get("to") or []
    if isinstance(recipients, str):
        recipients = [r.strip() for r in recipients.split(",") if r.strip()]
    if not host or not recipients:
        raise AlertError(f"connection '{conn.conn_id}' needs a host and extra.to")
    message = EmailMessage()
    message["Subject"] = (
        f"[tailor] {failure.dag_id}.{failure.task_id} failed for "
        f"{failure.interval_start}..{failure.interval_end}"
    )
    message["From"] = conn.extra.get("from_email") or conn.login or "tailor@localhost"
    message["To"] = ", ".join(recipients)
    message.set_content(failure.text())
    use_ssl = bool(conn.extra.get("ssl", port == 465))
    starttls = bool(conn.extra.get("starttls", port == 587)) and not use_ssl
    smtp_class = smtplib.SMTP_SSL if use_ssl else smtplib.SMTP
    with smtp_class(host, port, timeout=TIMEOUT_SECONDS) as smtp:
        if starttls:
            smtp.starttls()
        if conn.login and conn.password:
            smtp.login(conn.login, conn.password)
        smtp.send_message(message)


CHANNELS = {SLACK_CONN_ID: post_to_slack, EMAIL_CONN_ID: send_email}


class TailorFailureNotifier(BaseNotifier):
    """Logs every task failure, then alerts each configured channel."""

    def notify(self, context: dict[str, Any]) -> None:
        failure = failure_from_context(context)
        log.error("%s", failure.log_line())
        for conn_id, send in CHANNELS.items():
            conn = _optional_connection(conn_id)
            if conn is None:
                continue
            try:
                send(conn, failure)
                log.info("alert sent through %s", conn_id)
            except Exception as exc:  # noqa: BLE001 - one broken channel must not stop the rest
                # The exception's text may hold the webhook URL or a server's reply: the type
                # and our own message are enough to act on.
                reason = str(exc) if isinstance(exc, AlertError) else ""
                log.warning("alert through %s failed: %s %s", conn_id, type(exc).__name__, reason)


def on_failure_notifiers() -> list[BaseNotifier]:
    """The callbacks for `default_args["on_failure_callback"]`."""
    return [TailorFailureNotifier()]
