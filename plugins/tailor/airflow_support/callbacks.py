"""Callbacks every Tailor DAG sets in its default_args."""

from __future__ import annotations

from typing import Any


def on_failure() -> list[Any]:
    """The failure notifiers (a log line always; Slack and e-mail when configured)."""
    from tailor.alerts import on_failure_notifiers

    return list(on_failure_notifiers())


def default_args(**overrides: Any) -> dict[str, Any]:
    """Owner, retries with exponential backoff, failure alerts; overrides win."""
    from datetime import timedelta

    return {
        "owner": "tailor",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "on_failure_callback": on_failure(),
        **overrides,
    }
