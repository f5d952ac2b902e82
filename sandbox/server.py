"""One HTTP server on 127.0.0.1 that serves every stand-in (Shopify, HubSpot, Mailchimp, Klaviyo).

Run it::

    python -m sandbox.server --data DIR --host 127.0.0.1 --port 8765

or, in tests::

    with serve_in_thread(data_dir) as sandbox:
        requests.get(sandbox.url + "/crm/v3/objects/contacts", ...)

Requests are routed to the stand-in with the longest matching path prefix. The server
speaks HTTP/1.1 with keep-alive and TCP_NODELAY, so a client's connection pool is
exercised as it would be against the real APIs.

The APIs' rate limits are off by default (tests and client-overhead benchmarks go as fast as
they can) and switched on with ``--shopify-plan`` and ``--hubspot-limits``; faults are injected
with ``--fault-rate`` and ``--fault-seed`` (see ``sandbox.faults``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox.faults import KINDS, REFUSALS, FaultConfig, FaultInjector
from sandbox.http_base import CaseInsensitiveDict, Request, Response, StandIn
from sandbox.scale import SyntheticShop

log = logging.getLogger("sandbox.server")

DEFAULT_SHOPIFY_TOKEN = "shpat_sandbox"
DEFAULT_HUBSPOT_TOKEN = "pat-sandbox"
DEFAULT_MAILCHIMP_KEY = "sandboxkey-us1"
DEFAULT_KLAVIYO_KEY = "pk_sandbox"
MAX_BODY_BYTES = 64 * 1024 * 1024


class Router:
    """Picks the stand-in with the longest prefix and turns failures into JSON responses."""

    def __init__(self, stand_ins: list[StandIn]) -> None:
        self.stand_ins = sorted(stand_ins, key=lambda s: len(s.prefix), reverse=True)

    def stand_in_for(self, req: Request) -> StandIn | None:
        return next((s for s in self.stand_ins if req.path.startswith(s.prefix)), None)

    def dispatch(self, req: Request) -> Response:
        for stand_in in self.stand_ins:
            if req.path.startswith(stand_in.prefix):
                try:
                    return stand_in.handle(req)
                except Exception as exc:  # a bug in a stand-in must not drop the connection
                    log.error(
                        "stand-in %s failed on %s %s\n%s",
                        type(stand_in).__name__,
                        req.method,
                        req.path,
                        traceback.format_exc(),
                    )
                    return Response(
                        500,
                        {
                            "error": "internal sandbox error",
                            "detail": f"{type(exc).__name__}: {exc}",
                        },
                    )
        return Response(404, {"error": "not found", "path": req.path})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response carries Content-Length
    disable_nagle_algorithm = True  # TCP_NODELAY: no 40 ms delayed-ACK stall per response
    server_version = "TailorSandbox/1.0"
    server: _Server

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
                size = int(size_line or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise ValueError(f"request body of {length} bytes is too large")
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        split = urlsplit(self.path)
        try:
            body = self._read_body()
        except ValueError as exc:
            self._write(Response(400, {"error": str(exc)}))
            self.close_connection = True
            return
        req = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=CaseInsensitiveDict(list(self.headers.items())),
            body=body,
        )
        faults = self.server.faults
        kind = faults.pick(req) if faults else None
        if kind == "reset":
            # SO_LINGER 0: closing sends a TCP RST instead of an orderly FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        router = self.server.router
        if faults and kind in REFUSALS:
            resp = faults.refusal(kind, router.stand_in_for(req))
        else:
            resp = router.dispatch(req)
        if faults:
            resp = faults.corrupt(req, resp)
        if kind == "slow":
            time.sleep(faults.config.slow_seconds if faults else 0)
        self._write(resp, truncate=kind == "truncate")

    def _write(self, resp: Response, truncate: bool = False) -> None:
        if isinstance(resp.body, Path):
            self._write_file(resp, resp.body, truncate)
            return
        try:
            payload, headers = resp.encode()
        except Exception:  # an unserialisable body is a stand-in bug: answer 500, keep going
            log.error("cannot encode response\n%s", traceback.format_exc())
            payload, headers = Response(500, {"error": "internal sandbox error"}).encode()
            resp = Response(500)
        if truncate:
            payload = payload[: len(payload) // 2]
        self.send_response(resp.status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "connection"):
                self.send_header(key, value)
        body = b"" if self.command == "HEAD" else payload
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _write_file(self, resp: Response, path: Path, truncate: bool) -> None:
        """A file body is streamed from disk: a bulk result at S1 is gigabytes."""
        size = path.stat().st_size
        sent = size // 2 if truncate else size
        self.send_response(resp.status)
        for key, value in resp.headers.items():
            if key.lower() not in ("content-length", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if self.command == "HEAD":
            return
        with path.open("rb") as fh:
            while sent > 0:
                chunk = fh.read(min(sent, 1 << 20))
                if not chunk:
                    break
                self.wfile.write(chunk)
                sent -= len(chunk)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], router: Router, faults: FaultInjector | None
    ) -> None:
        self.router = router
        self.faults = faults
        super().__init__(address, _Handler)


class SandboxServer:
    """The stand-ins behind one listening socket. ``start()``, then ``url``, then ``stop()``."""

    def __init__(
        self,
        data_dir: Path | str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        shopify_token: str | None = None,
        hubspot_token: str = DEFAULT_HUBSPOT_TOKEN,
        mailchimp_key: str = DEFAULT_MAILCHIMP_KEY,
        shopify_plan: str | None = None,
        hubspot_limits: bool = False,
        faults: FaultConfig | None = None,
        klaviyo_key: str = DEFAULT_KLAVIYO_KEY,
        mailchimp_latency: float = 0.0,
        scale: str | SyntheticShop | None = None,
    ) -> None:
        from sandbox.hubspot import HubSpotStandIn
        from sandbox.shopify import ShopifyStandIn

        self.data_dir = Path(data_dir)
        if shopify_token is None:
            shopify_token = os.environ.get("SANDBOX_SHOPIFY_TOKEN") or DEFAULT_SHOPIFY_TOKEN
        self.shopify = ShopifyStandIn(
            self.data_dir,
            token=shopify_token,
            enforce_throttle=shopify_plan is not None,
            plan=shopify_plan or "standard",
            synthetic=SyntheticShop.named(scale) if isinstance(scale, str) else scale,
        )
        self.hubspot = HubSpotStandIn(
            self.data_dir,
            token=hubspot_token,
            enforce_limits=hubspot_limits,
            synthetic=_scale_contacts(scale),
        )
        self.mailchimp = _load_mailchimp(self.data_dir, mailchimp_key, mailchimp_latency)
        if isinstance(scale, str) and self.mailchimp is not None:
            from sandbox.scale_mailchimp import SyntheticReports

            SyntheticReports.named(scale).serve(self.mailchimp)
        from sandbox.klaviyo import KlaviyoStandIn

        self.klaviyo = KlaviyoStandIn(klaviyo_key, state_path=self.data_dir / "klaviyo_state.json")
        stand_ins: list[StandIn] = [self.shopify, self.hubspot, self.klaviyo]
        stand_ins.append(self.shopify.bulk)  # bulk operation results, at signed URLs
        if self.mailchimp is not None:
            stand_ins.append(self.mailchimp)
        self.faults = FaultInjector(faults) if faults and faults.rate > 0 else None
        self._httpd = _Server((host, port), Router(stand_ins), self.faults)
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            daemon=True,
            name="sandbox-server",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and let stand-ins save their state. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=10)
        self._httpd.server_close()
        try:
            self.klaviyo.close()
        except Exception:
            log.error("klaviyo stand-in failed to close\n%s", traceback.format_exc())
        if self.mailchimp is not None:
            try:
                self.mailchimp.close()
            except Exception:
                log.error("mailchimp stand-in failed to close\n%s", traceback.format_exc())

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _scale_contacts(scale: str | SyntheticShop | None) -> Any | None:
    """A named scale's HubSpot contacts, made on demand (a bare shop brings none)."""
    if not isinstance(scale, str):
        return None
    from sandbox.scale_hubspot import SyntheticContacts

    return SyntheticContacts.named(scale)


