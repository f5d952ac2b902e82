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


def gate(
    run_id: str, as_of: datetime, layers: tuple[str, ...] = ("landing", "staging", "marts")
) -> dict[str, Any]:
    """The quality gate for the run ending at as_of (this run's landing files, staging and
    marts); raises QualityGateFailed on a failed critical expectation."""
    from tailor import quality

    report = quality.run_gate(run_id, as_of, layers=tuple(layers))
    return {
        "passed": report.passed,
        "warnings": len(report.warnings),
        "critical_failed": len(report.failed_critical),
        "report": str(report.report_path),
    }


def sync(
    destination_name: str,
    run_id: str,
    dry_run: bool = False,
    *,
    force: bool = False,
    max_removal_share: float | None = None,
    erasure_file: str | None = None,
) -> dict[str, Any]:
    """Sync every audience to one destination (a connection of that name).

    Audiences' `on_leave` come from dbt's manifest when it exists. Raises `SafetyStop` when
    the sync would remove too large a share of an audience, unless `force`.
    """
    from tailor.destinations import sync as engine
    from tailor.destinations.audiences import load_audiences

    manifest = settings.dbt_project_dir() / "target" / "manifest.json"
    audiences = load_audiences(manifest) if manifest.exists() else {}
    destination = _destination(destination_name)
    try:
        report = engine.sync_destination(
            settings.warehouse_path(),
            destination,
            run_id=run_id,
            dry_run=dry_run,
            audiences=audiences,
            force=force,
            max_removal_share=(
                engine.DEFAULT_MAX_REMOVAL_SHARE if max_removal_share is None else max_removal_share
            ),
            erasure_file=erasure_file,
        )
    finally:
        destination.close()
    return {"summary": report.summary(), "stopped": report.stopped}


def _destination(name: str) -> Any:
    from tailor.connections import get_connection

    if name == "mailchimp":
        from tailor.destinations.mailchimp import MailchimpConfig, MailchimpDestination

        return MailchimpDestination(MailchimpConfig.from_connection(get_connection("mailchimp")))
    raise ValueError(f"unknown destination {name!r}; known: mailchimp")


def sync_mailchimp(run_id: str, dry_run: bool = False, **options: Any) -> dict[str, Any]:
    return sync("mailchimp", run_id, dry_run, **options)


def export_files() -> dict[str, str]:
    from tailor.destinations.files import export_audiences

    paths = export_audiences(settings.warehouse_path(), settings.exports_dir())
    return {audience: str(path) for audience, path in paths.items()}
