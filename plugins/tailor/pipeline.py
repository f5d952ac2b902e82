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

    if start is None or end is None:
        # Airflow 3 gives a run triggered without a logical date no data interval.
        raise ValueError(
            "no data interval: trigger the run with a logical date "
            "(airflow dags trigger --logical-date ...), or pass --start and --end"
        )
    lo, hi = extract_window(start, end, full_refresh)
    return sources.extract(source, entity, lo, hi, landing_root or settings.landing_dir()).as_dict()


def build(as_of: datetime, select: str | None = None) -> dict[str, Any]:
    """`dbt build` for as_of: the whole project, or the `select`ed part of it."""
    from tailor import transform

    result = transform.build(as_of, select=select)
    if select and not result.models:
        raise transform.DbtFailed(f"dbt build --select {select!r} selected no model")
    return {
        "models": result.models,
        "tests": result.tests,
        "nodes": result.nodes,
        "built": result.built,
    }


def gate(
    run_id: str,
    as_of: datetime,
    layers: tuple[str, ...] = ("landing", "staging", "marts"),
    only: list[str] | None = None,
) -> dict[str, Any]:
    """The quality gate for the run ending at as_of (this run's landing files, staging and
    marts, or `only` those tables); raises QualityGateFailed on a failed critical
    expectation."""
    from tailor import quality

    report = quality.run_gate(
        run_id, as_of, layers=tuple(layers), only=set(only) if only is not None else None
    )
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

    manifest = settings.dbt_target_dir() / "manifest.json"
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
    if name == "klaviyo":
        from tailor.destinations.klaviyo import KlaviyoConfig, KlaviyoDestination

        return KlaviyoDestination(KlaviyoConfig.from_connection(get_connection("klaviyo")))
    raise ValueError(f"unknown destination {name!r}; known: {', '.join(DESTINATIONS)}")


DESTINATIONS = ("mailchimp", "klaviyo")


def sync_if_configured(destination_name: str, run_id: str, **options: Any) -> dict[str, Any]:
    """`sync`, or `{"skipped": why}` when the destination's connection is not configured
    (an account without Klaviyo runs the same DAG)."""
    from tailor.connections import MissingConnection, get_connection

    try:
        get_connection(destination_name)
    except MissingConnection as exc:
        return {"skipped": str(exc)}
    return sync(destination_name, run_id, **options)


def sync_mailchimp(run_id: str, dry_run: bool = False, **options: Any) -> dict[str, Any]:
    return sync("mailchimp", run_id, dry_run, **options)


def export_files() -> dict[str, str]:
    from tailor.destinations.files import export_audiences

    paths = export_audiences(settings.warehouse_path(), settings.exports_dir())
    return {audience: str(path) for audience, path in paths.items()}
