"""The data-quality gate: runs the Great Expectations suites in `expectations/`.

Each table is read from DuckDB into DataFrames and validated with GX's pandas datasource
(see quality_validate.py for how memory stays bounded). Every result goes to the
`quality_runs` table, each table's metrics to `quality_metrics` (the next run's baseline),
and a report with GX data docs to `reports_dir()/<run>/index.html`. A failed critical
expectation raises QualityGateFailed, so the task fails and nothing downstream runs.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tailor import settings
from tailor.quality_pushdown import raised
from tailor.quality_suite import SuiteContext, TableSuite, as_table_suite
from tailor.redact import get_logger, redact

log = get_logger(__name__)

SAMPLE_SIZE = 5
MEMORY_LIMIT = "1GB"  # DuckDB's share while the gate runs; pandas frames stay bounded too
LAYERS = ("landing", "staging", "marts")


class QualityGateFailed(RuntimeError):
    def __init__(self, message: str, report: GateReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class ExpectationOutcome:
    suite: str
    expectation: str
    column: str | None
    critical: bool
    success: bool
    observed: str
    unexpected_count: int | None
    unexpected_sample: list[Any] = field(default_factory=list)
    layer: str = "marts"
    coverage: str = "all rows"
    table_rows: int | None = None

    def line(self) -> str:
        mark = "ok  " if self.success else ("FAIL" if self.critical else "warn")
        where = f"{self.suite}.{self.column}" if self.column else self.suite
        extra = (
            ""
            if self.success
            else f" unexpected={self.unexpected_count} rows={self.unexpected_sample}"
        )
        return redact(f"{mark} {where}: {self.expectation} observed={self.observed}{extra}")


@dataclass
class GateReport:
    run_id: str
    outcomes: list[ExpectationOutcome]
    report_path: Path | None = None
    quarantine: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(o.success for o in self.outcomes)

    @property
    def failed_critical(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if o.critical and not o.success]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.critical and not o.success]

    def counts(self) -> str:
        return (
            f"{self.passed} passed, {len(self.failed_critical)} critical failed, "
            f"{len(self.warnings)} warnings"
        )

    def summary(self) -> str:
        """The counts and where the report is: what the task log and the CLI print."""
        return self.counts() + (f"; report {self.report_path}" if self.report_path else "")


def load_suites(context: SuiteContext, directory: Path | None = None) -> dict[str, TableSuite]:
    """Table -> suite, from `suites.py`; its `suites()` may take the run's SuiteContext."""
    directory = directory or Path(
        os.environ.get("TAILOR_EXPECTATIONS_DIR", settings.PROJECT_ROOT / "expectations")
    )
    spec = importlib.util.spec_from_file_location(
        "tailor_expectation_suites", directory / "suites.py"
    )
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"no suites.py in {directory}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    wants_context = bool(inspect.signature(module.suites).parameters)
    raw = module.suites(context) if wants_context else module.suites()
    return {table: as_table_suite(value) for table, value in raw.items()}


def _column(kwargs: dict[str, Any]) -> str | None:
    if kwargs.get("column"):
        return kwargs["column"]
    if kwargs.get("column_list"):
        return ",".join(kwargs["column_list"])
    if kwargs.get("column_A"):
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    return None


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return redact(str(value)) if value is not None else None


def _outcome(check: Any, table: Any) -> ExpectationOutcome:
    result = check.result
    config = result.expectation_config
    details = result.result or {}
    column = _column(config.kwargs)
    observed = details.get("observed_value")
    if check.coverage == "metrics" and column in table.metrics:
        observed = table.metrics[column]
    elif check.coverage == "repeated keys":
        observed = f"{details.get('unexpected_count') or 0} rows share a key"
    elif observed is None and details.get("unexpected_percent") is not None:
        observed = f"{details['unexpected_percent']:.2f}% unexpected"
    error = raised(result.exception_info)
    if error and not result.success:
        observed = f"error: {error.splitlines()[0][:200]}"
    rows = details.get("partial_unexpected_index_list") or details.get("partial_unexpected_list")
    return ExpectationOutcome(
        suite=table.table,
        expectation=config.type,
        column=column,
        critical=check.critical,
        success=bool(result.success),
        observed=redact(str(observed)),
        unexpected_count=details.get("unexpected_count"),
        unexpected_sample=_masked(list(rows or [])[:SAMPLE_SIZE]),
        layer=table.layer,
        coverage=check.coverage,
        table_rows=table.row_count,
    )


