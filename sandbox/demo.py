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
from datetime import UTC, datetime, timedelta
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


def post_live_calls(sandbox_dir: Path, spool_dir: Path, as_of: datetime, n: int = 5) -> str:
    """Post a few signed Shopify webhooks (the first orders, as `orders/create`) and track
    calls, one request each, to a collector on 127.0.0.1: the live path beside the replay.

    Ids are fixed, so a second demo stores nothing twice."""
    import requests
    from tailor.collector import signing
    from tailor.collector.config import CollectorSecrets
    from tailor.collector.server import RunningCollector

    secrets = CollectorSecrets(local.COLLECTOR_SECRET, local.SHOPIFY_WEBHOOK_SECRET)
    with (sandbox_dir / "shopify_orders.jsonl").open(encoding="utf-8") as fh:
        orders = [json.loads(line) for line, _ in zip(fh, range(n), strict=False)]
    stored = sent = 0
    with RunningCollector(spool_dir, secrets, "127.0.0.1", 0) as collector:
        for order in orders:
            number = order["id"].rsplit("/", 1)[-1]
            body = {
                "id": int(number),
                "admin_graphql_api_id": order["id"],
                "name": order["name"],
                "email": order["email"],
                "created_at": order["createdAt"],
                "updated_at": order["updatedAt"],
                "total_price": order["totalPriceSet"]["shopMoney"]["amount"],
                "currency": order["currencyCode"],
            }
            raw = json.dumps(body).encode()
            headers = {
                "Content-Type": "application/json",
                "X-Shopify-Topic": "orders/create",
                "X-Shopify-Webhook-Id": f"demo-orders-create-{number}",
                signing.SHOPIFY_HEADER: signing.sign(secrets.shopify_secret, raw),
            }
            answer = requests.post(f"{collector.url}/webhooks/shopify", data=raw, headers=headers)
            answer.raise_for_status()
            stored, sent = stored + answer.json()["stored"], sent + 1
        for i, order in enumerate(orders):
            call = {
                "type": "track",
                "event": "Order Completed",
                "messageId": f"demo-track-{i}",
                "userId": order["customer"]["id"] if order.get("customer") else None,
                "anonymousId": f"demo-anon-{i}",
                # in the interval the nightly lands: [as_of - 1 day, as_of)
                "timestamp": (as_of - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "properties": {"order_id": order["name"]},
            }
            raw = json.dumps(call).encode()
            headers = {
                "Content-Type": "application/json",
                signing.TAILOR_HEADER: signing.sign(secrets.track_secret, raw),
            }
            answer = requests.post(f"{collector.url}/v1/track", data=raw, headers=headers)
            answer.raise_for_status()
            stored, sent = stored + answer.json()["stored"], sent + 1
    return f"collector: {n} signed webhooks and {n} track calls posted, {stored} new"


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
        spool_dir = Path(os.environ.get("TAILOR_COLLECTOR_DIR") or data / "collector")
        print(post_live_calls(sandbox_dir, spool_dir, as_of))
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
