"""The gate on a real warehouse: corrupt it, and the critical expectation that catches it
fails the gate, names itself and shows the offending rows."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from tailor import quality


def make_warehouse(path: Path) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("""
            create table dim_customers as select * from (values
                ('cus_1', 'a@example.com', 'subscribed', 2),
                ('cus_2', 'b@example.com', 'not_subscribed', 0)
            ) t(customer_id, email, email_consent_state, orders_count)
        """)
        con.execute("""
            create table audience_members as select * from (values
                ('recent_purchasers', 'cus_1', 'a@example.com', 'subscribed', 'Ann')
            ) t(audience, customer_id, email, email_status, first_name)
        """)
    return path


def test_a_clean_warehouse_passes_and_is_recorded(tmp_path: Path) -> None:
    warehouse = make_warehouse(tmp_path / "w.duckdb")
    report = quality.run_gate("run-1", warehouse)
    assert report.failed_critical == [] and report.passed == len(report.outcomes)
    with duckdb.connect(str(warehouse)) as con:
        rows = con.sql("select count(*), bool_and(success) from quality_runs").fetchall()
    assert rows == [(len(report.outcomes), True)]


def test_duplicate_customer_ids_fail_the_gate(tmp_path: Path) -> None:
    warehouse = make_warehouse(tmp_path / "w.duckdb")
    with duckdb.connect(str(warehouse)) as con:
        con.execute("insert into dim_customers values ('cus_1', 'c@example.com', 'subscribed', 1)")
    with pytest.raises(quality.QualityGateFailed) as failure:
        quality.run_gate("run-2", warehouse)
    assert "expect_column_values_to_be_unique" in str(failure.value)
    assert "cus_1" in str(failure.value)
    with duckdb.connect(str(warehouse)) as con:
        rows = con.sql("""select unexpected_sample from quality_runs
                          where not success and is_critical""").fetchall()
    assert rows and "cus_1" in rows[0][0]


def test_an_invalid_audience_email_fails_the_gate(tmp_path: Path) -> None:
    warehouse = make_warehouse(tmp_path / "w.duckdb")
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "insert into audience_members values "
            "('recent_purchasers', 'cus_2', 'b@@example', 'subscribed', 'Bo')"
        )
    with pytest.raises(quality.QualityGateFailed, match="expect_column_values_to_match_regex"):
        quality.run_gate("run-3", warehouse)


def test_a_warning_does_not_stop_the_run(tmp_path: Path) -> None:
    warehouse = make_warehouse(tmp_path / "w.duckdb")
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update audience_members set first_name = null")
    report = quality.run_gate("run-4", warehouse)
    assert report.failed_critical == []
    assert [w.expectation for w in report.warnings] == ["expect_column_values_to_not_be_null"]
