"""Object rules of the sandbox API: selectors, validation (422 with causes), patches."""

from __future__ import annotations

import base64
import binascii
import copy
import re
from collections.abc import Callable
from typing import Any

from .store import ApiError, Obj

SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
LABEL_NAMED = {"namespaces", "services"}  # names that must be DNS labels, not subdomains
SERVICE_TYPES = {"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"}

# -- selectors -------------------------------------------------------------------


def _split_terms(text: str) -> list[str]:
    terms, depth, cur = [], 0, ""
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            terms.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        terms.append(cur.strip())
    return terms


Labels = dict[str, str]


def _label_test(term: str) -> Callable[[Labels], bool]:
    m = re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", term)
    if m:
        key, negate = m.group(1), m.group(2) == "notin"
        values = {v.strip() for v in m.group(3).split(",")}
        return lambda ls: (ls.get(key) in values) != negate
    m = re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)", term)
    if m:
        key, op, value = m.groups()
        return lambda ls: (ls.get(key) == value) != (op == "!=")
    m = re.fullmatch(r"(!?)([\w./-]+)", term)
    if not m:
        raise ApiError(400, "BadRequest", f"unable to parse requirement: {term!r}")
    negate, key = bool(m.group(1)), m.group(2)
    return lambda ls: (key in ls) != negate


def label_selector(text: str) -> Callable[[Labels], bool]:
    """``a=b,c!=d,e in (x,y),f notin (z),g,!h`` as a predicate on a label map."""
    tests = [_label_test(term) for term in _split_terms(text or "")]
    return lambda labels: all(t(labels) for t in tests)


