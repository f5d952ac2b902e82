"""How the nightly groups dbt nodes into layers that can run one after another."""

from __future__ import annotations

from tailor.airflow_support import manifest


def node(kind: str, name: str, path: str, *parents: str) -> tuple[str, dict]:
    uid = f"{kind}.tailor.{name}"
    return uid, {
        "resource_type": kind,
        "name": name,
        "package_name": "tailor",
        "original_file_path": path,
        "depends_on": {"nodes": [f"model.tailor.{p}" if "." not in p else p for p in parents]},
    }


def project(*nodes: tuple[str, dict]) -> dict:
    return {"metadata": {"project_name": "tailor"}, "nodes": dict(nodes)}


def test_folders_give_layers_and_seeds_load_with_staging() -> None:
    layout = manifest.layout(
        project(
            node("seed", "stores", "seeds/stores.csv"),
            node("model", "stg_a", "models/staging/stg_a.sql"),
            node("model", "int_a", "models/intermediate/int_a.sql", "stg_a", "seed.tailor.stores"),
            node("model", "dim_a", "models/marts/dim_a.sql", "int_a"),
            node("model", "seg_a", "models/marts/segments/seg_a.sql", "dim_a"),
            node("model", "audience_members", "models/marts/audience_members.sql"),
            node("test", "not_null_dim_a", "models/marts/_dim_a.yml", "dim_a"),
        )
    )
    assert layout.models == {
        "staging": ["stg_a", "stores"],
        "intermediate": ["int_a"],
        "marts": ["dim_a"],
        "segments": ["audience_members", "seg_a"],
    }
    assert layout.moved == [] and layout.problems == []


def test_a_model_reading_a_later_layer_runs_with_that_layer() -> None:
    layout = manifest.layout(
        project(
            node("model", "fct_a", "models/marts/fct_a.sql"),
            node("model", "int_reads_mart", "models/intermediate/x/int_reads_mart.sql", "fct_a"),
            node("model", "int_after", "models/intermediate/int_after.sql", "int_reads_mart"),
        )
    )
    assert layout.models["marts"] == ["fct_a", "int_after", "int_reads_mart"]
    assert layout.moved == [
        "int_after (intermediate -> marts)",
        "int_reads_mart (intermediate -> marts)",
    ]


def test_a_model_outside_the_layer_folders_is_a_problem() -> None:
    layout = manifest.layout(project(node("model", "loose", "models/loose.sql")))
    assert layout.problems == ["loose is in no layer folder"]


def test_each_layer_manifest_holds_its_models_and_their_tests_only() -> None:
    full = project(
        node("model", "stg_a", "models/staging/stg_a.sql"),
        node("model", "int_a", "models/intermediate/int_a.sql", "stg_a"),
        node("model", "dim_a", "models/marts/dim_a.sql", "int_a"),
        node("test", "not_null_stg_a", "models/staging/_stg.yml", "stg_a"),
        node("test", "rel_dim_a_stg_a", "models/marts/_dim.yml", "dim_a", "stg_a"),
    )
    slim = manifest.layer_manifests(full)
    assert sorted(slim["staging"]["nodes"]) == [
        "model.tailor.stg_a",
        "test.tailor.not_null_stg_a",
        "test.tailor.rel_dim_a_stg_a",
    ]
    assert sorted(slim["intermediate"]["nodes"]) == ["model.tailor.int_a"]
    assert sorted(slim["marts"]["nodes"]) == ["model.tailor.dim_a", "test.tailor.rel_dim_a_stg_a"]
    assert slim["segments"]["nodes"] == {}
    assert all(m["metadata"] == full["metadata"] for m in slim.values())
