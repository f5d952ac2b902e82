"""Identity resolution against the generator's ground truth, and ids that never churn."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from tailor import cli, identity

from sandbox.people import pairwise_scores

SECOND_RUN = datetime(2026, 11, 20, tzinfo=UTC)


def _ids(path: Path) -> dict[str, str]:
    rows = duckdb.sql(
        f"select source || ':' || source_record_id, customer_id from read_parquet('{path}')"
    ).fetchall()
    return dict(rows)


def test_accuracy_on_realistic_variation_meets_the_target(grown: dict) -> None:
    scores = pairwise_scores(
        grown["root"] / "second_out.parquet", grown["root"] / "all" / "truth.parquet"
    )
    assert scores["true_pairs"] > 500, "the data set must hold duplicates to find"
    assert scores["precision"] >= 0.995, scores
    assert scores["f1"] >= 0.99, scores


def test_existing_customer_ids_survive_a_run_that_grows_their_clusters(grown: dict) -> None:
    before = _ids(grown["root"] / "first_out.parquet")
    after = _ids(grown["root"] / "second_out.parquet")
    assert len(before) == grown["first_records"] and len(after) > len(before)
    # Clusters of the first run that the second run joined together keep one of their ids.
    merged: dict[str, set[str]] = {}
    for record, old in before.items():
        merged.setdefault(after[record], set()).add(old)
    changed = {r for r, old in before.items() if after[r] != old}
    for record in changed:
        assert after[record] in merged[after[record]] and len(merged[after[record]]) > 1
    assert len(changed) <= len(before) * 0.002, f"{len(changed)} records changed id"
    grew = {after[r] for r in after if r not in before} & set(before.values())
    assert grew, "some new records must have joined existing customers"
    brand_new = {after[r] for r in after if r not in before} - set(before.values())
    assert brand_new, "new people must get new ids"


@pytest.fixture(scope="module")
def household(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A family sharing an email, a phone and an address, in a CRM export's own columns."""
    root = tmp_path_factory.mktemp("household")
    (root / "export.csv").write_text(
        "Contact ID,Given,Family,E-mail,Tel,Street,ZIP\n"
        "1,Jane,Smith,smithfamily@gmail.com,(415) 555-0100,1 Main St,94110\n"
        "2,John,Smith,SmithFamily@gmail.com,415.555.0100,1 Main St,94110\n"
        "3,Jnae,Smith,jane.smith@work.com,+1 415 555 0100,1 Main St,94110\n"
        "4,William,Turner,test@example.com,,12 Oak Street,10001\n"
        "5,Ann,Lee,test@example.com,,9 Elm Road,60601\n"
        "6,Bill,Turner,bturner@mail.com,,12 Oak St.,10001\n"
        "7,,Smith,smithfamily@gmail.com,,,\n"
    )
    state = root / "state"
    argv = [
        "identity", "resolve", str(root / "export.csv"), str(root / "out.csv"),
        "--state", str(state), "--as-of", "2026-11-20T00:00:00Z",
        "--mapping", "source_record_id=Contact ID,first_name=Given,last_name=Family,"
        "email=E-mail,phone=Tel,address_line_1=Street,postal_code=ZIP",
    ]  # fmt: skip
    assert cli.main(argv) == 0
    rows = duckdb.sql(f"select source_record_id, customer_id from read_csv('{root / 'out.csv'}')")
    return {"state": state, "ids": {str(r): c for r, c in rows.fetchall()}}


def test_a_family_sharing_email_and_phone_stays_apart(household: dict) -> None:
    ids = household["ids"]
    assert ids["1"] == ids["3"], "Jane's typo record joins her by the household phone"
    assert ids["1"] != ids["2"], "Jane and John share an email and a phone, not an identity"
    assert ids["7"] not in (ids["1"], ids["2"]), "a nameless record on a family email is nobody's"


def test_placeholders_link_nobody_and_nicknames_link_by_address(household: dict) -> None:
    ids = household["ids"]
    assert ids["4"] != ids["5"], "test@example.com is a placeholder"
    assert ids["4"] == ids["6"], "Bill Turner at 12 Oak St is William Turner at 12 Oak Street"


