"""Audiences come from the segments' `meta.audience`; the macro that unions them for
`audience_members` must list exactly the segment models, with the same names and tags."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from destination_helpers import REPO_ROOT
from tailor.destinations.audiences import AudienceConfigError, load_audiences, spec_from_meta

SEGMENTS = REPO_ROOT / "dbt_project" / "models" / "marts" / "segments"
MACRO = REPO_ROOT / "dbt_project" / "macros" / "tailor_segments.sql"
ENTRY = re.compile(
    r"\{'model':\s*'(?P<model>\w+)',\s*'audience':\s*'(?P<audience>\w+)',\s*'tag':\s*'(?P<tag>[^']+)'"
)


def declared_in_yaml() -> dict[str, dict]:
    found: dict[str, dict] = {}
    for path in SEGMENTS.glob("*.yml"):
        for model in yaml.safe_load(path.read_text(encoding="utf-8")).get("models", []):
            meta = (model.get("config") or {}).get("meta") or model.get("meta") or {}
            found[model["name"]] = meta.get("audience") or {}
    return found


def test_every_segment_model_is_in_the_macro_and_vice_versa():
    models = {p.stem for p in SEGMENTS.glob("*.sql")}
    listed = {m["model"]: m for m in (e.groupdict() for e in ENTRY.finditer(MACRO.read_text()))}
    declared = declared_in_yaml()
    assert models == set(listed), "tailor_segments() must list every model under segments/"
    assert models == set(declared), "every segment model needs YAML with meta.audience"
    for model, entry in listed.items():
        spec = spec_from_meta(model, declared[model])
        assert (spec.name, spec.tag) == (entry["audience"], entry["tag"]), model


def test_load_audiences_reads_segment_models_from_the_manifest(tmp_path):
    def node(name: str, folder: str, meta: dict) -> dict:
        return {
            "resource_type": "model",
            "name": name,
            "original_file_path": f"models/marts/{folder}{name}.sql",
            "config": {"meta": meta},
        }

    manifest = {
        "nodes": {
            "model.tailor.seg_a": node(
                "seg_a",
                "segments/",
                {
                    "audience": {
                        "tag": "A",
                        "merge_fields": ["FNAME"],
                        "on_leave": "delete",
                        "priority_group": "journey",
                        "priority": 2,
                    }
                },
            ),
            "model.tailor.dim_x": node("dim_x", "", {"audience": {"tag": "X"}}),
            "model.tailor.seg_plain": node("seg_plain", "segments/", {}),
        }
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    specs = load_audiences(path)
    assert list(specs) == ["a"]
    assert specs["a"].on_leave == "delete" and specs["a"].priority == 2
    assert specs["a"].merge_fields == ("FNAME",)

    manifest["nodes"]["model.tailor.seg_a"]["config"]["meta"]["audience"]["on_leave"] = "drop"
    path.write_text(json.dumps(manifest))
    with pytest.raises(AudienceConfigError, match="on_leave must be one of untag, clear"):
        load_audiences(path)
