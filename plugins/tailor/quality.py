"""The data-quality gate: runs the Great Expectations suites in `expectations/` on the marts.

GX's SQL datasource does not work on DuckDB through duckdb-engine here, so each table is
read from DuckDB into a DataFrame and validated with GX's pandas datasource. Every result
goes to the `quality_runs` table; a failed critical expectation raises QualityGateFailed,
so the task fails and nothing downstream (the sync) runs.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tailor import settings
from tailor.redact import get_logger, redact

log = get_logger(__name__)

SAMPLE_SIZE = 5


class QualityGateFailed(RuntimeError):
    pass


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

    def line(self) -> str:
        mark = "ok  " if self.success else ("FAIL" if self.critical else "warn")
        where = f"{self.suite}.{self.column}" if self.column else self.suite
        extra = (
            ""
            if self.success
            else f" unexpected={self.unexpected_count} sample={self.unexpected_sample}"
        )
        return redact(f"{mark} {where}: {self.expectation} observed={self.observed}{extra}")


@dataclass
class GateReport:
    run_id: str
    outcomes: list[ExpectationOutcome]

    @property
    def passed(self) -> int:
        return sum(o.success for o in self.outcomes)

    @property
    def failed_critical(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if o.critical and not o.success]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.critical and not o.success]

    def summary(self) -> str:
        return (
            f"{self.passed} passed, {len(self.failed_critical)} critical failed, "
            f"{len(self.warnings)} warnings"
        )


def load_suites(directory: Path | None = None) -> dict[str, list[Any]]:
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
    return module.suites()


def _outcome(table: str, result: Any) -> ExpectationOutcome:
    config = result.expectation_config
    kwargs = config.kwargs
    details = result.result or {}
    observed = details.get("observed_value")
    if observed is None and "unexpected_percent" in details:
        observed = f"{details['unexpected_percent']:.2f}% unexpected"
    sample = details.get("partial_unexpected_list") or []
    return ExpectationOutcome(
        suite=table,
        expectation=config.type,
        column=kwargs.get("column")
        or (",".join(kwargs["column_list"]) if kwargs.get("column_list") else None),
        critical=(config.meta or {}).get("severity") == "critical",
        success=bool(result.success),
        observed=str(observed),
        unexpected_count=details.get("unexpected_count"),
        unexpected_sample=[str(v) for v in sample[:SAMPLE_SIZE]],
    )


def validate(warehouse: Path, suites: dict[str, list[Any]]) -> list[ExpectationOutcome]:
    import duckdb
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_pandas("warehouse")
    outcomes: list[ExpectationOutcome] = []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table, expectations in suites.items():
            frame = con.sql(f"select * from {table}").df()
            batch = (
                source.add_dataframe_asset(table)
                .add_batch_definition_whole_dataframe(table)
                .get_batch(batch_parameters={"dataframe": frame})
            )
            suite = context.suites.add_or_update(
                gx.ExpectationSuite(name=table, expectations=expectations)
            )
            results = batch.validate(suite, result_format="SUMMARY")
            outcomes += [_outcome(table, r) for r in results.results]
    return outcomes


def record(warehouse: Path, report: GateReport) -> None:
    import duckdb
    import pandas as pd

    checked_at = datetime.now(UTC).replace(tzinfo=None)
    frame = pd.DataFrame(
        [
            {
                "run_id": report.run_id,
                "checked_at": checked_at,
                "suite": o.suite,
                "expectation": o.expectation,
                "column_name": o.column,
                "is_critical": o.critical,
                "success": o.success,
                "observed_value": o.observed,
                "unexpected_count": o.unexpected_count,
                "unexpected_sample": json.dumps(o.unexpected_sample),
            }
            for o in report.outcomes
        ]
    )
    with duckdb.connect(str(warehouse)) as con:
        con.execute("""
            create table if not exists quality_runs (
                run_id varchar, checked_at timestamp, suite varchar, expectation varchar,
                column_name varchar, is_critical boolean, success boolean,
                observed_value varchar, unexpected_count bigint, unexpected_sample varchar)
        """)
        con.execute("delete from quality_runs where run_id = ?", [report.run_id])
        con.register("outcomes", frame)
        con.execute("insert into quality_runs by name select * from outcomes")


def run_gate(run_id: str, warehouse: Path | None = None) -> GateReport:
    """Validate every suite, record the results, and fail on a critical expectation."""
    warehouse = warehouse or settings.warehouse_path()
    report = GateReport(run_id, validate(warehouse, load_suites()))
    record(warehouse, report)
    for outcome in report.outcomes:
        (log.info if outcome.success else log.warning)("%s", outcome.line())
    log.info("quality gate: %s", report.summary())
    if report.failed_critical:
        raise QualityGateFailed(
            "critical expectations failed, nothing will be sent:\n"
            + "\n".join(o.line() for o in report.failed_critical)
        )
    return report
