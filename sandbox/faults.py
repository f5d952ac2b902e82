"""Fault injection for the sandbox: the failures a real API and the network in front of it
produce, at a given rate and from a seed, so a client's resilience can be tested.

Transport faults are drawn per request (one draw decides whether, and which):

- ``429``       HTTP 429 with ``Retry-After``
- ``throttled`` what the API answers when over budget (Shopify: HTTP 200 with a ``THROTTLED``
                error; HubSpot: 429 with its rate-limit body), asked of the stand-in
- ``500``, ``502``, ``503``  server errors, before the stand-in sees the request
- ``reset``     the connection is reset without an answer
- ``slow``      the answer comes after ``slow_seconds``
- ``truncate``  a well-framed answer whose body is cut in half (a proxy gave up)

``malformed`` is a fault of the data, not of the transport: a record inside a page breaks its
contract (id missing, id of the wrong type, an unreadable timestamp). It is decided per record
from the seed and the record's id, so the same record is broken on every request, as a bad
record in a real store would be. Everything is off unless a rate above zero is configured.
"""

from __future__ import annotations

import random
import threading
import zlib
from dataclasses import dataclass
from typing import Any

from sandbox.http_base import Request, Response

TRANSPORT_KINDS = ("429", "throttled", "500", "502", "503", "reset", "slow", "truncate")
KINDS = (*TRANSPORT_KINDS, "malformed")
REFUSALS = frozenset({"429", "throttled", "500", "502", "503"})


@dataclass(frozen=True)
class FaultConfig:
    rate: float = 0.0
    kinds: tuple[str, ...] = KINDS
    seed: int = 0
    retry_after: int = 1
    slow_seconds: float = 0.3
    prefixes: tuple[str, ...] = ()  # only requests under these paths; empty means all

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be in [0, 1], got {self.rate}")

    @classmethod
    def parse_kinds(cls, text: str) -> tuple[str, ...]:
        return tuple(k.strip() for k in text.split(",") if k.strip()) if text else KINDS


class FaultInjector:
    """Decides the faults of each request; thread-safe and reproducible from the seed."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._transport = [k for k in config.kinds if k in TRANSPORT_KINDS]
        self._random = random.Random(config.seed)
        self._lock = threading.Lock()
        self.injected: dict[str, int] = {}

    def applies(self, req: Request) -> bool:
        prefixes = self.config.prefixes
        return self.config.rate > 0 and (not prefixes or req.path.startswith(prefixes))

    def pick(self, req: Request) -> str | None:
        """The transport fault for this request, or None."""
        if not self._transport or not self.applies(req):
            return None
        with self._lock:
            if self._random.random() >= self.config.rate:
                return None
            kind = self._random.choice(self._transport)
            self.injected[kind] = self.injected.get(kind, 0) + 1
        return kind

    def refusal(self, kind: str, stand_in: Any) -> Response:
        """The answer for a refused request, in the shape the API behind `stand_in` uses."""
        if kind == "throttled" and hasattr(stand_in, "throttled_response"):
            return stand_in.throttled_response(retry_after=self.config.retry_after)
        if kind in ("429", "throttled"):
            return Response(
                429,
                {"status": "error", "message": "Too many requests", "category": "RATE_LIMITS"},
                {"Retry-After": str(self.config.retry_after)},
            )
        return Response(int(kind), {"errors": "Internal Server Error"})

    def corrupt(self, req: Request, resp: Response) -> Response:
        """Break the records of a page that the seed marks as malformed."""
        if "malformed" not in self.config.kinds or not self.applies(req):
            return resp
        if resp.status != 200 or not isinstance(resp.body, dict):
            return resp
        records = _first_record_list(resp.body)
        if records is None:
            return resp
        for pos, record in enumerate(records):
            draw = self._draw(record.get("id"))
            if draw < self.config.rate:
                records[pos] = _break(record, int(draw * 1_000_003) % 3)
                with self._lock:
                    self.injected["malformed"] = self.injected.get("malformed", 0) + 1
        return resp

    def _draw(self, record_id: Any) -> float:
        return zlib.crc32(f"{self.config.seed}:{record_id}".encode()) / 2**32


def _first_record_list(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The shallowest list of records with ids: a page's nodes or results."""
    level: list[Any] = [body]
    while level:
        deeper: list[Any] = []
        for value in level:
            children = value.values() if isinstance(value, dict) else value
            for child in children:
                if (
                    isinstance(child, list)
                    and child
                    and all(isinstance(r, dict) and "id" in r for r in child)
                ):
                    return child
                if isinstance(child, dict | list):
                    deeper.append(child)
        level = deeper
    return None


def _break(record: dict[str, Any], how: int) -> dict[str, Any]:
    broken = dict(record)
    if how == 2 and "updatedAt" in broken:
        broken["updatedAt"] = "yesterday, around noon"
    elif how == 1:
        broken["id"] = [broken["id"]]
    else:
        broken["id"] = None
    return broken
