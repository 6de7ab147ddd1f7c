"""Reading kubeconfig files: which ones, and a clear line when one is not YAML."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from kubeha_tui.errors import ServiceError


def kubeconfig_paths(explicit: str | None) -> list[Path]:
    """The files the kubeconfig loader reads: --kubeconfig, $KUBECONFIG, ~/.kube/config."""
    spec = explicit or os.environ.get("KUBECONFIG") or "~/.kube/config"
    return [Path(p).expanduser() for p in spec.split(os.pathsep) if p]


def check_kubeconfig(path: Path) -> None:
    """A clear one-line error for a kubeconfig that is not a YAML mapping."""
    try:
        text = path.read_bytes().decode()
    except FileNotFoundError:
        return  # the loader says which file is missing
    except UnicodeDecodeError:
        raise ServiceError(f"kubeconfig {path} is not a text file (not UTF-8)") from None
    except OSError as exc:
        raise ServiceError(f"cannot read kubeconfig {path}: {exc.strerror}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ServiceError(f"kubeconfig {path} is not valid YAML{where}: {problem}") from None
    if doc is not None and not isinstance(doc, dict):
        raise ServiceError(
            f"kubeconfig {path} holds a YAML {type(doc).__name__}, not a mapping "
            "(clusters, users, contexts)"
        )
