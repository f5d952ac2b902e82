"""One module per API; `extract(source, entity, ...)` dispatches to it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pyarrow is heavy; the DAG files import ENTITIES at parse time
    from tailor.sources.landing import LandResult

# source -> entities it lands; the DAG makes one task per pair.
ENTITIES: dict[str, tuple[str, ...]] = {
    "shopify": ("customers", "orders", "products", "abandoned_checkouts"),
    "hubspot": ("contacts",),
    "mailchimp": ("email_activity",),
    "collector": ("events", "shopify_webhooks"),
}


def extract(
    source: str, entity: str, start: datetime, end: datetime, landing_root: Path
) -> LandResult:
    if source == "collector":  # reads the collector's spool; no API connection
        from tailor.collector import land

        return land.extract(entity, start, end, landing_root)
    if source == "shopify":
        from tailor.sources import shopify as module
    elif source == "hubspot":
        from tailor.sources import hubspot as module
    elif source == "mailchimp":
        from tailor.sources import mailchimp_activity as module
    else:
        raise ValueError(f"unknown source {source!r}")
    from tailor.connections import get_connection

    return module.extract(get_connection(source), entity, start, end, landing_root)
