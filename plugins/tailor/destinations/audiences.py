"""Audiences as the analysts declared them: `meta.audience` of the segment models, read
from dbt's `manifest.json`, so a new segment needs a SQL file and its YAML, nothing else.

```yaml
config:
  meta:
    audience:
      name: frequent_buyers        # the sync's key (defaults to the model name minus seg_)
      tag: Frequent buyers         # the ESP tag
      merge_fields: [FNAME, ORDERS]
      on_leave: remove_tag         # remove_tag (default) | clear_merge_fields | delete_member
      priority_group: journeys     # optional: a person lands in one segment per group
      priority: 10                 # higher wins within the group
```

`on_leave` is kept in the sync's short form (`untag`, `clear`, `delete`); both spellings
are accepted in YAML. Merge tags follow Mailchimp: upper case, letters, digits and `_`,
at most 10 characters.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LEAVE_ACTIONS = ("untag", "clear", "delete")
# The names the segments' YAML uses, and the sync's short form of each.
LEAVE_ALIASES = {"remove_tag": "untag", "clear_merge_fields": "clear", "delete_member": "delete"}
MERGE_TAG = re.compile(r"[A-Z][A-Z0-9_]{0,9}")
SEGMENTS_PATH = "models/marts/segments/"


class AudienceConfigError(ValueError):
    """A segment's `meta.audience` cannot be used; the message names the model."""


@dataclass(frozen=True)
class AudienceSpec:
    name: str
    tag: str
    model: str = ""
    merge_fields: tuple[str, ...] = field(default_factory=tuple)
    on_leave: str = "untag"
    priority_group: str | None = None
    priority: int = 0

    def __post_init__(self) -> None:
        action = LEAVE_ALIASES.get(self.on_leave, self.on_leave)
        if action not in LEAVE_ACTIONS:
            raise AudienceConfigError(
                f"audience {self.name!r} ({self.model or 'no model'}): on_leave must be one of "
                f"{', '.join(LEAVE_ALIASES)} (or {', '.join(LEAVE_ACTIONS)}), "
                f"not {self.on_leave!r}"
            )
        object.__setattr__(self, "on_leave", action)


def spec_from_meta(model: str, meta: dict[str, Any]) -> AudienceSpec:
    name = str(meta.get("name") or model.removeprefix("seg_"))
    tag = meta.get("tag")
    if not tag:
        raise AudienceConfigError(f"{model}: meta.audience.tag is required")
    fields = meta.get("merge_fields") or []
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise AudienceConfigError(f"{model}: meta.audience.merge_fields must be a list of tags")
    bad = [f for f in fields if not MERGE_TAG.fullmatch(f)]
    if bad:
        raise AudienceConfigError(
            f"{model}: merge tags {bad} are not Mailchimp merge tags (upper case letters, "
            "digits and _, starting with a letter, at most 10 characters)"
        )
    try:
        priority = int(meta.get("priority", 0))
    except (TypeError, ValueError):
        raise AudienceConfigError(f"{model}: meta.audience.priority must be a number") from None
    return AudienceSpec(
        name=name,
        tag=str(tag),
        model=model,
        merge_fields=tuple(fields),
        on_leave=str(meta.get("on_leave") or "untag"),
        priority_group=meta.get("priority_group") or None,
        priority=priority,
    )


def load_audiences(manifest_path: str | Path) -> dict[str, AudienceSpec]:
    """Every model under `models/marts/segments/` with `meta.audience`, by audience name."""
    path = Path(manifest_path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run `tailor build` (dbt) first")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    specs: dict[str, AudienceSpec] = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model":
            continue
        if not str(node.get("original_file_path", "")).startswith(SEGMENTS_PATH):
            continue
        meta = (node.get("config") or {}).get("meta") or node.get("meta") or {}
        if "audience" not in meta:
            continue
        spec = spec_from_meta(node["name"], meta["audience"] or {})
        if spec.name in specs:
            raise AudienceConfigError(
                f"audience {spec.name!r} is declared by both {specs[spec.name].model} and "
                f"{spec.model}"
            )
        specs[spec.name] = spec
    return specs
