"""Throwaway Airflow homes with a migrated SQLite metadata DB holding Tailor's pools.

`airflow db migrate` and `airflow pools import` take 10-40 s here; the ops tests each need
a fresh DB, so the first one is kept as a template and copied into every later home.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sandbox.local import ROOT

_template: Path | None = None
# `airflow db migrate` then `airflow pools import`, in one process: importing Airflow and
# building its CLI costs more than either command.
RUN_COMMANDS = """
import json, sys
from airflow.cli.cli_parser import get_parser

for argv in json.loads(sys.argv[1]):
    args = get_parser().parse_args(argv)
    args.func(args)
"""


def prepare(env: dict[str, str]) -> None:
    """Give `env`'s AIRFLOW_HOME (made by `local.airflow_env`) a migrated airflow.db with
    the pools of pools.json."""
    global _template
    target = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    if env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] != f"sqlite:///{target}":
        raise ValueError("prepare() copies SQLite files only: use local.airflow_env(home)")
    if _template is None:
        steps = [["db", "migrate"], ["pools", "import", str(ROOT / "pools.json")]]
        subprocess.run(
            [sys.executable, "-c", RUN_COMMANDS, json.dumps(steps)],
            env=env,
            check=True,
            capture_output=True,
            timeout=600,
        )
        _template = Path(tempfile.mkdtemp(prefix="tailor-airflow-db-")) / "airflow.db"
        shutil.copyfile(target, _template)
    else:
        shutil.copyfile(_template, target)
