"""The one HTTP client that sources and destinations share.

Retries transient failures (connection errors, timeouts, 429 and 5xx, and bodies cut short
or not JSON) with exponential backoff and jitter through tenacity, honouring `Retry-After`;
paces requests to a minimum interval and to rolling-window request limits; keeps connections
alive; and never logs a token or a full email address.
"""

from __future__ import annotations

import collections
import email.utils
import json as jsonlib
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from tailor.redact import get_logger, redact, register_secret

log = get_logger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class HttpError(RuntimeError):
    """A response the caller did not accept; its text is already redacted."""

    def __init__(self, response: requests.Response):
        self.response = response
        self.status = response.status_code
        body = redact(response.text[:500])
        super().__init__(
            f"{response.request.method} {_path(response.url)} -> {self.status}: {body}"
        )


class _Retryable(Exception):
    def __init__(self, response: requests.Response | None = None, cause: Exception | None = None):
        self.response = response
        self.cause = cause
        super().__init__(
            str(cause) if cause else f"HTTP {response.status_code if response else '?'}"
        )


def _path(url: str) -> str:
    return redact(url.split("?", 1)[0])


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """Seconds the server asked us to wait, from `Retry-After` (seconds or an HTTP date)."""
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class RollingWindow:
    """At most `limit` requests in any `per` seconds, as APIs with rolling windows count them.

    A request waits until the one `limit` places before it left the window, plus a small
    margin for the network, so a client that goes as fast as it may is still rarely refused.
    A caller that reports when each answer came (`answered`, with what `acquire` returned)
    is held to the answers instead: the API counted that request somewhere between sending
    it and answering, so the window moves on from the answer. A request that waited for
    the interpreter or a connection longer than the margin could otherwise still be
    counted in the same second as the ones after it.
    """

    def __init__(self, limit: int, per: float, margin: float = 0.03):
        self.limit, self.per, self.margin = limit, per, margin
        # One [sent at, answered at (0.0: not known)] per request, the last `limit` only.
        self._sent: collections.deque[list[float]] = collections.deque(maxlen=limit)
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> list[float]:
        """Wait for a place; the request's entry, for `answered`."""
        while True:
            with self._lock:
                now = time.monotonic()
                ready = self._ready_at(self._sent[0]) if len(self._sent) == self.limit else now
                if ready <= now:
                    entry = [now, 0.0]
                    self._sent.append(entry)
                    return entry
                self.waited += ready - now
            # Woken, look again: the oldest may have been answered meanwhile, later.
            time.sleep(ready - now)

    def answered(self, entry: list[float]) -> None:
        with self._lock:
            entry[1] = time.monotonic()

    def _ready_at(self, entry: list[float]) -> float:
        sent, answered = entry
        return max(sent + self.margin, answered) + self.per


@dataclass
class RetryPolicy:
    attempts: int = 6
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 120.0


def _read_body(response: requests.Response) -> None:
    """Read the whole body in one call and keep it as the response's content, then hand the
    connection back to the pool. `Response.content` reads 10 kB at a time through four
    layers of Python: for the 400 kB answer of a bulk call, that cost half as much again
    as the rest of the request."""
    try:
        body = response.raw.read(decode_content=True)
    except BaseException:
        response.close()
        raise
    # What `.content`, `.text` and `.json()` read (requests' own attributes: it sets them
    # the same way when it reads the body itself).
    response._content = body
    response._content_consumed = True
    response.close()  # the body is read: this only releases the connection


class HttpClient:
    """A keep-alive session bound to one API's base URL."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        secrets: Iterable[str | None] = (),
        timeout: float | tuple[float, float] = (5.0, 60.0),
        retry: RetryPolicy | None = None,
        min_interval: float = 0.0,
        limits: Sequence[RollingWindow] = (),
        pool_size: int = 10,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.min_interval = min_interval
        self.limits = tuple(limits)
        self._pace_lock = threading.Lock()
        self._next_slot = 0.0
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(headers or {})
        self.session.auth = auth
        for secret in secrets:
            register_secret(secret)
        if auth:
            register_secret(auth[1])
        self.requests_sent = 0

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pace(self) -> None:
        if self.min_interval <= 0:
            return
        with self._pace_lock:
            now = time.monotonic()
            wait = self._next_slot - now
            self._next_slot = max(now, self._next_slot) + self.min_interval
        if wait > 0:
            time.sleep(wait)

    def _wait(self, state: RetryCallState) -> float:
        # jitter in proportion to the first wait, so a short backoff stays short
        initial = self.retry.backoff_initial
        backoff = wait_exponential_jitter(
            multiplier=initial, max=self.retry.backoff_max, jitter=initial
        )(state)
        exc = state.outcome.exception() if state.outcome else None
        told = retry_after_seconds(exc.response) if isinstance(exc, _Retryable) else None
        return min(told, self.retry.retry_after_max) if told is not None else backoff

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "retrying after %s (attempt %d of %d, waiting %.2fs)",
            exc,
            state.attempt_number,
            self.retry.attempts,
            state.upcoming_sleep,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        accept: Iterable[int] = (),
        limits: Sequence[RollingWindow] = (),
        parse_json: bool = False,
    ) -> requests.Response:
        """Send, retrying transient failures; return the response.

        A 2xx or a status listed in `accept` is returned; any other status raises HttpError,
        after retries for 429 and 5xx. With `parse_json`, a 2xx body that is not complete JSON
        (a connection cut mid-body by a proxy) is retried too, and parsed once: `.json()` on
        the returned response is then free.
        """
        url = path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"
        accepted = set(accept)

        def attempt() -> requests.Response:
            self._pace()
            for window in (*self.limits, *limits):
                window.acquire()
            try:
                self.requests_sent += 1
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=headers,
                    timeout=self.timeout,
                    stream=True,  # the body is read in one call: `_read_body`
                )
                _read_body(response)
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise _Retryable(cause=exc) from None
            except (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.HTTPError) as exc:
                raise _Retryable(cause=exc) from None  # a body cut short
            if response.status_code in RETRY_STATUSES and response.status_code not in accepted:
                raise _Retryable(response=response)
            if parse_json and response.ok:
                try:
                    parsed = jsonlib.loads(response.content)
                except ValueError as exc:
                    raise _Retryable(cause=ValueError(f"unreadable JSON body: {exc}")) from None
                response.json = lambda **_kw: parsed  # type: ignore[method-assign]
            return response

        retrying = Retrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            response = retrying(attempt)
        except _Retryable as exc:
            if exc.response is not None:
                raise HttpError(exc.response) from None
            raise ConnectionError(
                f"{method} {_path(url)} failed: {redact(str(exc.cause))}"
            ) from None
        if response.ok or response.status_code in accepted:
            return response
        raise HttpError(response)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def post_json(self, path: str, body: Any, **kw: Any) -> Any:
        """POST a JSON body and return the parsed JSON answer, retrying unreadable bodies."""
        return self.request("POST", path, json=body, parse_json=True, **kw).json()

    def get_json(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, parse_json=True, **kw).json()
