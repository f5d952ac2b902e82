"""The `tailor` command: a thin face over the pipeline's steps."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tailor.redact import RedactingFilter


def _moment(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _print(value: object) -> None:
    print(json.dumps(value, indent=2, default=str))


def cmd_extract(args: argparse.Namespace) -> None:
    from tailor import pipeline

    _print(pipeline.extract(args.source, args.entity, args.start, args.end, args.full_refresh))


def cmd_backfill(args: argparse.Namespace) -> None:
    """The whole pipeline per interval (no sync), or one source entity's landing files."""
    from tailor import backfill

    if bool(args.source) != bool(args.entity):
        raise SystemExit("give both SOURCE and ENTITY, or neither for the whole pipeline")
    if args.source:
        name = f"{args.source}_{args.entity}"
        step_fn = backfill.entity_interval(args.source, args.entity)
    else:
        name, step_fn = "pipeline", backfill.pipeline_interval
    summary = backfill.run(
        name,
        getattr(args, "from"),
        args.to,
        timedelta(hours=args.every_hours),
        step_fn,
        restart=args.restart,
    )
    if args.source:  # the landing result of each interval run now, in order
        _print(list(summary["results"].values()))
    else:
        _print(summary)


def cmd_build(args: argparse.Namespace) -> None:
    from tailor import pipeline

    _print(pipeline.build(args.as_of))


def cmd_gate(args: argparse.Namespace) -> None:
    from tailor import pipeline

    _print(pipeline.gate(args.run_id, args.as_of))


def cmd_quality(args: argparse.Namespace) -> None:
    from tailor import quality_history, quality_report, settings

    history = quality_history.last_runs(settings.warehouse_path(), runs=args.runs)
    print(quality_report.render_history(history))


def cmd_sync(args: argparse.Namespace) -> None:
    from tailor import pipeline

    result = pipeline.sync(
        args.destination,
        args.run_id,
        dry_run=args.dry_run,
        force=args.force,
        max_removal_share=args.max_removal_share,
        erasure_file=args.erasure_file,
    )
    print(result["summary"])


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
    pipeline.gate(run_id, args.as_of)
    pipeline.export_files()
    if not args.no_sync:
        pipeline.sync_mailchimp(run_id)
    print(report.render(report.collect(args.as_of)))


def cmd_summary(args: argparse.Namespace) -> None:
    from tailor import report

    print(report.render(report.collect(args.as_of)))


def cmd_identity_resolve(args: argparse.Namespace) -> None:
    from dataclasses import asdict

    from tailor import identity

    mapping = identity.parse_mapping(args.mapping)
    resolved = identity.resolve(
        args.input, args.output, mapping, args.state, args.as_of, full_refresh=args.full_refresh
    )
    _print(asdict(resolved))


def cmd_segments(args: argparse.Namespace) -> None:
    """`tailor segments`: every audience with its size; `show NAME`: a masked sample."""
    from tailor import segments, settings

    manifest = settings.dbt_target_dir() / "manifest.json"
    warehouse = settings.warehouse_path()
    if getattr(args, "segments_command", None) == "show":
        sample = segments.show_segment(warehouse, manifest, args.name, args.limit)
        print(
            json.dumps(segments.as_dicts([sample])[0], indent=2, default=str)
            if args.json
            else segments.render_sample(sample)
        )
        return
    statuses = segments.list_segments(warehouse, manifest)
    print(
        json.dumps(segments.as_dicts(statuses), indent=2, default=str)
        if args.json
        else segments.render_list(statuses)
    )


def cmd_identity_explain(args: argparse.Namespace) -> None:
    from tailor import identity

    _print(identity.explain(args.id, args.state))


def cmd_collector_serve(args: argparse.Namespace) -> None:
    from tailor.collector.server import serve

    serve(args.host, args.port, args.spool)


