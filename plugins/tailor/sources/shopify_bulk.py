"""Shopify bulk query operations: a large full refresh in one asynchronous query.

Paging stops at 25,000 objects per connection and costs a request per 250; a bulk
operation has neither limit. The client turns the entity's paged query into a bulk query
(the same fields; no paging arguments, no `pageInfo`; the interval as a literal search),
starts it with `bulkOperationRunQuery`, polls `currentBulkOperation` with backoff, streams
the JSON Lines result to disk, puts nested connections' nodes (lines with `__parentId`)
back under their parents, and lands the records through the same landing writer, in the
same order and shape as paging would: the same data gives the same landing file.

- Shopify runs one bulk query per shop at a time: a start refused with
  OPERATION_IN_PROGRESS waits for the running one to end, then starts again.
- Result URLs expire (Shopify signs them for a limited time): a download refused with
  400/401/403 asks for the operation again, which signs a fresh URL.
- Memory stays bounded: the file is read backwards, where children come before their
  parent (Shopify writes them after it), so only children waiting for their parent are held.

`uses_bulk` decides: a full refresh (the interval starts at the beginning of history) of
an entity listed in BULK_ENTITIES, when the history holds at least
`extra.bulk_min_records` records (default 10,000: below that, paging is quicker than the
bulk operation's start-up); `extra.bulk_full_refresh: false` turns it off.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from graphql import (
    ArgumentNode,
    FieldNode,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    parse,
    print_ast,
)

from tailor.connections import ApiConnection
from tailor.http import HttpClient
from tailor.redact import get_logger
from tailor.settings import HISTORY_START
from tailor.sources import shopify
from tailor.sources.landing import LandingWriter, LandResult

log = get_logger(__name__)

# entities whose bulk landing is tested to equal their paged landing
BULK_ENTITIES = ("customers", "orders")
# each entity's shaping of a node after paging, applied to the reassembled node as well
SHAPERS = {"orders": shopify._flatten_line_items}
# the node type of a nested connection, to place children when a node nests several
NODE_KINDS = {"lineItems": "LineItem", "variants": "ProductVariant", "collections": "Collection"}
DEFAULT_MIN_RECORDS = 10_000
TERMINAL = ("COMPLETED", "FAILED", "CANCELED", "EXPIRED")
RETRYABLE_FAILURES = ("INTERNAL_SERVER_ERROR", "TIMEOUT")
MAX_URL_REFRESHES = 5
# the pause between polls, as a share of the time waited so far (see `_Operation.wait`)
POLL_SHARE = 0.2
MAX_DOWNLOAD_ATTEMPTS = 5
PAGE = 1000  # records handed to the landing writer at a time
BLOCK = 1 << 20  # bytes read at a time, backwards

OPERATION_FIELDS = (
    "id status errorCode objectCount rootObjectCount fileSize url partialDataUrl "
    "createdAt completedAt"
)
RUN_MUTATION = """
mutation TailorBulkRun($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}
"""
CURRENT_QUERY = f"query TailorBulkCurrent {{ currentBulkOperation {{ {OPERATION_FIELDS} }} }}"
NODE_QUERY = (
    "query TailorBulkOperation($id: ID!) { node(id: $id) { ... on BulkOperation { "
    f"{OPERATION_FIELDS} }} }} }}"
)
PAGING_ARGUMENTS = frozenset({"first", "last", "after", "before"})


class BulkError(shopify.ShopifyError):
    pass


# ---------------------------------------------------------------------- when


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    return str(value).strip().lower() not in ("false", "0", "no", "off")


def uses_bulk(conn: ApiConnection, entity_name: str, start: datetime, end: datetime) -> bool:
    """A full refresh of a large history goes through a bulk operation."""
    if entity_name not in BULK_ENTITIES or start > HISTORY_START:
        return False
    if not _flag(conn.extra.get("bulk_full_refresh"), True):
        return False
    minimum = int(conn.extra.get("bulk_min_records", DEFAULT_MIN_RECORDS))
    if minimum <= 0:
        return True
    entity = shopify.ENTITIES[entity_name]
    with shopify.client_for(conn) as client:
        body = shopify._ask(
            client,
            shopify.CostBudget(),
            entity.count_query,
            {"query": shopify.search_filter(start, end)},
            entity.name,
        )
    count = ((body.get("data") or {}).get(f"{entity.root_field}Count")) or {}
    # a count Shopify capped (precision AT_LEAST) is large by definition
    return int(count.get("count") or 0) >= minimum or count.get("precision") == "AT_LEAST"


# ---------------------------------------------------------------------- the query


def bulk_query(entity: shopify.Entity, start: datetime, end: datetime) -> str:
    """The entity's paged query as a bulk query: same fields, no paging, a literal search."""
    document = parse(entity.query)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    search = shopify.search_filter(start, end)
    selection = _unpaged(operation.selection_set, search)
    return print_ast(
        OperationDefinitionNode(
            operation=operation.operation,
            name=NameNode(value=f"{operation.name.value}Bulk") if operation.name else None,
            variable_definitions=(),
            directives=(),
            selection_set=selection,
        )
    )


