"""The `tailor` command: a thin face over the pipeline's steps."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime, timedelta

from tailor.redact import RedactingFilter


def _moment(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _print(value: object) -> None:
    print(json.dumps(value, indent=2, default=str))


def cmd_extract(args: argparse.Namespace) -> None:
    from tailor import pipeline

    _print(pipeline.extract(args.source, args.entity, args.start, args.end, args.full_refresh))


def cmd_build(args: argparse.Namespace) -> None:
    from tailor import pipeline

    _print(pipeline.build(args.as_of))


def cmd_gate(args: argparse.Namespace) -> None:
    from tailor import pipeline

    _print(pipeline.gate(args.run_id))


def cmd_sync(args: argparse.Namespace) -> None:
    from tailor import pipeline

    _print(pipeline.sync_mailchimp(args.run_id, dry_run=args.dry_run))


def cmd_export(args: argparse.Namespace) -> None:
    from tailor import pipeline

    _print(pipeline.export_files())


def cmd_run(args: argparse.Namespace) -> None:
    """The nightly DAG's steps in order, without Airflow, for one interval."""
    from tailor import pipeline, report
    from tailor.sources import ENTITIES

    start = args.as_of - timedelta(days=1)
    run_id = args.run_id or f"cli__{args.as_of.isoformat()}"
    for source, entities in ENTITIES.items():
        for entity in entities:
            pipeline.extract(source, entity, start, args.as_of, args.full_refresh)
    pipeline.build(args.as_of)
    pipeline.gate(run_id)
    pipeline.export_files()
    if not args.no_sync:
        pipeline.sync_mailchimp(run_id)
    print(report.render(report.collect(args.as_of)))


def cmd_summary(args: argparse.Namespace) -> None:
    from tailor import report

    print(report.render(report.collect(args.as_of)))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tailor", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("extract", help="land one source entity for a window [start, end)")
    e.add_argument("source")
    e.add_argument("entity")
    e.add_argument("--start", type=_moment, required=True)
    e.add_argument("--end", type=_moment, required=True)
    e.add_argument("--full-refresh", action="store_true", help="all history up to --end")
    e.set_defaults(func=cmd_extract)

    b = sub.add_parser("build", help="dbt build for as_of")
    b.add_argument("--as-of", type=_moment, required=True)
    b.set_defaults(func=cmd_build)

    g = sub.add_parser("gate", help="run the Great Expectations suites on the marts")
    g.add_argument("--run-id", default="cli")
    g.set_defaults(func=cmd_gate)

    s = sub.add_parser("sync", help="send audience changes to Mailchimp")
    s.add_argument("--run-id", default="cli")
    s.add_argument("--dry-run", action="store_true", help="print the plan, send nothing")
    s.set_defaults(func=cmd_sync)

    x = sub.add_parser("export", help="write each audience as CSV")
    x.set_defaults(func=cmd_export)

    r = sub.add_parser("run", help="the whole pipeline for the day ending at --as-of")
    r.add_argument("--as-of", type=_moment, required=True)
    r.add_argument("--full-refresh", action="store_true")
    r.add_argument("--no-sync", action="store_true")
    r.add_argument("--run-id")
    r.set_defaults(func=cmd_run)

    m = sub.add_parser("summary", help="what the last run landed, built, checked and sent")
    m.add_argument("--as-of", type=_moment, help="count the landing files ending here")
    m.set_defaults(func=cmd_summary)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    try:
        args.func(args)
    except Exception as exc:  # noqa: BLE001 - one clear line, not a traceback, for users
        if args.verbose:
            raise
        print(f"tailor: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
