"""How the apiserver decodes what a PATCH produces, and the configuration of an apply,
with the posed version's schemas, and the words it refuses them in."""

from __future__ import annotations

import json
from typing import Any

import yaml

from . import managed, objects, openapi
from .resources import api_version
from .store import ApiError, Obj

GVK = tuple[str, str, str]  # group, version, kind
STRATEGIC = "application/strategic-merge-patch+json"


def decoded(
    schemas: str, gvk: GVK, ctype: str, patch: Any, patched: Obj, *, validation: str,
    warnings: list[str] | None,
) -> Obj:  # fmt: skip
    """The patched object as the schema decodes it: a wrong type refused (422 on the field
    ``patch``), unknown fields pruned, warned of, or refused under Strict."""
    name = schemas and openapi.definition_for(schemas, *gvk)
    defs = openapi.definitions(schemas) if name else None
    if not name or defs is None:
        return patched
    strategic = ctype == STRATEGIC
    # what the apiserver quotes: the patch (strategic) or the patched object
    quoted = go_value(patch) if strategic else json.dumps(patched, separators=(",", ":"))
    try:
        out = openapi.decode(defs, name, patched)
    except openapi.TypeMismatch as exc:
        raise invalid(quoted, exc.unstructured() if strategic else str(exc)) from None
    unknown = [f'unknown field "{u}"' for u in out.unknown]
    if unknown and validation == "Strict":
        raise invalid(quoted, f"strict decoding error: {', '.join(unknown)}")
    if validation == "Warn" and warnings is not None:
        warnings += unknown
    return out.obj


def apply_config(schemas: str, gvk: GVK, where: str, body: bytes, validation: str) -> Any:
    """The configuration of an apply, typed with the schema (unknown fields refused under
    Strict, as the apiserver's typed patch object is)."""
    try:
        config = yaml.safe_load(body or b"{}")
    except yaml.YAMLError as exc:
        raise ApiError(400, "BadRequest", f"error decoding YAML: {exc}") from None
    if not isinstance(config, dict):
        raise ApiError(400, "BadRequest", "the body of the request must be a JSON object")
    name = openapi.definition_for(schemas, *gvk)
    defs = openapi.definitions(schemas)
    if not name or defs is None:
        return config
    group, version, kind = gvk
    failed = (
        f"failed to create typed patch object ({where}; {api_version(group, version)}, Kind={kind})"
    )
    try:
        out = openapi.decode(defs, name, config)
    except openapi.TypeMismatch as exc:
        raise ApiError(400, "BadRequest", f"{failed}: {exc}") from None
    if out.unknown and validation == "Strict":
        fields = ", ".join(f".{u}: field not declared in schema" for u in out.unknown)
        raise ApiError(400, "BadRequest", f"{failed}: {fields}")
    return out.obj


def unsupported(apply: bool) -> ApiError:
    """415 for a patch type the server has no patcher for (apply-patch: 1.16+)."""
    accepted = [*objects.PATCHERS, *([managed.APPLY_PATCH] if apply else [])]
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(accepted)}",
    )


def invalid(quoted: str, why: str) -> ApiError:
    """422 as the apiserver refuses a patch whose result does not decode: no kind, no name,
    one cause on the field ``patch``."""
    shown = json.dumps(quoted)
    message = f"Invalid value: {shown}: {why}"
    return ApiError(
        422,
        "Invalid",
        f' "" is invalid: patch: {message}',
        {"causes": [{"reason": "FieldValueInvalid", "message": message, "field": "patch"}]},
    )


def go_value(value: Any) -> str:
    """A decoded JSON value as Go's ``%+v`` prints it (``map[spec:map[replicas:2]]``)."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
