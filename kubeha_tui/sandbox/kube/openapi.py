"""The posed version's real schemas: /openapi/v3 for clients, and the server's own
decoding rules with them (unknown fields pruned, or refused under
``fieldValidation=Strict``; wrong types refused as Go's decoder refuses them).

The schemas are the Kubernetes definitions the ``kubernetes-validate`` package ships
per version, unpacked by scripts/bootstrap.sh into ``VENV/kubernetes-schemas``.
A pose without schemas (1.5: older than any shipped) serves no OpenAPI, as 1.5 did not.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

Obj = dict[str, Any]
JSON_KINDS: dict[str, type | tuple[type, ...]] = {
    "object": dict, "array": list, "string": str, "integer": int, "number": (int, float),
    "boolean": bool,
}  # fmt: skip
GO_KINDS = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "bool",
    int: "number",
    float: "number",
}
# Formats whose JSON value is not what the schema's type says.
LOOSE = {"int-or-string", "quantity"}


def schema_dir() -> Path:
    return Path(os.environ.get("KUBEHA_SANDBOX_SCHEMAS", Path(sys.prefix) / "kubernetes-schemas"))


@cache
def definitions(version: str) -> dict[str, Obj] | None:
    """``io.k8s...`` name -> schema in OpenAPI form, or None without schemas."""
    path = schema_dir() / version / "_definitions.json"
    if not path.is_file():
        return None
    raw: dict[str, Obj] = json.loads(path.read_text())["$defs"]
    return {name: _openapi(schema, name) for name, schema in raw.items()}


def _openapi(schema: Any, name: str = "") -> Any:
    """JSON-schema spellings back to the apiserver's OpenAPI ones."""
    if isinstance(schema, list):
        return [_openapi(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if name.endswith("intstr.IntOrString"):
        return {
            "type": "string",
            "format": "int-or-string",
            "description": schema.get("description", ""),
        }
    if name.endswith("resource.Quantity"):
        return {
            "type": "string",
            "format": "quantity",
            "description": schema.get("description", ""),
        }
    out: Obj = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, list):
            out[key] = next((t for t in value if t != "null"), "object")
        elif key == "$ref":
            out[key] = "#/components/schemas/" + value.rsplit("/", 1)[-1]
        elif key == "properties":
            out[key] = {k: _openapi(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "allOf", "oneOf"):
            out[key] = _openapi(value)
        else:
            out[key] = value
    return out


def _refs(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        found = {ref.rsplit("/", 1)[-1]} if isinstance(ref, str) else set()
        return found.union(*(_refs(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_refs(v) for v in schema))
    return set()


@cache
def _gvk_index(version: str) -> dict[tuple[str, str, str], str]:
    return {
        (g.get("group", ""), g.get("version", ""), g.get("kind", "")): name
        for name, schema in (definitions(version) or {}).items()
        for g in schema.get("x-kubernetes-group-version-kind") or []
    }


def definition_for(version: str, group: str, api_version: str, kind: str) -> str | None:
    return _gvk_index(version).get((group, api_version, kind))


def group_version_doc(
    schemas_version: str, git_version: str, group: str, version: str, resources: list[Any]
) -> Obj:
    """An OpenAPI v3 document for one group version: each resource's item path with its
    PATCH operation (and the fieldValidation parameter kubectl looks for), and the
    schemas those kinds reach."""
    defs = definitions(schemas_version) or {}
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    paths: Obj = {}
    wanted: set[str] = set()
    for res in resources:
        name = definition_for(schemas_version, group, version, res.kind)
        if name is None:
            continue
        wanted.add(name)
        gvk = {"group": group, "version": version, "kind": res.kind}
        ref = {"$ref": f"#/components/schemas/{name}"}
        where = (
            f"{prefix}/namespaces/{{namespace}}/{res.plural}/{{name}}"
            if res.namespaced
            else f"{prefix}/{res.plural}/{{name}}"
        )
        body = {"content": {"application/json": {"schema": ref}}}
        paths[where] = {
            "get": {"operationId": f"read{res.kind}", "x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk,
                    "responses": {"200": body}},
            "put": {"operationId": f"replace{res.kind}", "x-kubernetes-action": "put", "x-kubernetes-group-version-kind": gvk,
                    "parameters": WRITE_PARAMS, "requestBody": body, "responses": {"200": body}},
            "patch": {"operationId": f"patch{res.kind}", "x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": gvk,
                      "parameters": [*WRITE_PARAMS, _query("force", "boolean")],
                      "requestBody": {"content": {t: {"schema": {"type": "object"}} for t in PATCH_TYPES}},
                      "responses": {"200": body}},
            "delete": {"operationId": f"delete{res.kind}", "x-kubernetes-action": "delete", "x-kubernetes-group-version-kind": gvk,
                       "responses": {"200": body}},
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "uniqueItems": True}},
                *([{"name": "namespace", "in": "path", "required": True, "schema": {"type": "string", "uniqueItems": True}}] if res.namespaced else []),
                _query("pretty"),
            ],
        }  # fmt: skip
    schemas: Obj = {}
    todo = sorted(wanted)
    while todo:
        name = todo.pop()
        if name in schemas or name not in defs:
            continue
        schemas[name] = defs[name]
        todo += sorted(_refs(defs[name]) - set(schemas))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": git_version},
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.items()))},
    }


