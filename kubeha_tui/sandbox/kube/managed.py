"""Field ownership on the modern pose: managedFields (fieldsV1) and server-side apply.

A field set is a set of paths; a path is a tuple of fieldsV1 elements: ``f:name`` (a
field), ``k:{"name":"web"}`` (an item of a list keyed by the schema's list-map-keys),
``v:"x"`` (an item of a set) and ``.`` (the node itself). Which lists are keyed, sets or
atomic comes from the posed version's schemas (x-kubernetes-list-type and friends).

Updates (create, replace, patch) give their manager the fields whose value they set or
changed, and take them from every other manager. An apply owns exactly the fields of its
configuration: fields it owned before and no longer names are removed (unless another
manager owns them too), a field another manager owns with a different value is a
conflict (409) unless forced, when ownership moves to the applier.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .store import ApiError, Obj, now

Path = tuple[str, ...]
APPLY_PATCH = "application/apply-patch+yaml"
# Server-set metadata nobody owns.
UNOWNED_META = {
    "name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
    "managedFields", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds",
}  # fmt: skip
_MISSING = object()


def manager_from(field_manager: str, user_agent: str) -> str:
    """The ``fieldManager`` parameter, else the User-Agent's product (``kubectl``)."""
    return field_manager or (user_agent.split("/", 1)[0] if user_agent else "unknown")


@dataclass
class Schemas:
    """The posed version's definitions, walked by schema node."""

    defs: dict[str, Obj]

    def resolve(self, schema: Any) -> Obj:
        if not isinstance(schema, dict):
            return {}
        for _ in range(50):
            ref = schema.get("$ref")
            if not isinstance(ref, str):
                break
            schema = self.defs.get(ref.rsplit("/", 1)[-1], {})
        all_of = schema.get("allOf")
        if all_of and len(all_of) == 1 and "properties" not in schema:
            return self.resolve(all_of[0])
        return dict(schema)

    def child(self, schema: Obj, key: str) -> Obj:
        props = schema.get("properties")
        if isinstance(props, dict):
            return self.resolve(props.get(key))
        return self.resolve(schema.get("additionalProperties"))

    def paths(self, schema: Obj, value: Any, *, marks: bool, prefix: Path = ()) -> set[Path]:
        """The fields ``value`` sets; ``marks``: a ``.`` for every map (Update entries)."""
        out: set[Path] = set()
        self._paths(self.resolve(schema), value, prefix, out, marks)
        return out

    def _paths(self, schema: Obj, value: Any, prefix: Path, out: set[Path], marks: bool) -> None:
        if value is None:
            return
        if isinstance(value, dict) and value and _walkable(schema):
            if marks and prefix:
                out.add((*prefix, "."))
            for key, item in value.items():
                self._paths(self.child(schema, key), item, (*prefix, f"f:{key}"), out, marks)
            return
        if isinstance(value, list) and value:
            kind = schema.get("x-kubernetes-list-type")
            items = self.resolve(schema.get("items"))
            if kind == "map":
                keys = schema.get("x-kubernetes-list-map-keys") or []
                for item in value:
                    if isinstance(item, dict):
                        at = (*prefix, key_element(item, keys))
                        out.add((*at, "."))
                        self._paths(items, item, at, out, marks)
                return
            if kind == "set":
                out.update((*prefix, "v:" + _compact(item)) for item in value)
                return
        out.add(prefix)

    def merge(self, schema: Obj, current: Any, config: Any) -> Any:
        """``config`` applied over ``current``: maps merge, keyed lists merge by key,
        anything else is replaced."""
        schema = self.resolve(schema)
        if isinstance(config, dict) and isinstance(current, dict) and _walkable(schema):
            out = dict(current)
            for key, value in config.items():
                out[key] = self.merge(self.child(schema, key), current.get(key), value)
            return out
        if (
            isinstance(config, list)
            and isinstance(current, list)
            and schema.get("x-kubernetes-list-type") == "map"
        ):
            keys = schema.get("x-kubernetes-list-map-keys") or []
            items = self.resolve(schema.get("items"))
            merged = list(current)
            for item in config:
                if not isinstance(item, dict):
                    continue
                element = key_element(item, keys)
                at = next(
                    (i for i, old in enumerate(merged) if isinstance(old, dict)
                     and key_element(old, keys) == element), None,
                )  # fmt: skip
                if at is None:
                    merged.append(copy.deepcopy(item))
                else:
                    merged[at] = self.merge(items, merged[at], item)
            return merged
        return copy.deepcopy(config)


def _walkable(schema: Obj) -> bool:
    """A map whose fields are owned one by one (not atomic, with a known shape)."""
    if schema.get("x-kubernetes-map-type") == "atomic":
        return False
    return "properties" in schema or isinstance(schema.get("additionalProperties"), dict)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def key_element(item: Obj, keys: list[str]) -> str:
    return "k:" + _compact({k: item[k] for k in keys if k in item})


