"""The node image (`make image`), checked with tools we did not write.

The image is built once per session (scripts/build-image.sh, a few minutes) and read
by skopeo. No container engine runs on this machine (dockerd cannot; podman's crun
fails to set the container's rlimits), so its root filesystem is unpacked with GNU
tar and its entrypoint run under chroot, with the config's environment, against
the sandbox in tmux, as an engine would run it with the mounts the node wrapper
passes.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubeha_tui import __version__
from kubeha_tui.node_install import Archive, Installer, LocalNode
from kubeha_tui.sandbox import launcher

from .support.terminal import Terminal
from .support.waiting import wait_for
from .support.wheel import REPO
from .test_node_install import FakeNode

# The first test builds the image (minutes; more on a busy machine).
pytestmark = [pytest.mark.image, pytest.mark.timeout(2400)]
ARCHIVE_NAME = f"kubeha-tui-{__version__}.docker.tar.gz"
AIM_BYTES = 120 * 1024 * 1024


@dataclass(frozen=True)
class Image:
    archive: Path
    rootfs: Path
    config: dict[str, Any]


def skopeo(*args: str) -> Any:
    done = subprocess.run(["skopeo", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    if shutil.which("mmdebstrap") is None or shutil.which("skopeo") is None:
        pytest.fail("mmdebstrap and skopeo are missing: run make install")
    out = tmp_path_factory.mktemp("image")
    archive = out / "dist" / ARCHIVE_NAME
    if os.environ.get("KUBEHA_IMAGE"):  # an archive `make image` made of this tree
        archive = Path(os.environ["KUBEHA_IMAGE"])
    else:
        done = subprocess.run(
            [REPO / "scripts/build-image.sh", archive.parent],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # Unpacked by GNU tar, as the archive says: the manifest names the config and the layer.
    unpacked, rootfs = out / "archive", out / "rootfs"
    unpacked.mkdir()
    rootfs.mkdir()
    subprocess.run(["tar", "-xf", archive, "-C", unpacked], check=True)
    (manifest,) = json.loads((unpacked / "manifest.json").read_text())
    (layer,) = manifest["Layers"]
    subprocess.run(
        ["tar", "-xzf", unpacked / layer, "-C", rootfs, "--numeric-owner", "-p"], check=True
    )
    config = json.loads((unpacked / manifest["Config"]).read_text())
    return Image(archive, rootfs, config)


def in_image(image: Image, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in the image's root filesystem with the image's environment only."""
    env = image.config["config"]["Env"]
    return subprocess.run(
        ["chroot", image.rootfs, "/usr/bin/env", "-i", *env, *argv],
        capture_output=True,
        text=True,
        check=False,
    )


