"""DuckDB finds the candidates, GX judges them: per-row expectations on big tables.

For the per-row expectations whose rule has a plain SQL equivalent (not null, between, in
set, regex), one DuckDB scan counts the violating rows of the whole table exactly; GX
then validates the flagged rows plus a repeatable sample. The outcome carries DuckDB's
exact counts and GX's verdict on the rows it saw: it fails if either finds a violation,
and its offending rows are the ones GX confirmed. Anything else is validated by GX chunk
by chunk (see quality_validate.py).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str | None:
    """A Python value as a SQL literal, or None when there is no faithful one."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, datetime):
        return f"timestamp '{value.replace(tzinfo=None).isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"date '{value.isoformat()}'"
    return None


def violation(expectation: Any) -> str | None:
    """SQL true for a row that breaks the expectation, or None if it has no equivalent.

    Like GX, a missing value is not a violation except for not-null."""
    kind = expectation.configuration.type
    kwargs = expectation.configuration.kwargs
    column = kwargs.get("column")
    if not column or kwargs.get("row_condition"):
        return None
    c = quote(column)
    if kind == "expect_column_values_to_not_be_null":
        return f"{c} is null"
    if kind == "expect_column_values_to_be_between":
        bounds = []
        for key, op, strict_op, strict in (
            ("min_value", "<", "<=", kwargs.get("strict_min")),
            ("max_value", ">", ">=", kwargs.get("strict_max")),
        ):
            if kwargs.get(key) is None:
                continue
            value = literal(kwargs[key])
            if value is None:
                return None
            bounds.append(f"{c} {strict_op if strict else op} {value}")
        return f"{c} is not null and ({' or '.join(bounds)})" if bounds else None
    if kind == "expect_column_values_to_be_in_set":
        values = [literal(v) for v in kwargs.get("value_set") or []]
        if not values or any(v is None for v in values):
            return None
        return f"{c} is not null and {c} not in ({', '.join(values)})"  # type: ignore[arg-type]
    if kind == "expect_column_values_to_match_regex":
        return f"{c} is not null and not regexp_matches({c}::varchar, {literal(kwargs['regex'])})"
    return None


def raised(exception_info: Any) -> str | None:
    """The message of an exception GX caught while validating (e.g. a missing column).

    GX reports it either flat or keyed by the metric that raised it."""
    if not isinstance(exception_info, dict):
        return None
    if exception_info.get("raised_exception") or exception_info.get("exception_message"):
        return str(exception_info.get("exception_message") or "exception")
    for value in exception_info.values():
        message = raised(value)
        if message:
            return message
    return None


def with_exact_counts(result: Any, unexpected: int, nonmissing: int, total: int) -> Any:
    """GX's result on the flagged and sampled rows, with the whole table's counts."""
    config = result.expectation_config
    not_null = config.type == "expect_column_values_to_not_be_null"
    denominator = total if not_null else nonmissing
    share = unexpected / denominator if denominator else 0.0
    mostly = config.kwargs.get("mostly") or 1.0
    details = dict(result.result or {})
    details.update(
        element_count=total,
        unexpected_count=unexpected,
        missing_count=0 if not_null else total - nonmissing,
        unexpected_percent=100 * share,
        unexpected_percent_total=100 * unexpected / total if total else 0.0,
    )
    failed_to_run = raised(result.exception_info) is not None
    exact_ok = (1 - share) >= mostly - 1e-12
    # Without `mostly`, a violation GX sees that the SQL rule missed still counts.
    gx_ok = bool(result.success) if mostly >= 1.0 else True
    result.result = details
    result.success = exact_ok and gx_ok and not failed_to_run
    return result
