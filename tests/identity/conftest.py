"""Generated person records with known identities, resolved by `tailor.identity`."""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # `sandbox/` is a top-level folder, not an installed package
    sys.path.insert(0, str(REPO_ROOT))

from sandbox import people  # noqa: E402

PEOPLE = 2500
FIRST_RUN = datetime(2026, 11, 19, tzinfo=UTC)
SECOND_RUN = datetime(2026, 11, 20, tzinfo=UTC)


def write_parquet(rows: list[dict], path: Path) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.fixture(scope="session")
def grown(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two runs on one id map: a first batch of records, then all of them."""
    from tailor import identity

    root = tmp_path_factory.mktemp("identity")
    rng = random.Random(5)
    persons = people.make_people(rng, PEOPLE, people.Variation())
    records, truth = people.make_records(rng, persons, people.Variation())
    people.write(root / "all", records, truth)
    first, _second = people.split_for_growth(records, truth)
    state = root / "state"
    identity.resolve(
        write_parquet(first, root / "first.parquet"), root / "first_out.parquet",
        state_dir=state, as_of=FIRST_RUN,
    )  # fmt: skip
    identity.resolve(
        root / "all" / "records.parquet", root / "second_out.parquet",
        state_dir=state, as_of=SECOND_RUN,
    )  # fmt: skip
    return {"root": root, "state": state, "first_records": len(first), "truth": truth}
