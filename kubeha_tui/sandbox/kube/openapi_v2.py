"""/openapi/v2: the posed version's definitions as Swagger 2.0, in JSON or in the
protobuf form (gnostic's openapi_v2.Document) that kubectl 1.20 asks for before it
validates, applies or edits. Field numbers: gnostic's OpenAPIv2.proto."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from .openapi import Obj, definitions

# Clients ask with either spelling; the answer uses the one Go's mime package parses.
PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
PROTOBUF_ALIASES = (PROTOBUF, "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")


def _swagger_refs(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {
            k: (v.replace("#/components/schemas/", "#/definitions/") if k == "$ref" and isinstance(v, str) else _swagger_refs(v))
            for k, v in schema.items()
        }  # fmt: skip
    if isinstance(schema, list):
        return [_swagger_refs(v) for v in schema]
    return schema


@cache
def swagger(schemas: str, git_version: str) -> Obj | None:
    defs = definitions(schemas)
    if defs is None:
        return None
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": git_version},
        "paths": {},
        "definitions": {name: _swagger_refs(s) for name, s in sorted(defs.items())},
    }


# -- protobuf encoding ----------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _len(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _str(number: int, text: str) -> bytes:
    return _len(number, text.encode()) if text else b""


def _named(name: str, value: bytes) -> bytes:
    return _str(1, name) + _len(2, value)


def _any_yaml(value: Any) -> bytes:
    return _str(2, json.dumps(value))  # JSON is YAML; kubectl reads Any.yaml


def _schema(s: Obj) -> bytes:
    out = bytearray()
    if isinstance(s.get("$ref"), str):
        out += _str(1, s["$ref"])
    out += _str(2, str(s.get("format", "")))
    out += _str(4, str(s.get("description", "")))
    for name in s.get("required") or []:
        out += _str(19, name)
    for value in s.get("enum") or []:
        out += _len(20, _any_yaml(value))
    extra = s.get("additionalProperties")
    if isinstance(extra, dict):
        out += _len(21, _len(1, _schema(extra)))
    elif isinstance(extra, bool):
        out += _len(21, _varint(2 << 3) + _varint(int(extra)))
    if s.get("type"):
        out += _len(22, _str(1, str(s["type"])))
    if isinstance(s.get("items"), dict):
        out += _len(23, _len(1, _schema(s["items"])))
    for part in s.get("allOf") or []:
        out += _len(24, _schema(part))
    if s.get("properties"):
        props = b"".join(
            _len(1, _named(name, _schema(sub))) for name, sub in s["properties"].items()
        )
        out += _len(25, props)
    for key, value in s.items():
        if key.startswith("x-"):
            out += _len(31, _named(key, _any_yaml(value)))
    return bytes(out)


@cache
def document(schemas: str, git_version: str) -> bytes | None:
    doc = swagger(schemas, git_version)
    if doc is None:
        return None
    info = _str(1, "Kubernetes") + _str(2, git_version)
    defs = b"".join(_len(1, _named(n, _schema(s))) for n, s in doc["definitions"].items())
    return _str(1, "2.0") + _len(2, info) + _len(9, defs)
