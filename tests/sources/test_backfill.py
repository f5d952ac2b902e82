"""A backfill from the CLI lands each interval of a range in its own file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from tailor import cli
from tailor.sources.backfill import intervals

from sandbox import local
from sandbox.generate import generate
from sandbox.server import serve_in_thread

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)


def test_intervals_cover_the_range_without_gaps_or_overlap() -> None:
    parts = list(intervals(AS_OF - timedelta(hours=60), AS_OF, timedelta(days=1)))
    assert [hi - lo for lo, hi in parts] == [timedelta(days=1)] * 2 + [timedelta(hours=12)]
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:], strict=False))
    with pytest.raises(ValueError, match="empty range"):
        list(intervals(AS_OF, AS_OF, timedelta(days=1)))


def test_a_backfill_of_three_intervals_lands_three_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    generate(store, customers=400, seed=9, as_of=AS_OF)
    landing = tmp_path / "landing"
    monkeypatch.setenv("TAILOR_LANDING_DIR", str(landing))
    start = AS_OF - timedelta(days=3)
    with serve_in_thread(store) as server:
        for name, value in local.connection_env(server.url).items():
            monkeypatch.setenv(name, value)
        argv = ["backfill", "shopify", "orders", "--from", start.isoformat(), "--to"]
        assert cli.main([*argv, AS_OF.isoformat()]) == 0
        out = capsys.readouterr()
        assert "interval" in out.err  # the progress bar
        results = json.loads(out.out)
        whole = cli.main(
            [
                "extract",
                "shopify",
                "orders",
                "--start",
                start.isoformat(),
                "--end",
                AS_OF.isoformat(),
            ]
        )
        assert whole == 0
        whole_rows = json.loads(capsys.readouterr().out)["rows"]
    files = sorted((landing / "shopify" / "orders").glob("*.parquet"))
    daily = [Path(r["path"]) for r in results]
    assert len(daily) == 3 and set(daily) < set(files)
    assert daily[0].name.startswith("20261117T000000Z__20261118T000000Z")
    with duckdb.connect() as con:
        counts = [
            con.sql(f"select count(*) from read_parquet('{p}')").fetchall()[0][0] for p in daily
        ]
    assert counts == [r["rows"] for r in results] and sum(counts) == whole_rows > 0