def _load_mailchimp(data_dir: Path, api_key: str, latency: float = 0.0) -> Any | None:
    try:
        from sandbox.mailchimp import MailchimpStandIn
    except ModuleNotFoundError as exc:
        if exc.name != "sandbox.mailchimp":
            raise
        log.warning("sandbox.mailchimp is not available; serving without the Mailchimp stand-in")
        return None
    return MailchimpStandIn(
        api_key=api_key,
        state_path=data_dir / "mailchimp_state.json",
        data_dir=data_dir,
        latency=latency,
    )


@contextlib.contextmanager
def serve_in_thread(
    data_dir: Path | str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    shopify_token: str | None = None,
    hubspot_token: str = DEFAULT_HUBSPOT_TOKEN,
    mailchimp_key: str = DEFAULT_MAILCHIMP_KEY,
    shopify_plan: str | None = None,
    hubspot_limits: bool = False,
    faults: FaultConfig | None = None,
) -> Iterator[SandboxServer]:
    """Serve the stand-ins in a background thread; yields the server (``.url``, ``.stop()``).

    ``shopify_plan`` ("standard", "advanced", "plus") enforces Shopify's cost budget for that
    plan; ``hubspot_limits`` enforces HubSpot's request and search rates; ``faults`` injects
    failures. All are off by default.
    """
    server = SandboxServer(
        data_dir,
        host,
        port,
        shopify_token=shopify_token,
        hubspot_token=hubspot_token,
        mailchimp_key=mailchimp_key,
        shopify_plan=shopify_plan,
        hubspot_limits=hubspot_limits,
        faults=faults,
    ).start()
    try:
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Serve the Shopify, HubSpot, Mailchimp and Klaviyo stand-ins."
    )
    parser.add_argument(
        "--data", required=True, type=Path, help="directory written by sandbox.generate"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--shopify-token",
        default=os.environ.get("SANDBOX_SHOPIFY_TOKEN") or DEFAULT_SHOPIFY_TOKEN,
    )
    parser.add_argument("--hubspot-token", default=DEFAULT_HUBSPOT_TOKEN)
    parser.add_argument("--mailchimp-key", default=DEFAULT_MAILCHIMP_KEY)
    parser.add_argument(
        "--shopify-plan",
        choices=["standard", "advanced", "plus"],
        help="enforce Shopify's query-cost budget of this plan (off when not given)",
    )
    parser.add_argument(
        "--hubspot-limits",
        action="store_true",
        help="enforce HubSpot's 190 requests / 10 s and 4 searches / s",
    )
    parser.add_argument(
        "--mailchimp-latency",
        type=float,
        default=0.0,
        help="seconds the Mailchimp stand-in takes per request (its 10-connection limit "
        "then caps throughput at 10 / latency requests per second)",
    )
    parser.add_argument(
        "--scale",
        choices=["s1"],
        help="serve Shopify customers and orders, HubSpot contacts and Mailchimp email "
        "activity of this size, made on demand (sandbox.scale*)",
    )
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of requests, 0..1")
    parser.add_argument("--fault-seed", type=int, default=0)
    parser.add_argument(
        "--fault-kinds", default="", help=f"comma-separated subset of: {', '.join(KINDS)}"
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.data.is_dir():
        parser.error(
            f"--data {args.data} is not a directory (run python -m sandbox.generate first)"
        )

    server = SandboxServer(
        args.data,
        args.host,
        args.port,
        shopify_token=args.shopify_token,
        hubspot_token=args.hubspot_token,
        mailchimp_key=args.mailchimp_key,
        shopify_plan=args.shopify_plan,
        hubspot_limits=args.hubspot_limits,
        mailchimp_latency=args.mailchimp_latency,
        scale=args.scale,
        faults=FaultConfig(
            rate=args.fault_rate,
            seed=args.fault_seed,
            kinds=FaultConfig.parse_kinds(args.fault_kinds),
        ),
    )
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        log.info("received signal %s, shutting down", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    server.start()
    print(f"sandbox listening on {server.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    log.info("sandbox stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
