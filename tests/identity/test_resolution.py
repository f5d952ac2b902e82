"""Identity resolution against the generator's ground truth, and ids that never churn."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from tailor import cli, identity

from sandbox.people import pairwise_scores


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
