"""docker-compose.yml and the Dockerfile, checked without Docker: the Compose
Specification's JSON schema, commands that the locked Airflow really has, health checks,
secrets from an uncommitted env file, the production topology, and an image built from
uv.lock alone."""

from __future__ import annotations

import importlib.resources
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from importlib.metadata import distribution, version
from pathlib import Path

import jsonschema
import pytest
import yaml

from sandbox.local import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]
AIRFLOW_SERVICES = {name: s for name, s in SERVICES.items() if s.get("build")}
ONE_OFF = {name for name, s in SERVICES.items() if s.get("restart") == "no"}
DOCKERFILE = (ROOT / "Dockerfile").read_text()
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())
LOCKED = {p["name"]: p.get("version") for p in LOCK["package"]}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|_KEY$|^AIRFLOW_CONN_")


def compose_schema() -> dict:
    """The Compose Specification's schema, as check-jsonschema ships it (SchemaStore's copy
    of compose-spec/compose-spec, Apache-2.0)."""
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads(vendor.joinpath("compose-spec.json").read_text())


def commands_of(argv: list[str] | str) -> list[list[str]]:
    """The commands a `command` or health check runs: `bash -c "a && b"` is two."""
    if isinstance(argv, str):
        argv = shlex.split(argv)
    if argv and argv[0] in ("CMD", "CMD-SHELL"):
        argv = argv[1:] if argv[0] == "CMD" else ["bash", "-c", " ".join(argv[1:])]
    if argv[:2] == ["bash", "-c"]:
        return [shlex.split(part) for part in argv[2].split("&&")]
    return [argv]


def test_the_file_follows_the_compose_specification() -> None:
    schema = compose_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(COMPOSE), key=lambda e: e.json_path)
    assert not errors, "\n".join(f"{e.json_path}: {e.message}" for e in errors)


def test_the_schema_rejects_a_broken_service() -> None:
    """The validation above is not vacuous: a typo in a service is caught."""
    broken = {"services": {"api-server": {"image": "x", "healthchek": {"test": ["CMD", "true"]}}}}
    schema = compose_schema()
    errors = list(jsonschema.validators.validator_for(schema)(schema).iter_errors(broken))
    assert any("healthchek" in e.message for e in errors)


def test_the_production_topology_is_all_there() -> None:
    env = AIRFLOW_SERVICES["scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")
    assert SERVICES["postgres"]["image"].startswith("postgres:")
    assert SERVICES["redis"]["image"].startswith("redis:")
    runs = {name: s["command"] for name, s in AIRFLOW_SERVICES.items() if name not in ONE_OFF}
    assert sorted(runs.values()) == sorted(
        [
            ["airflow", "api-server"],
            ["airflow", "scheduler"],
            ["airflow", "dag-processor"],
            ["airflow", "triggerer"],
            ["airflow", "celery", "worker"],
        ]
    )
    init = commands_of(SERVICES["airflow-init"]["command"])
    assert ["airflow", "db", "migrate"] in init
    assert ["airflow", "pools", "import", "/opt/tailor/pools.json"] in init
    assert (ROOT / "pools.json").exists()


def test_every_long_running_service_has_a_health_check_and_waits_for_its_dependencies() -> None:
    for name, service in SERVICES.items():
        if name in ONE_OFF:
            continue
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"
        for dependency, condition in service.get("depends_on", {}).items():
            expected = (
                "service_completed_successfully" if dependency in ONE_OFF else "service_healthy"
            )
            assert condition["condition"] == expected, (name, dependency)


def test_only_loopback_ports_are_published() -> None:
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_landing_and_warehouse_live_on_named_volumes() -> None:
    declared = set(COMPOSE["volumes"])
    for name, service in AIRFLOW_SERVICES.items():
        mounts = dict(reversed(v.split(":")[:2]) for v in service["volumes"])
        env = service["environment"]
        landing = env["TAILOR_LANDING_DIR"]
        warehouse_dir = str(Path(env["TAILOR_WAREHOUSE"]).parent)
        assert mounts.get(landing) in declared, f"{name}: landing {landing} is not on a volume"
        assert mounts.get(warehouse_dir) in declared, f"{name}: {warehouse_dir} is not on a volume"
        assert mounts[landing] != mounts[warehouse_dir]


def test_secrets_come_from_an_env_file_that_is_never_committed() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT, check=False)
    assert ignored.returncode == 0, ".env must be listed in .gitignore"
    example = subprocess.run(["git", "check-ignore", "-q", ".env.example"], cwd=ROOT, check=False)
    assert example.returncode == 1, ".env.example must be committed"
    assert ".env" in (ROOT / ".dockerignore").read_text().split(), "never bake .env in the image"

    example_keys = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    text = (ROOT / "docker-compose.yml").read_text()
    referenced = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", text))  # $${X}: the shell's
    assert referenced <= example_keys, f"not in .env.example: {referenced - example_keys}"
    for name, service in SERVICES.items():
        if name in AIRFLOW_SERVICES:
            assert service["env_file"] == ".env", name
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert "${" in str(value), f"{name}: {key} is written in the file"
            if ":" in str(value) and "@" in str(value):
                assert re.search(r":\$\{[A-Z_]+[^}]*\}@", str(value)), f"{name}: {key} password"


