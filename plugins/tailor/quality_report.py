"""What the gate shows a person: an HTML report per run (its outcomes, GX data docs per
table, and the records flagged for review in quarantine), and the text `tailor quality`
prints. Reports live under `settings.reports_dir()`, which git ignores."""

from __future__ import annotations

import html
import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from tailor import settings
from tailor.redact import redact

QUARANTINE_SAMPLE = 3
PARTIAL_KEYS = (
    "partial_unexpected_list",
    "partial_unexpected_index_list",
    "partial_unexpected_counts",
)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "run"


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value


def quarantine_summary(warehouse: Path) -> list[dict[str, Any]]:
    """Every `quarantine_*` table with a `reason`: rows per source and reason, with a few
    masked examples. Flagged for review, never dropped."""
    import duckdb

    summary: list[dict[str, Any]] = []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns: dict[str, set[str]] = {}
        for table, column in con.sql(
            "select table_name, column_name from duckdb_columns() "
            "where table_name like 'quarantine\\_%' escape '\\'"
        ).fetchall():
            columns.setdefault(table, set()).add(column)
        for table, cols in sorted(columns.items()):
            if "reason" not in cols:
                continue
            source = "source" if "source" in cols else "'-'"
            example = next(
                (c for c in ("source_record_id", "order_id", "id") if c in cols), "reason"
            )
            raw = "email_raw" if "email_raw" in cols else "null"
            for src, reason, count, examples in con.sql(
                f"""select {source}, reason, count(*),
                        list([{example}::varchar, {raw}::varchar] order by {example})
                            [1:{QUARANTINE_SAMPLE}]
                    from {table} group by all order by all"""
            ).fetchall():
                summary.append(
                    {
                        "table": table,
                        "source": src,
                        "reason": reason,
                        "rows": count,
                        "sample": [
                            {"record": e[0], "value": redact(e[1]) if e[1] else None}
                            for e in examples
                        ],
                    }
                )
    return summary


def landing_quarantine_summary(landing: Path, as_of: datetime) -> list[dict[str, Any]]:
    """Records this run's extracts set aside for breaking their source's contract
    (`_quarantine/<source>/<entity>/<interval>.jsonl` under the landing root)."""
    from tailor.sources.landing import stamp

    groups: dict[tuple[str, str], list[Any]] = {}
    for path in sorted(landing.glob(f"_quarantine/*/*/*__{stamp(as_of)}.jsonl")):
        source = f"{path.parent.parent.name}/{path.parent.name}"
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    row = json.loads(line)
                    groups.setdefault((source, str(row.get("reason"))), []).append(row.get("id"))
    return [
        {
            "table": "landing contracts",
            "source": source,
            "reason": reason,
            "rows": len(ids),
            "sample": [{"record": i, "value": None} for i in ids[:QUARANTINE_SAMPLE]],
        }
        for (source, reason), ids in sorted(groups.items())
    ]


def _data_docs(table: Any, run_id: str) -> str:
    """The GX data docs page of one table's validation (the renderer GX's sites use)."""
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    results = []
    for check in table.checked:
        r = check.result
        r.result = {k: (_mask(v) if k in PARTIAL_KEYS else v) for k, v in (r.result or {}).items()}
        results.append(r)
    ok = sum(bool(r.success) for r in results)
    suite_result = ExpectationSuiteValidationResult(
        success=all(r.success for r in results),
        results=results,
        suite_name=table.table,
        statistics={
            "evaluated_expectations": len(results),
            "successful_expectations": ok,
            "unsuccessful_expectations": len(results) - ok,
            "success_percent": 100 * ok / len(results) if results else 100.0,
        },
        meta={"run_id": run_id, "active_batch_definition": {"data_asset_name": table.table}},
    )
    document = ValidationResultsPageRenderer().render(suite_result)
    return DefaultJinjaPageView().render(document)


def _cell(value: Any) -> str:
    return html.escape(redact(str(value)) if value is not None else "")


