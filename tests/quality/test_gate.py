"""The gate on a real warehouse (the dbt project built on generated data): break the data
one way at a time, and the critical expectation that catches it fails the gate, names
itself and shows the offending rows; a warning is reported and the run goes on."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from tailor import quality
from tailor.settings import HISTORY_START
from tailor.sources.landing import LandingWriter

from tests.quality.warehouse_helpers import AS_OF, build_warehouse, materialise


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_warehouse(tmp_path_factory.mktemp("built"))


@pytest.fixture
def warehouse(built: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TAILOR_REPORTS_DIR", str(tmp_path / "reports"))
    return Path(shutil.copy(built[0], tmp_path / "warehouse.duckdb"))


@pytest.fixture
def landing(built: tuple[Path, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(built[1], tmp_path / "landing"))


def sql(warehouse: Path, statement: str) -> list[tuple]:
    with duckdb.connect(str(warehouse)) as con:
        quality.register_udfs(con)
        if statement.lstrip().startswith(("select", "with")):
            return con.sql(statement).fetchall()
        con.execute(statement)
        return []


def gate(warehouse: Path, only: set[str], run_id: str = "run", days: int = 0, **kw):
    return quality.run_gate(run_id, AS_OF + timedelta(days=days), warehouse, only=only, **kw)


def assert_stopped(
    failure: pytest.ExceptionInfo,
    table: str,
    expectation: str,
    column: str | None,
    offending: str | None,
) -> None:
    """The gate failed on exactly this critical expectation, and shows the offending row."""
    report: quality.GateReport = failure.value.report
    hits = [
        o
        for o in report.failed_critical
        if (o.suite, o.expectation, o.column) == (table, expectation, column)
    ]
    assert hits, [o.line() for o in report.failed_critical]
    message = str(failure.value)
    assert expectation in message and table in message
    page = report.report_path.read_text()
    assert expectation in page
    if offending is not None:
        assert offending in str(hits[0].unexpected_sample), hits[0].line()
        assert offending in message and offending in page


@dataclass
class Case:
    table: str
    expectation: str
    column: str | None
    victim: str | None  # SQL for the key of the row that will be broken
    breaks: str  # SQL; {v} is the victim's key
    view: str | None = None  # a staging view to turn into a table first

    def __str__(self) -> str:
        return f"{self.table}.{self.column}.{self.expectation.removeprefix('expect_')}"


def _staging(table: str, key: str) -> list[Case]:
    victim = f"select min({key}) from {table}"
    base = dict(table=table, victim=victim, view=table)
    return [
        # a row without its key cannot be named by it: the report shows the count
        Case(
            table=table,
            view=table,
            victim=None,
            expectation="expect_column_values_to_not_be_null",
            column=key,
            breaks=f"update {table} set {key} = null where {key} = ({victim})",
        ),
        Case(
            **base,
            expectation="expect_column_values_to_be_unique",
            column=key,
            breaks=f"insert into {table} select * from {table} where {key} = '{{v}}'",
        ),
        Case(
            **base,
            expectation="expect_column_values_to_not_be_null",
            column="updated_at",
            breaks=f"update {table} set updated_at = null where {key} = '{{v}}'",
        ),
        Case(
            **base,
            expectation="expect_column_values_to_be_between",
            column="updated_at",
            breaks=f"update {table} set updated_at = timestamp '2026-11-21' where {key} = '{{v}}'",
        ),
        Case(
            **base,
            expectation="expect_column_values_to_be_between",
            column="created_at",
            breaks=f"update {table} set created_at = timestamp '2027-01-01' where {key} = '{{v}}'",
        ),
        Case(
            table=table,
            view=table,
            victim=None,
            expectation="expect_column_values_to_be_in_type_list",
            column="updated_at",
            breaks=f"alter table {table} alter updated_at type varchar",
        ),
    ]


def braces(text: str) -> str:
    """Literal braces in a template that str.format fills later."""
    return text.replace("{", "{{").replace("}", "}}")


def _landing(table: str, entity: str, patch: dict[str, str]) -> list[Case]:
    cases = [
        Case(
            table,
            "expect_column_values_to_not_be_null",
            column,
            "select min(id) from {f}",
            f"select * replace (case when id = '{{v}}' then null else {column} end "
            f"as {column}) from {{f}}",
        )
        for column in ("id", "updated_at")
    ]
    cases[0].victim = None  # a row without an id cannot be named; its count is shown
    cases += [
        Case(
            table,
            "expect_column_values_to_match_regex",
            column,
            "select min(id) from {f}",
            f"select * replace (case when id = '{{v}}' then json_merge_patch(payload, "
            f"'{braces(value)}') else payload end as payload) from {{f}}",
        )
        for column, value in patch.items()
    ]
    for case in cases:
        case.view = entity
    return cases


CASES = [
    # ---------- landing: this run's files
    *_landing(
        "landing_shopify__customers",
        "shopify/customers",
        {
            "created_at_text": '{"createdAt": "20/11/2026"}',
            "amount_spent_text": '{"amountSpent": {"amount": "12,50"}}',
        },
    ),
    *_landing(
        "landing_shopify__orders",
        "shopify/orders",
        {
            "created_at_text": '{"createdAt": "yesterday"}',
            "total_price_text": '{"totalPriceSet": {"shopMoney": {"amount": "USD 3"}}}',
        },
    ),
    *_landing(
        "landing_hubspot__contacts",
        "hubspot/contacts",
        {"created_at_text": '{"properties": {"createdate": "2026-13-45"}}'},
    ),
    # ---------- staging
    *_staging("stg_shopify__customers", "shopify_customer_id"),
    *_staging("stg_shopify__orders", "order_id"),
    *_staging("stg_hubspot__contacts", "hubspot_contact_id"),
    Case(
        "stg_shopify__customers",
        "expect_column_values_to_be_between",
        "number_of_orders",
        "select min(shopify_customer_id) from stg_shopify__customers",
        "update stg_shopify__customers set number_of_orders = -1 where shopify_customer_id = '{v}'",
        view="stg_shopify__customers",
    ),
    Case(
        "stg_shopify__customers",
        "expect_column_values_to_be_between",
        "amount_spent",
        "select min(shopify_customer_id) from stg_shopify__customers",
        "update stg_shopify__customers set amount_spent = -5 where shopify_customer_id = '{v}'",
        view="stg_shopify__customers",
    ),
    Case(
        "stg_shopify__customers",
        "expect_column_values_to_be_in_set",
        "email_marketing_state",
        "select min(shopify_customer_id) from stg_shopify__customers",
        "update stg_shopify__customers set email_marketing_state = 'maybe' "
        "where shopify_customer_id = '{v}'",
        view="stg_shopify__customers",
    ),
    Case(
        "stg_shopify__customers",
        "expect_column_values_to_match_regex",
        "email",
        "select shopify_customer_id from stg_shopify__customers limit 1",
        "update stg_shopify__customers set email = 'no-at-sign-' || shopify_customer_id "
        "where shopify_customer_id >= '{v}'",
        view="stg_shopify__customers",
    ),
    Case(
        "stg_hubspot__contacts",
        "expect_column_values_to_match_regex",
        "email",
        "select hubspot_contact_id from stg_hubspot__contacts limit 1",
        "update stg_hubspot__contacts set email = 'x@' || hubspot_contact_id "
        "where hubspot_contact_id >= '{v}'",
        view="stg_hubspot__contacts",
    ),
    Case(
        "stg_shopify__orders",
        "expect_column_values_to_not_be_null",
        "created_at",
        "select min(order_id) from stg_shopify__orders",
        "update stg_shopify__orders set created_at = null where order_id = '{v}'",
        view="stg_shopify__orders",
    ),
    Case(
        "stg_shopify__orders",
        "expect_column_values_to_be_between",
        "total_price",
        "select min(order_id) from stg_shopify__orders",
        "update stg_shopify__orders set total_price = -1 where order_id = '{v}'",
        view="stg_shopify__orders",
    ),
    Case(
        "stg_shopify__orders",
        "expect_column_values_to_be_in_set",
        "currency_code",
        "select min(order_id) from stg_shopify__orders",
        "update stg_shopify__orders set currency_code = 'XYZ' where order_id = '{v}'",
        view="stg_shopify__orders",
    ),
    # ---------- marts
    Case(
        "dim_customers",
        "expect_table_row_count_to_be_between",
        None,
        None,
        "delete from dim_customers",
    ),
    Case(
        "dim_customers",
        "expect_column_values_to_not_be_null",
        "customer_id",
        None,
        "update dim_customers set customer_id = null "
        "where email = (select min(email) from dim_customers)",
    ),
    *[
        Case(
            "dim_customers",
            expectation,
            column,
            "select min(customer_id) from dim_customers",
            breaks,
        )
        for expectation, column, breaks in [
            (
                "expect_column_values_to_be_unique",
                "customer_id",
                "insert into dim_customers select * from dim_customers where customer_id = '{v}'",
            ),
            (
                "expect_column_values_to_not_be_null",
                "email",
                "update dim_customers set email = null where customer_id = '{v}'",
            ),
            (
                "expect_column_values_to_match_regex",
                "email",
                "update dim_customers set email = 'a@@b' where customer_id = '{v}'",
            ),
            (
                "expect_column_values_to_be_in_set",
                "email_consent_state",
                "update dim_customers set email_consent_state = 'yes' where customer_id = '{v}'",
            ),
            (
                "expect_column_values_to_be_between",
                "orders_count",
                "update dim_customers set orders_count = -2 where customer_id = '{v}'",
            ),
            (
                "expect_column_values_to_be_between",
                "total_spent",
                "update dim_customers set total_spent = -0.01 where customer_id = '{v}'",
            ),
            (
                "expect_column_values_to_be_between",
                "source_count",
                "update dim_customers set source_count = 0 where customer_id = '{v}'",
            ),
        ]
    ],
    *[
        Case("fct_orders", expectation, column, "select min(order_id) from fct_orders", breaks)
        for expectation, column, breaks in [
            (
                "expect_column_values_to_be_unique",
                "order_id",
                "insert into fct_orders select * from fct_orders where order_id = '{v}'",
            ),
            (
                "expect_column_values_to_be_between",
                "total_price",
                "update fct_orders set total_price = -3 where order_id = '{v}'",
            ),
            (
                "expect_column_values_to_be_in_set",
                "currency_code",
                "update fct_orders set currency_code = 'usd' where order_id = '{v}'",
            ),
            (
                "expect_column_values_to_be_between",
                "created_at",
                "update fct_orders set created_at = timestamp '2026-11-20 00:00:01' "
                "where order_id = '{v}'",
            ),
        ]
    ],
    Case(
        "audience_members",
        "expect_table_row_count_to_be_between",
        None,
        None,
        "delete from audience_members",
    ),
    *[
        Case(
            "audience_members",
            expectation,
            column,
            "select min(customer_id) from audience_members",
            breaks,
        )
        for expectation, column, breaks in [
            (
                "expect_column_values_to_not_be_null",
                "email",
                "update audience_members set email = null where customer_id = '{v}'",
            ),
            (
                "expect_column_values_to_match_regex",
                "email",
                "update audience_members set email = 'b@@example' where customer_id = '{v}'",
            ),
            (
                "expect_column_values_to_be_in_set",
                "email_status",
                "update audience_members set email_status = 'cleaned' where customer_id = '{v}'",
            ),
            (
                "expect_column_values_to_be_in_set",
                "profile_consent_state",
                "update dim_customers set email_consent_state = 'unsubscribed' "
                "where customer_id = '{v}'",
            ),
            (
                "expect_compound_columns_to_be_unique",
                "audience,customer_id",
                "insert into audience_members select * from audience_members "
                "where customer_id = '{v}'",
            ),
        ]
    ],
    *[
        Case(
            "seg_frequent_buyers",
            expectation,
            column,
            "select min(customer_id) from seg_frequent_buyers",
            breaks,
        )
        for expectation, column, breaks in [
            (
                "expect_column_values_to_be_unique",
                "customer_id",
                "insert into seg_frequent_buyers select * from seg_frequent_buyers "
                "where customer_id = '{v}'",
            ),
            (
                "expect_column_values_to_be_in_set",
                "is_in_dim_customers",
                "delete from dim_customers where customer_id = '{v}'",
            ),
            (
                "expect_column_values_to_be_between",
                "orders_in_window",
                "update seg_frequent_buyers set orders_in_window = 0 where customer_id = '{v}'",
            ),
        ]
    ],
    Case(
        "seg_frequent_buyers",
        "expect_column_values_to_not_be_null",
        "customer_id",
        None,
        "update seg_frequent_buyers set customer_id = null "
        "where customer_id = (select min(customer_id) from seg_frequent_buyers)",
    ),
    Case(
        "fct_orders",
        "expect_column_values_to_not_be_null",
        "order_id",
        None,
        "update fct_orders set order_id = null "
        "where order_id = (select min(order_id) from fct_orders)",
    ),
]


def break_landing(landing: Path, case: Case) -> str | None:
    files = list((landing / case.view).glob("*.parquet"))
    assert len(files) == 1
    f = files[0]
    with duckdb.connect() as con:
        source = f"read_parquet('{f}')"
        victim = con.sql(case.victim.format(f=source)).fetchall()[0][0] if case.victim else None
        if victim is None:
            victim = con.sql(f"select min(id) from {source}").fetchall()[0][0]
        broken = f.with_name("broken.parquet.tmp")
        con.execute(
            f"copy ({case.breaks.format(v=victim, f=source)}) to '{broken}' (format parquet)"
        )
    broken.replace(f)
    return victim if case.victim else None


@pytest.mark.parametrize("case", CASES, ids=str)
def test_each_critical_expectation_stops_the_run_and_shows_the_rows(
    case: Case, warehouse: Path, landing: Path
) -> None:
    if case.table.startswith("landing_"):
        offending = break_landing(landing, case)
    else:
        if case.view:
            materialise(warehouse, case.view)
        offending = sql(warehouse, case.victim)[0][0] if case.victim else None
        sql(warehouse, case.breaks.format(v=offending))
    layers = quality.LAYERS
    with pytest.raises(quality.QualityGateFailed) as failure:
        gate(warehouse, {case.table}, layers=layers, landing=landing)
    assert_stopped(failure, case.table, case.expectation, case.column, offending)


def test_every_critical_row_expectation_has_a_case(warehouse: Path, landing: Path) -> None:
    """The cases above cover each critical expectation of every suite (row count bands,
    freshness and the share of merged profiles have their own tests below)."""
    from tailor import quality_history
    from tailor.quality_suite import SuiteContext, is_critical

    context = SuiteContext(AS_OF, landing, {}, quality_history.tables(warehouse))
    covered = {(c.table, c.expectation, c.column) for c in CASES}
    for table, suite in quality.load_suites(context).items():
        if table.startswith("seg_") and table != "seg_frequent_buyers":
            continue  # the same builder as seg_frequent_buyers
        for e in suite.expectations:
            if is_critical(e.configuration):
                key = (table, e.configuration.type, quality._column(e.configuration.kwargs))
                assert key in covered, key


def test_a_clean_warehouse_passes_and_is_recorded(warehouse: Path, landing: Path) -> None:
    # a record without an id, set aside by the landing writer, is reported too
    with LandingWriter(landing, "hubspot", "deals", HISTORY_START, AS_OF, "updatedAt") as w:
        w.write_page([{"updatedAt": "2026-11-19T00:00:00Z", "dealname": "no id"}])
    sql(warehouse, "delete from quarantine_customer_records")
    sql(
        warehouse,
        "insert into quarantine_customer_records by name select 'shopify' as source, "
        "'gid://shopify/Customer/1' as source_record_id, 'jane@@example' as email_raw, "
        "'invalid email' as reason",
    )
    report = quality.run_gate("run-1", AS_OF, warehouse, layers=quality.LAYERS, landing=landing)
    assert report.failed_critical == [] and report.passed == len(report.outcomes)
    assert {o.layer for o in report.outcomes} == {"landing", "staging", "marts"}
    rows = sql(warehouse, "select count(*), bool_and(success) from quality_runs")
    assert rows == [(len(report.outcomes), True)]
    # the report links every table's GX data docs page, and they exist
    page = report.report_path.read_text()
    for table in {o.suite for o in report.outcomes}:
        assert f"gx/{table}.html" in page
        assert (report.report_path.parent / "gx" / f"{table}.html").exists()
    # the invalid email the generator planted is flagged for review, masked
    assert [(q["source"], q["rows"]) for q in report.quarantine] == [
        ("hubspot/deals", 1),
        ("shopify", 1),
    ]
    assert report.quarantine[1]["reason"] == "invalid email"
    assert report.quarantine[1]["sample"] == [
        {"record": "gid://shopify/Customer/1", "value": "jane@@example"}
    ]
    assert "invalid email" in page


def test_a_warning_does_not_stop_the_run(warehouse: Path) -> None:
    sql(warehouse, "update audience_members set first_name = null")
    sql(
        warehouse,
        "update dim_customers set crm_lifecycle_stage = 'partner' "
        "where customer_id = (select min(customer_id) from dim_customers)",
    )
    report = gate(warehouse, {"audience_members", "dim_customers"})
    assert report.failed_critical == []
    assert sorted((w.suite, w.column) for w in report.warnings) == [
        ("audience_members", "first_name"),
        ("dim_customers", "crm_lifecycle_stage"),
    ]
    assert "partner" in str(
        report.warnings[1].unexpected_sample + report.warnings[0].unexpected_sample
    )


@pytest.mark.parametrize(
    "table",
    [
        "stg_shopify__customers",
        "stg_shopify__orders",
        "stg_hubspot__contacts",
        "dim_customers",
        "fct_orders",
    ],
)
def test_a_90_percent_row_count_drop_stops_the_run(table: str, warehouse: Path) -> None:
    gate(warehouse, {table}, run_id="day-1")
    if table.startswith("stg_"):
        materialise(warehouse, table)
    sql(warehouse, f"delete from {table} where random() < 0.9")
    with pytest.raises(quality.QualityGateFailed) as failure:
        gate(warehouse, {table}, run_id="day-2", days=1)
    assert_stopped(failure, table, "expect_column_values_to_be_between", "row_count", None)
    # the failed run does not become the baseline: the next run still compares with day 1
    with pytest.raises(quality.QualityGateFailed):
        gate(warehouse, {table}, run_id="day-3", days=2)


def test_a_stale_source_stops_the_run(warehouse: Path) -> None:
    materialise(warehouse, "stg_shopify__orders")
    sql(warehouse, "update stg_shopify__orders set updated_at = updated_at - interval 60 day")
    with pytest.raises(quality.QualityGateFailed) as failure:
        gate(warehouse, {"stg_shopify__orders"})
    assert_stopped(
        failure,
        "stg_shopify__orders",
        "expect_column_values_to_be_between",
        "newest_updated_at",
        None,
    )


def test_a_jump_in_merged_profiles_stops_the_run(warehouse: Path) -> None:
    gate(warehouse, {"dim_customers"}, run_id="day-1")
    sql(warehouse, "update dim_customers set source_count = 2")
    with pytest.raises(quality.QualityGateFailed) as failure:
        gate(warehouse, {"dim_customers"}, run_id="day-2", days=1)
    assert_stopped(
        failure, "dim_customers", "expect_column_values_to_be_between", "multi_source_share", None
    )


BIG_TABLE_SUITE = """
import great_expectations.expectations as gxe
from tailor.quality_suite import TableSuite, critical, warning


