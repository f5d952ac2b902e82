"""Pages of several count/offset listings fetched over a few connections at once, handed
back in listing order and, within a listing, in offset order.

An API that limits simultaneous connections rather than requests per second (Mailchimp
allows 10) is only used to its limit with that many requests in flight. A listing's first
page gives its `total_items`, from which the offsets of its other pages follow; while it is
on its way, the first pages of the next few listings go out too. Pages are handed back in a
fixed order, so what is landed does not depend on which answer came first, and at most
`4 x connections` pages (plus the look-ahead's first pages) wait in memory.

Pages overlap by `overlap` entries, as sequential paging does: a list that grows while it
is read (a member who opens joins it) pushes nobody out of sight. When the last planned page
shows that the list grew past what was planned, paging goes on one page at a time.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

Fetch = Callable[[str, dict[str, Any]], dict[str, Any]]


@dataclass
class Listing:
    """One count/offset listing: `GET path?params&count&offset`, items under `key`."""

    path: str
    key: str
    params: dict[str, Any]
    first: Future | None = None
    offsets: list[int] | None = None  # of the pages after the first, once its total is known
    rest: list[Future] = field(default_factory=list)


def planned_offsets(total: int, page_size: int, overlap: int) -> list[int]:
    """Offsets of the pages after the first that cover `total` items."""
    step = max(1, page_size - overlap)
    pages = max(0, math.ceil((total - page_size) / step))
    return [k * step for k in range(1, pages + 1)]


class ParallelPages:
    """Fetch the listings' pages with up to `connections` requests in flight."""

    def __init__(
        self,
        fetch: Fetch,
        listings: Sequence[Listing],
        page_size: int,
        overlap: int,
        connections: int,
        lookahead: int | None = None,
    ) -> None:
        self.fetch = fetch
        self.listings = list(listings)
        self.page_size = page_size
        self.overlap = overlap
        self.connections = max(1, connections)
        self.lookahead = lookahead or 2 * self.connections
        self.bound = 4 * self.connections  # later pages fetched and not yet handed back
        self._pool = ThreadPoolExecutor(self.connections, thread_name_prefix="pages")
        # the schedule is topped up whenever a page arrives, so the connections stay busy
        # while the caller works through what was handed back
        self._lock = threading.RLock()
        self._closed = False
        self._waiting_rest = 0
        self._current = 0

    def _submit(self, listing: Listing, offset: int) -> None:
        future = self._pool.submit(self._page, listing, offset)
        if listing.first is None:
            listing.first = future
        else:
            listing.rest.append(future)
            self._waiting_rest += 1
        # after the bookkeeping: a page already back runs this at once, in this thread
        future.add_done_callback(lambda _f: self._top_up())

    def _page(self, listing: Listing, offset: int) -> dict[str, Any]:
        params = {**listing.params, "count": self.page_size, "offset": offset}
        body = self.fetch(listing.path, params)
        return {"_items": body.get(listing.key) or [], "total_items": body.get("total_items")}

    def _top_up(self) -> None:
        with self._lock:
            if not self._closed:
                self._schedule()

    def _schedule(self) -> None:
        window = self.listings[self._current : self._current + self.lookahead]
        for listing in window:
            if listing.first is None:
                self._submit(listing, 0)
        # later pages strictly in listing order: the listing handed back now is never
        # starved by pages of listings behind it
        for listing in window:
            if listing.offsets is None:
                if listing.first is None or not listing.first.done():
                    return
                if listing.first.exception() is not None:
                    return  # raised when the listing is handed back
                listing.offsets = self._offsets(listing.first.result())
            while len(listing.rest) < len(listing.offsets):
                if self._waiting_rest >= self.bound:
                    return
                self._submit(listing, listing.offsets[len(listing.rest)])

    def _offsets(self, body: dict[str, Any]) -> list[int]:
        items = body.get("_items") or []
        if len(items) < self.page_size:
            return []
        return planned_offsets(int(body.get("total_items") or 0), self.page_size, self.overlap)

    def __iter__(self) -> Iterator[tuple[Listing, list[dict[str, Any]]]]:
        try:
            for index, listing in enumerate(self.listings):
                with self._lock:
                    self._current = index
                    self._schedule()
                assert listing.first is not None
                body = listing.first.result()
                with self._lock:
                    if listing.offsets is None:
                        listing.offsets = self._offsets(body)
                    listing.first = _DONE
                    self._schedule()
                yield listing, body["_items"]
                last_offset, last = 0, body
                for position, offset in enumerate(listing.offsets):
                    with self._lock:
                        self._schedule()  # this listing's pages go before any later one's
                        future = listing.rest[position]
                    last = future.result()
                    with self._lock:
                        self._waiting_rest -= 1
                        listing.rest[position] = _DONE
                        self._schedule()
                    last_offset = offset
                    yield listing, last["_items"]
                yield from self._beyond_plan(listing, last_offset, last)
        finally:
            with self._lock:
                self._closed = True
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _beyond_plan(
        self, listing: Listing, offset: int, body: dict[str, Any]
    ) -> Iterator[tuple[Listing, list[dict[str, Any]]]]:
        """Pages of a list that grew while it was read, one at a time."""
        while True:
            items = body["_items"]
            total = int(body.get("total_items") or 0)
            if not items or offset + len(items) >= total:
                return
            offset += max(1, len(items) - self.overlap)
            body = self._page(listing, offset)
            yield listing, body["_items"]


# stands in for a page handed back, so that its body can be freed
_DONE: Future = Future()
_DONE.set_result(None)
