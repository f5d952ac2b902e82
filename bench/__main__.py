"""Run the benchmarks and write bench/results.json (see bench/__init__.py)."""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"


def _load() -> list[dict[str, Any]]:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else []


def _write(results: list[dict[str, Any]]) -> None:
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(sorted(results, key=lambda r: r["name"]), indent=2) + "\n")
    os.replace(tmp, RESULTS)


def main(argv: list[str]) -> int:
    sys.path[:0] = [str(HERE.parent), str(HERE.parent / "plugins")]
    names = argv or sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    failed = []
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        figures: list[dict[str, Any]] = []

        def record(figure: str, value: float, unit: str, figures=figures, **params: Any) -> None:
            figures.append(
                {"name": figure, "value": round(float(value), 6), "unit": unit, "params": params}
            )
            print(f"  {figure} = {value:.6g} {unit} {params if params else ''}", flush=True)

        print(f"bench {name}", flush=True)
        started = time.monotonic()
        try:
            module.run(record)
        except Exception:  # noqa: BLE001 - report, keep the other benchmarks' figures
            traceback.print_exc()
            failed.append(name)
            continue
        print(f"  ({time.monotonic() - started:.0f} s)", flush=True)
        kept = [r for r in _load() if r["name"] not in {f["name"] for f in figures}]
        _write(kept + figures)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