def _query(name: str, kind: str = "string") -> Obj:
    return {"name": name, "in": "query", "schema": {"type": kind, "uniqueItems": True}}


WRITE_PARAMS = [_query("dryRun"), _query("fieldManager"), _query("fieldValidation")]
PATCH_TYPES = (
    "application/json-patch+json", "application/merge-patch+json",
    "application/strategic-merge-patch+json", "application/apply-patch+yaml",
)  # fmt: skip


def doc_hash(doc: Obj) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:128].upper()


# -- decoding with the schemas -------------------------------------------------------


@dataclass
class Decoded:
    obj: Obj
    unknown: list[str] = field(default_factory=list)  # "spec.foo", as the apiserver names them


class TypeMismatch(ValueError):
    """A value of the wrong JSON type, in Go's json decoder words; ``want`` is the Go
    type of the field, ``got`` the JSON type of the value (for the patch decoder's words)."""

    def __init__(self, message: str, want: str, got: Any) -> None:
        super().__init__(message)
        self.want, self.got = want, got

    def unstructured(self) -> str:
        """The same mismatch as apimachinery's unstructured converter words it (a strategic
        merge patch is decoded that way)."""
        got = {dict: "map", list: "slice", str: "string", bool: "bool", int: "int64",
               float: "float64"}.get(type(self.got), "interface")  # fmt: skip
        if self.want in ("map", "struct", "[]"):
            into = {"map": "map from", "struct": "struct from:", "[]": "slice from"}[self.want]
            return f"cannot restore {into} {got}"
        if got in ("int64", "float64") and self.want == "string":
            return f"cannot convert {got} to string"
        if got == "float64" and self.want in ("int32", "int64"):
            return f"cannot convert float64 to {self.want}"
        return f"unrecognized type: {self.want}"


def decode(defs: dict[str, Obj], root: str, obj: Obj) -> Decoded:
    """Prune fields the schema does not know (listed in ``unknown``); TypeMismatch in Go's
    words for a value of the wrong JSON type."""
    out = Decoded(copy.deepcopy(obj))
    _Walk(defs, out.unknown).check(defs[root], out.obj, "", root.rsplit(".", 1)[-1])
    return out


@dataclass
class _Walk:
    defs: dict[str, Obj]
    unknown: list[str]

    def resolve(self, schema: Obj) -> Obj:
        while isinstance(schema.get("$ref"), str):
            schema = self.defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
        return schema

    def check(self, schema: Obj, value: Any, path: str, struct: str) -> None:
        ref = schema.get("$ref")
        struct = ref.rsplit(".", 1)[-1] if isinstance(ref, str) else struct
        schema = self.resolve(schema)
        kind = schema.get("type")
        if value is None or schema.get("format") in LOOSE or kind not in JSON_KINDS:
            return
        if not _is(value, kind):
            want = {"integer": str(schema.get("format") or "int64"), "number": "float64",
                    "boolean": "bool", "array": "[]",
                    "object": "struct" if "properties" in schema else "map"}.get(kind, kind)  # fmt: skip
            where = f"{struct}.{path}" if path else struct
            got = GO_KINDS.get(type(value), "value")
            raise TypeMismatch(
                f"json: cannot unmarshal {got} into Go struct field {where} of type "
                f"{'map' if want == 'struct' else want}",
                str(want),
                value,
            )
        if kind == "array":
            for i, item in enumerate(value):
                self.check(schema.get("items") or {}, item, f"{path}[{i}]", struct)
        elif kind == "object" and "properties" in schema:
            props = schema["properties"]
            for key in list(value):
                if key in props:
                    self.check(props[key], value[key], _join(path, key), struct)
                else:
                    self.unknown.append(_join(path, key))
                    del value[key]
        elif kind == "object" and isinstance(schema.get("additionalProperties"), dict):
            for item in value.values():  # Go names the map, not the key, in errors
                self.check(schema["additionalProperties"], item, path, struct)


def _is(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, JSON_KINDS[kind])


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
