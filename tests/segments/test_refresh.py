"""audience_members is rebuilt after every dbt invocation that builds a segment, so it
is current even when each model runs in its own invocation (the DAG's per-model tasks)."""

from __future__ import annotations

from pathlib import Path

import duckdb
from segment_helpers import AS_OFS, dbt, rows


def test_building_one_segment_alone_refreshes_audience_members(
    store: dict, warehouse_copy: Path
) -> None:
    members = "select audience, customer_id from audience_members order by 1, 2"
    before = rows(warehouse_copy, members)
    with duckdb.connect(str(warehouse_copy)) as con:
        con.execute("delete from audience_members")  # stale, as if built before the segments
    dbt(store, "run", AS_OFS[0], warehouse_copy, select="seg_frequent_buyers")
    after = rows(warehouse_copy, members)
    assert after == before and after
