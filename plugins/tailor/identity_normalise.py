"""Normalisation that SQL cannot do well, with well-kept libraries, for DuckDB UDFs.

Each function takes and returns pyarrow arrays, so DuckDB calls it once per vector of
rows (2,048), not once per row. Values that repeat (countries, regions, first names) are
memoised; emails and phones are nearly unique, so they are parsed as they come.
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Callable
from functools import lru_cache

import email_validator
import phonenumbers
import pyarrow as pa
import pycountry
from email_validator.rfc_constants import EMAIL_MAX_LENGTH
from email_validator.syntax import validate_email_local_part

from tailor.identity_nicknames import NICKNAMES

# HubSpot and forms hold free text; these common spellings are not in ISO's names.
_COUNTRY_ALIASES = {
    "usa": "US",
    "u.s.": "US",
    "u.s.a.": "US",
    "united states of america": "US",
    "uk": "GB",
    "u.k.": "GB",
    "great britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "deutschland": "DE",
}


@lru_cache(maxsize=4096)
def country_code(text: str) -> str | None:
    """ISO 3166-1 alpha-2 code for a country name or code; None when unknown."""
    key = text.strip()
    if not key:
        return None
    alias = _COUNTRY_ALIASES.get(key.lower())
    if alias:
        return alias
    try:
        return pycountry.countries.lookup(key).alpha_2
    except LookupError:
        return None


@lru_cache(maxsize=1)
def _regions() -> dict[tuple[str, str], str]:
    """(country, lower-cased name or code) -> the subdivision code without its country."""
    table: dict[tuple[str, str], str] = {}
    for sub in pycountry.subdivisions:
        country, _, code = sub.code.partition("-")
        table[(country, code.lower())] = code
        table.setdefault((country, sub.name.lower()), code)
    return table


@lru_cache(maxsize=8192)
def region_code(text: str, country: str | None) -> str | None:
    """ISO 3166-2 subdivision code (without the country prefix) for a region's name or code."""
    key = text.strip().lower()
    if not key or not country:
        return None
    table = _regions()
    found = table.get((country.upper(), key))
    if found is None:  # "Yukon Territory", "State of New York": ISO says "Yukon", "New York"
        for affix in (" territory", " province", " state", "state of ", "province of "):
            found = found or table.get((country.upper(), key.replace(affix, "").strip()))
    return found


@lru_cache(maxsize=1 << 16)
def name_key(text: str) -> str | None:
    """A name for matching: case-folded, accents and punctuation removed."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    key = "".join(ch for ch in folded if ch.isalpha())
    return key or None


@lru_cache(maxsize=1 << 16)
def first_name_key(text: str) -> str | None:
    """The matching key of a first name, nicknames mapped to their formal name."""
    key = name_key(text)
    return NICKNAMES.get(key, key) if key else None


def email_is_valid(text: str) -> bool:
    """RFC syntax of an already normalised email; no DNS or network lookups.

    Internationalised local parts (SMTPUTF8) count as invalid: most ESPs cannot send to them.
    A plain address (ASCII, one @, no quotes or brackets) is checked in two parts, the
    domain memoised: the same verdict as the full check, in a tenth of the time.
    """
    local, at, domain = text.rpartition("@")
    if at and local and text.isascii() and not _SPECIAL.intersection(text):
        if len(text) > EMAIL_MAX_LENGTH:
            return False
        try:
            validate_email_local_part(local, allow_smtputf8=False)
        except email_validator.EmailNotValidError:
            return False
        return _domain_is_valid(domain)
    return _full_check(text)


_SPECIAL = frozenset('"[]()\\ ')


@lru_cache(maxsize=1 << 14)
def _domain_is_valid(domain: str) -> bool:
    return _full_check(f"a@{domain}")


def _full_check(text: str) -> bool:
    try:
        email_validator.validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except email_validator.EmailNotValidError:
        return False
    return True


def phone_e164(text: str, country: str | None) -> str | None:
    """The phone in E.164, read with the record's country; None when it cannot be a number.

    `is_possible_number` (length and shape) rather than `is_valid_number` (assigned ranges):
    a number typed into a form is still the person's key even when its range is unknown.
    """
    try:
        number = phonenumbers.parse(text, (country or "US").upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _map1(fn: Callable[[str], object], out: pa.DataType) -> Callable[[pa.Array], pa.Array]:
    def udf(values: pa.Array) -> pa.Array:
        return pa.array([None if v is None else fn(v) for v in values.to_pylist()], type=out)

    return udf


def _map2(
    fn: Callable[[str, str | None], object], out: pa.DataType
) -> Callable[[pa.Array, pa.Array], pa.Array]:
    def udf(values: pa.Array, countries: pa.Array) -> pa.Array:
        return pa.array(
            [
                None if v is None else fn(v, c)
                for v, c in zip(values.to_pylist(), countries.to_pylist(), strict=True)
            ],
            type=out,
        )

    return udf


# name -> (arrow function, argument count, DuckDB return type)
UDFS: dict[str, tuple[Callable[..., pa.Array], int, str]] = {
    "tailor_email_is_valid": (_map1(email_is_valid, pa.bool_()), 1, "BOOLEAN"),
    "tailor_phone_e164": (_map2(phone_e164, pa.string()), 2, "VARCHAR"),
    "tailor_country_code": (_map1(country_code, pa.string()), 1, "VARCHAR"),
    "tailor_region_code": (_map2(region_code, pa.string()), 2, "VARCHAR"),
    "tailor_name_key": (_map1(name_key, pa.string()), 1, "VARCHAR"),
    "tailor_first_name_key": (_map1(first_name_key, pa.string()), 1, "VARCHAR"),
}


def register(con) -> None:  # noqa: ANN001 - a duckdb.DuckDBPyConnection
    """Register every normalisation UDF on a DuckDB connection (idempotent)."""
    for name, (fn, arity, returns) in UDFS.items():
        with contextlib.suppress(Exception):  # not registered yet on this connection
            con.remove_function(name)
        con.create_function(
            name,
            fn,
            ["VARCHAR"] * arity,
            returns,
            type="arrow",
            null_handling="special",
            side_effects=False,
        )
