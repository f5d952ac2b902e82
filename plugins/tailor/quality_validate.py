"""Validates one TableSuite with Great Expectations on DataFrames read from DuckDB.

GX's SQL datasource fails on DuckDB here, so rows are read into pandas. Only the columns
the expectations name (plus the key) are read. A table up to `full_read_rows` is
validated whole. A bigger one is copied (those columns only) into a DuckDB temp table,
which spills to disk past the memory limit, and then every check stays exact over all
rows while pandas never holds more than a bounded frame:

- per-row expectations with a SQL equivalent: DuckDB counts the violations, GX validates
  the flagged rows plus a sample (quality_pushdown.py);
- other per-row expectations: GX validates the table chunk by chunk, counts added up;
- uniqueness: GX validates the rows whose key DuckDB finds repeated;
- a row count: GX sees a frame of the right length and no columns (no memory);
- a column's type, and any other whole-column expectation: GX validates a repeatable
  sample, and the outcome says "sample of N rows". Whole-table figures (freshness,
  shares, row counts against history) belong in `metrics`, computed by DuckDB.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from tailor.quality_pushdown import quote, raised, violation, with_exact_counts
from tailor.quality_suite import TableSuite, is_critical

UNIQUE_TYPES = {"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"}
ROW_COUNT_TYPES = {"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"}
TYPE_TYPES = {"expect_column_values_to_be_of_type", "expect_column_values_to_be_in_type_list"}
MAP_BASES = ("ColumnMapExpectation", "MulticolumnMapExpectation", "ColumnPairMapExpectation")
FLAGGED_ROWS = 20  # per expectation, for GX to confirm and the report to show
DUPLICATE_ROWS_LIMIT = 10_000
ROWS = "gate_rows"  # the temp table a big relation is copied into


@dataclass
class Checked:
    """One expectation's result over the table, and which rows GX saw to reach it."""

    result: Any  # ExpectationValidationResult
    coverage: str
    critical: bool


@dataclass
class TableValidation:
    table: str
    layer: str
    row_count: int | None
    metrics: dict[str, Any] = field(default_factory=dict)
    checked: list[Checked] = field(default_factory=list)
    error: str | None = None


def _columns_of(expectation: Any) -> list[str]:
    kwargs = expectation.configuration.kwargs
    names = [kwargs.get("column"), kwargs.get("column_A"), kwargs.get("column_B")]
    names += list(kwargs.get("column_list") or [])
    return [n for n in names if n]


def _is_map(expectation: Any) -> bool:
    return any(base.__name__ in MAP_BASES for base in type(expectation).__mro__)


def _identity(config: Any) -> str:
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}  # differs per batch
    return config.type + json.dumps(kwargs, sort_keys=True, default=str)


def _plain(value: Any) -> Any:
    import pandas as pd

    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value.item() if hasattr(value, "item") else value


def _vectorisable(frame: Any) -> Any:
    """GX compares int64, float64 and datetime64[ns] columns vectorised, anything else one
    Python object at a time (DuckDB hands pandas microsecond timestamps and narrow ints):
    widen them, so a range check on a million rows takes milliseconds, not seconds."""
    for name, dtype in frame.dtypes.items():
        if dtype.kind == "M" and getattr(dtype, "tz", None) is None:
            frame[name] = frame[name].astype("datetime64[ns]")
        elif dtype.kind in "iu":
            # A nullable integer column (pandas' Int*) cannot hold NA as int64: widen to float.
            column = frame[name]
            frame[name] = column.astype("float64" if column.isna().any() else "int64")
        elif dtype.kind == "f":
            frame[name] = frame[name].astype("float64")
    return frame


