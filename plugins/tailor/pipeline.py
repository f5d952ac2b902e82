"""The pipeline's steps as plain functions: the DAGs and the CLI both call these.

Each takes small values (an interval, a run id) and returns a small dict, so an Airflow
task can pass it on through XCom.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from tailor import settings


def extract_window(start: datetime, end: datetime, full_refresh: bool) -> tuple[datetime, datetime]:
    """A full refresh reads all history up to the interval's end, into its own file."""
    return (settings.HISTORY_START if full_refresh else start), end


def extract(
    source: str,
    entity: str,
    start: datetime,
    end: datetime,
    full_refresh: bool = False,
    landing_root: Path | None = None,
) -> dict[str, Any]:
    from tailor import sources

    lo, hi = extract_window(start, end, full_refresh)
    return sources.extract(source, entity, lo, hi, landing_root or settings.landing_dir()).as_dict()


def build(as_of: datetime) -> dict[str, Any]:
    from tailor import transform

    result = transform.build(as_of)
    return {"models": result.models, "tests": result.tests, "nodes": result.nodes}


def gate(run_id: str) -> dict[str, Any]:
    from tailor import quality

    report = quality.run_gate(run_id)
    return {
        "passed": report.passed,
        "warnings": len(report.warnings),
        "critical_failed": len(report.failed_critical),
    }


def sync_mailchimp(run_id: str, dry_run: bool = False) -> dict[str, Any]:
    from tailor.connections import get_connection
    from tailor.destinations.mailchimp import MailchimpConfig, MailchimpDestination
    from tailor.destinations.sync import sync_destination

    conn = get_connection("mailchimp")
    list_id = conn.extra.get("list_id")
    if not list_id:
        raise ValueError("the mailchimp connection needs extra.list_id (the audience id)")
    config = MailchimpConfig(
        base_url=conn.base_url, api_key=conn.password or "", list_id=str(list_id)
    )
    report = sync_destination(
        settings.warehouse_path(), MailchimpDestination(config), run_id=run_id, dry_run=dry_run
    )
    return {"summary": report.summary()}


def export_files() -> dict[str, str]:
    from tailor.destinations.files import export_audiences

    paths = export_audiences(settings.warehouse_path(), settings.exports_dir())
    return {audience: str(path) for audience, path in paths.items()}
