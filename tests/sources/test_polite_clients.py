"""Against the APIs' real limits the clients pace themselves and are rarely refused."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tailor.connections import ApiConnection, parse_connection
from tailor.sources import hubspot, shopify

from sandbox import local
from sandbox.generate import generate
from sandbox.server import SandboxServer, serve_in_thread

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
WEEK = (AS_OF - timedelta(days=7), AS_OF)
CONTACTS = (AS_OF - timedelta(days=400), AS_OF)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("polite_store")
    generate(out, customers=600, seed=11, as_of=AS_OF)
    return out


def conn(server: SandboxServer, name: str, **extra: object) -> ApiConnection:
    spec = json.loads(local.connection_env(server.url)[f"AIRFLOW_CONN_{name.upper()}"])
    spec["extra"] = {**spec.get("extra", {}), **extra}
    return parse_connection(name, json.dumps(spec))


def test_shopify_paces_itself_from_throttle_status(store: Path, tmp_path: Path) -> None:
    with serve_in_thread(store) as free:
        want = shopify.extract(conn(free, "shopify"), "orders", *WEEK, tmp_path / "free")
    with serve_in_thread(store, shopify_plan="standard") as server:
        got = shopify.extract(conn(server, "shopify"), "orders", *WEEK, tmp_path / "paced")
        status = server.shopify.bucket.status()
        assert server.shopify.throttled <= 1
    assert got.path.read_bytes() == want.path.read_bytes()
    # the week's pages cost more than the 2,000-point bucket: the client had to wait for points
    assert got.pages > 3 and status["currentlyAvailable"] < status["maximumAvailable"]


def test_hubspot_keeps_to_four_searches_a_second(store: Path, tmp_path: Path) -> None:
    with serve_in_thread(store, hubspot_limits=True) as server:
        started = time.monotonic()
        result = hubspot.extract(
            conn(server, "hubspot"), "contacts", *CONTACTS, tmp_path, page_size=25
        )
        elapsed = time.monotonic() - started
        assert server.hubspot.refused == 0
    assert result.pages >= 8
    assert elapsed >= (result.pages - 4) / 4  # no faster than the limit allows


def test_a_client_told_to_wait_by_a_429_waits_and_lands_everything(
    store: Path, tmp_path: Path
) -> None:
    with serve_in_thread(store) as free:
        want = hubspot.extract(
            conn(free, "hubspot"), "contacts", *CONTACTS, tmp_path / "free", page_size=40
        )
    with serve_in_thread(store, hubspot_limits=True) as server:
        impolite = conn(server, "hubspot", searches_per_second=0)
        got = hubspot.extract(impolite, "contacts", *CONTACTS, tmp_path / "told", page_size=40)
        assert server.hubspot.refused >= 1  # it went too fast, was refused, waited as told
    assert got.path.read_bytes() == want.path.read_bytes()


def test_a_rolling_window_moves_on_from_the_answers_it_is_told_of() -> None:
    """An API counts a request somewhere between its sending and its answer: told of the
    answers, the window holds the next request back a full window from the oldest answer,
    not from its sending (a request delayed on its way would be counted with the next)."""
    from tailor.http import RollingWindow

    window = RollingWindow(2, per=0.2, margin=0.01)
    first, second = window.acquire(), window.acquire()
    time.sleep(0.1)
    window.answered(first)  # answered 0.1 s after it was sent
    third = window.acquire()
    assert third[0] >= first[1] + 0.2  # a window after the answer, not after the sending
    # Not told of an answer: a window (and the margin) after the sending, as before.
    fourth = window.acquire()
    assert fourth[0] >= second[0] + 0.2 + 0.01
