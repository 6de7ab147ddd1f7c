"""Reading ``application/vnd.kubernetes.protobuf`` request bodies into JSON objects.

client-go's typed clients send protobuf to built-in resources since 1.32 and do not fall
back to JSON on a 415, so ``kubectl create deployment|secret|...`` and ``kubectl drain``
need a server that decodes it. The envelope is ``k8s\\0`` + runtime.Unknown{typeMeta,
raw}; ``raw`` is the object's message. Field numbers come from protobuf_fields.json;
fields it does not list are dropped (a real server would keep them).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

Obj = dict[str, Any]


class ProtobufError(ValueError):
    pass


@cache
def fields() -> dict[str, dict[str, list[str]]]:
    table: dict[str, dict[str, list[str]]] = json.loads(
        (Path(__file__).with_name("protobuf_fields.json")).read_text()
    )
    table.pop("_about", None)
    return table


def decode(body: bytes) -> Obj:
    """The object in a protobuf body, with its apiVersion and kind."""
    if not body.startswith(MAGIC):
        raise ProtobufError("provided data does not appear to be a protobuf message")
    unknown = message(body[len(MAGIC) :], "Unknown")
    type_meta = unknown.get("typeMeta") or {}
    kind = str(type_meta.get("kind") or "")
    if kind not in fields():
        raise ProtobufError(f"no protobuf decoder for kind {kind!r}")
    raw = base64.b64decode(unknown.get("raw") or "")
    obj = message(raw, kind)
    return {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **obj}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _wire(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) for each field; length-delimited values as bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        if pos > len(buf):
            raise ProtobufError("truncated message")
        yield number, wire, value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _scalar(kind: str, value: Any) -> Any:
    if kind == "string":
        return bytes(value).decode()
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode()
    if kind == "bool":
        return bool(value)
    return _signed(int(value))


def _special(kind: str, value: bytes) -> Any:
    """The apimachinery types whose JSON form is not an object of their fields."""
    inner = message(value, kind)
    if kind in ("Time", "MicroTime"):
        seconds, nanos = int(inner.get("seconds", 0)), int(inner.get("nanos", 0))
        if not seconds and not nanos:
            return None
        when = datetime.fromtimestamp(seconds, UTC)
        if kind == "MicroTime":
            return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{nanos // 1000:06d}Z"
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "IntOrString":
        return inner.get("strVal", "") if inner.get("type") == 1 else inner.get("intVal", 0)
    if kind == "Quantity":
        return inner.get("string", "")
    if kind == "FieldsV1":
        return json.loads(base64.b64decode(inner.get("Raw") or "") or b"{}")
    if kind == "RawExtension":
        raw = base64.b64decode(inner.get("raw") or "")
        return json.loads(raw) if raw else None
    return inner


# Go pointer fields whose zero value means something (replicas: 0, an immediate delete).
# Other scalars are plain Go fields: their zero value is what JSON's omitempty leaves out.
KEEP_ZERO = {
    "replicas", "gracePeriodSeconds", "terminationGracePeriodSeconds", "activeDeadlineSeconds",
    "revisionHistoryLimit", "progressDeadlineSeconds", "backoffLimit", "parallelism",
    "completions", "automountServiceAccountToken", "readOnlyRootFilesystem",
    "allowPrivilegeEscalation", "runAsNonRoot", "runAsUser", "runAsGroup", "privileged",
    "optional", "immutable", "enableServiceLinks", "shareProcessNamespace", "hostUsers",
    "orphanDependents", "ttlSecondsAfterFinished", "suspend", "readOnly", "defaultMode",
}  # fmt: skip
SPECIAL = {"Time", "MicroTime", "IntOrString", "Quantity", "FieldsV1", "RawExtension"}
SCALARS = {"string", "bytes", "bool", "int32", "int64"}


def _value(kind: str, wire: int, value: Any) -> list[Any]:
    if kind in SCALARS:
        if wire == 2 and kind not in ("string", "bytes"):  # packed repeated numbers
            out, pos, buf = [], 0, bytes(value)
            while pos < len(buf):
                number, pos = _varint(buf, pos)
                out.append(_scalar(kind, number))
            return out
        return [_scalar(kind, value)]
    if kind in SPECIAL:
        return [_special(kind, bytes(value))]
    return [message(bytes(value), kind)]


def message(buf: bytes, name: str) -> Obj:
    """One message as the JSON object it stands for; unset times and zero scalars (but
    KEEP_ZERO's) left out, as the server's Go structs and JSON encoder would."""
    schema = fields().get(name, {})
    out: Obj = {}
    for number, wire, value in _wire(buf):
        entry = schema.get(str(number))
        if entry is None:
            continue
        key, kind = entry
        repeated = kind.endswith("[]")
        kind = kind.removesuffix("[]")
        if kind.startswith("map:"):
            vkind = kind[4:]
            pair = {n: v for n, _, v in _wire(bytes(value))}
            length_delimited = vkind not in SCALARS or vkind in ("string", "bytes")
            item = _value(
                vkind, 2 if length_delimited else 0, pair.get(2, b"" if length_delimited else 0)
            )
            out.setdefault(key, {})[_scalar("string", pair.get(1, b""))] = item[0]
            continue
        values = [v for v in _value(kind, wire, value) if v is not None]
        if repeated:
            out.setdefault(key, []).extend(values)
        elif values and (values[-1] not in ("", 0, False) or key in KEEP_ZERO):
            out[key] = values[-1]
    return out