def _unpaged(selection_set: SelectionSetNode | None, search: str) -> SelectionSetNode | None:
    if selection_set is None:
        return None
    fields = []
    for sel in selection_set.selections:
        if not isinstance(sel, FieldNode):
            raise BulkError("bulk queries are built from plain field selections")
        if sel.name.value == "pageInfo":
            continue
        arguments = []
        for arg in sel.arguments:
            if arg.name.value in PAGING_ARGUMENTS:
                continue
            if isinstance(arg.value, VariableNode):
                if arg.value.name.value != "query":
                    raise BulkError(f"cannot inline variable ${arg.value.name.value}")
                arg = ArgumentNode(name=arg.name, value=StringValueNode(value=search))
            arguments.append(arg)
        fields.append(
            FieldNode(
                alias=sel.alias,
                name=sel.name,
                arguments=tuple(arguments),
                directives=sel.directives,
                selection_set=_unpaged(sel.selection_set, search),
            )
        )
    return SelectionSetNode(selections=tuple(fields))


def connection_plan(entity: shopify.Entity) -> dict[str, Any]:
    """The node's nested connections (fields selecting `nodes`), each with its own plan."""
    document = parse(entity.query)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    return _plan(operation.selection_set.selections[0])


def _plan(connection: Any) -> dict[str, Any]:
    inner = {s.name.value: s for s in connection.selection_set.selections}
    node = inner.get("nodes")
    if node is None and "edges" in inner:
        node = next(s for s in inner["edges"].selection_set.selections if s.name.value == "node")
    plan: dict[str, Any] = {}
    for sel in node.selection_set.selections if node is not None else ():
        names = {s.name.value for s in (sel.selection_set.selections if sel.selection_set else ())}
        if names & {"nodes", "edges"}:
            plan[sel.alias.value if sel.alias else sel.name.value] = _plan(sel)
    return plan


# ---------------------------------------------------------------------- the operation