def _unreadable(table: Any, suite: TableSuite) -> ExpectationOutcome:
    """A table a suite names but the warehouse lacks: critical if any of its checks is."""
    from tailor.quality_suite import is_critical

    every = [*suite.expectations, *suite.metric_expectations]
    return ExpectationOutcome(
        suite=table.table,
        expectation="table_is_readable",
        column=None,
        critical=any(is_critical(e.configuration) for e in every) or not every,
        success=False,
        observed=redact(str(table.error).splitlines()[0][:300]),
        unexpected_count=None,
        layer=table.layer,
        coverage="none",
    )


def register_udfs(con: Any) -> None:
    """Staging views call the normalisation functions dbt registers on its connections;
    reading them needs the same functions here."""
    try:
        from tailor.identity_normalise import register
    except ImportError:  # a project without them has no view that calls them
        return
    register(con)


def validate(
    warehouse: Path,
    suites: dict[str, TableSuite],
    full_read_rows: int = 500_000,
) -> tuple[list[ExpectationOutcome], list[Any]]:
    """Every suite's outcomes, and the per-table validations (for data docs and metrics)."""
    import duckdb

    from tailor.quality_validate import Validator

    validator = Validator(full_read_rows=full_read_rows)
    outcomes: list[ExpectationOutcome] = []
    tables = []
    # Before the first build there is no warehouse yet; landing suites read files only.
    target = str(warehouse) if warehouse.exists() else ":memory:"
    with duckdb.connect(target, read_only=target != ":memory:") as con:
        # A big table's columns are copied to a temp table; past this it spills to disk.
        spill = Path(tempfile.gettempdir()) / "tailor-gate-spill"
        con.execute(f"set memory_limit = '{MEMORY_LIMIT}'")
        con.execute("set enable_progress_bar = false")
        register_udfs(con)
        con.execute(f"set temp_directory = '{spill}'")
        for name, suite in suites.items():
            table = validator.validate_table(con, name, suite)
            tables.append(table)
            if table.error:
                outcomes.append(_unreadable(table, suite))
            outcomes += [_outcome(check, table) for check in table.checked]
    return outcomes, tables


def run_gate(
    run_id: str,
    as_of: datetime,
    warehouse: Path | None = None,
    layers: tuple[str, ...] = LAYERS,
    landing: Path | None = None,
    full_read_rows: int = 500_000,
    suites_dir: Path | None = None,
    only: set[str] | None = None,
) -> GateReport:
    """Validate the suites of the given layers, record and report them, and fail on a
    critical expectation. `as_of` is the run's data interval end: every "in the future"
    and "fresh" is relative to it. `only` restricts the run to some tables."""
    from tailor import quality_history, quality_report

    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    warehouse = warehouse or settings.warehouse_path()
    previous = quality_history.previous_metrics(warehouse, run_id, as_of)
    context = SuiteContext(
        as_of, landing or settings.landing_dir(), previous, quality_history.tables(warehouse)
    )
    suites = {
        t: s
        for t, s in load_suites(context, suites_dir).items()
        if s.layer in layers and (only is None or t in only)
    }
    outcomes, tables = validate(warehouse, suites, full_read_rows)
    report = GateReport(run_id, outcomes)
    if "landing" in layers:
        report.quarantine += quality_report.landing_quarantine_summary(context.landing, as_of)
    if "marts" in layers and warehouse.exists():
        report.quarantine += quality_report.quarantine_summary(warehouse)
    report.report_path = quality_report.write(run_id, as_of, layers, report, tables)
    quality_history.record(warehouse, run_id, as_of, layers, report, tables)
    for outcome in report.outcomes:
        (log.info if outcome.success else log.warning)("%s", outcome.line())
    log.info("quality gate (%s): %s", ", ".join(layers), report.summary())
    if report.failed_critical:
        raise QualityGateFailed(
            "critical expectations failed, nothing will be sent:\n"
            + "\n".join(o.line() for o in report.failed_critical)
            + f"\nreport: {report.report_path}",
            report,
        )
    return report
