"""Fixtures shared by the sandbox tests: one generated data set and one running server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # `sandbox/` is a top-level folder, not an installed package
    sys.path.insert(0, str(REPO_ROOT))

from sandbox.generate import generate  # noqa: E402
from sandbox.server import SandboxServer, serve_in_thread  # noqa: E402

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
CUSTOMERS = 3000
SEED = 7


@pytest.fixture(scope="session")
def sandbox_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 customers, seed 7, as of 2026-11-20: the reference data set."""
    out = tmp_path_factory.mktemp("sandbox_data")
    generate(out, customers=CUSTOMERS, seed=SEED, as_of=AS_OF)
    return out


@pytest.fixture(scope="session")
def sandbox_server(sandbox_data: Path) -> Iterator[SandboxServer]:
    with serve_in_thread(sandbox_data) as server:
        yield server