def field_value(obj: Obj, path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return "" if cur is None else str(cur)


def _field_test(term: str) -> Callable[[Obj], bool]:
    m = re.fullmatch(r"([\w.]+)\s*(==|=|!=)\s*(.*)", term)
    if not m:
        raise ApiError(400, "BadRequest", f"invalid selector: {term!r}")
    path, op, value = m.groups()
    return lambda obj: (field_value(obj, path) == value) != (op == "!=")


def field_selector(text: str) -> Callable[[Obj], bool]:
    tests = [_field_test(term) for term in _split_terms(text or "")]
    return lambda obj: all(t(obj) for t in tests)


def matcher(labels: str, fields: str) -> Callable[[Obj], bool]:
    by_label, by_field = label_selector(labels), field_selector(fields)
    return lambda o: by_label(o["metadata"].get("labels") or {}) and by_field(o)


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A LabelSelector object (matchLabels, matchExpressions) against labels."""
    if not selector:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], set(expr.get("values") or [])
        ok = {
            "In": labels.get(key) in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }.get(op, False)
        if not ok:
            return False
    return True


# -- validation ------------------------------------------------------------------


class Causes:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def required(self, field: str) -> None:
        self.items.append(
            {"reason": "FieldValueRequired", "message": "Required value", "field": field}
        )

    def invalid(self, field: str, value: object, why: str) -> None:
        shown = f'"{value}"' if isinstance(value, str) else str(value)
        self.items.append(
            {
                "reason": "FieldValueInvalid",
                "message": f"Invalid value: {shown}: {why}",
                "field": field,
            }
        )

    def unsupported(self, field: str, value: str, allowed: set[str]) -> None:
        listed = ", ".join(f'"{a}"' for a in sorted(allowed))
        self.items.append(
            {
                "reason": "FieldValueNotSupported",
                "message": f'Unsupported value: "{value}": supported values: {listed}',
                "field": field,
            }
        )

    def raise_if_any(self, kind: str, group: str, name: str) -> None:
        if not self.items:
            return
        texts = [f"{c['field']}: {c['message']}" for c in self.items]
        joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
        qualified = f"{kind}.{group}" if group else kind
        raise ApiError(
            422,
            "Invalid",
            f'{qualified} "{name}" is invalid: {joined}',
            {"name": name, "group": group, "kind": kind, "causes": self.items},
        )


def check_name(causes: Causes, resource: str, name: str) -> None:
    if resource in LABEL_NAMED:
        if len(name) > 63 or not LABEL.match(name):
            causes.invalid("metadata.name", name, LABEL_MSG)
    elif len(name) > 253 or not SUBDOMAIN.match(name):
        causes.invalid("metadata.name", name, SUBDOMAIN_MSG)


def check_pod_spec(causes: Causes, spec: Obj | None, at: str) -> None:
    if not isinstance(spec, dict):
        causes.required(at)
        return
    containers = spec.get("containers") or []
    if not containers:
        causes.required(f"{at}.containers")
    names = set()
    for i, c in enumerate(containers):
        where = f"{at}.containers[{i}]"
        name = c.get("name") or ""
        if not name:
            causes.required(f"{where}.name")
        elif not LABEL.match(name):
            causes.invalid(f"{where}.name", name, LABEL_MSG)
        elif name in names:
            causes.items.append(
                {"reason": "FieldValueDuplicate", "message": f'Duplicate value: "{name}"',
                 "field": f"{where}.name"}
            )  # fmt: skip
        names.add(name)
        if not c.get("image"):
            causes.required(f"{where}.image")
        for j, port in enumerate(c.get("ports") or []):
            cp = port.get("containerPort")
            if not isinstance(cp, int) or not 0 < cp < 65536:
                causes.invalid(
                    f"{where}.ports[{j}].containerPort",
                    cp,
                    "must be between 1 and 65535, inclusive",
                )
    volumes = {v.get("name") for v in spec.get("volumes") or []}
    for i, c in enumerate(containers):
        for j, mount in enumerate(c.get("volumeMounts") or []):
            if mount.get("name") not in volumes:
                causes.items.append(
                    {"reason": "FieldValueNotFound", "message": f'Not found: "{mount.get("name")}"',
                     "field": f"{at}.containers[{i}].volumeMounts[{j}].name"}
                )  # fmt: skip


def check_workload(causes: Causes, obj: Obj, group: str) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        causes.required("spec")
        return
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    selector = spec.get("selector")
    if not selector and group == "apps":
        causes.required("spec.selector")
    elif selector and not selector_matches(selector, labels):
        causes.invalid(
            "spec.template.metadata.labels",
            "map[" + " ".join(f"{k}:{v}" for k, v in sorted(labels.items())) + "]",
            "`selector` does not match template `labels`",
        )
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or replicas < 0:
        causes.invalid("spec.replicas", replicas, "must be greater than or equal to 0")
    check_pod_spec(causes, template.get("spec"), "spec.template.spec")


def check_service(causes: Causes, obj: Obj) -> None:
    spec = obj.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    if kind not in SERVICE_TYPES:
        causes.unsupported("spec.type", kind, SERVICE_TYPES)
    ports = spec.get("ports") or []
    if not ports and kind != "ExternalName" and spec.get("clusterIP") != "None":
        causes.required("spec.ports")
    for i, port in enumerate(ports):
        p = port.get("port")
        if not isinstance(p, int) or not 0 < p < 65536:
            causes.invalid(f"spec.ports[{i}].port", p, "must be between 1 and 65535, inclusive")
        if len(ports) > 1 and not port.get("name"):
            causes.required(f"spec.ports[{i}].name")


def check_secret(causes: Causes, obj: Obj) -> None:
    for key, value in (obj.get("data") or {}).items():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            causes.invalid(f"data[{key}]", "<secret>", "illegal base64 data")
    for key, value in (obj.pop("stringData", None) or {}).items():
        obj.setdefault("data", {})[key] = base64.b64encode(str(value).encode()).decode()


def validate(resource: str, group: str, kind: str, obj: Obj) -> None:
    causes = Causes()
    name = obj["metadata"].get("name", "")
    check_name(causes, resource, name)
    if resource == "pods":
        check_pod_spec(causes, obj.get("spec"), "spec")
    elif resource in ("deployments", "replicasets"):
        check_workload(causes, obj, group)
    elif resource == "services":
        check_service(causes, obj)
    elif resource == "secrets":
        check_secret(causes, obj)
    causes.raise_if_any(kind, group, name)


# -- patches ---------------------------------------------------------------------

MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "ports": "port|containerPort",
}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _merge_key(field: str, item: dict[str, Any]) -> str | None:
    for candidate in MERGE_KEYS.get(field, "").split("|"):
        if candidate and candidate in item:
            return candidate
    return None


def strategic_merge(target: Any, patch: Any) -> Any:
    """Strategic merge patch for the common cases: maps merge, keyed lists merge by key."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # $setElementOrder, $retainKeys: ordering hints
        if value is None:
            out.pop(key, None)
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(out.get(key), list):
            merged = list(out[key])
            for item in value:
                mk = _merge_key(key, item) if isinstance(item, dict) else None
                idx = next(
                    (i for i, old in enumerate(merged) if mk and old.get(mk) == item[mk]), None
                )
                if isinstance(item, dict) and item.get("$patch") == "delete":
                    if idx is not None:
                        merged.pop(idx)
                elif idx is None:
                    merged.append(copy.deepcopy(item))
                else:
                    merged[idx] = strategic_merge(merged[idx], item)
            out[key] = merged
        else:
            out[key] = strategic_merge(out.get(key), value)
    return out


def json_patch(target: Obj, ops: list[dict[str, Any]]) -> Obj:
    doc = copy.deepcopy(target)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent: Any = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        kind = op["op"]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(index, op["value"])
            elif kind == "remove":
                parent.pop(index)
            elif kind == "replace":
                parent[index] = op["value"]
        elif kind in ("add", "replace"):
            parent[last] = op["value"]
        elif kind == "remove":
            del parent[last]
        if kind == "test" and (parent[last] if not isinstance(parent, list) else None) != op.get(
            "value"
        ):
            raise ApiError(422, "Invalid", f"test operation failed at {op['path']}")
    return doc


PATCHERS: dict[str, Callable[[Obj, Any], Obj]] = {  # in the order the apiserver lists them
    "application/json-patch+json": json_patch,
    "application/merge-patch+json": merge_patch,
    "application/strategic-merge-patch+json": strategic_merge,
}
