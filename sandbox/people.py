"""Person records with known identities, for measuring identity resolution.

    python -m sandbox.people --people 10000 --seed 3 --out DIR

writes ``DIR/records.parquet`` (one row per record, the columns a store or CRM export
has: ``source, source_record_id, first_name, last_name, email, phone, address_line_1,
city, postal_code, country, created_at``) and ``DIR/truth.parquet`` (``source,
source_record_id, person_id``).

Every person has a store record, a CRM record or both, and sometimes a second store
account. Copies of a person differ the way real ones do: email case and spaces, another
email (work address), a typo in an email, name typos, nicknames (Bill/William), first and
last name swapped, missing fields, another phone format, a move to a new address.
Households share a surname, an address and a home phone, and some share one family email,
yet they are different people: a resolver must not merge them.

``split_for_growth(records, truth, ...)`` holds back some people's later records and some
whole people, for testing that ids stay stable when clusters grow. Deterministic: one
seeded ``random.Random``, and name pools from Faker's fixed lists (no Faker randomness).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from faker.providers.address.en_US import Provider as AddressProvider
from faker.providers.person.en_US import Provider as PersonProvider
from tailor.identity_nicknames import NICKNAME_GROUPS

EPOCH = datetime(2023, 11, 20, tzinfo=UTC)
DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "proton.me"]
WORK_DOMAINS = ["acme.com", "globex.com", "initech.com", "umbrella.com", "hooli.com"]
FIRST_NAMES = sorted(set(PersonProvider.first_names))
LAST_NAMES = sorted(set(PersonProvider.last_names))
STREET_SUFFIXES = sorted(set(AddressProvider.street_suffixes))
NICKNAMES = {formal: list(variants) for formal, variants in NICKNAME_GROUPS.items()}
COLUMNS = [
    "source",
    "source_record_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "address_line_1",
    "city",
    "postal_code",
    "country",
    "created_at",
]


@dataclass
class Person:
    person_id: str
    first: str
    last: str
    email: str
    phone: str | None  # E.164
    address: str
    city: str
    postal_code: str
    created: datetime


@dataclass
class Variation:
    """Shares of records (or people) that get each variation; the defaults are realistic."""

    in_store: float = 0.85  # the rest are CRM-only
    in_crm_if_store: float = 0.35
    second_store_account: float = 0.03
    household: float = 0.06  # people who live with another person of the data set
    family_email: float = 0.5  # households whose members use one email
    other_email: float = 0.12
    email_typo: float = 0.02
    email_missing: float = 0.04
    name_typo: float = 0.10
    nickname: float = 0.08
    swapped_names: float = 0.02
    first_name_missing: float = 0.03
    phone_missing: float = 0.15
    moved: float = 0.08
    address_missing: float = 0.05


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _nanp(rng: random.Random) -> str:
    return f"+1{rng.randint(201, 989)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"


def _formatted(rng: random.Random, e164: str) -> str:
    d = e164[2:]
    return rng.choice(
        [e164, f"({d[:3]}) {d[3:6]}-{d[6:]}", f"{d[:3]}.{d[3:6]}.{d[6:]}", f"1{d}", d]
    )


def _typo(rng: random.Random, text: str) -> str:
    """One edit that keeps the first letter: substitute, drop, double or swap."""
    if len(text) < 3:
        return text + text[-1]
    i = rng.randint(1, len(text) - 2)
    kind = rng.randrange(4)
    if kind == 0:
        return text[:i] + rng.choice("aeiounrst") + text[i + 1 :]
    if kind == 1:
        return text[:i] + text[i + 1 :]
    if kind == 2:
        return text[:i] + text[i] + text[i:]
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def _nickname(rng: random.Random, first: str) -> str:
    variants = NICKNAMES.get(first.lower())
    return rng.choice(variants).capitalize() if variants else first


def _place(rng: random.Random, places: int) -> tuple[str, str, str]:
    """(street address, city, postcode): postcodes from a pool, so neighbours share them."""
    zone = rng.randrange(places)
    street = f"{rng.choice(LAST_NAMES)} {rng.choice(STREET_SUFFIXES)}"
    city = f"{LAST_NAMES[zone % len(LAST_NAMES)]}{['ville', 'ton', ' City', 'burg'][zone % 4]}"
    return f"{rng.randint(1, 9999)} {street}", city, f"{10000 + zone * 7 % 89999:05d}"


def make_people(rng: random.Random, n: int, v: Variation, start: int = 0) -> list[Person]:
    places = max(50, n // 25)
    people: list[Person] = []
    taken: set[str] = set()
    i = 0
    while len(people) < n:
        size = rng.choice([2, 2, 2, 3, 4]) if rng.random() < v.household / 2 else 1
        size = min(size, n - len(people))
        address, city, postal = _place(rng, places)
        last = rng.choice(LAST_NAMES)
        home_phone = _nanp(rng) if rng.random() < 0.8 else None
        family = None
        if size > 1 and rng.random() < v.family_email:
            family = f"{_slug(last)}family{rng.randint(1, 999)}@{rng.choice(DOMAINS)}"
        firsts: list[str] = []
        for _ in range(size):
            first = rng.choice(FIRST_NAMES)
            while any(first[:2] == f[:2] for f in firsts):  # household members differ
                first = rng.choice(FIRST_NAMES)
            firsts.append(first)
            email = family or ""
            if not family:
                local = rng.choice(
                    [f"{_slug(first)}.{_slug(last)}", f"{_slug(first)[0]}{_slug(last)}"]
                )
                email = f"{local}{rng.randint(1, 99_999)}@{rng.choice(DOMAINS)}"
                while email in taken:
                    email = f"{local}{rng.randint(1, 9_999_999)}@{rng.choice(DOMAINS)}"
                taken.add(email)
            phone = home_phone if size > 1 else (_nanp(rng) if rng.random() < 0.8 else None)
            created = EPOCH + timedelta(seconds=rng.randint(0, 3 * 365 * 86_400))
            people.append(
                Person(
                    f"P{start + i + 1:08d}",
                    first,
                    last,
                    email,
                    phone,
                    address,
                    city,
                    postal,
                    created,
                )
            )
            i += 1
    return people


def _record(
    rng: random.Random,
    person: Person,
    source: str,
    record_id: str,
    v: Variation,
    copy: bool,
    places: int,
) -> dict:
    """One record of a person; a `copy` (a second record) carries the variations."""
    first, last, email, phone = person.first, person.last, person.email, person.phone
    address, city, postal = person.address, person.city, person.postal_code
    created = person.created
    if copy:
        created += timedelta(days=rng.randint(-60, 60))
        r = rng.random()
        if r < v.other_email:
            email = f"{_slug(first)}.{_slug(last)}{rng.randint(1, 999)}@{rng.choice(WORK_DOMAINS)}"
        elif r < v.other_email + v.email_typo:
            local, _, domain = email.partition("@")
            email = f"{_typo(rng, local)}@{domain}"
        elif r < v.other_email + v.email_typo + v.email_missing:
            email = None
        elif rng.random() < 0.3:
            email = rng.choice([email.upper(), email.capitalize(), f" {email} "])
        r = rng.random()
        if r < v.name_typo:
            if rng.random() < 0.5:
                first = _typo(rng, first)
            else:
                last = _typo(rng, last)
        elif r < v.name_typo + v.nickname:
            first = _nickname(rng, first)
        elif r < v.name_typo + v.nickname + v.swapped_names:
            first, last = last, first
        elif r < v.name_typo + v.nickname + v.swapped_names + v.first_name_missing:
            first = None
        if phone and rng.random() < v.phone_missing:
            phone = None
        r = rng.random()
        if r < v.moved:
            address, city, postal = _place(rng, places)
        elif r < v.moved + v.address_missing:
            address = city = postal = None
    return {
        "source": source,
        "source_record_id": record_id,
        "first_name": first,
        "last_name": last,
        "email": email,
        "phone": _formatted(rng, phone) if phone else None,
        "address_line_1": address,
        "city": city,
        "postal_code": postal,
        "country": rng.choice(["US", "US", "United States", "USA"]),
        "created_at": created,
    }


def make_records(
    rng: random.Random, people: list[Person], v: Variation, id_start: int = 0
) -> tuple[list[dict], list[dict]]:
    places = max(50, len(people) // 25)
    records: list[dict] = []
    truth: list[dict] = []
    next_id = id_start

    def add(person: Person, source: str, copy: bool) -> None:
        nonlocal next_id
        next_id += 1
        record_id = f"{'S' if source == 'shopify' else 'H'}{next_id:09d}"
        records.append(_record(rng, person, source, record_id, v, copy, places))
        truth.append(
            {"source": source, "source_record_id": record_id, "person_id": person.person_id}
        )

    for person in people:
        in_store = rng.random() < v.in_store
        if in_store:
            add(person, "shopify", copy=False)
            if rng.random() < v.second_store_account:
                add(person, "shopify", copy=True)
        if not in_store or rng.random() < v.in_crm_if_store:
            add(person, "hubspot", copy=in_store)
    return records, truth


def split_for_growth(
    records: list[dict], truth: list[dict], share: float = 0.2, seed: int = 1
) -> tuple[list[dict], list[dict]]:
    """(first batch, second batch): the second holds later records of about `share` of the
    people with several records, and every record of about `share` / 4 of the others."""
    rng = random.Random(seed)
    by_person: dict[str, list[int]] = {}
    for index, row in enumerate(truth):
        by_person.setdefault(row["person_id"], []).append(index)
    later: set[int] = set()
    for indices in by_person.values():
        if len(indices) > 1 and rng.random() < share:
            later.update(indices[1:])
        elif len(indices) == 1 and rng.random() < share / 4:
            later.update(indices)
    first = [r for i, r in enumerate(records) if i not in later]
    second = [r for i, r in enumerate(records) if i in later]
    return first, second


def write(out: Path, records: list[dict], truth: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("records", records), ("truth", truth)):
        table = pa.Table.from_pylist(rows)
        tmp = out / f"{name}.parquet.tmp"
        pq.write_table(table, tmp)
        tmp.replace(out / f"{name}.parquet")


def generate(out: Path, people: int, seed: int = 3, variation: Variation | None = None) -> dict:
    """Write records.parquet and truth.parquet for `people` people; returns the counts."""
    if people < 1:
        raise ValueError("people must be at least 1")
    v = variation or Variation()
    rng = random.Random(seed)
    persons = make_people(rng, people, v)
    records, truth = make_records(rng, persons, v)
    write(Path(out), records, truth)
    return {
        "people": len(persons),
        "records": len(records),
        "shopify": sum(1 for r in records if r["source"] == "shopify"),
        "hubspot": sum(1 for r in records if r["source"] == "hubspot"),
    }


def pairwise_scores(resolved: Path, truth: Path) -> dict[str, float]:
    """Pairwise precision, recall and F1 of a resolution (source, source_record_id,
    customer_id) against the truth (source, source_record_id, person_id)."""
    import duckdb

    def reader(path: Path) -> str:
        return f"read_csv('{path}')" if path.suffix == ".csv" else f"read_parquet('{path}')"

    sql = f"""
        with joined as (
            select r.customer_id, t.person_id
            from {reader(resolved)} as r
            inner join {reader(truth)} as t using (source, source_record_id)
        ),
        pairs as (
            select 'predicted' as kind, count(*) as n from joined group by customer_id
            union all
            select 'true', count(*) from joined group by person_id
            union all
            select 'correct', count(*) from joined group by customer_id, person_id
        )
        select kind, sum(n * (n - 1) / 2) from pairs group by kind
    """
    with duckdb.connect() as con:
        counts = {kind: float(total) for kind, total in con.sql(sql).fetchall()}
    predicted, true, correct = counts["predicted"], counts["true"], counts["correct"]
    precision = correct / predicted if predicted else 1.0
    recall = correct / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "true_pairs": true}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Person records with known identities.")
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    counts = generate(args.out, args.people, args.seed)
    print(json.dumps(counts))
    print(f"wrote {args.out} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
