"""The project as a user installs it: the wheel, in a fresh venv outside the work tree.

Built and installed once per session (``installed_wheel`` caches by directory), with
the pinned dependencies (``-c requirements.lock``, offline from the wheelhouse that
scripts/wheelhouse.sh caches per machine), non-editable, in a venv made
from /usr/bin/python3 with only Debian's rados and rbd modules linked in, as
scripts/bootstrap.sh makes the development venv.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"
DIST_PACKAGES = Path("/usr/lib/python3/dist-packages")


@dataclass(frozen=True)
class InstalledWheel:
    wheel: Path
    venv: Path
    site: Path  # the venv's site-packages

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def exe(self) -> Path:
        return self.venv / "bin" / "kubeha-tui"

    @property
    def package(self) -> Path:
        return self.site / "kubeha_tui"


def _run(*cmd: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise AssertionError(f"{cmd} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


@functools.cache
def installed_wheel(root: Path) -> InstalledWheel:
    """Build the wheel from the work tree and install it under ``root`` (once per ``root``)."""
    root.mkdir(parents=True, exist_ok=True)
    # A copy of the tree's files, so that no stale build/ directory can leak into the wheel.
    src, dist = root / "src", root / "dist"
    files = _run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO)
    for name in filter(None, files.split("\0")):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", dist, src, cwd=root)  # fmt: skip
    (wheel,) = dist.glob("kubeha_tui-*.whl")
    venv = root / "venv"
    _run(SYSTEM_PYTHON, "-m", "venv", venv, cwd=root)
    site = Path(
        _run(venv / "bin/python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
             cwd=root).strip()
    )  # fmt: skip
    for mod in ("rados", "rbd"):
        (so,) = DIST_PACKAGES.glob(f"{mod}.cpython-*.so")
        (site / so.name).symlink_to(so)
    # Offline from the machine's cached wheelhouse of the pins (made once, over the index).
    wheels = _run(REPO / "scripts/wheelhouse.sh", wheel, cwd=root).strip()
    _run(venv / "bin/python", "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "--no-index", "--find-links", wheels, "-c", REPO / "requirements.lock", wheel,
         cwd=root)  # fmt: skip
    return InstalledWheel(wheel, venv, site)
