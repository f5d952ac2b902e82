"""`tailor backfill` runs intervals in order and, after a failure, resumes with the first
interval it did not finish."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tailor import backfill, cli

from sandbox import local
from sandbox.generate import generate
from sandbox.server import serve_in_thread

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)


def test_a_failed_backfill_resumes_where_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    generate(store, customers=300, seed=5, as_of=AS_OF)
    landing = tmp_path / "landing"
    monkeypatch.setenv("TAILOR_LANDING_DIR", str(landing))
    start, step = AS_OF - timedelta(days=4), timedelta(days=1)
    land = backfill.entity_interval("shopify", "orders")
    calls: list[datetime] = []

    def land_failing_on_the_third(lo: datetime, hi: datetime) -> dict:
        calls.append(lo)
        if lo == start + 2 * step:
            raise ConnectionError("the API went away")
        return land(lo, hi)

    with serve_in_thread(store) as server:
        for name, value in local.connection_env(server.url).items():
            monkeypatch.setenv(name, value)
        with pytest.raises(ConnectionError):
            backfill.run("shopify_orders", start, AS_OF, step, land_failing_on_the_third)
        state = backfill.state_path("shopify_orders", start, AS_OF, step)
        assert len(json.loads(state.read_text())["done"]) == 2
        argv = ["backfill", "shopify", "orders", "--from", start.isoformat()]
        assert cli.main([*argv, "--to", AS_OF.isoformat()]) == 0
        resumed = json.loads(capsys.readouterr().out)
    assert calls == [start, start + step, start + 2 * step]
    # Only the two unfinished intervals ran, in order.
    names = [Path(r["path"]).name for r in resumed]
    assert names == [
        "20261118T000000Z__20261119T000000Z.parquet",
        "20261119T000000Z__20261120T000000Z.parquet",
    ]
    files = sorted(p.name for p in (landing / "shopify" / "orders").glob("*.parquet"))
    assert len(files) == 4 and files[-2:] == names
    assert len(json.loads(state.read_text())["done"]) == 4
    # A finished backfill has nothing left to do.
    assert cli.main([*argv, "--to", AS_OF.isoformat()]) == 0
    assert json.loads(capsys.readouterr().out) == []