def test_explain_shows_the_records_and_the_rule_of_each_link(
    household: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["identity", "explain", "3", "--state", str(household["state"])]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["customer_id"] == household["ids"]["3"]
    assert sorted(r["record"] for r in shown["records"]) == ["file:1", "file:3"]
    assert [link["rule"] for link in shown["links"]] == ["same_phone"]
    assert all("smithfamily@gmail.com" not in json.dumps(r) for r in shown["records"])


def test_a_file_without_record_ids_is_refused_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("email\na@b.co\n")
    with pytest.raises(identity.IdentityError, match="no record id column"):
        identity.resolve(tmp_path / "bad.csv", tmp_path / "out.csv")


def _table(state: Path, sql: str) -> set[tuple]:
    with duckdb.connect(str(state / "identity.duckdb"), read_only=True) as con:
        return set(con.sql(sql).fetchall())


def test_a_growing_run_resolves_only_the_new_records_and_their_neighbours(grown: dict) -> None:
    state = grown["state"]
    ((total,),) = _table(state, "select count(*) from int_identity__records")
    reasons = dict(_table(state, "select change, count(*) from int_identity__changes group by 1"))
    assert reasons["new"] == total - grown["first_records"]
    assert "full" not in reasons and sum(reasons.values()) < total * 0.6, reasons
    # Only the changes' clusters were labelled again; the rest keep the first run's stamp.
    stamps = dict(
        _table(state, "select last_resolved_at::date::varchar, count(*) "
               "from int_identity__customer_ids group by 1")
    )  # fmt: skip
    assert reasons["new"] <= stamps["2026-11-20"] < total * 0.7, stamps
    stale = _table(
        state,
        "select record_key from int_identity__changes inner join int_identity__customer_ids "
        "using (record_key) where last_resolved_at < timestamp '2026-11-20'",
    )
    assert not stale


@pytest.fixture(scope="module")
def refreshed(grown: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The grown state resolved again from nothing (--full-refresh), on the same records."""
    state = tmp_path_factory.mktemp("refreshed") / "state"
    shutil.copytree(grown["state"], state)
    identity.resolve(
        grown["root"] / "all" / "records.parquet", state.parent / "out.parquet",
        state_dir=state, as_of=SECOND_RUN, full_refresh=True,
    )  # fmt: skip
    return state


def test_incremental_links_and_clusters_equal_a_full_resolution(
    grown: dict, refreshed: Path
) -> None:
    links = "select left_record_key, right_record_key, rule, score from int_identity__links"
    clusters = "select record_key, cluster_key from int_identity__clusters"
    assert _table(refreshed, "select distinct change from int_identity__changes") == {("full",)}
    assert _table(grown["state"], links) == _table(refreshed, links)
    assert _table(grown["state"], clusters) == _table(refreshed, clusters)


def test_a_full_refresh_keeps_every_customer_id(grown: dict, refreshed: Path) -> None:
    ids = "select record_key, customer_id from int_identity__customer_ids"
    assert _table(grown["state"], ids) == _table(refreshed, ids)


def _resolve_csv(root: Path, rows: list[str], as_of: str) -> dict[str, str]:
    (root / "in.csv").write_text("id,first,last,email,phone,created\n" + "\n".join(rows) + "\n")
    argv = [
        "identity", "resolve", str(root / "in.csv"), str(root / "out.csv"),
        "--state", str(root / "state"), "--as-of", as_of,
        "--mapping", "source_record_id=id,first_name=first,last_name=last,created_at=created",
    ]  # fmt: skip
    assert cli.main(argv) == 0
    rows_out = duckdb.sql(f"select source_record_id, customer_id from read_csv('{root}/out.csv')")
    return {str(r): c for r, c in rows_out.fetchall()}


def test_two_existing_customers_that_merge_keep_the_older_id(tmp_path: Path) -> None:
    jane = "1,Jane,Smith,jane@x.com,,2021-01-01"
    bob = "9,Bob,Jones,bob@y.com,,2021-01-01"
    # Created earlier, but first seen a run later: a new id from its own (earliest) email.
    jane_at_work = "2,Jane,Smith,jane.smith@work.com,+1 415 555 0199,2019-01-01"
    first = _resolve_csv(tmp_path, [jane, bob], "2026-11-18T00:00:00Z")
    second = _resolve_csv(tmp_path, [jane, bob, jane_at_work], "2026-11-19T00:00:00Z")
    assert second["1"] == first["1"] and second["9"] == first["9"]
    assert second["2"] not in (second["1"], second["9"])
    # One record holding both Janes' identifiers joins their clusters.
    bridge = "3,Jane,Smith,jane@x.com,(415) 555-0199,2026-11-19"
    third = _resolve_csv(tmp_path, [jane, bob, jane_at_work, bridge], "2026-11-20T00:00:00Z")
    assert third["1"] == third["2"] == third["3"] == first["1"], "the older id wins"
    assert third["9"] == first["9"]
    stamps = _table(
        tmp_path / "state",
        "select record_key, last_resolved_at::date::varchar from int_identity__customer_ids",
    )
    assert ("file:9", "2026-11-18") in stamps, "Bob was not resolved again"
