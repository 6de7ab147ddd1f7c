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


# (group, version, plural, kind, namespaced) of each resource a pose serves
Served = tuple[tuple[str, str, str, str, bool], ...]
PATCH_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force")


def _item_path(group: str, version: str, plural: str, namespaced: bool) -> str:
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    where = f"/namespaces/{{namespace}}/{plural}" if namespaced else f"/{plural}"
    return f"{prefix}{where}/{{name}}"


@cache
def swagger(schemas: str, git_version: str, served: Served = ()) -> Obj | None:
    """The Swagger document: the definitions, and each resource's PATCH operation with the
    parameters kubectl 1.20 looks for before a server-side dry run (``kubectl diff``)."""
    defs = definitions(schemas)
    if defs is None:
        return None
    paths = {
        _item_path(g, v, plural, namespaced): {"patch": {
            "operationId": f"patch{kind}",
            "parameters": [{"name": n, "in": "query", "type": "string", "uniqueItems": True}
                           for n in PATCH_PARAMS],
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": g, "version": v, "kind": kind},
        }}
        for g, v, plural, kind, namespaced in served
    }  # fmt: skip
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": git_version},
        "paths": paths,
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


def _operation(op: Obj) -> bytes:
    """An Operation: its id, query parameters (ParametersItem > Parameter >
    NonBodyParameter > QueryParameterSubSchema) and vendor extensions."""
    out = bytearray(_str(5, op["operationId"]))
    for param in op["parameters"]:
        query = _str(2, "query") + _str(4, param["name"]) + _str(6, param["type"])
        out += _len(8, _len(1, _len(2, _len(3, query))))
    for key, value in op.items():
        if key.startswith("x-"):
            out += _len(13, _named(key, _any_yaml(value)))
    return bytes(out)


@cache
def document(schemas: str, git_version: str, served: Served = ()) -> bytes | None:
    doc = swagger(schemas, git_version, served)
    if doc is None:
        return None
    info = _str(1, "Kubernetes") + _str(2, git_version)
    paths = b"".join(
        _len(2, _str(1, where) + _len(2, _len(8, _operation(item["patch"]))))
        for where, item in doc["paths"].items()
    )
    defs = b"".join(_len(1, _named(n, _schema(s))) for n, s in doc["definitions"].items())
    return _str(1, "2.0") + _len(2, info) + _len(8, paths) + _len(9, defs)
