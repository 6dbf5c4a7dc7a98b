"""How a client call travels through Redis: arguments as JSON with image bytes replaced by the keys
of short-lived Redis entries, and a reply envelope pushed onto a per-request list."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ConfigDict, TypeAdapter

from worker.client import OPERATIONS
from worker.domain.timing import RequestTiming
from worker.errors import RapError
from worker.schemas import Requester

BLOB_PREFIX = "rapbot:blob:"
REPLY_PREFIX = "rapbot:reply:"
DONE_PREFIX = "rapbot:done:"
DELIVERIES_PREFIX = "rapbot:deliveries:"
DEAD_LETTERS_KEY = "rapbot:deadletters"  # requests set aside (`rapbot deadletters list`)

# Errors worth trying again with the same request id: not remembered as the request's answer.
TRANSIENT_CODES = frozenset({"backend_down", "timeout", "out_of_memory", "internal", "store_unavailable"})

_BYTES_CONFIG = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")


def result_adapter(method: str) -> TypeAdapter[Any]:
    result_type = OPERATIONS[method].result_type
    if result_type is bytes:
        return TypeAdapter(bytes, config=_BYTES_CONFIG)
    return TypeAdapter(result_type)


def blob_key(request_id: str, index: int) -> str:
    return f"{BLOB_PREFIX}{request_id}:{index}"


def reply_key(request_id: str) -> str:
    return REPLY_PREFIX + request_id


def done_key(request_id: str) -> str:
    return DONE_PREFIX + request_id


def deliveries_key(request_id: str) -> str:
    """How many times a worker has started this request (counted before it reads the done key)."""
    return DELIVERIES_PREFIX + request_id


def encode_kwargs(kwargs: dict[str, Any], request_id: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """JSON-able arguments plus the blobs to put in Redis first (image bytes by reference)."""
    blobs: dict[str, bytes] = {}

    def by_reference(data: bytes) -> str:
        key = blob_key(request_id, len(blobs))
        blobs[key] = data
        return key

    encoded: dict[str, Any] = {}
    for name, value in kwargs.items():
        if isinstance(value, Requester):
            encoded[name] = value.model_dump(mode="json")
        elif name == "images":
            encoded[name] = [by_reference(data) for data in value]
        elif name == "image" and value is not None:
            encoded[name] = by_reference(value)
        else:
            encoded[name] = value
    return encoded, blobs


def ok_envelope(method: str, result: Any, timing: RequestTiming) -> str:
    return json.dumps({"ok": True, "result": result_adapter(method).dump_json(result).decode(), **timing.as_json()})


def error_envelope(error: RapError) -> str:
    return json.dumps({"ok": False, "code": error.code, "message": error.message})


def open_envelope(method: str, raw: bytes | str) -> tuple[Any, RequestTiming]:
    """The result and where the worker spent its time; RapError when it failed."""
    envelope = json.loads(raw)
    if not envelope["ok"]:
        raise RapError(envelope["code"], envelope["message"])
    return result_adapter(method).validate_json(envelope["result"]), RequestTiming.from_json(envelope)


def outcome_of(envelope: str | bytes) -> str:
    """A reply envelope's outcome (worker.transport.wire): "ok", or its error code."""
    try:
        data = json.loads(envelope)
    except ValueError:
        return "other"
    if data.get("ok"):
        return "ok"
    return str(data.get("code") or "other")


def timing_of(envelope: str | bytes) -> RequestTiming | None:
    """The timing an ok envelope carries (errors carry none)."""
    try:
        data = json.loads(envelope)
    except ValueError:
        return None
    return RequestTiming.from_json(data) if data.get("ok") else None
