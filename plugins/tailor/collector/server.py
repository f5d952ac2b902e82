"""The collector's HTTP face: Shopify webhooks and signed track calls, acknowledged once stored.

Built on the standard library's ThreadingHTTPServer (HTTP/1.1 keep-alive, TCP_NODELAY): a
request's cost is the spool's fsync'ed commit, which group commit shares between concurrent
requests, so an async framework would add a dependency without adding throughput. It binds
127.0.0.1 unless told otherwise; in production it sits behind a TLS-terminating proxy.

Routes:
- POST /webhooks/shopify: topics orders/create, checkouts/update, customers/update; the
  X-Shopify-Hmac-Sha256 header must be base64(HMAC-SHA256(app secret, raw body)), else 401;
  a delivery seen before (X-Shopify-Webhook-Id) answers 200 and is not stored again.
- POST /v1/track, /v1/identify, /v1/batch: track and identify calls signed the same way in
  X-Tailor-Signature with the collector's secret; a malformed call answers 400 with the
  reason, or, inside a batch, is set aside with its reason while the rest are stored;
  de-duplicated by messageId.
- GET /health.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tailor.collector import signing
from tailor.collector.config import CollectorSecrets
from tailor.collector.spool import Record, Rejected, Spool
from tailor.collector.validate import MAX_BATCH_BYTES, MAX_CALL_BYTES, InvalidEvent, check_call
from tailor.redact import get_logger

log = get_logger(__name__)

EVENTS = "events"
WEBHOOKS = "shopify_webhooks"
WEBHOOK_TOPICS = frozenset({"orders/create", "checkouts/update", "customers/update"})
MAX_WEBHOOK_BYTES = 5 * 1024 * 1024
TRACK_PATHS = {"/v1/track": "track", "/v1/identify": "identify"}


def iso_micros(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _compact(value: Any) -> str:
    """JSON exactly as the landing writer serialises a payload, so landing copies it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class Reply(Exception):
    """Stop handling and answer `status` with `body`."""

    def __init__(self, status: int, body: dict[str, Any]):
        super().__init__(body.get("error"))
        self.status, self.body = status, body


