"""Airflow pools Tailor's tasks run in, kept in the project's `pools.json`.

`airflow pools import pools.json` creates or updates them; importing is idempotent, so
every local start-up runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping

from tailor import settings

POOLS_FILE = settings.PROJECT_ROOT / "pools.json"

SHOPIFY_API = "shopify_api"
HUBSPOT_API = "hubspot_api"
ESP_API = "esp_api"
DUCKDB_WRITER = "duckdb_writer"

# The pool that paces each source's extract tasks; a source not named here calls no
# rate-limited API (files, a local collector) and runs in Airflow's default pool.
SOURCE_POOLS: dict[str, str] = {
    "shopify": SHOPIFY_API,
    "hubspot": HUBSPOT_API,
    "mailchimp": ESP_API,
    "klaviyo": ESP_API,
}


def defined() -> dict[str, dict]:
    return json.loads(POOLS_FILE.read_text())


def for_source(source: str) -> str:
    return SOURCE_POOLS.get(source, "default_pool")


def import_pools(env: Mapping[str, str] | None = None, airflow: str = "airflow") -> None:
    """`airflow pools import` with this file (creates missing pools, updates slot counts)."""
    subprocess.run(
        [airflow, "pools", "import", str(POOLS_FILE)],
        env=dict(env if env is not None else os.environ),
        check=True,
        capture_output=True,
        timeout=300,
    )
