"""The tiny framework every stand-in is written against.

A stand-in is any object with a ``prefix`` (a path prefix such as ``"/crm/v3/"``) and a
``handle(req) -> Response`` method. The server (``sandbox.server``) parses the HTTP
request into a :class:`Request`, picks the stand-in with the longest matching prefix and
writes the :class:`Response` back. Stand-ins never touch sockets, so they can be unit
tested by calling ``handle`` directly.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("sandbox")


class BadRequest(ValueError):
    """The request body or parameters cannot be understood (maps to HTTP 400)."""


class CaseInsensitiveDict(Mapping[str, str]):
    """Read-only mapping of HTTP headers with case-insensitive keys.

    Iteration yields the keys as they were first given; lookups ignore case.
    """

    def __init__(self, items: Mapping[str, str] | list[tuple[str, str]] | None = None) -> None:
        self._data: dict[str, tuple[str, str]] = {}
        pairs = items.items() if isinstance(items, Mapping) else (items or [])
        for key, value in pairs:
            lower = key.lower()
            if lower in self._data:
                # Repeated headers are joined, as RFC 9110 allows for list-valued fields.
                first_key, old = self._data[lower]
                self._data[lower] = (first_key, f"{old}, {value}")
            else:
                self._data[lower] = (key, value)

    def __getitem__(self, key: str) -> str:
        return self._data[key.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._data.values())

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._data

    def __repr__(self) -> str:
        return f"CaseInsensitiveDict({dict(self.items())!r})"


@dataclass
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=CaseInsensitiveDict)
    body: bytes = b""

    def json(self) -> Any:
        """The body parsed as JSON; raises :class:`BadRequest` when it is not valid JSON."""
        if not self.body:
            raise BadRequest("request body is empty")
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRequest(f"request body is not valid JSON: {exc}") from exc

    def query_value(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter, or ``default``."""
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    """What a stand-in answers. ``body``: dict/list -> JSON, bytes/str -> sent as is, a
    ``Path`` -> the file's bytes, streamed by the server."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, dict[str, str]]:
        """The body as bytes and the headers to send, with a Content-Type filled in."""
        headers = dict(self.headers)
        has_type = any(k.lower() == "content-type" for k in headers)
        if isinstance(self.body, Path):
            payload = self.body.read_bytes()  # callers without a socket, e.g. unit tests
            if not has_type:
                headers["Content-Type"] = "application/octet-stream"
        elif self.body is None:
            payload = b""
        elif isinstance(self.body, bytes):
            payload = self.body
            if not has_type:
                headers["Content-Type"] = "application/octet-stream"
        elif isinstance(self.body, str):
            payload = self.body.encode("utf-8")
            if not has_type:
                headers["Content-Type"] = "text/plain; charset=utf-8"
        else:
            payload = json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode(
                "utf-8"
            )
            if not has_type:
                headers["Content-Type"] = "application/json; charset=utf-8"
        return payload, headers


class StandIn(Protocol):
    """What the server needs from a stand-in."""

    prefix: str

    def handle(self, req: Request) -> Response: ...


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building large, acyclic, long-lived data.

    Loading 100,000 customers makes millions of small dicts; every gen-2 collection would
    rescan them all, which triples the start-up time. On leaving, the objects built are
    moved to the permanent generation (``gc.freeze``) so later collections skip them.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every record of a JSON Lines file; a missing file is logged and read as empty."""
    if not path.exists():
        log.warning("%s does not exist; serving no records from it", path)
        return []
    with paused_gc(), path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