def owned(obj: Obj, schemas: Schemas, schema: Obj, *, marks: bool, status: bool) -> set[Path]:
    """The fields of an object a writer of its main resource (or of /status) sets."""
    out: set[Path] = set()
    for key, value in obj.items():
        if key in ("apiVersion", "kind") or (key == "status") != status:
            continue
        kept = value
        if key == "metadata" and isinstance(value, dict):
            kept = {k: v for k, v in value.items() if k not in UNOWNED_META}
            if not kept:
                continue
        out |= schemas.paths(schemas.child(schema, key), kept, marks=marks, prefix=(f"f:{key}",))
    return out


# -- fieldsV1 --------------------------------------------------------------------------


def to_fields_v1(paths: set[Path]) -> Obj:
    tree: Obj = {}
    for path in sorted(paths):
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    return tree


def from_fields_v1(tree: Any, prefix: Path = ()) -> set[Path]:
    if not isinstance(tree, dict) or not tree:
        return {prefix} if prefix else set()
    out: set[Path] = set()
    for element, sub in tree.items():
        out |= from_fields_v1(sub, (*prefix, element))
    return out


def value_at(obj: Any, path: Path) -> Any:
    """The value a path names in an object (_MISSING when it names none)."""
    cur = obj
    for element in path:
        kind, _, text = element.partition(":")
        if element == ".":
            continue
        if kind == "f" and isinstance(cur, dict) and text in cur:
            cur = cur[text]
        elif kind in ("k", "v") and isinstance(cur, list):
            want = json.loads(text)
            if kind == "k":
                match = [i for i in cur if isinstance(i, dict) and
                         all(i.get(k) == v for k, v in want.items())]  # fmt: skip
            else:
                match = [i for i in cur if i == want]
            if not match:
                return _MISSING
            cur = match[0]
        else:
            return _MISSING
    return cur


def remove_at(obj: Any, path: Path) -> None:
    """Drop the field (or list item) a path names, if present."""
    path = path[:-1] if path and path[-1] == "." else path
    if not path:
        return
    parent = value_at(obj, path[:-1])
    kind, _, text = path[-1].partition(":")
    if kind == "f" and isinstance(parent, dict):
        parent.pop(text, None)
    elif kind in ("k", "v") and isinstance(parent, list):
        item = value_at(parent, (path[-1],))
        if item is not _MISSING:
            parent.remove(item)
    if parent == {} and len(path) > 1 and path[-2].startswith("f:"):
        remove_at(obj, path[:-1])  # an emptied map goes too (omitempty)


def path_text(path: Path) -> str:
    """A path as conflict messages print it: ``.spec.containers[name="web"].image``."""
    out = ""
    for element in path:
        kind, _, text = element.partition(":")
        if kind == "f":
            out += "." + text
        elif kind == "k":
            out += "[" + ",".join(f"{k}={_compact(v)}" for k, v in json.loads(text).items()) + "]"
        elif kind == "v":
            out += f"[={text}]"
    return out


# -- managedFields entries -----------------------------------------------------------


@dataclass
class Write:
    """Who writes: the manager, Update or Apply, which subresource, in which apiVersion."""

    manager: str
    api_version: str
    operation: str = "Update"
    subresource: str = ""
    force: bool = False


def entries_of(obj: Obj | None) -> list[Obj]:
    return copy.deepcopy(((obj or {}).get("metadata") or {}).get("managedFields") or [])


def sent_entries(sent: Any, stored: list[Obj]) -> list[Obj]:
    """The entries an update starts from: the stored ones, unless the client sent others
    (``[{}]`` clears them, as the documented reset; an empty list keeps them)."""
    if not isinstance(sent, list) or not sent or sent == stored:
        return stored
    if sent == [{}]:
        return []
    return [copy.deepcopy(e) for e in sent if isinstance(e, dict) and e.get("manager")]


def _same(entry: Obj, write: Write) -> bool:
    return (entry.get("manager"), entry.get("operation"), entry.get("subresource", "")) == (
        write.manager,
        write.operation,
        write.subresource,
    )


def _entry(write: Write, paths: set[Path]) -> Obj:
    entry: Obj = {
        "manager": write.manager,
        "operation": write.operation,
        "apiVersion": write.api_version,
        "time": now(),
        "fieldsType": "FieldsV1",
        "fieldsV1": to_fields_v1(paths),
    }
    if write.subresource:
        entry["subresource"] = write.subresource
    return entry


def _leaves(paths: set[Path]) -> set[Path]:
    return {p for p in paths if p and p[-1] != "."}