class _Operation:
    """Starts, polls and downloads one bulk operation."""

    def __init__(self, conn: ApiConnection, client: HttpClient, sleep: Any = time.sleep):
        self.client, self.sleep = client, sleep
        self.budget = shopify.CostBudget()
        self.poll_initial = float(conn.extra.get("bulk_poll_initial", 0.5))
        self.poll_max = float(conn.extra.get("bulk_poll_max", 10.0))
        self.timeout = float(conn.extra.get("bulk_timeout", 6 * 3600))
        self.url_refreshes = 0

    def _ask(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = shopify._ask(self.client, self.budget, query, variables or {}, "bulk operation")
        if body.get("errors"):
            raise BulkError(f"bulk operation: {body['errors']}")
        return body["data"]

    def start(self, query: str) -> str:
        """Start the operation; wait out one that is already running for the shop."""
        deadline = time.monotonic() + self.timeout
        while True:
            payload = self._ask(RUN_MUTATION, {"query": query})["bulkOperationRunQuery"]
            errors = payload.get("userErrors") or []
            if not errors:
                return payload["bulkOperation"]["id"]
            if not any(e.get("code") == "OPERATION_IN_PROGRESS" for e in errors):
                raise BulkError("bulk query refused: " + "; ".join(e["message"] for e in errors))
            log.info("another bulk operation is running for the shop; waiting for it to end")
            current = self.current()
            if current and current["status"] not in TERMINAL:
                self.wait(current["id"], deadline)
            elif time.monotonic() > deadline:
                raise BulkError("bulk query refused as in progress until the deadline")
            else:
                self.sleep(self.poll_initial)  # it ended between the two answers

    def current(self) -> dict[str, Any] | None:
        return self._ask(CURRENT_QUERY)["currentBulkOperation"]

    def status(self, op_id: str) -> dict[str, Any]:
        """The operation, through currentBulkOperation, or by id once another has started."""
        op = self.current()
        if op is None or op["id"] != op_id:
            op = self._ask(NODE_QUERY, {"id": op_id})["node"]
        if op is None:
            raise BulkError(f"bulk operation {op_id} is unknown to the shop")
        return op

    def wait(self, op_id: str, deadline: float | None = None) -> dict[str, Any]:
        """Poll with backoff until the operation ends; return its last state.

        The pause between polls grows with the time waited so far (`POLL_SHARE` of it,
        within `bulk_poll_initial` and `bulk_poll_max`), so noticing the end late costs at
        most that share of the operation's own time, not a whole backoff step (a step of 1.6x
        once doubled a small refresh's time when the operation ended just after a poll).
        """
        deadline = deadline or time.monotonic() + self.timeout
        began = time.monotonic()
        while True:
            op = self.status(op_id)
            if op["status"] in TERMINAL:
                return op
            waited = time.monotonic() - began
            delay = min(max(self.poll_initial, POLL_SHARE * waited), self.poll_max)
            if time.monotonic() + delay > deadline:
                raise BulkError(f"bulk operation {op_id} still {op['status']} at the deadline")
            self.sleep(delay)

    def download(self, op: dict[str, Any], dest: Path) -> None:
        """Stream the result to `dest`, asking for a fresh URL whenever one has expired."""
        attempts = 0
        with requests.Session() as session:  # no shop token to the storage host
            while True:
                try:
                    with session.get(op["url"], stream=True, timeout=(5, 120)) as response:
                        if response.status_code in (400, 401, 403):
                            if self.url_refreshes >= MAX_URL_REFRESHES:
                                raise BulkError(f"result URL refused {response.status_code} again")
                            self.url_refreshes += 1
                            log.info("bulk result URL expired; asking for a fresh one")
                            op = self.status(op["id"])
                            continue
                        response.raise_for_status()
                        with dest.open("wb") as out:
                            for chunk in response.iter_content(BLOCK):
                                out.write(chunk)
                    size = op.get("fileSize")
                    if size is not None and dest.stat().st_size != int(size):
                        raise requests.ConnectionError("result cut short")
                    return
                except (
                    requests.ConnectionError,
                    requests.Timeout,
                    requests.exceptions.ChunkedEncodingError,  # a body cut short
                ) as exc:
                    attempts += 1
                    if attempts >= MAX_DOWNLOAD_ATTEMPTS:
                        raise BulkError(f"bulk result download failed: {exc}") from None
                    self.sleep(min(self.poll_initial * 2**attempts, 30.0))
                except requests.HTTPError as exc:
                    status = exc.response.status_code if exc.response is not None else 0
                    attempts += 1
                    if (status < 500 and status != 429) or attempts >= MAX_DOWNLOAD_ATTEMPTS:
                        raise BulkError(f"bulk result download failed: HTTP {status}") from None
                    self.sleep(min(self.poll_initial * 2**attempts, 30.0))


# ---------------------------------------------------------------------- reassembly


def _backwards(path: Path) -> Iterator[bytes]:
    """The file's non-empty lines, last first, reading a block at a time."""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        position, tail = fh.tell(), b""
        while position > 0:
            step = min(BLOCK, position)
            position -= step
            fh.seek(position)
            lines = (fh.read(step) + tail).split(b"\n")
            tail = lines[0]
            for line in reversed(lines[1:]):
                if line.strip():
                    yield line
        if tail.strip():
            yield tail


def reassemble(result: Path, assembled: Path, plan: dict[str, Any]) -> int:
    """Write each root object with its children under it, last root first; return roots.

    Children follow their parent in Shopify's file, so read backwards they come first and
    wait (in memory) only until their parent's line.
    """
    pending: dict[str, list[dict[str, Any]]] = {}
    roots = 0
    with assembled.open("w", encoding="utf-8") as out:
        for line in _backwards(result):
            obj = json.loads(line)
            children = pending.pop(obj["id"], []) if "id" in obj else []
            parent = obj.pop("__parentId", None)
            if parent is None:
                _attach(obj, children, plan)
                out.write(json.dumps(obj, separators=(",", ":")) + "\n")
                roots += 1
            else:
                obj["__children"] = children  # placed once the parent says where it goes
                pending.setdefault(parent, []).append(obj)
    if pending:
        raise BulkError(f"{len(pending)} objects in the result point to a parent it lacks")
    return roots


def _attach(obj: dict[str, Any], children: list[dict[str, Any]], plan: dict[str, Any]) -> None:
    """Put children (read last first) under the parent as `{key: {"nodes": [...]}}`."""
    if children and not plan:
        raise BulkError(f"{obj.get('id')} has children but the query nests no connection")
    buckets: dict[str, list[dict[str, Any]]] = {key: [] for key in plan}
    for child in reversed(children):
        key = _connection_of(child, list(plan))
        _attach(child, child.pop("__children"), plan[key])
        buckets[key].append(child)
    for key, nodes in buckets.items():
        obj[key] = {"nodes": nodes}


def _connection_of(child: dict[str, Any], keys: list[str]) -> str:
    if len(keys) == 1:
        return keys[0]
    gid = child.get("id")
    kind = gid.split("/")[3] if isinstance(gid, str) and gid.startswith("gid://") else None
    for key in keys:
        if NODE_KINDS.get(key) == kind:
            return key
    raise BulkError(f"cannot tell which of {', '.join(keys)} holds {gid}")


# ---------------------------------------------------------------------- landing


def extract_full(
    conn: ApiConnection,
    entity_name: str,
    end: datetime,
    landing_root: Path,
    start: datetime = HISTORY_START,
    sleep: Any = time.sleep,
) -> LandResult:
    """Land every record updated in [start, end) (all history by default) through bulk."""
    entity = shopify.ENTITIES[entity_name]
    shape = SHAPERS.get(entity.name)
    Path(landing_root).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".bulk-", dir=landing_root))
    try:
        with shopify.client_for(conn) as client:
            operation = _Operation(conn, client, sleep)
            op = _complete(operation, bulk_query(entity, start, end))
            result_file = work / "result.jsonl"
            if op.get("url"):
                operation.download(op, result_file)
            else:
                result_file.touch()  # Shopify gives no URL for an empty result
        assembled = work / "assembled.jsonl"
        roots = reassemble(result_file, assembled, connection_plan(entity))
        result_file.unlink()
        with LandingWriter(
            landing_root,
            "shopify",
            entity.name,
            start,
            end,
            updated_field="updatedAt",
            contract=entity.contract,
        ) as writer:
            page: list[Any] = []
            for line in _backwards(assembled):
                record = json.loads(line)
                page.append(shape(record) if shape and isinstance(record, dict) else record)
                if len(page) >= PAGE:
                    writer.write_page(page)
                    page = []
            writer.write_page(page)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = writer.result()
    log.info(
        "shopify %s (bulk %s): %d rows of %d root objects, %d quarantined, %d new URLs -> %s",
        entity.name,
        op["id"],
        result.rows,
        roots,
        result.quarantined,
        operation.url_refreshes,
        result.path.name,
    )
    return result


def _complete(operation: _Operation, query: str) -> dict[str, Any]:
    """Run the bulk query to completion, starting again after a transient failure."""
    for attempt in range(3):
        op = operation.wait(operation.start(query))
        if op["status"] == "COMPLETED":
            return op
        if op.get("errorCode") not in RETRYABLE_FAILURES or attempt == 2:
            raise BulkError(
                f"bulk operation {op['id']} ended {op['status']} ({op.get('errorCode')}); "
                f"{op.get('objectCount')} objects were read"
            )
        log.warning("bulk operation %s failed (%s); running it again", op["id"], op["errorCode"])
    raise AssertionError("unreachable")
