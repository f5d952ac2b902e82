"""`make airflow`: Airflow standalone on 127.0.0.1 with Tailor's DAGs, pointed at the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from sandbox import local
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
        "AIRFLOW__API__PORT": str(PORT),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
    }
    home = Path(env["AIRFLOW_HOME"])
    with local.sandbox_process(sandbox_dir) as url:
        env.update(local.connection_env(url))
        print(f"sandbox APIs on {url}")
        proc = subprocess.Popen(["airflow", "standalone"], env=env, cwd=local.ROOT)
        passwords = home / "simple_auth_manager_passwords.json.generated"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not passwords.exists() and proc.poll() is None:
            time.sleep(1)
        login = "admin / (see the log above)"
        if passwords.exists():
            login = " / ".join(next(iter(json.loads(passwords.read_text()).items())))
        print(
            f"\nAirflow UI: http://127.0.0.1:{PORT}  login: {login}\n"
            'Trigger tailor_nightly (with {"full_refresh": true} the first time). '
            "Ctrl-C stops Airflow and the sandbox.\n",
            flush=True,
        )
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait(timeout=60)
            return 0


if __name__ == "__main__":
    sys.exit(main())
