"""Fixtures for the destination tests: a real sandbox server and a real DuckDB warehouse."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from destination_helpers import KEY, Counts

from sandbox.mailchimp import LIST_ID, MailchimpStandIn
from sandbox.server import SandboxServer, serve_in_thread


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SandboxServer]:
    data = tmp_path / "sandbox"
    data.mkdir()
    with serve_in_thread(data) as srv:
        yield srv


@pytest.fixture
def standin(server: SandboxServer) -> MailchimpStandIn:
    assert server.mailchimp is not None, "sandbox.server did not mount the Mailchimp stand-in"
    return server.mailchimp


@pytest.fixture
def counts(server: SandboxServer) -> Counts:
    return Counts(server.url)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


@pytest.fixture
def make_destination(server: SandboxServer) -> Callable[..., Any]:
    from tailor.destinations.mailchimp import MailchimpConfig, MailchimpDestination

    made: list[MailchimpDestination] = []

    def make(**overrides: Any) -> MailchimpDestination:
        config = MailchimpConfig(base_url=server.url, api_key=KEY, list_id=LIST_ID, **overrides)
        dest = MailchimpDestination(config)
        made.append(dest)
        return dest

    yield make
    for dest in made:
        dest.close()
