"""The collector's secrets and where it keeps its spool.

Secrets come from the connection `tailor_collector` (the environment's
`AIRFLOW_CONN_TAILOR_COLLECTOR`, or Airflow's own lookup): its password signs track calls,
`extra.shopify_webhook_secret` is the Shopify app's secret that signs webhooks, and its
host and port are where the collector listens (and where `tailor events replay` posts).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tailor import settings
from tailor.redact import register_secret

CONNECTION_ID = "tailor_collector"
DEFAULT_PORT = 8780


def spool_dir() -> Path:
    """`TAILOR_COLLECTOR_DIR`, else `$TAILOR_DATA_DIR/collector`."""
    value = os.environ.get("TAILOR_COLLECTOR_DIR")
    return Path(value).expanduser().resolve() if value else settings.data_dir() / "collector"


@dataclass(frozen=True)
class CollectorSecrets:
    track_secret: str | None = field(default=None, repr=False)
    shopify_secret: str | None = field(default=None, repr=False)
    base_url: str | None = None


def load_secrets() -> CollectorSecrets:
    """The collector's secrets from its connection; both are registered for masking."""
    from tailor.connections import get_connection

    conn = get_connection(CONNECTION_ID)
    shopify_secret = conn.extra.get("shopify_webhook_secret")
    register_secret(conn.password)
    register_secret(shopify_secret)
    return CollectorSecrets(conn.password, shopify_secret, conn.base_url)
