"""Shopify bulk query operations, as the Admin API (2025-01) runs them.

``bulkOperationRunQuery(query:)`` validates the inner query against the real schema and
Shopify's bulk rules (at least one connection, at most five, nested at most two deep, a
parent of a nested connection selects ``id``) and answers ``userErrors`` as Shopify words
them; while an operation runs, a second one for the shop is refused with
``OPERATION_IN_PROGRESS``. The operation runs in a background thread, status CREATED ->
RUNNING -> COMPLETED (or FAILED with ``errorCode`` and ``partialDataUrl``);
``currentBulkOperation`` and ``node(id:)`` report it.

The result is JSON Lines: one object per line; the nodes of a nested connection are lines
of their own with ``__parentId``, after their parent but not directly after it (a chunk of
parents, then their children), so a client has to reassemble them as for the real API.
It is served at a signed URL that expires like a signed Cloud Storage URL: after
``url_ttl`` seconds it answers 403, and the client must ask ``currentBulkOperation`` again
for a fresh one. ``url_ttl`` defaults to Shopify's seven days (``SANDBOX_BULK_URL_TTL``).

Tests steer it through attributes: ``gate`` (an Event; cleared, operations stay RUNNING),
``fail_after`` (objects written before the operation fails with INTERNAL_SERVER_ERROR),
``url_ttl``; and read ``expired_refusals``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import tempfile
import threading
import time
import weakref
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLResolveInfo,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    execute,
    get_named_type,
    parse,
    validate,
    value_from_ast_untyped,
)

from sandbox.http_base import Request, Response

PREFIX = "/bulk-results/"
CHUNK = 250  # root objects executed (and written) at a time
MAX_CONNECTIONS = 5
MAX_DEPTH = 2
SEVEN_DAYS = 7 * 86_400.0
TERMINAL = ("COMPLETED", "FAILED", "CANCELED", "EXPIRED")
# root connection -> (the stand-in's collection attribute, its default sort key)
ROOTS = {
    "customers": ("customers", "ID"),
    "orders": ("orders", "PROCESSED_AT"),
    "products": ("products", "ID"),
    "abandonedCheckouts": ("checkouts", "ID"),
}


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class InvalidBulkQuery(ValueError):
    pass


class _Plan:
    """Which response keys of a node are nested connections, and their own plans."""

    def __init__(self) -> None:
        self.connections: dict[str, tuple[str, _Plan]] = {}  # key -> ("nodes"|"edges", plan)
        self.selects_id = False


class BulkOperations:
    """The shop's bulk query operations; also the stand-in that serves their results."""

    prefix = PREFIX

    def __init__(self, shopify: Any, url_ttl: float | None = None) -> None:
        self.shopify = shopify
        ttl = os.environ.get("SANDBOX_BULK_URL_TTL")
        self.url_ttl = url_ttl if url_ttl is not None else float(ttl or SEVEN_DAYS)
        self.directory = Path(tempfile.mkdtemp(prefix="shopify-bulk-"))
        weakref.finalize(self, shutil.rmtree, self.directory, True)  # results die with the shop
        self.gate = threading.Event()
        self.gate.set()
        self.fail_after: int | None = None
        self.expired_refusals = 0
        self.host = "127.0.0.1"
        self._key = os.urandom(16)
        self._ops: dict[str, dict[str, Any]] = {}
        self._current: str | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ GraphQL fields

    def resolve(self, name: str, args: dict[str, Any]) -> Any:
        if name == "bulkOperationRunQuery":
            return self.run_query(args["query"])
        if name == "currentBulkOperation":
            if (args.get("type") or "QUERY") != "QUERY":
                return None  # the sandbox runs no bulk mutations
            return self._view(self._current) if self._current else None
        if name == "node":
            return self._view(args["id"]) if args["id"] in self._ops else None
        raise GraphQLError(f"Field '{name}' is not available in the sandbox")

    def run_query(self, query: str) -> dict[str, Any]:
        try:
            document, root, plan = self._check(query)
        except InvalidBulkQuery as exc:
            return _refused(str(exc), "INVALID", ["query"])
        with self._lock:
            current = self._ops.get(self._current or "")
            if current and current["status"] not in TERMINAL:
                return _refused(
                    "A bulk query operation for this app and shop is already in progress: "
                    f"{current['id']}.",
                    "OPERATION_IN_PROGRESS",
                    None,
                )
            gid = f"gid://shopify/BulkOperation/{1_000_000 + len(self._ops) + 1}"
            op = {
                "id": gid,
                "status": "CREATED",
                "errorCode": None,
                "createdAt": _now_iso(),
                "completedAt": None,
                "objectCount": "0",
                "rootObjectCount": "0",
                "fileSize": None,
                "query": query,
                "type": "QUERY",
                "_path": None,
                "_partial": False,
            }
            self._ops[gid] = op
            self._current = gid
        threading.Thread(
            target=self._run, args=(op, document, root, plan), daemon=True, name="bulk-op"
        ).start()
        return {"bulkOperation": self._view(gid), "userErrors": []}

    def _view(self, gid: str) -> dict[str, Any]:
        """The operation as the API shows it, with freshly signed URLs."""
        op = self._ops[gid]
        view = {k: v for k, v in op.items() if not k.startswith("_")}
        path = op["_path"]
        done = op["status"] == "COMPLETED" and int(op["objectCount"]) > 0
        view["url"] = self._sign(path) if done and path else None
        view["partialDataUrl"] = self._sign(path) if op["_partial"] and path else None
        return view

    # ------------------------------------------------------------------ validation

    def _check(self, query: str) -> tuple[Any, FieldNode, _Plan]:
        schema = self.shopify.schema
        try:
            document = parse(query)
        except GraphQLError as exc:
            raise InvalidBulkQuery(f"Invalid bulk query: {exc.message}") from None
        errors = validate(schema, document)
        if errors:
            from sandbox.shopify import _shopify_validation_error

            message = _shopify_validation_error(errors[0])["message"]
            raise InvalidBulkQuery(f"Invalid bulk query: {message}")
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) != 1 or operations[0].operation.value != "query":
            raise InvalidBulkQuery("Invalid bulk query: the document must hold one query")
        if operations[0].variable_definitions:
            raise InvalidBulkQuery("Invalid bulk query: bulk queries take no variables")
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        roots = _fields(operations[0].selection_set, fragments)
        counter = {"connections": 0}
        plans = [self._plan(f, schema.query_type, fragments, counter, depth=0) for f in roots]
        if counter["connections"] == 0:
            raise InvalidBulkQuery("Bulk queries must contain at least one connection.")
        if counter["connections"] > MAX_CONNECTIONS:
            raise InvalidBulkQuery(
                f"Bulk queries cannot contain more than {MAX_CONNECTIONS} connections."
            )
        if len(roots) != 1 or roots[0].name.value not in ROOTS:
            served = ", ".join(sorted(ROOTS))
            raise InvalidBulkQuery(
                f"Invalid bulk query: the sandbox runs one root connection of: {served}"
            )
        return document, roots[0], plans[0]

    def _plan(
        self,
        node: FieldNode,
        parent: Any,
        fragments: dict[str, FragmentDefinitionNode],
        counter: dict[str, int],
        depth: int,
    ) -> _Plan:
        """The plan of the node type below `node` if it is a connection; checks the rules."""
        field = parent.fields[node.name.value]
        named = get_named_type(field.type)
        plan = _Plan()
        if not named.name.endswith("Connection"):
            return plan
        counter["connections"] += 1
        if depth + 1 > MAX_DEPTH:
            raise InvalidBulkQuery(
                "Bulk queries cannot contain connections with a nesting depth greater than "
                f"{MAX_DEPTH}."
            )
        node_type = get_named_type(named.fields["nodes"].type)
        for inner in _fields(node.selection_set, fragments):
            if inner.name.value == "nodes":
                selection = inner.selection_set
            elif inner.name.value == "edges":
                edge = next(
                    (f for f in _fields(inner.selection_set, fragments) if f.name.value == "node"),
                    None,
                )
                selection = edge.selection_set if edge else None
            else:
                continue
            for child in _fields(selection, fragments):
                key = child.alias.value if child.alias else child.name.value
                if child.name.value == "id" and not child.alias:
                    plan.selects_id = True
                if isinstance(node_type, GraphQLObjectType) and child.name.value in (
                    node_type.fields
                ):
                    sub = self._plan(child, node_type, fragments, counter, depth + 1)
                    if get_named_type(node_type.fields[child.name.value].type).name.endswith(
                        "Connection"
                    ):
                        plan.connections[key] = (_shape(child, fragments), sub)
        if plan.connections and not plan.selects_id:
            raise InvalidBulkQuery(
                "The parent 'node' field for a nested connection must select the 'id' field "
                "without an alias and must be of 'ID' return type. Connection fields without "
                f"'id': {', '.join(plan.connections)}."
            )
        return plan

    # ------------------------------------------------------------------ running

    def _run(self, op: dict[str, Any], document: Any, root: FieldNode, plan: _Plan) -> None:
        op["status"] = "RUNNING"
        self.gate.wait()
        path = self.directory / f"{op['id'].rsplit('/', 1)[-1]}.jsonl"
        op["_path"] = path
        args = {a.name.value: value_from_ast_untyped(a.value, {}) for a in root.arguments}
        attribute, default_sort = ROOTS[root.name.value]
        collection = getattr(self.shopify, attribute)
        records = collection.view(args.get("sortKey") or default_sort, args.get("query")).records
        if args.get("reverse"):
            records = records[::-1]
        key = root.alias.value if root.alias else root.name.value
        objects = roots = 0
        try:
            with path.open("w", encoding="utf-8") as out:
                for start in range(0, len(records), CHUNK):
                    chunk = records[start : start + CHUNK]
                    result = execute(
                        self.shopify.schema,
                        document,
                        context_value={"actual": 0, "chunk": chunk},
                        field_resolver=self._resolve,
                        type_resolver=_type_of,
                    )
                    if result.errors:
                        raise RuntimeError(result.errors[0].message)
                    parents, children = [], []
                    for node in _nodes(result.data[key]):
                        parents.append(_strip(node, plan))
                        children.extend(_children(node, plan))
                    for line in (*parents, *children):
                        if self.fail_after is not None and objects >= self.fail_after:
                            raise RuntimeError("injected failure")
                        out.write(json.dumps(line, separators=(",", ":")) + "\n")
                        objects += 1
                    roots += len(parents)
                    op["objectCount"], op["rootObjectCount"] = str(objects), str(roots)
        except RuntimeError:
            op.update(status="FAILED", errorCode="INTERNAL_SERVER_ERROR", _partial=objects > 0)
            op["objectCount"], op["rootObjectCount"] = str(objects), str(roots)
            return
        op["fileSize"] = str(path.stat().st_size)
        op.update(status="COMPLETED", completedAt=_now_iso())

    def _resolve(self, source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        """The stand-in's resolver, except that connections hold every node: no paging."""
        if info.parent_type.name == "QueryRoot":
            return _whole(info.context["chunk"])
        named = get_named_type(info.return_type)
        if isinstance(source, dict) and named.name.endswith("Connection"):
            value = source.get(info.field_name)
            if isinstance(value, list):
                return _whole(value)
            return self.shopify._derived(
                source, info.parent_type.name, info.field_name, {**args, "first": 250}
            )
        return self.shopify._resolve(source, info, **args)

    # ------------------------------------------------------------------ downloads

    def _signature(self, name: str, expires: int) -> str:
        return hmac.new(self._key, f"{name}:{expires}".encode(), hashlib.sha256).hexdigest()

    def _sign(self, path: Path) -> str:
        expires = int(time.time() + self.url_ttl)
        query = f"X-Goog-Expires={expires}&X-Goog-Signature={self._signature(path.name, expires)}"
        return f"http://{self.host}{PREFIX}{path.name}?{query}"

    def handle(self, req: Request) -> Response:
        name = req.path[len(PREFIX) :]
        expires = req.query_value("X-Goog-Expires") or ""
        signature = req.query_value("X-Goog-Signature") or ""
        path = self.directory / name
        if (
            not expires.isdigit()
            or not hmac.compare_digest(signature, self._signature(name, int(expires)))
            or "/" in name
        ):
            return _storage_error(403, "SignatureDoesNotMatch", "The request signature is invalid.")
        if time.time() > int(expires):
            self.expired_refusals += 1
            return _storage_error(403, "AccessDenied", "Request has expired.")
        if not path.exists():
            return _storage_error(404, "NoSuchKey", "The specified key does not exist.")
        # the file itself: the server streams it, so a large result is never held in memory
        return Response(200, path, {"Content-Type": "application/jsonl"})


# ---------------------------------------------------------------------- helpers


def _refused(message: str, code: str, field: list[str] | None) -> dict[str, Any]:
    return {
        "bulkOperation": None,
        "userErrors": [{"field": field, "message": message, "code": code}],
    }


def _storage_error(status: int, code: str, message: str) -> Response:
    body = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return Response(status, body, {"Content-Type": "application/xml; charset=UTF-8"})


def _fields(
    selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode]
) -> list[FieldNode]:
    """The fields of a selection set, with fragments spread in."""
    out: list[FieldNode] = []
    for sel in selection_set.selections if selection_set else ():
        if isinstance(sel, FieldNode):
            out.append(sel)
        elif isinstance(sel, InlineFragmentNode):
            out.extend(_fields(sel.selection_set, fragments))
        elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments:
            out.extend(_fields(fragments[sel.name.value].selection_set, fragments))
    return out


def _shape(field: FieldNode, fragments: dict[str, FragmentDefinitionNode]) -> str:
    names = {f.name.value for f in _fields(field.selection_set, fragments)}
    return "nodes" if "nodes" in names else "edges"


def _whole(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "edges": [{"cursor": "", "node": item} for item in items],
        "nodes": items,
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
    }


def _nodes(connection: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not connection:
        return []
    if connection.get("nodes") is not None:
        return connection["nodes"]
    return [edge["node"] for edge in connection.get("edges") or []]


def _strip(node: dict[str, Any], plan: _Plan) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in plan.connections}


def _children(node: dict[str, Any], plan: _Plan) -> list[dict[str, Any]]:
    """The nested connections' nodes as lines of their own, each after its own children."""
    lines: list[dict[str, Any]] = []
    for key, (_shape_name, sub) in plan.connections.items():
        for child in _nodes(node.get(key)):
            lines.append({**_strip(child, sub), "__parentId": node["id"]})
            lines.extend(_children(child, sub))
    return lines


def _type_of(value: Any, info: GraphQLResolveInfo, abstract: Any) -> str | None:
    from sandbox.shopify import _type_of as shopify_type_of

    return shopify_type_of(value, info, abstract)