def write(
    run_id: str, as_of: datetime, layers: tuple[str, ...], report: Any, tables: list[Any]
) -> Path:
    """`<reports>/<run>/<layers>/index.html` and one GX data docs page per table."""
    folder = settings.reports_dir() / _safe(run_id) / "-".join(layers)
    for table in tables:
        if table.checked:
            _atomic_write(folder / "gx" / f"{_safe(table.table)}.html", _data_docs(table, run_id))
    rows = "".join(
        f"<tr class='{'ok' if o.success else ('fail' if o.critical else 'warn')}'>"
        f"<td>{'ok' if o.success else ('FAIL' if o.critical else 'warn')}</td>"
        f"<td>{_cell(o.layer)}</td>"
        f"<td><a href='gx/{_safe(o.suite)}.html'>{_cell(o.suite)}</a></td>"
        f"<td>{_cell(o.expectation)}</td><td>{_cell(o.column)}</td>"
        f"<td>{'critical' if o.critical else 'warning'}</td><td>{_cell(o.observed)}</td>"
        f"<td>{_cell(o.unexpected_count)}</td>"
        f"<td><code>{_cell(json.dumps(o.unexpected_sample, default=str))}</code></td>"
        f"<td>{_cell(o.coverage)} of {_cell(o.table_rows)}</td></tr>"
        for o in sorted(report.outcomes, key=lambda o: (o.success, not o.critical))
    )
    quarantine = (
        "".join(
            f"<tr><td>{_cell(q['table'])}</td><td>{_cell(q['source'])}</td>"
            f"<td>{_cell(q['reason'])}</td><td>{q['rows']}</td>"
            f"<td><code>{_cell(json.dumps(q['sample']))}</code></td></tr>"
            for q in report.quarantine
        )
        or "<tr><td colspan='5'>nothing quarantined</td></tr>"
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>Tailor data quality: {_cell(run_id)}</title><style>
body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}}
tr.fail{{background:#fdd}} tr.warn{{background:#ffd}}</style></head><body>
<h1>Data quality, run {_cell(run_id)}</h1>
<p>as_of {_cell(as_of.isoformat())}; layers {_cell(", ".join(layers))};
<b>{_cell(report.counts())}</b></p>
<h2>Expectations</h2><table><tr><th></th><th>layer</th><th>table (GX data docs)</th>
<th>expectation</th><th>column</th><th>severity</th><th>observed</th><th>unexpected</th>
<th>offending rows (sample)</th><th>checked on</th></tr>{rows}</table>
<h2>Flagged for review (quarantine)</h2><table><tr><th>table</th><th>source</th>
<th>reason</th><th>rows</th><th>sample</th></tr>{quarantine}</table></body></html>"""
    index = folder / "index.html"
    _atomic_write(index, page)
    return index


def render_history(history: dict[str, Any]) -> str:
    """The last run's outcomes (failures first) and the trend of the last runs."""
    if not history["trend"]:
        return "No quality runs recorded yet."
    run_id, as_of, _, passed, critical, warnings, report = history["trend"][0]
    lines = [
        f"Last run {run_id} (as_of {as_of}): {passed} passed, {critical} critical "
        f"failed, {warnings} warnings",
        f"  report: {report}",
    ]
    for layer, suite, expectation, column, is_crit, ok, observed, count, sample, cov in history[
        "last"
    ]:
        mark = "ok  " if ok else ("FAIL" if is_crit else "warn")
        where = f"{suite}.{column}" if column else suite
        extra = "" if ok else f" unexpected={count} rows={sample}"
        lines.append(
            redact(f"  {mark} [{layer}] {where}: {expectation} observed={observed} ({cov}){extra}")
        )
    lines.append("Trend (newest first): run, as_of, passed/critical/warnings, row counts")
    for run, run_as_of, _, ok, crit, warn, _ in history["trend"]:
        counts = history.get("row_counts", {}).get(run, {})
        shown = ", ".join(
            f"{t}={int(v)}"
            for t, v in sorted(counts.items())
            if t in ("dim_customers", "fct_orders", "audience_members")
        )
        lines.append(f"  {run}  {run_as_of}  {ok}/{crit}/{warn}  {shown}")
    return "\n".join(lines)