def updated(
    entries: list[Obj],
    write: Write,
    old: Obj | None,
    new: Obj,
    sets: Callable[[Obj, bool, bool], set[Path]],
) -> list[Obj]:
    """The entries after an Update: the writer gains what it set or changed, the others
    lose it; fields gone from the object leave every entry."""
    status = write.subresource == "status"
    before = sets(old, True, status) if old else set()
    after = sets(new, True, status)
    # a node (".") is gained by creating it, a field by setting a new value
    changed = {
        p for p in after
        if (value_at(old, p) is _MISSING if p[-1] == "." else value_at(new, p) != value_at(old, p))
    } if old is not None else after  # fmt: skip
    gone = before - after
    out, mine = [], None
    for entry in entries:
        paths = from_fields_v1(entry.get("fieldsV1")) - gone
        if _same(entry, write):
            mine = paths
            continue
        # a writer of the main resource leaves /status owners alone, and the other way round
        if (entry.get("subresource", "") == "status") == status:
            paths -= changed
        if paths:
            out.append({**entry, "fieldsV1": to_fields_v1(paths)})
    if (mine or set()) | changed:
        out.append(_entry(write, (mine or set()) | changed))
    return out


def conflicts(entries: list[Obj], write: Write, applied: set[Path], current: Obj, config: Obj) -> list[tuple[Obj, Path]]:  # fmt: skip
    """Fields of the configuration another manager owns with another value."""
    found = []
    for entry in entries:
        if _same(entry, write) or entry.get("subresource") == "status":
            continue
        theirs = _leaves(from_fields_v1(entry.get("fieldsV1")))
        for path in sorted(_leaves(applied) & theirs):
            if value_at(current, path) != value_at(config, path):
                found.append((entry, path))
    return found


def _who(entry: Obj) -> str:
    who = json.dumps(entry.get("manager", ""))
    if entry.get("subresource"):
        who += f" with subresource {json.dumps(entry['subresource'])}"
    if entry.get("operation") == "Update":
        who += f" using {entry.get('apiVersion', '')}"
        if entry.get("time"):
            who += f" at {entry['time']}"
    return who


def conflict_error(found: list[tuple[Obj, Path]]) -> ApiError:
    """409 as the apiserver answers an apply that conflicts (reason Conflict, one cause
    per field)."""
    causes = [
        {"reason": "FieldManagerConflict", "message": f"conflict with {_who(e)}",
         "field": path_text(p)}
        for e, p in found
    ]  # fmt: skip
    if len(found) == 1:
        message = f"Apply failed with 1 conflict: conflict with {_who(found[0][0])}: {path_text(found[0][1])}"
    else:
        by: dict[str, list[str]] = {}
        for entry, path in found:
            by.setdefault(_who(entry), []).append(path_text(path))
        lines = []
        for who in sorted(by):
            lines.append(f"conflicts with {who}:")
            lines += [f"- {p}" for p in by[who]]
        message = f"Apply failed with {len(found)} conflicts: " + "\n".join(lines)
    return ApiError(409, "Conflict", message, {"causes": causes})


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
CLIENT_SIDE_APPLY = "kubectl-client-side-apply"


def from_client_side_apply(
    found: list[tuple[Obj, Path]], current: Obj, schemas: Schemas, root: Obj
) -> bool:
    """Whether the conflicts only take over fields of the last client-side apply, which
    the apiserver allows so ``kubectl apply --server-side`` can follow ``kubectl apply``."""
    annotations = (current.get("metadata") or {}).get("annotations") or {}
    if not found or LAST_APPLIED not in annotations:
        return False
    try:
        last = json.loads(annotations[LAST_APPLIED])
    except ValueError:
        return False
    if not isinstance(last, dict):
        return False
    fields = owned(last, schemas, root, marks=False, status=False)
    return all(e.get("manager") == CLIENT_SIDE_APPLY and p in fields for e, p in found)


def applied(entries: list[Obj], write: Write, applied_paths: set[Path], found: list[tuple[Obj, Path]]) -> list[Obj]:  # fmt: skip
    """The entries after a (forced, or conflict-free) apply."""
    taken: dict[int, set[Path]] = {}
    for entry, path in found:
        taken.setdefault(id(entry), set()).add(path)
    out = []
    for entry in entries:
        if _same(entry, write):
            continue
        paths = from_fields_v1(entry.get("fieldsV1")) - taken.get(id(entry), set())
        if paths:
            out.append({**entry, "fieldsV1": to_fields_v1(paths)})
    out.append(_entry(write, applied_paths))
    return out


def released(entries: list[Obj], write: Write, applied_paths: set[Path]) -> set[Path]:
    """Fields this manager applied before, names no more, and nobody else owns."""
    before: set[Path] = set()
    others: set[Path] = set()
    for entry in entries:
        paths = from_fields_v1(entry.get("fieldsV1"))
        if _same(entry, write):
            before = paths
        else:
            others |= paths
    return {p for p in before - applied_paths - others}
