"""The normalisation functions behind the staging UDFs, and the UDFs in real DuckDB."""

from __future__ import annotations

import random

import duckdb
import pytest
from tailor import identity_normalise as n


@pytest.mark.parametrize(
    ("raw", "country", "e164"),
    [
        ("(415) 555-0132", "US", "+14155550132"),
        ("415.555.0132", "US", "+14155550132"),
        ("14155550132", "US", "+14155550132"),
        ("+1 415 555 0132", "DE", "+14155550132"),
        ("0151 2345678", "DE", "+491512345678"),
        ("07911 123456", "GB", "+447911123456"),
        ("12", "US", None),
        ("call me", "US", None),
    ],
)
def test_phones_become_e164_with_the_records_country(raw: str, country: str, e164: str) -> None:
    assert n.phone_e164(raw, country) == e164


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("jane.doe@example.com", True),
        ("o'brien+news@mail.co.uk", True),
        ("jane@@example.com", False),
        ("jane.example.com", False),
        ("jane@localhost", False),
        ("jane doe@example.com", False),
        ("jane@example.com.", False),
        ("zoë@example.com", False),
    ],
)
def test_email_syntax(email: str, valid: bool) -> None:
    assert n.email_is_valid(email) is valid


def test_countries_regions_and_names_become_matching_keys() -> None:
    assert [n.country_code(c) for c in ("United States", "USA", "de", "Germany", "Atlantis")] == [
        "US", "US", "DE", "DE", None,
    ]  # fmt: skip
    assert n.region_code("California", "US") == "CA"
    assert n.region_code("on", "CA") == "ON"
    assert n.region_code("Yukon Territory", "CA") == "YT"
    assert n.region_code("Nowhere", "US") is None
    assert n.name_key("  Müller-Lüdenscheidt ") == "mullerludenscheidt"
    assert n.first_name_key("Bill") == n.first_name_key("WILLIAM") == "william"
    assert n.first_name_key("Bilal") == "bilal"


def test_udfs_run_vectorised_in_duckdb_with_nulls() -> None:
    with duckdb.connect() as con:
        n.register(con)
        n.register(con)  # again on the same connection: idempotent
        rows = con.sql(
            """
            select tailor_phone_e164(phone, country), tailor_email_is_valid(email),
                   tailor_first_name_key(name)
            from (values ('(415) 555-0132', 'US', 'a@b.co', 'Bob'),
                         (null, 'US', null, null),
                         ('0151 2345678', null, 'bad@', 'Éva')) t(phone, country, email, name)
            """
        ).fetchall()
    assert rows == [
        ("+14155550132", True, "robert"),
        (None, None, None),
        (None, False, "eva"),
    ]


def test_the_fast_email_check_agrees_with_the_full_one() -> None:
    rng = random.Random(3)
    alphabet = "abc.-_+@@..!#$%&'*/=?^`{|}~09 xyzé\"[]()\\"
    bases = ["jane.doe@example.com", "x@localhost", "y@foo.test", "s@[1.2.3.4]", "p@ex..com"]
    cases = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 25))) for _ in range(3000)}
    for base in bases:
        for _ in range(300):
            i = rng.randrange(len(base))
            cases.add(base[:i] + rng.choice(alphabet) + base[i + 1 :])
            cases.add(base[:i] + base[i + 1 :])
    cases.add("l" * 65 + "@example.com")
    assert any(n._full_check(c) for c in cases) and not all(n._full_check(c) for c in cases)
    assert [c for c in cases if n.email_is_valid(c) != n._full_check(c)] == []
