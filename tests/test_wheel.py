"""The wheel as a user installs it: complete, importable, and runnable outside the tree."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from .support.wheel import REPO, InstalledWheel, installed_wheel

# The first test builds and installs the wheel (minutes on a busy machine).
pytestmark = pytest.mark.timeout(1200)
SOURCE_TREES = {"kubeha_tui": REPO / "kubeha_tui", "kubeha_tui/screens": REPO / "screens"}


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> InstalledWheel:
    return installed_wheel(tmp_path_factory.getbasetemp() / "wheel")


def source_files() -> set[str]:
    """Every file the package is made of, named as it sits in the wheel."""
    found = set()
    for prefix, tree in SOURCE_TREES.items():
        for path in tree.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                rel = path.relative_to(tree).as_posix()
                found.add(f"{prefix}/{rel}")
    return found


def module_names(package_dir: Path) -> list[str]:
    names = []
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        if parts[-1] == "__main__":
            continue  # runs the program when imported; `python -m kubeha_tui` is tested below
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_the_wheel_holds_every_module_and_data_file(installed: InstalledWheel) -> None:
    with zipfile.ZipFile(installed.wheel) as whl:
        shipped = {n for n in whl.namelist() if not n.split("/")[0].endswith(".dist-info")}
        entry_points = next(n for n in whl.namelist() if n.endswith(".dist-info/entry_points.txt"))
        assert "kubeha-tui = kubeha_tui.cli:main" in whl.read(entry_points).decode()
    want = source_files()
    assert {"kubeha_tui/py.typed", "kubeha_tui/screens/app.tcss"} <= want
    assert "kubeha_tui/kube/__init__.py" in want and "kubeha_tui/sandbox/kube/cluster.py" in want
    assert sorted(want - shipped) == []
    assert sorted(shipped - want) == []


def test_it_is_installed_from_the_wheel_outside_the_work_tree(installed: InstalledWheel) -> None:
    assert not installed.venv.resolve().is_relative_to(REPO)
    (dist_info,) = installed.site.glob("kubeha_tui-*.dist-info")
    origin = json.loads((dist_info / "direct_url.json").read_text())
    assert origin["url"].endswith(installed.wheel.name)
    assert "dir_info" not in origin  # not an editable (or directory) install
    for pth in installed.site.glob("*.pth"):  # no path hook back into the tree
        assert str(REPO) not in pth.read_text(), pth
    assert (installed.package / "screens" / "app.tcss").is_file()


def test_every_installed_module_imports(installed: InstalledWheel, tmp_path: Path) -> None:
    """Walks the installed tree (not the source) and imports each module in a clean process."""
    names = module_names(installed.package)
    assert len(names) >= 60  # the whole package, not the 12 files of the broken wheel
    script = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    module = importlib.import_module(name)\n"
        f"    assert module.__file__.startswith({str(installed.site)!r}), module.__file__\n"
        "print('imported', len(sys.modules))\n"
    )
    # -I: no PYTHONPATH, no user site, no current directory on the path.
    done = subprocess.run(
        [installed.python, "-I", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("imported")


def test_the_installed_command_runs(installed: InstalledWheel, tmp_path: Path) -> None:
    from kubeha_tui import __version__  # noqa: PLC0415

    for cmd in ([installed.exe], [installed.python, "-I", "-m", "kubeha_tui"]):
        done = subprocess.run(
            [*cmd, "--version"], cwd=tmp_path, capture_output=True, text=True, check=False
        )
        assert (done.returncode, done.stdout.strip()) == (0, f"kubeha-tui {__version__}")
    done = subprocess.run(
        [installed.exe, "sandbox", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "--dir" in done.stdout