class Collector:
    """What the HTTP handler calls; no sockets here, so tests and benchmarks can drive it."""

    def __init__(
        self,
        spool: Spool,
        secrets: CollectorSecrets,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.spool, self.secrets, self.clock = spool, secrets, clock

    def handle(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, dict]:
        try:
            if method == "GET" and path == "/health":
                return 200, {"ok": True}
            if method != "POST":
                raise Reply(405, {"error": f"{method} is not allowed here"})
            if path == "/webhooks/shopify":
                return self.webhook(headers, body)
            if path in TRACK_PATHS:
                return self.track(TRACK_PATHS[path], headers, body)
            if path == "/v1/batch":
                return self.batch(headers, body)
            raise Reply(404, {"error": f"no route {path}"})
        except Reply as reply:
            return reply.status, reply.body

    # ------------------------------------------------------------------ webhooks

    def webhook(self, headers: Any, body: bytes) -> tuple[int, dict]:
        if len(body) > MAX_WEBHOOK_BYTES:
            raise Reply(413, {"error": f"body over {MAX_WEBHOOK_BYTES} bytes"})
        if not signing.verify(
            self.secrets.shopify_secret, body, headers.get(signing.SHOPIFY_HEADER)
        ):
            log.warning("webhook refused: missing or wrong %s", signing.SHOPIFY_HEADER)
            raise Reply(401, {"error": "HMAC signature missing or invalid"})
        topic = headers.get("X-Shopify-Topic")
        if topic not in WEBHOOK_TOPICS:
            raise Reply(400, {"error": f"unsupported topic {str(topic)[:60]!r}"})
        webhook_id = (headers.get("X-Shopify-Webhook-Id") or "").strip()
        if not webhook_id:
            raise Reply(400, {"error": "X-Shopify-Webhook-Id is missing"})
        parsed = _json(body)
        received = self.clock()
        payload = {
            "topic": topic,
            "webhook_id": webhook_id,
            "received_at": iso_micros(received),
            "body": parsed,
        }
        [stored] = self.spool.append(
            [Record(WEBHOOKS, webhook_id, received, received, _compact(payload))]
        )
        return 200, {"stored": stored, "duplicate": not stored}

    # ------------------------------------------------------------------ track calls

    def _authenticate(self, headers: Any, body: bytes) -> None:
        if not signing.verify(self.secrets.track_secret, body, headers.get(signing.TAILOR_HEADER)):
            log.warning("track call refused: missing or wrong %s", signing.TAILOR_HEADER)
            raise Reply(401, {"error": "signature missing or invalid"})

    def track(self, kind: str, headers: Any, body: bytes) -> tuple[int, dict]:
        self._authenticate(headers, body)
        if len(body) > MAX_CALL_BYTES:
            raise Reply(413, {"error": f"a call is limited to {MAX_CALL_BYTES} bytes"})
        call = _json(body)
        if isinstance(call, dict):
            call.setdefault("type", kind)
        received = self.clock()
        try:
            occurred = check_call(call, kind, received)
        except InvalidEvent as exc:
            raise Reply(400, {"error": str(exc)}) from None
        [stored] = self.spool.append(
            [Record(EVENTS, call["messageId"], occurred, received, _compact(call))]
        )
        return 200, {"success": True, "stored": stored, "duplicate": not stored}

    def batch(self, headers: Any, body: bytes) -> tuple[int, dict]:
        self._authenticate(headers, body)
        if len(body) > MAX_BATCH_BYTES:
            raise Reply(413, {"error": f"a batch is limited to {MAX_BATCH_BYTES} bytes"})
        envelope = _json(body)
        calls = envelope.get("batch") if isinstance(envelope, dict) else None
        if not isinstance(calls, list):
            raise Reply(400, {"error": "body must be an object with a list 'batch'"})
        received = self.clock()
        records: list[Record] = []
        rejected: list[Rejected] = []
        refused: list[dict[str, Any]] = []
        for index, call in enumerate(calls):
            try:
                if isinstance(call, dict) and len(_compact(call)) > MAX_CALL_BYTES:
                    raise InvalidEvent(f"a call is limited to {MAX_CALL_BYTES} bytes")
                occurred = check_call(call, None, received)
            except InvalidEvent as exc:
                raw = _compact(call)
                digest = hashlib.sha256(raw.encode()).hexdigest()
                rejected.append(Rejected(EVENTS, digest, received, str(exc), raw))
                message_id = call.get("messageId") if isinstance(call, dict) else None
                refused.append({"index": index, "messageId": message_id, "reason": str(exc)})
                continue
            records.append(Record(EVENTS, call["messageId"], occurred, received, _compact(call)))
        stored = self.spool.append(records, rejected)
        accepted = sum(stored)
        return 200, {
            "success": True,
            "accepted": accepted,
            "duplicates": len(stored) - accepted,
            "rejected": refused,
        }


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Reply(400, {"error": f"body is not valid JSON: {exc}"}) from None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: batches from one sender reuse a connection
    disable_nagle_algorithm = True  # TCP_NODELAY: no delayed-ACK stall per small answer
    server_version = "TailorCollector/1.0"
    server: CollectorHTTPServer

    def _serve(self) -> None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self._answer(411, {"error": "send the body with a Content-Length"})
            self.close_connection = True
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_WEBHOOK_BYTES:
            self._answer(413, {"error": "body too large"})
            self.close_connection = True
            return
        body = self.rfile.read(length) if length > 0 else b""
        path = self.path.split("?", 1)[0]
        try:
            status, answer = self.server.collector.handle(self.command, path, self.headers, body)
        except Exception:  # noqa: BLE001 - a failed commit is a 500: the sender retries
            log.exception("collector failed on %s %s", self.command, path)
            status, answer = 500, {"error": "internal error; nothing was stored"}
        self._answer(status, answer)

    def _answer(self, status: int, answer: dict[str, Any]) -> None:
        payload = json.dumps(answer, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)


class CollectorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], collector: Collector):
        self.collector = collector
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class RunningCollector:
    """A collector serving in a background thread: `url`, then `stop()`."""

    def __init__(self, spool_dir: Path, secrets: CollectorSecrets, host: str, port: int):
        self.spool = Spool(spool_dir)
        self.httpd = CollectorHTTPServer((host, port), Collector(self.spool, secrets))
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return self.httpd.url

    def stop(self) -> None:
        self.httpd.shutdown()
        self.thread.join(timeout=10)
        self.httpd.server_close()
        self.spool.close()

    def __enter__(self) -> RunningCollector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(host: str, port: int, spool_dir: Path | None = None) -> None:
    """Serve until SIGTERM or SIGINT; prints the URL it listens on once it accepts requests."""
    import signal

    from tailor.collector import config

    secrets = config.load_secrets()
    for name, value in (
        ("password (track calls)", secrets.track_secret),
        ("extra.shopify_webhook_secret (webhooks)", secrets.shopify_secret),
    ):
        if not value:
            log.warning("%s of %s is not set: those requests get 401", name, config.CONNECTION_ID)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with RunningCollector(spool_dir or config.spool_dir(), secrets, host, port) as running:
        print(f"collector listening on {running.url}", flush=True)
        stop.wait()
