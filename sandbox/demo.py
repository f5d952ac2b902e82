"""`make demo`: generate a store, serve it on 127.0.0.1, run `tailor_nightly` and then
`tailor_audience_sync` through Airflow against it, and print what was built and sent.

Everything is deterministic for a given --customers/--seed/--as-of, so a second run lands
the same files, builds the same tables, and its sync sends nothing new.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sandbox import local

DEFAULT_AS_OF = "2026-11-20T00:00:00Z"


def run(cmd: list[str], env: dict[str, str], log: Path) -> None:
    with open(log, "ab") as out:
        result = subprocess.run(cmd, env=env, cwd=local.ROOT, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-40:]
        sys.exit(
            f"{' '.join(cmd[:4])} failed ({result.returncode}); last lines of {log}:\n"
            + "\n".join(tail)
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--as-of", default=DEFAULT_AS_OF, help="end of the nightly interval the demo runs (UTC)"
    )
    parser.add_argument(
        "--dbt-tasks",
        choices=["single", "per_model"],
        default="single",
        help="dbt as one Airflow task (fast), or one task per model as `make airflow` shows it",
    )
    args = parser.parse_args(argv)

    from sandbox.generate import generate

    data = Path(os.environ.get("TAILOR_DATA_DIR", local.ROOT / "data")).resolve()
    sandbox_dir = data / "sandbox"
    logs = data / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    as_of = datetime.fromisoformat(args.as_of.replace("Z", "+00:00")).astimezone(UTC)
    started = time.monotonic()

    counts = generate(sandbox_dir, customers=args.customers, seed=args.seed, as_of=as_of)
    print(
        f"generated {counts['shopify_customers']} store customers, "
        f"{counts['hubspot_contacts']} CRM contacts, {counts['shopify_orders']} orders "
        f"-> {sandbox_dir}"
    )

    env = {
        **os.environ,
        **local.airflow_env(),
        "TAILOR_DATA_DIR": str(data),
        "TAILOR_DBT_TASKS": args.dbt_tasks,
    }
    log = logs / "airflow.log"
    log.write_text("")
    with local.sandbox_process(sandbox_dir) as url:
        env.update(local.connection_env(url))
        print(local.replay_events(sandbox_dir / "events.jsonl", env, logs / "collector.log"))
        print(
            f"sandbox APIs on {url}; running tailor_nightly through Airflow "
            f"(log: {log.relative_to(local.ROOT) if log.is_relative_to(local.ROOT) else log})"
        )
        # Metadata, pools and the dbt manifest the nightly renders one task per model from.
        try:
            local.prepare_airflow(env, log)
        except RuntimeError as exc:
            sys.exit(str(exc))
        # A manual run at L covers the last whole interval before L: [L - 1 day, L).
        logical_date = as_of.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        run(
            [
                "airflow",
                "dags",
                "test",
                "tailor_nightly",
                logical_date,
                "--conf",
                json.dumps({"full_refresh": True}),
            ],
            env,
            log,
        )
        # The nightly's gate emitted the audiences asset; `dags test` does not follow
        # assets, so the sync it schedules runs here explicitly.
        print("gate passed; running tailor_audience_sync")
        run(["airflow", "dags", "test", "tailor_audience_sync", logical_date], env, log)

    os.environ["TAILOR_DATA_DIR"] = str(data)
    from tailor import report

    print()
    print(report.render(report.collect(as_of)))
    from tailor import settings

    print(
        f"\nwarehouse: {settings.warehouse_path()}; exports: {settings.exports_dir()}; "
        f"done in {time.monotonic() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
