"""`make airflow`: Airflow's parts on 127.0.0.1 with Tailor's DAGs, pointed at the sandbox."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from sandbox import airflow_parts, local
from sandbox.generate import generate

PORT = int(os.environ.get("TAILOR_AIRFLOW_PORT", "8080"))


def main() -> int:
    data = Path(os.environ.get("TAILOR_DATA_DIR", local.ROOT / "data")).resolve()
    sandbox_dir = data / "sandbox"
    if not (sandbox_dir / "manifest.json").exists():
        generate(sandbox_dir)
    env = {
        **os.environ,
        **local.airflow_env(),
        "TAILOR_DATA_DIR": str(data),
        **airflow_parts.parts_env(PORT),
    }
    home = Path(env["AIRFLOW_HOME"])
    with local.sandbox_process(sandbox_dir) as url:
        env.update(local.connection_env(url))
        print(f"sandbox APIs on {url}")
        # Pools (`airflow pools import pools.json`) and the dbt manifest the nightly
        # renders one task per model from; both idempotent.
        print("preparing Airflow: metadata, pools, dbt manifest", flush=True)
        local.prepare_airflow(env, home / "prepare.log")
        # The parts one by one, not `airflow standalone`: its log servers would listen on
        # every interface (see sandbox/airflow_parts.py).
        with airflow_parts.running(env, PORT, home / "logs" / "parts") as procs:
            login = json.loads(airflow_parts.password_file(env).read_text())
            print(
                f"\nAirflow UI: http://127.0.0.1:{PORT}  login: admin / {login['admin']}\n"
                'Trigger tailor_nightly (with {"full_refresh": true} the first time); its gate '
                "schedules tailor_audience_sync. Ctrl-C stops Airflow and the sandbox.\n",
                flush=True,
            )
            try:
                while all(p.poll() is None for p in procs.values()):
                    time.sleep(1)
                return 1
            except KeyboardInterrupt:
                return 0


if __name__ == "__main__":
    sys.exit(main())
