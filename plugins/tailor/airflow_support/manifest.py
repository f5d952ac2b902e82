"""The dbt manifest the DAGs render their dbt tasks from, and how to build it.

Reading a prebuilt `manifest.json` keeps DAG parsing free of dbt. It is built by
`python -m tailor.airflow_support.manifest` (the demo, `make airflow` and the tests run
it); a manifest older than any file of the dbt project is stale and not used.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tailor import settings

# Layers in build order, each a task group; a model may only depend on its own or an
# earlier layer, so the groups can run one after another.
LAYERS = ("staging", "intermediate", "marts", "segments")
# Loaded before any model reads them.
INPUT_RESOURCES = ("seed", "snapshot")
# Built from the segments, so it belongs with them.
SEGMENT_LAYER_MODELS = {"audience_members"}


def manifest_path() -> Path:
    default = settings.dbt_project_dir() / "target" / "airflow" / "manifest.json"
    value = os.environ.get("TAILOR_DBT_MANIFEST")
    return Path(value).expanduser().resolve() if value else default


def project_sources(project: Path | None = None) -> list[Path]:
    """The files a manifest is built from."""
    project = project or settings.dbt_project_dir()
    files = [project / "dbt_project.yml"]
    for folder in ("models", "macros", "tests", "snapshots", "seeds"):
        if (project / folder).is_dir():
            files += [p for p in (project / folder).rglob("*") if p.is_file()]
    return [p for p in files if p.exists()]


def staleness(path: Path | None = None) -> str | None:
    """Why the manifest cannot be used, or None when it is present and current."""
    path = path or manifest_path()
    if not path.exists():
        return f"no dbt manifest at {path}"
    built = path.stat().st_mtime
    newer = [p for p in project_sources() if p.stat().st_mtime > built]
    if newer:
        return f"the dbt manifest is older than {newer[0].name} (and {len(newer) - 1} more)"
    return None


@dataclass
class Layout:
    """The project's models (and seeds) by layer; `moved` names models that run with a later layer
    than their folder's, because they read a model of that layer."""

    models: dict[str, list[str]] = field(default_factory=dict)
    moved: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def layer_of(self, model: str) -> str | None:
        return next((layer for layer, names in self.models.items() if model in names), None)


def layer_for(node: dict) -> str | None:
    """A node's layer from its folder under models/; seeds and snapshots are inputs, built
    with staging."""
    if node["resource_type"] in INPUT_RESOURCES:
        return "staging"
    parts = Path(node["original_file_path"]).parts
    if node["name"] in SEGMENT_LAYER_MODELS or "segments" in parts[1:-1]:
        return "segments"
    return parts[1] if len(parts) > 2 and parts[1] in LAYERS else None


def layout(manifest: dict) -> Layout:
    """Each model in its folder's layer, or in the latest layer of the models it reads, so
    that running the layers one after another always builds a model after its parents."""
    project = manifest_project(manifest)
    models = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", *INPUT_RESOURCES)
        and node.get("package_name") == project
    }
    result = Layout(models={layer: [] for layer in LAYERS})
    rank: dict[str, int] = {}
    for uid, node in models.items():
        layer = layer_for(node)
        if layer is None:
            result.problems.append(f"{node['name']} is in no layer folder")
        else:
            rank[uid] = LAYERS.index(layer)
    folder_rank = dict(rank)
    changed = True
    while changed:  # a fixpoint over the dependency graph; it is small
        changed = False
        for uid in rank:
            parents = [p for p in models[uid].get("depends_on", {}).get("nodes", []) if p in rank]
            latest = max([rank[uid], *(rank[p] for p in parents)])
            if latest != rank[uid]:
                rank[uid], changed = latest, True
    for uid, index in rank.items():
        name = models[uid]["name"]
        result.models[LAYERS[index]].append(name)
        if index != folder_rank[uid]:
            result.moved.append(f"{name} ({LAYERS[folder_rank[uid]]} -> {LAYERS[index]})")
    for names in result.models.values():
        names.sort()
    result.moved.sort()
    return result


def manifest_project(manifest: dict) -> str:
    return manifest.get("metadata", {}).get("project_name") or "tailor"


def read(path: Path | None = None) -> dict:
    return json.loads((path or manifest_path()).read_text())


def build(path: Path | None = None) -> Path:
    """`dbt parse` into a scratch folder, then move the manifest into place atomically."""
    from tailor import transform

    path = path or manifest_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tailor-dbt-parse-") as scratch:
        # The manifest does not depend on as_of; any fixed value parses the same project.
        transform.run_dbt(
            "parse",
            datetime(2000, 1, 1, tzinfo=UTC),
            extra_args=["--target-path", scratch, "--no-partial-parse"],
        )
        full = json.loads((Path(scratch) / "manifest.json").read_text())
        # The layer manifests first: the full one's mtime is what staleness() checks.
        for layer, slim in layer_manifests(full).items():
            _write_atomically(layer_manifest_path(layer, path), json.dumps(slim))
        staged = path.with_name(f".{path.name}.tmp")
        shutil.copyfile(Path(scratch) / "manifest.json", staged)
        os.replace(staged, path)
    return path


def layer_manifest_path(layer: str, path: Path | None = None) -> Path:
    """A layer's slim manifest, next to the full one."""
    path = path or manifest_path()
    return path.with_name(f"{path.stem}.{layer}{path.suffix}")


def layer_manifests(full: dict) -> dict[str, dict]:
    """Per layer, a manifest holding only the layer's models and the tests on them.

    Cosmos matches every selected name against every node of the manifest it is given, and
    it does so for each task group at each DAG parse: with the whole project that was most of
    `tailor_nightly`'s parse time. It reads only `nodes`, `sources`, `exposures`, `metadata`
    and `selectors`; dbt itself never reads these files.
    """
    result = {}
    by_name = {
        node["name"]: uid
        for uid, node in full["nodes"].items()
        if node["resource_type"] in ("model", *INPUT_RESOURCES)
        and node.get("package_name") == manifest_project(full)
    }
    for layer, names in layout(full).models.items():
        uids = {by_name[name] for name in names if name in by_name}
        tests = {
            uid
            for uid, node in full["nodes"].items()
            if node["resource_type"] == "test"
            and uids.intersection(node.get("depends_on", {}).get("nodes", []))
        }
        result[layer] = {
            "metadata": full.get("metadata", {}),
            "nodes": {uid: full["nodes"][uid] for uid in sorted(uids | tests)},
            "sources": {},
            "exposures": {},
            "selectors": {},
        }
    return result


def _write_atomically(path: Path, text: str) -> None:
    staged = path.with_name(f".{path.name}.tmp")
    staged.write_text(text)
    os.replace(staged, path)


def ensure(path: Path | None = None) -> Path:
    """Build the manifest unless it is present and current."""
    path = path or manifest_path()
    if staleness(path):
        build(path)
    return path


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    path = build() if "--force" in args else ensure()
    print(f"dbt manifest: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
