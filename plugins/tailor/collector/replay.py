"""Post a file of track/identify calls (JSON Lines) to the collector, signed, in batches.

Safe to repeat: the collector de-duplicates by messageId, so a replay after a failure (or a
retried batch) stores nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tailor.collector import signing
from tailor.collector.validate import MAX_BATCH_BYTES
from tailor.http import HttpClient

DEFAULT_BATCH = 500
_ENVELOPE = len(b'{"batch":[]}')


def batches(path: Path, size: int) -> Iterator[list[bytes]]:
    """The file's lines as batches of at most `size` calls and MAX_BATCH_BYTES bytes."""
    batch: list[bytes] = []
    used = _ENVELOPE
    with path.open("rb") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            if batch and (len(batch) >= size or used + len(line) + 1 > MAX_BATCH_BYTES):
                yield batch
                batch, used = [], _ENVELOPE
            batch.append(line)
            used += len(line) + 1
    if batch:
        yield batch


def replay(path: Path, url: str, secret: str, batch_size: int = DEFAULT_BATCH) -> dict[str, Any]:
    """Send every call in `path`; return counts of what the collector stored and refused."""
    totals: dict[str, Any] = {"sent": 0, "accepted": 0, "duplicates": 0, "rejected": 0}
    reasons: dict[str, int] = {}
    with HttpClient(url, secrets=[secret]) as client:
        for batch in batches(path, batch_size):
            body = b'{"batch":[' + b",".join(batch) + b"]}"
            headers = {
                "Content-Type": "application/json",
                signing.TAILOR_HEADER: signing.sign(secret, body),
            }
            answer = client.request(
                "POST", "/v1/batch", data=body, headers=headers, parse_json=True
            ).json()
            totals["sent"] += len(batch)
            totals["accepted"] += answer["accepted"]
            totals["duplicates"] += answer["duplicates"]
            totals["rejected"] += len(answer["rejected"])
            for refusal in answer["rejected"]:
                reasons[refusal["reason"]] = reasons.get(refusal["reason"], 0) + 1
    totals["rejected_reasons"] = reasons
    return totals
