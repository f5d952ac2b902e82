"""Audiences come from the segments' `meta.audience`, read from dbt's manifest: every
segment model must declare one that the sync can use."""

from __future__ import annotations

import json

import pytest
import yaml
from destination_helpers import REPO_ROOT
from tailor.destinations.audiences import (
    AudienceConfigError,
    AudienceSpec,
    load_audiences,
    spec_from_meta,
)

SEGMENTS = REPO_ROOT / "dbt_project" / "models" / "marts" / "segments"


def declared_in_yaml() -> dict[str, dict]:
    found: dict[str, dict] = {}
    for path in SEGMENTS.glob("*.yml"):
        for model in yaml.safe_load(path.read_text(encoding="utf-8")).get("models", []):
            meta = (model.get("config") or {}).get("meta") or model.get("meta") or {}
            found[model["name"]] = meta.get("audience") or {}
    return found


def test_every_segment_model_declares_a_usable_audience():
    models = {p.stem for p in SEGMENTS.glob("*.sql")}
    declared = declared_in_yaml()
    assert models == set(declared), "every segment model needs YAML with meta.audience"
    specs = [spec_from_meta(model, declared[model]) for model in sorted(models)]
    names = [s.name for s in specs]
    assert len(names) == len(set(names)), "audience names must be unique"
    for spec in specs:
        assert spec.merge_fields, f"{spec.model} sends no merge fields"
        assert spec.on_leave in ("untag", "clear", "delete")


def test_on_leave_accepts_both_spellings_and_merge_tags_must_fit_mailchimp():
    spelled = {"remove_tag": "untag", "clear_merge_fields": "clear", "delete_member": "delete"}
    for yaml_word, action in spelled.items():
        assert spec_from_meta("seg_x", {"tag": "X", "on_leave": yaml_word}).on_leave == action
        assert spec_from_meta("seg_x", {"tag": "X", "on_leave": action}).on_leave == action
    assert spec_from_meta("seg_x", {"tag": "X"}).on_leave == "untag"
    assert AudienceSpec("x", "X", on_leave="clear_merge_fields").on_leave == "clear"
    for bad in (["fname"], ["RECOMMENDATIONS"], ["CART-TOTAL"], ["1ST"]):
        with pytest.raises(AudienceConfigError, match="not Mailchimp merge tags"):
            spec_from_meta("seg_x", {"tag": "X", "merge_fields": bad})
    with pytest.raises(AudienceConfigError, match="tag is required"):
        spec_from_meta("seg_x", {"merge_fields": ["FNAME"]})


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
    with pytest.raises(AudienceConfigError, match="on_leave must be one of remove_tag"):
        load_audiences(path)