def test_skopeo_reads_the_archive_and_its_layer_matches(image: Image, tmp_path: Path) -> None:
    ref = f"docker-archive:{image.archive}"
    info = skopeo("inspect", ref)
    assert (info["Architecture"], info["Os"], len(info["Layers"])) == ("amd64", "linux", 1)
    assert "LANG=C.UTF-8" in info["Env"]
    config = skopeo("inspect", "--config", ref)
    assert config["config"]["Entrypoint"] == ["/opt/kubeha-tui/bin/kubeha-tui"]
    # A copy checks every blob against its digest and the layer against the config's diff id.
    skopeo("copy", "--quiet", ref, f"oci:{tmp_path / 'oci'}:kubeha-tui:{__version__}")
    index = json.loads((tmp_path / "oci" / "index.json").read_text())
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == (
        f"kubeha-tui:{__version__}"
    )
    with tarfile.open(image.archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == [f"kubeha-tui:{__version__}"]  # what `docker load` tags


def test_the_image_is_small_and_holds_only_what_runs(image: Image) -> None:
    size = image.archive.stat().st_size
    assert size < AIM_BYTES, f"{size / 2**20:.0f} MiB"
    root = image.rootfs
    docs = [p for p in (root / "usr/share/doc").rglob("*") if p.is_file()]
    assert docs and all(p.name == "copyright" for p in docs)
    for gone in ("usr/share/man", "usr/share/info", "usr/share/locale", "var/lib/apt/lists"):
        assert not any((root / gone).glob("*/*")), gone
    assert not list((root / "var/log").iterdir())
    assert not list((root / "dev").iterdir()) and not list((root / "proc").iterdir())
    venv_cfg = (root / "opt/kubeha-tui/pyvenv.cfg").read_text()
    assert "home = /usr/bin" in venv_cfg  # the venv is made from the image's Debian python3
    site = root / "opt/kubeha-tui/lib/python3.11/site-packages"
    assert not (site / "pip").exists() and (site / "kubeha_tui/screens/app.tcss").is_file()
    assert not list(site.glob("*.egg-link"))


def test_its_python_has_rados_rbd_certificates_and_utf8(image: Image) -> None:
    script = (
        "import locale, ssl, rados, rbd, kubeha_tui.services, kubeha_tui.screens.app;"
        "print(locale.getpreferredencoding(), rados.__file__.startswith('/opt/kubeha-tui/'),"
        " ssl.get_default_verify_paths().openssl_cafile)"
    )
    done = in_image(image, "/opt/kubeha-tui/bin/python", "-c", script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["UTF-8", "True", "/usr/lib/ssl/cert.pem"]
    assert (image.rootfs / "etc/ssl/certs/ca-certificates.crt").stat().st_size > 100_000
    done = in_image(image, *image.config["config"]["Entrypoint"], "--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"kubeha-tui {__version__}")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[launcher.SandboxState]:
    state = launcher.up(tmp_path / "sandbox", attached=False)
    yield state
    launcher.down(state.root)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(f"kubeha-image-{tmp_path.name}")
    yield term
    subprocess.run(["tmux", "-L", term.socket, "kill-server"], capture_output=True, check=False)


@pytest.mark.tmux
@pytest.mark.ceph
def test_the_image_runs_the_tui_against_the_sandbox(
    image: Image, sandbox: launcher.SandboxState, terminal: Terminal
) -> None:
    """chroot in a private mount namespace: /proc, /dev and the sandbox directory (fleet
    socket, kubeconfig, Ceph conf and keyring) mounted in, as the wrapper mounts them."""
    root, here = image.rootfs, str(sandbox.root)
    (root / here.lstrip("/")).mkdir(parents=True, exist_ok=True)
    env = [*image.config["config"]["Env"], "TERM=xterm-256color", "HOME=/root",
           *(f"{k}={v}" for k, v in sandbox.env.items())]  # fmt: skip
    inner = " && ".join(
        [
            f"mount -t proc proc {root}/proc",
            f"mount --rbind /dev {root}/dev",
            f"mount --bind {here} {root}{here}",
            f"exec chroot {root} /usr/bin/env -i {shlex.join(env)} "
            + shlex.join(image.config["config"]["Entrypoint"]),
        ]
    )
    command = f"unshare --mount --propagation private sh -c {shlex.quote(inner)}; echo EXIT=$?"
    terminal.tmux(
        "new-session", "-d", "-s", "tui", "-x", "100", "-y", "30", command + "; sleep 600"
    )
    terminal.wait_screen("● ceph", "● fleet", "● kube", "pidalio-apiserver.service", "kube-dns")
    terminal.keys("2")
    screen = terminal.wait_screen("Unit files", "UNIT", "MACHINE", "active", "running")
    assert screen.count("pidalio-node.service") == 3
    terminal.keys("3")
    screen = terminal.wait_screen("Pods", "Deployments", "READY", "Running")
    assert screen.count("ceph-mon-") == 3
    terminal.keys("4")
    terminal.wait_screen("Images", "OSDs", "HEALTH_OK, 3 OSDs (3 up, 3 in)")
    terminal.keys("q")
    terminal.wait_screen("EXIT=0", timeout=30)
    wait_for(lambda: not (root / "proc/self").exists(), what="the image's mounts gone")


def test_node_install_loads_the_real_archive_into_podman(
    image: Image, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """Everything up to `docker load` with the engine this machine has (podman's loader)."""
    fake = FakeNode(tmp_path / "node")
    request.addfinalizer(fake.close)
    shims = tmp_path / "shims"
    shims.mkdir()
    fake.install_shims(shims)
    monkeypatch.setenv("PATH", f"{shims}:/usr/sbin:/usr/bin:/sbin:/bin")
    archive = Archive.read(image.archive)
    assert archive.tag == f"kubeha-tui:{__version__}" and archive.unpacked > archive.size
    node = Installer(LocalNode(), str(fake.bin_dir), str(fake.upload_dir), say=lambda _: None)
    assert node.install(archive).endswith(f"runs kubeha-tui:{__version__}")
    assert fake.images() == [f"kubeha-tui:{__version__}"]
    assert node.image_id(archive.tag) == archive.image_id


def write_archive(rootfs: Path, out: Path, epoch: int) -> bytes:
    subprocess.run(
        [sys.executable, REPO / "scripts/docker_archive.py", rootfs, out,
         "--tag", "kubeha-tui:0.0.1", "--entrypoint", "/bin/true"],
        check=True, env={**os.environ, "SOURCE_DATE_EPOCH": str(epoch)},
    )  # fmt: skip
    return out.read_bytes()


def test_the_archive_writer_is_byte_for_byte_reproducible(tmp_path: Path) -> None:
    """Same tree, other mtimes (past the epoch), other owner names: the same bytes."""
    root = tmp_path / "rootfs"
    for d in ("usr/bin", "dev", "tmp", "etc"):
        (root / d).mkdir(parents=True)
    (root / "usr/bin/tool").write_text("#!/bin/sh\n")
    (root / "usr/bin/tool").chmod(0o755)
    os.link(root / "usr/bin/tool", root / "usr/bin/tool-again")
    (root / "etc/conf").write_text("x = 1\n")
    os.chown(root / "etc/conf", 1000, 1000)
    (root / "usr/bin/link").symlink_to("tool")
    (root / "tmp/scratch").write_text("left out")
    subprocess.run(["mknod", root / "dev/null", "c", "1", "3"], check=True)
    first = write_archive(root, tmp_path / "a.tar.gz", epoch=1_700_000_000)
    for path in root.rglob("*"):
        os.utime(path, follow_symlinks=False)  # now: later than the epoch
    assert write_archive(root, tmp_path / "b.tar.gz", epoch=1_700_000_000) == first

    with tarfile.open(tmp_path / "a.tar.gz") as outer:
        (manifest,) = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        layer = outer.extractfile(manifest["Layers"][0])
        assert layer is not None
        with tarfile.open(fileobj=layer, mode="r:gz") as tar:
            members = tar.getmembers()
    assert [m.name for m in members] == [
        "dev", "etc", "etc/conf", "tmp", "usr", "usr/bin", "usr/bin/link", "usr/bin/tool",
        "usr/bin/tool-again",
    ]  # fmt: skip
    assert {m.mtime for m in members} == {1_700_000_000}
    assert {(m.uname, m.gname) for m in members} == {("", "")}
    conf = next(m for m in members if m.name == "etc/conf")
    again = next(m for m in members if m.name == "usr/bin/tool-again")
    assert (conf.uid, conf.gid) == (1000, 1000)
    assert again.islnk() and again.linkname == "usr/bin/tool"