def suites():
    return {"fct_orders": TableSuite(key=["order_id"], expectations=[
        critical(gxe.ExpectColumnValuesToBeUnique(column="order_id")),
        critical(gxe.ExpectColumnValuesToBeBetween(column="total_price", min_value=0)),
        critical(gxe.ExpectColumnValuesToBeInSet(column="currency_code", value_set=["USD"])),
        warning(gxe.ExpectColumnValuesToNotBeNull(column="customer_id", mostly=0.5)),
        critical(gxe.ExpectColumnValueLengthsToEqual(column="currency_code", value=3)),
        critical(gxe.ExpectColumnValuesToMatchRegex(column="order_id", regex="^gid://")),
        critical(gxe.ExpectColumnValuesToBeInTypeList(
            column="created_at", type_list=["datetime64[ns]"])),
        critical(gxe.ExpectTableRowCountToBeBetween(min_value=1)),
    ])}
"""


def test_a_big_table_is_judged_exactly_as_a_whole_read_judges_it(
    warehouse: Path, tmp_path: Path
) -> None:
    """Above full_read_rows the gate reads in chunks, pushes counts to DuckDB and checks
    uniqueness on repeated keys: the outcomes must be the same as reading everything."""
    suites_dir = tmp_path / "suites"
    suites_dir.mkdir()
    (suites_dir / "suites.py").write_text(BIG_TABLE_SUITE)
    sql(warehouse, "update fct_orders set total_price = -1 where order_id like '%1'")
    sql(warehouse, "insert into fct_orders select * from fct_orders where order_id like '%2'")
    sql(warehouse, "update fct_orders set currency_code = 'US' where order_id like '%3'")
    sql(warehouse, "update fct_orders set order_id = 'x' || order_id where order_id like '%45'")
    found, coverage = {}, {}
    for full_read_rows in (10**6, 97):
        with pytest.raises(quality.QualityGateFailed) as failure:
            quality.run_gate(
                f"rows-{full_read_rows}",
                AS_OF,
                warehouse,
                full_read_rows=full_read_rows,
                suites_dir=suites_dir,
            )
        outcomes = failure.value.report.outcomes
        found[full_read_rows] = sorted(
            (o.expectation, o.column, o.success, o.unexpected_count) for o in outcomes
        )
        coverage[full_read_rows] = {o.coverage.split(";")[0] for o in outcomes}
    assert found[97] == found[10**6]
    failed = {(e, c) for e, c, ok, _ in found[97] if not ok}
    assert failed == {
        ("expect_column_values_to_be_unique", "order_id"),
        ("expect_column_values_to_be_between", "total_price"),
        ("expect_column_values_to_be_in_set", "currency_code"),
        ("expect_column_value_lengths_to_equal", "currency_code"),
        ("expect_column_values_to_match_regex", "order_id"),
    }
    assert coverage[10**6] == {"all rows"}
    assert {"all rows (DuckDB)", "all rows, in chunks", "repeated keys"} <= coverage[97]
    assert any(c.startswith("sample of") for c in coverage[97])


def test_a_table_the_warehouse_lacks_is_a_critical_finding(warehouse: Path) -> None:
    sql(warehouse, "drop table fct_orders")
    with pytest.raises(quality.QualityGateFailed, match="table_is_readable"):
        gate(warehouse, {"fct_orders"})


def test_tailor_quality_prints_the_last_run_and_the_trend(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from tailor import cli

    monkeypatch.setenv("TAILOR_WAREHOUSE", str(warehouse))
    gate(warehouse, {"dim_customers", "audience_members"}, run_id="day-1")
    sql(
        warehouse,
        "update audience_members set email = 'b@@example' "
        "where customer_id = (select min(customer_id) from audience_members)",
    )
    with pytest.raises(quality.QualityGateFailed):
        gate(warehouse, {"dim_customers", "audience_members"}, run_id="day-2", days=1)
    assert cli.main(["quality"]) == 0
    out = capsys.readouterr().out
    assert "Last run day-2" in out
    assert "FAIL [marts] audience_members.email: expect_column_values_to_match_regex" in out
    assert "b@@example" in out
    trend = out.split("Trend")[1]
    assert trend.index("day-2") < trend.index("day-1")
    assert "dim_customers=" in trend


def test_a_column_the_table_lacks_is_a_critical_finding(warehouse: Path, tmp_path: Path) -> None:
    suites_dir = tmp_path / "suites"
    suites_dir.mkdir()
    (suites_dir / "suites.py").write_text(
        "import great_expectations.expectations as gxe\n"
        "from tailor.quality_suite import critical\n\n\n"
        "def suites():\n"
        "    return {'dim_customers': [critical(gxe.ExpectColumnValuesToNotBeNull("
        "column='rfm_score'))]}\n"
    )
    with pytest.raises(quality.QualityGateFailed, match='column "rfm_score" .* does not exist'):
        quality.run_gate("run", AS_OF, warehouse, suites_dir=suites_dir)
