"""A generated store, landed with the real landing writer and built with the real dbt
project, for the segment tests; and plain-SQL helpers to read the result."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # `sandbox/` is a top-level folder, not an installed package
    sys.path.insert(0, str(REPO_ROOT))

from tailor.sources.landing import LandingWriter  # noqa: E402

HISTORY_START = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
GENERATED_AT = datetime(2026, 11, 20, tzinfo=UTC)
# The generator's end, a week before it (later rows exist and must be ignored), and a
# moment inside a day (the abandoned-cart window is 24 hours).
AS_OFS = (
    datetime(2026, 11, 20, tzinfo=UTC),
    datetime(2026, 11, 13, tzinfo=UTC),
    datetime(2026, 11, 19, 12, 0, tzinfo=UTC),
)
CUSTOMERS = 300
# The rebuild in a project copy runs a day later: `tailor segments` then has two as_of
# snapshots to compare.
REBUILT_AS_OF = AS_OFS[0] + timedelta(days=1)
# Seeds and models, plus the data and unit tests declared beside the segment and
# merge-field models (selected by path; other models' tests are not this suite's).
OWN_TESTS = [
    "path:models/marts/segments",
    "path:models/marts/merge_fields",
    "path:models/marts/_audience_merge_fields.yml",
    "path:models/marts/_audience_members.yml",
    "path:seeds",
]
NEW_SEGMENT_SQL = """
-- People who spent more than 500 before as_of.
select customer_id, total_spent, 'spent ' || printf('%.2f', total_spent) as reason
from {{ ref('dim_customers') }}
where total_spent > 500
"""
NEW_SEGMENT_YAML = """
version: 2
models:
- name: seg_big_spenders
  description: People who spent more than 500 before as_of.
  config:
    meta:
      audience:
        tag: Big spenders
        merge_fields: [FNAME, SPENT, RECS]
        on_leave: delete_member
        priority_group: journey
        priority: 120
"""

# (source, entity, generated file, updated_at field)
FILES = [
    ("shopify", "customers", "shopify_customers.jsonl", "updatedAt"),
    ("shopify", "orders", "shopify_orders.jsonl", "updatedAt"),
    ("shopify", "products", "shopify_products.jsonl", "updatedAt"),
    ("shopify", "abandoned_checkouts", "shopify_abandoned_checkouts.jsonl", "updatedAt"),
    ("hubspot", "contacts", "hubspot_contacts.jsonl", "properties.lastmodifieddate"),
    ("collector", "events", "events.jsonl", "timestamp"),
    ("mailchimp", "email_activity", "mailchimp_email_activity.jsonl", "timestamp"),
]


def activity_id(record: dict[str, Any]) -> str:
    """The landing id of a Mailchimp activity row: sha of campaign|email|action|timestamp."""
    key = "|".join(
        str(record.get(k) or "") for k in ("campaign_id", "email_address", "action", "timestamp")
    )
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _records(path: Path, entity: str) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            record = json.loads(line)
            if entity == "events":  # the collector's landing id is the messageId
                record = {"id": record["messageId"], **record}
            elif entity == "email_activity":
                record = {"id": activity_id(record), **record}
            yield record


def land(store: Path, landing: Path, as_of: datetime) -> None:
    """Every generated record into one full-refresh landing file per entity."""
    for source, entity, name, updated_field in FILES:
        path = store / name
        if not path.exists():
            continue
        with LandingWriter(
            landing, source, entity, HISTORY_START, as_of, updated_field=updated_field
        ) as writer:
            writer.write_page(_records(path, entity))


def rows(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def frame(warehouse: Path, sql: str):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


def dbt(store: dict, command: str, as_of: datetime, warehouse: Path, **kw):
    """dbt through tailor.transform, with this session's own target folder."""
    from tailor import transform

    target = kw.pop("target", store["root"] / "target")
    extra = ["--target-path", str(target), *kw.pop("extra", [])]
    return transform.run_dbt(
        command, as_of, warehouse=warehouse, landing=store["landing"], extra_args=extra, **kw
    )
