"""The design card's layout: a Textual-free core, screens shipped as kubeha_tui.screens."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "kubeha_tui"


def imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_core_never_imports_textual() -> None:
    offenders = {
        str(p.relative_to(ROOT)): m
        for p in CORE.rglob("*.py")
        for m in imported_modules(p)
        if m.split(".")[0] == "textual"
    }
    assert offenders == {}


def test_only_the_entry_point_reaches_into_screens() -> None:
    users = sorted(
        str(p.relative_to(ROOT))
        for p in CORE.rglob("*.py")
        if any(m.startswith("kubeha_tui.screens") for m in imported_modules(p))
    )
    assert users == ["kubeha_tui/cli.py"]


def test_importing_the_core_loads_no_textual() -> None:
    modules = [f"kubeha_tui.{p.stem}" for p in CORE.glob("*.py") if p.stem != "__main__"]
    code = f"import sys; import {', '.join(modules)}; print('textual' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/"
    )
    assert out.stdout.strip() == "False"


def test_wheel_ships_screens_inside_the_package(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("kubeha_tui-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "kubeha_tui/screens/app.py" in names and "kubeha_tui/screens/app.tcss" in names
    assert not [n for n in names if n.startswith("screens/")]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "kubeha-tui = kubeha_tui.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_sandbox_imports_nothing_from_the_product() -> None:
    """The sandbox stands apart: its own serializers and printers, so it cannot share a bug."""
    sandbox = CORE / "sandbox"
    offenders = {
        str(p.relative_to(ROOT)): m
        for p in sandbox.rglob("*.py")
        for m in imported_modules(p)
        if m.split(".")[0] in {"kubeha_tui", "screens"} and not m.startswith("kubeha_tui.sandbox")
    }
    relative = {
        str(p.relative_to(ROOT))
        for p in sandbox.rglob("*.py")
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level > len(p.relative_to(sandbox).parts)
    }
    assert offenders == {} and relative == set()
