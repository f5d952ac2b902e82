"""`tailor segments` over a small warehouse: sizes from the newest as_of, the change since
the as_of before, audiences never built, and masked samples."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from tailor import segments


def node(name: str, audience: dict) -> dict:
    return {
        "resource_type": "model",
        "name": name,
        "original_file_path": f"models/marts/segments/{name}.sql",
        "config": {"meta": {"audience": audience}},
    }


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "nodes": {
                    "model.tailor.seg_a": node(
                        "seg_a", {"tag": "A", "merge_fields": ["FNAME"], "priority_group": "j"}
                    ),
                    "model.tailor.seg_new": node("seg_new", {"tag": "New"}),
                }
            }
        )
    )
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "create table segment_runs (run_id varchar, as_of timestamp, recorded_at timestamp, "
            "audience varchar, model varchar, esp_tag varchar, priority_group varchar, "
            "segment_rows bigint, members bigint)"
        )
        con.execute(
            "insert into segment_runs values "
            "('r1', '2026-11-18', '2026-11-18 01:00', 'a', 'seg_a', 'A', 'j', 10, 8), "
            "('r2', '2026-11-19', '2026-11-19 01:00', 'a', 'seg_a', 'A', 'j', 12, 7), "
            # a backfill of an older day, written last, is not "the last run"
            "('r3', '2026-11-01', '2026-11-20 01:00', 'a', 'seg_a', 'A', 'j', 99, 99)"
        )
        con.execute(
            "create table audience_members (audience varchar, customer_id varchar, "
            "email varchar, reason varchar, merge_fields varchar)"
        )
        con.execute(
            "insert into audience_members values "
            "('a', 'c1', 'jane.doe@example.com', 'why', '{\"FNAME\": \"Jane\"}'), "
            "('a', 'c2', 'max@example.org', 'why', '{\"FNAME\": \"valued customer\"}')"
        )
    return warehouse, manifest


def test_list_compares_the_newest_as_of_with_the_one_before(project) -> None:
    warehouse, manifest = project
    by_name = {s.audience: s for s in segments.list_segments(warehouse, manifest)}
    a = by_name["a"]
    assert (a.segment_rows, a.members, a.members_change, a.segment_change) == (12, 7, -1, 2)
    assert a.as_of.isoformat() == "2026-11-19T00:00:00"
    new = by_name["new"]
    assert (new.segment_rows, new.members, new.as_of) == (None, None, None)
    text = segments.render_list(list(by_name.values()))
    assert "never built" in text and "j:0" in text and "-1" in text


def test_show_masks_emails_and_rejects_unknown_names(project) -> None:
    warehouse, manifest = project
    sample = segments.show_segment(warehouse, manifest, "seg_a", limit=1)
    assert (sample.audience, sample.members, len(sample.rows)) == ("a", 2, 1)
    text = segments.render_sample(sample)
    assert "j***@example.com" in text and "jane.doe" not in text
    assert "FNAME: Jane" in text and "and 1 more" in text
    with pytest.raises(LookupError, match="no segment 'b'; known: a, new"):
        segments.show_segment(warehouse, manifest, "b")
