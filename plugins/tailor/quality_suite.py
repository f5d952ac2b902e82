"""What a suite is: the expectations on one table, its metrics, and the run they judge.

`expectations/suites.py` builds these; `quality.py` runs them. A suite holds two kinds of
expectation, both plain Great Expectations objects:

- row expectations, validated on the table's rows (read in chunks when the table is big);
- metric expectations, validated on one row of SQL aggregates over the whole table
  (`row_count` always, plus the suite's own `metrics`), which are also kept in
  `quality_metrics` so the next run can compare itself with this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CRITICAL = "critical"
WARNING = "warning"


def critical(expectation: Any) -> Any:
    """Its failure stops the run before anything is sent."""
    expectation.meta = {**(expectation.meta or {}), "severity": CRITICAL}
    return expectation


def warning(expectation: Any) -> Any:
    """Its failure is reported, and the run goes on."""
    expectation.meta = {**(expectation.meta or {}), "severity": WARNING}
    return expectation


def is_critical(expectation_config: Any) -> bool:
    return (expectation_config.meta or {}).get("severity") == CRITICAL


@dataclass
class TableSuite:
    """The expectations on one table (or any relation DuckDB can read).

    `key` names the columns that identify an offending row in the report; `metrics` are
    SQL aggregates over the whole relation (name -> expression), judged by
    `metric_expectations` on a one-row frame; `derived` adds computed columns (name -> SQL
    expression) to the rows the row expectations see.
    """

    expectations: list[Any] = field(default_factory=list)
    key: list[str] = field(default_factory=list)
    metrics: dict[str, str] = field(default_factory=dict)
    metric_expectations: list[Any] = field(default_factory=list)
    derived: dict[str, str] = field(default_factory=dict)
    relation: str | None = None
    layer: str = "marts"


@dataclass(frozen=True)
class SuiteContext:
    """What suites may depend on: the run's as_of (never the wall clock), where its landing
    files are, and the metrics of the last run that passed the gate."""

    as_of: datetime
    landing: Path
    previous: dict[tuple[str, str], float] = field(default_factory=dict)
    tables: frozenset[str] = frozenset()  # tables and views in the warehouse

    @property
    def as_of_naive(self) -> datetime:
        """as_of as the warehouse stores timestamps: naive UTC."""
        return self.as_of.astimezone(UTC).replace(tzinfo=None)

    def previous_metric(self, table: str, metric: str) -> float | None:
        return self.previous.get((table, metric))

    def landing_files(self, source: str, entity: str) -> str:
        """A relation over the landing file this run wrote for one source entity."""
        from tailor.sources.landing import stamp

        pattern = self.landing / source / entity / f"*__{stamp(self.as_of)}.parquet"
        return f"read_parquet('{pattern}', union_by_name = true)"


def as_table_suite(value: TableSuite | list[Any]) -> TableSuite:
    """A plain list of expectations is a marts suite of row expectations."""
    return value if isinstance(value, TableSuite) else TableSuite(expectations=list(value))