def cmd_events_replay(args: argparse.Namespace) -> None:
    from tailor.collector import config
    from tailor.collector.replay import replay

    secrets = config.load_secrets()
    url = args.url or secrets.base_url
    if not secrets.track_secret:
        raise SystemExit(f"the connection {config.CONNECTION_ID} has no password to sign with")
    _print(replay(args.file, url, secrets.track_secret, args.batch_size))


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

    bf = sub.add_parser(
        "backfill",
        help="run [--from, --to) one interval at a time (extract, build, gate; no sync), "
        "resuming after a failure; with SOURCE ENTITY, only land that entity",
    )
    bf.add_argument("source", nargs="?")
    bf.add_argument("entity", nargs="?")
    bf.add_argument("--from", type=_moment, required=True)
    bf.add_argument("--to", type=_moment, required=True)
    bf.add_argument("--every-hours", type=float, default=24, help="interval length (24)")
    bf.add_argument("--restart", action="store_true", help="forget finished intervals")
    bf.set_defaults(func=cmd_backfill)

    b = sub.add_parser("build", help="dbt build for as_of")
    b.add_argument("--as-of", type=_moment, required=True)
    b.set_defaults(func=cmd_build)

    g = sub.add_parser("gate", help="run the Great Expectations suites (landing, staging, marts)")
    g.add_argument("--run-id", default="cli")
    g.add_argument("--as-of", type=_moment, required=True, help="the run's interval end")
    g.set_defaults(func=cmd_gate)

    q = sub.add_parser("quality", help="the last gate run's results and the trend of runs")
    q.add_argument("--runs", type=int, default=7, help="how many runs the trend shows")
    q.set_defaults(func=cmd_quality)

    s = sub.add_parser("sync", help="send audience changes to an ESP")
    s.add_argument("--run-id", default="cli")
    s.add_argument(
        "--destination",
        default="mailchimp",
        choices=["mailchimp", "klaviyo"],
        help="the ESP (and connection) to sync to",
    )
    s.add_argument("--dry-run", action="store_true", help="print the plan, send nothing")
    s.add_argument("--force", action="store_true", help="sync even past the safety stop")
    s.add_argument(
        "--max-removal-share", type=float, help="safety stop: largest share removed (0.2)"
    )
    s.add_argument("--erasure-file", help="addresses to erase permanently, one per line")
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

    i = sub.add_parser("identity", help="resolve a file of person records; explain a profile")
    isub = i.add_subparsers(dest="identity_command", required=True)
    ir = isub.add_parser("resolve", help="INPUT (CSV/Parquet) -> OUTPUT (record, customer_id)")
    ir.add_argument("input", type=Path)
    ir.add_argument("output", type=Path)
    ir.add_argument("--mapping", help="tailor_column=file_column,... (e.g. email=Email)")
    ir.add_argument("--state", type=Path, help="where the id map is kept (default: beside OUTPUT)")
    ir.add_argument("--as-of", type=_moment, help="the run's moment (default: now)")
    ir.add_argument(
        "--full-refresh", action="store_true", help="re-resolve every record (ids are kept)"
    )
    ir.set_defaults(func=cmd_identity_resolve)
    ie = isub.add_parser("explain", help="a person's records and the links between them")
    ie.add_argument("id", help="customer_id, record key (source:id) or source record id")
    ie.add_argument("--state", type=Path, help="a resolve run's --state (default: the warehouse)")
    ie.set_defaults(func=cmd_identity_explain)

    sg = sub.add_parser("segments", help="segments: size, change since the last run, refresh")
    sg.add_argument("--json", action="store_true", help="print JSON")
    sg.set_defaults(func=cmd_segments)
    sgsub = sg.add_subparsers(dest="segments_command")
    sgs = sgsub.add_parser("show", help="a sample of a segment's members and merge fields")
    sgs.add_argument("name", help="audience name (or segment model)")
    sgs.add_argument("--limit", type=int, default=10, help="members to show (10)")
    sgs.add_argument("--json", action="store_true", help="print JSON")
    sgs.set_defaults(func=cmd_segments)

    c = sub.add_parser("collector", help="the event collector (webhooks and track calls)")
    csub = c.add_subparsers(dest="collector_command", required=True)
    cs = csub.add_parser("serve", help="accept webhooks and track calls into the spool")
    cs.add_argument("--host", default="127.0.0.1")
    cs.add_argument("--port", type=int, default=8780, help="0 picks a free port")
    cs.add_argument("--spool", type=Path, help="spool folder (default: $TAILOR_DATA_DIR/collector)")
    cs.set_defaults(func=cmd_collector_serve)

    ev = sub.add_parser("events", help="send track and identify calls to the collector")
    evsub = ev.add_subparsers(dest="events_command", required=True)
    er = evsub.add_parser("replay", help="sign and post a JSON Lines file of calls, in batches")
    er.add_argument("file", type=Path)
    er.add_argument("--url", help="collector URL (default: the tailor_collector connection)")
    er.add_argument("--batch-size", type=int, default=500)
    er.set_defaults(func=cmd_events_replay)
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