class Validator:
    """One ephemeral GX context for a gate run; validates suites on DataFrames."""

    def __init__(self, full_read_rows: int = 500_000, sample_rows: int = 50_000) -> None:
        import logging

        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.execution_engine import pandas_execution_engine

        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        # GX hashes every pandas batch below this size into a "fingerprint" batch marker,
        # which nothing here reads; on a big frame it costs more than the checks.
        pandas_execution_engine.HASH_THRESHOLD = 0
        self.gx = gx
        self.full_read_rows = full_read_rows
        self.sample_rows = sample_rows
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(
            globally=False, metric_calculations=False
        )
        self.source = self.context.data_sources.add_pandas("warehouse")
        self._assets = 0

    def _validate(self, name: str, frame: Any, expectations: list[Any], key: list[str]) -> list:
        self._assets += 1
        asset = f"{name}__{self._assets}"
        batch = (
            self.source.add_dataframe_asset(asset)
            .add_batch_definition_whole_dataframe(asset)
            .get_batch(batch_parameters={"dataframe": _vectorisable(frame)})
        )
        # An expectation belongs to one suite: each batch gets its own copies.
        suite = self.context.suites.add_or_update(
            self.gx.ExpectationSuite(name=asset, expectations=[copy.copy(e) for e in expectations])
        )
        result_format: dict[str, Any] = {"result_format": "SUMMARY"}
        usable_key = [k for k in key if k in frame.columns]
        if usable_key:
            result_format["unexpected_index_column_names"] = usable_key
        try:
            return list(batch.validate(suite, result_format=result_format).results)
        finally:
            # The context would keep every frame it was given: let each one go once judged.
            self.source.delete_asset(asset)
            self.context.suites.delete(asset)

    def _checked(self, results: list, coverage: str) -> list[Checked]:
        return [Checked(r, coverage, is_critical(r.expectation_config)) for r in results]

    def validate_table(self, con: Any, table: str, suite: TableSuite) -> TableValidation:
        relation = suite.relation or table
        try:
            available = {r[0] for r in con.sql(f"describe select * from {relation}").fetchall()}
            # The relation is computed once (it may be a view over JSON): the columns the
            # checks need go to a temp table that every later query reads.
            con.execute(
                f"create or replace temp table {ROWS} as {self._select(relation, suite, available)}"
            )
        except Exception as exc:  # noqa: BLE001 - a missing table is a finding, not a crash
            return TableValidation(table, suite.layer, None, error=f"cannot read {table}: {exc}")
        try:
            return self._validate_rows(con, table, suite, relation)
        finally:
            con.execute(f"drop table if exists {ROWS}")

    def _validate_rows(
        self, con: Any, table: str, suite: TableSuite, relation: str
    ) -> TableValidation:
        metrics = self._metrics(con, relation, suite)
        row_count = int(metrics["row_count"])
        out = TableValidation(table, suite.layer, row_count, metrics=metrics)
        if suite.metric_expectations:
            import pandas as pd

            results = self._validate(
                f"{table}_metrics", pd.DataFrame([metrics]), suite.metric_expectations, []
            )
            out.checked += self._checked(results, "metrics")
        if not suite.expectations:
            return out
        if row_count <= self.full_read_rows:
            frame = con.sql(f"select * from {ROWS}").df()
            out.checked += self._checked(
                self._validate(table, frame, suite.expectations, suite.key), "all rows"
            )
            return out
        out.checked += self._validate_big(con, table, suite, row_count)
        return out

    def _metrics(self, con: Any, relation: str, suite: TableSuite) -> dict[str, Any]:
        import duckdb

        parts = ["count(*) as row_count"] + [
            f"{expr} as {quote(name)}" for name, expr in suite.metrics.items()
        ]
        try:
            frame = con.sql(f"select {', '.join(parts)} from {ROWS}").df()
        except duckdb.BinderException:  # a metric on a column no check reads
            frame = con.sql(f"select {', '.join(parts)} from {relation}").df()
        return {k: _plain(v) for k, v in frame.iloc[0].to_dict().items()}

    def _select(self, relation: str, suite: TableSuite, available: set[str]) -> str:
        wanted: list[str] = []
        for name in [*suite.key, *(c for e in suite.expectations for c in _columns_of(e))]:
            if name not in wanted and name not in suite.derived:
                wanted.append(name)
        # A column the table lacks is left out: GX then fails that expectation by name.
        parts = [quote(c) for c in wanted if c in available]
        parts += [f"{expr} as {quote(name)}" for name, expr in suite.derived.items()]
        return f"select {', '.join(parts) or '1 as _'} from {relation}"

    def _validate_big(
        self, con: Any, table: str, suite: TableSuite, row_count: int
    ) -> list[Checked]:
        import pandas as pd

        pushed: dict[str, tuple[Any, str]] = {}
        unique, row_counts, chunked, sampled = [], [], [], []
        for e in suite.expectations:
            kind = e.configuration.type
            rule = violation(e)
            if kind in UNIQUE_TYPES:
                unique.append(e)
            elif kind in ROW_COUNT_TYPES:
                row_counts.append(e)
            elif rule is not None:
                pushed[_identity(e.configuration)] = (e, rule)
            elif _is_map(e) and kind not in TYPE_TYPES:
                chunked.append(e)
            else:
                sampled.append(e)
        sample = con.sql(
            f"select * from {ROWS} using sample reservoir({self.sample_rows} rows) repeatable (7)"
        ).df()
        checked: list[Checked] = []
        if pushed:
            checked += self._pushed(con, table, suite, pushed, sample)
        if chunked:
            checked += self._chunked(con, table, suite, chunked)
        for e in unique:
            cols = ", ".join(quote(c) for c in _columns_of(e))
            present = " and ".join(f"{quote(c)} is not null" for c in _columns_of(e))
            repeated = con.sql(
                f"""select * from {ROWS} where ({cols}) in (
                        select ({cols}) from {ROWS} where {present}
                        group by all having count(*) > 1)
                    limit {DUPLICATE_ROWS_LIMIT}"""
            ).df()
            checked += self._checked(
                self._validate(table, repeated, [e], suite.key), "repeated keys"
            )
        if row_counts:
            # No columns, a RangeIndex of the right length: the row count, at no cost.
            frame = pd.DataFrame(index=range(row_count))
            checked += self._checked(self._validate(table, frame, row_counts, []), "all rows")
        if sampled:
            results = self._validate(table, sample, sampled, suite.key)
            checked += self._checked(results, f"sample of {len(sample)} rows")
        return checked

    def _pushed(
        self, con: Any, table: str, suite: TableSuite, pushed: dict, sample: Any
    ) -> list[Checked]:
        import pandas as pd

        rules = list(pushed.values())
        parts = ["count(*)"]
        for e, rule in rules:
            parts += [f"count(*) filter (where {rule})", f"count({quote(_columns_of(e)[0])})"]
        counts = con.sql(f"select {', '.join(parts)} from {ROWS}").fetchall()[0]
        total = counts[0]
        flagged = [
            con.sql(f"select * from {ROWS} where {rule} limit {FLAGGED_ROWS}").df()
            for i, (_, rule) in enumerate(rules)
            if counts[1 + 2 * i]
        ]
        # Flagged rows first, so GX's sample of offending rows shows them.
        frame = pd.concat([*flagged, sample], ignore_index=True)
        results = self._validate(table, frame, [e for e, _ in rules], suite.key)
        position = {key: i for i, key in enumerate(pushed)}
        checked = []
        for r in results:
            i = position[_identity(r.expectation_config)]
            r = with_exact_counts(r, counts[1 + 2 * i], counts[2 + 2 * i], total)
            coverage = f"all rows (DuckDB); GX on {len(frame)} flagged and sampled rows"
            checked.append(Checked(r, coverage, is_critical(r.expectation_config)))
        return checked

    def _chunked(self, con: Any, table: str, suite: TableSuite, chunked: list) -> list[Checked]:
        merged: dict[str, Any] = {}
        # Read to the end: every batch is consumed, nothing is left open.
        for batch in con.sql(f"select * from {ROWS}").to_arrow_reader(self.full_read_rows):
            for r in self._validate(table, batch.to_pandas(), chunked, suite.key):
                key = _identity(r.expectation_config)
                merged[key] = _merge(merged[key], r) if key in merged else r
        return self._checked(list(merged.values()), "all rows, in chunks")


def _merge(a: Any, b: Any) -> Any:
    """Two chunks' results of one per-row expectation, as one result over both chunks."""
    for r in (a, b):
        if raised(r.exception_info):
            return r
    ra, rb = a.result or {}, b.result or {}
    merged = dict(ra)
    for k in ("partial_unexpected_list", "partial_unexpected_index_list"):
        if k in ra or k in rb:
            merged[k] = ((ra.get(k) or []) + (rb.get(k) or []))[:FLAGGED_ROWS]
    a.result = merged
    total = (ra.get("element_count") or 0) + (rb.get("element_count") or 0)
    missing = (ra.get("missing_count") or 0) + (rb.get("missing_count") or 0)
    unexpected = (ra.get("unexpected_count") or 0) + (rb.get("unexpected_count") or 0)
    a.success = True  # decided from the summed counts, as GX decides from a whole frame
    return with_exact_counts(a, unexpected, total - missing, total)