def test_the_image_installs_exactly_the_lock() -> None:
    base = re.search(r"^FROM python:(\d+\.\d+)-", DOCKERFILE, re.M)
    assert base, "the image starts from an official Python image"
    assert LOCK["requires-python"] == f"=={base.group(1)}.*"
    uv = re.search(r"^ARG UV_VERSION=(\d+\.\d+\.\d+)$", DOCKERFILE, re.M)
    assert uv and '"uv==${UV_VERSION}"' in DOCKERFILE, "uv is pinned"
    installs = [i.strip() for i in re.findall(r"\b(?:pip|uv pip) install\b[^\n\\]*", DOCKERFILE)]
    assert installs == ['pip install --no-cache-dir "uv==${UV_VERSION}"'], installs
    syncs = re.findall(r"uv sync[^\n\\&]*", DOCKERFILE)
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs), syncs
    assert DOCKERFILE.index("COPY pyproject.toml uv.lock") < DOCKERFILE.index("uv sync")
    assert ".venv" in (ROOT / ".dockerignore").read_text().split()
    assert {s.get("image") for s in AIRFLOW_SERVICES.values()} == {"tailor-airflow:latest"}
    for name, service in SERVICES.items():
        if name not in AIRFLOW_SERVICES:
            assert re.fullmatch(r"[a-z0-9]+:\d+(\.\d+)*", service["image"]), f"{name} is pinned"
    # What the services run is in the lock, at the version this venv runs the tests with.
    for package in ("apache-airflow", "apache-airflow-providers-celery", "celery", "redis"):
        assert package in LOCKED, f"{package} is not in uv.lock"
    assert "psycopg2-binary" in LOCKED or "psycopg2" in LOCKED
    assert version("apache-airflow") == LOCKED["apache-airflow"]


PARSE_COMMANDS = """
import json, sys
from airflow.cli.cli_parser import get_parser

bad = []
for argv in json.loads(sys.argv[1]):
    try:
        get_parser().parse_args(argv)
    except SystemExit as exc:
        if exc.code:
            bad.append(argv)
print(json.dumps(bad))
"""
# Commands the installed Airflow must reject, so that the check is known to bite: Airflow 3
# has no webserver, and no WorkerJob for `jobs check`.
MUST_FAIL = [["airflow", "webserver"], ["airflow", "jobs", "check", "--job-type", "WorkerJob"]]


def service_commands() -> tuple[list[list[str]], list[list[str]]]:
    """(airflow commands, other commands) of every Airflow service and its health check."""
    airflow: list[list[str]] = []
    others: list[list[str]] = []
    for service in AIRFLOW_SERVICES.values():
        argvs = commands_of(service["command"])
        if "healthcheck" in service:
            argvs += commands_of(service["healthcheck"]["test"])
        for argv in argvs:
            (airflow if argv[0] == "airflow" else others).append(argv)
    return airflow, others


def test_every_airflow_command_the_services_run_exists_in_the_locked_airflow(
    tmp_path: Path,
) -> None:
    """Each command and health check is parsed by the installed Airflow's own CLI parser
    (what `airflow <command> --help` uses), with the services' configuration."""
    wanted, _ = service_commands()
    assert len(wanted) >= 9
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    argv_json = json.dumps([argv[1:] for argv in wanted + MUST_FAIL])
    proc = subprocess.run(
        [sys.executable, "-c", PARSE_COMMANDS, argv_json],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rejected = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rejected == [argv[1:] for argv in MUST_FAIL], proc.stderr[-3000:]


def test_the_other_programs_are_in_the_image() -> None:
    """Health checks that are not `airflow` run programs the lock installs."""
    _, others = service_commands()
    venv_bin = Path(sys.executable).parent
    assert others
    for argv in others:
        if argv[0] == "python":
            assert argv[1] == "-c" and compile(argv[2], "healthcheck", "exec")
        elif argv[0] == "celery":
            assert (venv_bin / "celery").exists()
            # The app's module, found without importing Airflow into the test process.
            module = argv[argv.index("--app") + 1].rsplit(".", 1)[0]
            source = distribution("apache-airflow-providers-celery").locate_file(
                module.replace(".", "/") + ".py"
            )
            assert Path(str(source)).exists(), f"{module} is not installed"
        else:
            pytest.fail(f"unexpected program in a service: {argv}")
