"""The one HTTP client that sources and destinations share.

Retries transient failures (connection errors, timeouts, 429 and 5xx) with exponential
backoff and jitter through tenacity, honouring `Retry-After`; paces requests to a minimum
interval; keeps connections alive; and never logs a token or a full email address.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
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


@dataclass
class RetryPolicy:
    attempts: int = 6
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 120.0


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
        pool_size: int = 10,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.min_interval = min_interval
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
        backoff = wait_exponential_jitter(
            initial=self.retry.backoff_initial, max=self.retry.backoff_max
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
    ) -> requests.Response:
        """Send, retrying transient failures; return the response.

        A 2xx or a status listed in `accept` is returned; any other status raises HttpError,
        after retries for 429 and 5xx.
        """
        url = path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"
        accepted = set(accept)

        def attempt() -> requests.Response:
            self._pace()
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
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise _Retryable(cause=exc) from None
            except requests.exceptions.ChunkedEncodingError as exc:
                raise _Retryable(cause=exc) from None
            if response.status_code in RETRY_STATUSES and response.status_code not in accepted:
                raise _Retryable(response=response)
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
