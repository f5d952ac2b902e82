"""API connection settings, from Airflow connections or the environment.

Tailor reads the same `AIRFLOW_CONN_<ID>` variables Airflow does (JSON or URI form), so the
CLI and the DAGs see one configuration; inside a running Airflow task the connection is
looked up through Airflow (which also covers the metadata DB and secrets backends).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tailor.redact import register_secret


class MissingConnection(LookupError):
    pass


@dataclass(frozen=True)
class ApiConnection:
    conn_id: str
    base_url: str
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def token(self) -> str | None:
        return self.password


def _base_url(scheme: str | None, host: str | None, port: int | None) -> str:
    host = host or ""
    if "://" in host:
        return host.rstrip("/")
    scheme = scheme if scheme in ("http", "https") else "https"
    return f"{scheme}://{host}{f':{port}' if port else ''}"


def parse_connection(conn_id: str, value: str) -> ApiConnection:
    """Parse Airflow's JSON or URI form of a connection."""
    value = value.strip()
    if value.startswith("{"):
        data = json.loads(value)
        extra = data.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra) if extra else {}
        return ApiConnection(
            conn_id,
            _base_url(data.get("schema"), data.get("host"), data.get("port")),
            data.get("login"),
            data.get("password"),
            extra,
        )
    parts = urlsplit(value)
    extra = dict(parse_qsl(parts.query))
    scheme = extra.pop("__scheme", None) or ("https" if parts.scheme == "https" else "http")
    return ApiConnection(
        conn_id,
        _base_url(scheme, parts.hostname, parts.port),
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
        extra,
    )


def get_connection(conn_id: str) -> ApiConnection:
    """The connection `conn_id`: the environment first, then Airflow's own lookup."""
    value = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if value:
        conn = parse_connection(conn_id, value)
    else:
        try:
            from airflow.sdk import BaseHook

            c = BaseHook.get_connection(conn_id)
        except Exception as exc:  # noqa: BLE001 - any lookup failure means "not configured"
            raise MissingConnection(
                f"connection '{conn_id}' is not configured: set AIRFLOW_CONN_{conn_id.upper()} "
                f"or add it in Airflow ({type(exc).__name__})"
            ) from None
        conn = ApiConnection(
            conn_id, _base_url(c.schema, c.host, c.port), c.login, c.password, c.extra_dejson or {}
        )
    register_secret(conn.password)
    return conn
