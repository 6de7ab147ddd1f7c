"""``kubeha-tui node-install`` against the suite's real sshd.

No container engine runs containers on this machine (see test_image.py), so the
node's ``docker`` is a shim over podman: ``docker load``, ``image inspect`` and
``rmi`` are podman's own, on a private vfs store, so the archive really is
loaded by an engine's loader; ``docker run`` only records its arguments, and
``sudo -n`` runs the command (the tests run as root). The archives are small
ones written by scripts/docker_archive.py, the builder of the real image.
"""

from __future__ import annotations

import itertools
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kubeha_tui import cli
from kubeha_tui.config import SSHTarget
from kubeha_tui.node_install import (
    Archive,
    Installer,
    LocalNode,
    NodeInstallError,
    SSHNode,
    wrapper_script,
)
from kubeha_tui.sandbox.sshd import Sshd
from kubeha_tui.ssh import SSHOptions, SSHSession

from .support.wheel import REPO

pytestmark = pytest.mark.sshd

PODMAN = "podman --root {s}/root --runroot {r} --storage-driver vfs --cgroup-manager cgroupfs --events-backend file"
DOCKER_SHIM = """#!/bin/sh
# docker on the test node: podman's loader and image store; `run` records its arguments.
store={store}
case "$1" in
  version) echo 28.0.0 ;;
  info) mkdir -p "$store/root" && echo "$store/root" ;;
  load)
    if [ -e "$store/load-fails" ]; then echo "Error processing tar file: no space left" >&2; exit 1; fi
    exec {podman} "$@" ;;
  image|rmi) exec {podman} "$@" ;;
  run) shift; printf '%s\\n' "$@" > "$store/run-args" ;;
  *) echo "docker shim: $1 is not there" >&2; exit 2 ;;
esac
"""
SUDO_SHIM = """#!/bin/sh
if [ "$1" != -n ]; then echo "sudo: a terminal is required to read the password" >&2; exit 1; fi
shift
if [ -e {store}/no-sudo ]; then echo "sudo: a password is required" >&2; exit 1; fi
exec "$@"
"""


def make_archive(tmp: Path, version: str, payload: bytes = b"kubeha") -> Archive:
    root = tmp / f"rootfs-{version}"
    (root / "opt").mkdir(parents=True)
    (root / "opt" / "payload").write_bytes(payload)
    out = tmp / f"kubeha-tui-{version}.docker.tar.gz"
    subprocess.run(
        [sys.executable, REPO / "scripts/docker_archive.py", root, out,
         "--tag", f"kubeha-tui:{version}", "--entrypoint", "/opt/payload"],
        check=True, env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"},
    )  # fmt: skip
    return Archive.read(out)


@dataclass
class FakeNode:
    """What the node has: the shims' store, the wrapper's directory, the upload directory."""

    root: Path
    store: Path = field(init=False)
    bin_dir: Path = field(init=False)
    upload_dir: Path = field(init=False)
    runroot: Path = field(init=False)  # podman wants it shorter than 50 characters

    def __post_init__(self) -> None:
        self.store, self.bin_dir = self.root / "store", self.root / "opt-bin"
        self.upload_dir = self.root / "var-tmp"
        for d in (self.store, self.upload_dir):
            d.mkdir(parents=True)
        self.runroot = Path(tempfile.mkdtemp(prefix="kh-podman-"))

    @property
    def podman(self) -> str:
        return PODMAN.format(s=self.store, r=self.runroot)

    def close(self) -> None:
        shutil.rmtree(self.runroot, ignore_errors=True)

    def install_shims(self, bin_dir: Path) -> None:
        podman = self.podman
        for name, text in (("docker", DOCKER_SHIM), ("sudo", SUDO_SHIM)):
            (bin_dir / name).write_text(text.format(store=self.store, podman=podman))
            (bin_dir / name).chmod(0o755)

    def images(self) -> list[str]:
        out = subprocess.run(
            [*self.podman.split(), "images", "--format", "{{.Repository}}:{{.Tag}}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        return sorted(line.removeprefix("localhost/") for line in out.split())

    @property
    def wrapper(self) -> Path:
        return self.bin_dir / "kubeha-tui"

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in [*self.upload_dir.iterdir(), *self.bin_dir.glob(".*")])


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    """The suite's sshd, serving SFTP as a node's sshd does."""
    server = Sshd(tmp_path / "sshd", extra_config="Subsystem sftp internal-sftp")
    server.start()
    yield server
    server.kill()


@pytest.fixture
def node(tmp_path: Path, sshd: Sshd) -> Iterator[FakeNode]:
    fake = FakeNode(tmp_path / "node")
    fake.install_shims(sshd.bin_dir)
    yield fake
    fake.close()


@pytest.fixture
def session(sshd: Sshd) -> Iterator[SSHSession]:
    options = SSHOptions(
        SSHTarget("127.0.0.1", "root", sshd.port), identity=str(sshd.user_key),
        known_hosts=str(sshd.known_hosts), allow_agent=False, timeout=10.0,
        ssh_config=sshd.root / "no-ssh-config",
    )  # fmt: skip
    s = SSHSession(options)
    yield s
    s.close()


def installer(node: FakeNode, session: SSHSession, progress: list[int] | None = None) -> Installer:
    def record(done: int, total: int) -> None:
        if progress is not None:
            progress.append(done)

    return Installer(
        SSHNode(session), str(node.bin_dir), str(node.upload_dir), record, say=lambda _: None
    )


def test_install_uploads_loads_and_writes_the_wrapper_once(
    node: FakeNode, session: SSHSession, tmp_path: Path
) -> None:
    archive = make_archive(tmp_path, "0.1.0", os.urandom(300_000))
    progress: list[int] = []
    said = installer(node, session, progress).install(archive)
    assert said == (
        f"installed kubeha-tui 0.1.0 on root@127.0.0.1:{session.options.target.port}: "
        f"{node.wrapper} runs kubeha-tui:0.1.0"
    )
    assert progress[-1] == archive.size  # the whole archive went over SFTP
    assert node.images() == ["kubeha-tui:0.1.0"]
    st = node.wrapper.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o755)
    assert node.wrapper.read_text() == wrapper_script("kubeha-tui:0.1.0")
    assert node.leftovers() == []  # the upload and the temporary wrapper are gone

    before, progress[:] = node.wrapper.stat().st_mtime_ns, []
    said = installer(node, session, progress).install(archive)
    assert said.startswith("kubeha-tui 0.1.0 is already installed on root@127.0.0.1")
    assert said.endswith("nothing changed")
    assert progress == [] and node.wrapper.stat().st_mtime_ns == before


def test_the_wrapper_runs_the_image_with_the_node_mounts(
    node: FakeNode, session: SSHSession, tmp_path: Path
) -> None:
    installer(node, session).install(make_archive(tmp_path, "0.1.0"))
    home = tmp_path / "home-core"
    (home / ".kube").mkdir(parents=True)
    (home / ".kube" / "config").write_text("apiVersion: v1\n")
    result = session.run(
        f"HOME={home} TERM=xterm-256color {node.wrapper} --screen 'ceph pool' --read-only"
    )
    assert result.exit_status == 0, result.stderr
    args = (node.store / "run-args").read_text().splitlines()
    assert args[-4:] == ["kubeha-tui:0.1.0", "--screen", "ceph pool", "--read-only"]
    assert {"--rm", "-i", "--net=host"} <= set(args) and "-t" not in args  # no terminal here
    pairs = set(itertools.pairwise(args))
    assert {("-e", "TERM"), ("-e", "COLORTERM"), ("-e", "LANG")} <= pairs
    assert ("-v", f"{home}/.kube/config:/root/.kube/config:ro") in pairs
    assert ("-v", f"{home}/.local/state/kubeha-tui:/state/kubeha-tui") in pairs
    assert (home / ".local/state/kubeha-tui").is_dir()
    if Path("/etc/ceph").is_dir():
        assert ("-v", "/etc/ceph:/etc/ceph:ro") in pairs
    assert not any(a.startswith("/var/run/fleet.sock") for a in args)  # not on this machine


def test_a_newer_version_replaces_the_tag_and_uninstall_removes_both(
    node: FakeNode, session: SSHSession, tmp_path: Path
) -> None:
    installer(node, session).install(make_archive(tmp_path, "0.1.0"))
    said = installer(node, session).install(make_archive(tmp_path, "0.2.0"))
    assert said.endswith("runs kubeha-tui:0.2.0 (was kubeha-tui:0.1.0, removed)")
    assert node.images() == ["kubeha-tui:0.2.0"]
    assert node.wrapper.read_text() == wrapper_script("kubeha-tui:0.2.0")

    said = installer(node, session).uninstall()
    assert said == (
        f"removed {node.wrapper} from root@127.0.0.1:{session.options.target.port} "
        "and the image kubeha-tui:0.2.0"
    )
    assert not node.wrapper.exists() and node.images() == []
    assert installer(node, session).uninstall().endswith("nothing changed")


def test_no_docker_daemon_no_sudo_or_no_room_is_refused_first(
    node: FakeNode, session: SSHSession, sshd: Sshd, tmp_path: Path
) -> None:
    archive = make_archive(tmp_path, "0.1.0", os.urandom(2_000_000))
    (node.store / "no-sudo").touch()
    with pytest.raises(NodeInstallError, match=r"sudo -n true failed on .*without a password"):
        installer(node, session).install(archive)
    (node.store / "no-sudo").unlink()

    small = node.root / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small], check=True)
    try:
        tight = Installer(SSHNode(session), str(node.bin_dir), str(small), say=lambda _: None)
        with pytest.raises(NodeInstallError, match=r"not enough space on .*: .*small has 1 MiB"):
            tight.install(archive)
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", small], check=True)

    # The machine's real docker client, with no daemon behind it.
    (sshd.bin_dir / "docker").unlink()
    with pytest.raises(NodeInstallError, match=r"docker \(is its daemon up\?\) failed on .*"):
        installer(node, session).install(archive)
    assert not node.wrapper.exists() and node.images() == [] and node.leftovers() == []


def test_a_failed_step_leaves_nothing_half_installed(
    node: FakeNode, session: SSHSession, tmp_path: Path
) -> None:
    archive = make_archive(tmp_path, "0.1.0")
    (node.store / "load-fails").touch()
    with pytest.raises(NodeInstallError, match=r"docker load failed on .*no space left"):
        installer(node, session).install(archive)
    assert node.images() == [] and node.leftovers() == []
    (node.store / "load-fails").unlink()

    node.bin_dir.write_text("a file where the directory should be")
    with pytest.raises(NodeInstallError, match=f"writing {node.wrapper} failed"):
        installer(node, session).install(archive)
    assert node.images() == [] and node.leftovers() == []  # the loaded image went again


def test_a_wrapper_not_ours_is_left_alone_unless_forced(
    node: FakeNode, session: SSHSession, tmp_path: Path
) -> None:
    node.bin_dir.mkdir()
    node.wrapper.write_text("#!/bin/sh\necho mine\n")
    archive = make_archive(tmp_path, "0.1.0")
    with pytest.raises(NodeInstallError, match="is not a kubeha-tui wrapper; nothing changed"):
        installer(node, session).install(archive)
    with pytest.raises(NodeInstallError, match="is not a kubeha-tui wrapper; left alone"):
        installer(node, session).uninstall()
    assert node.wrapper.read_text() == "#!/bin/sh\necho mine\n" and node.images() == []
    installer(node, session).install(archive, force=True)
    assert node.wrapper.read_text() == wrapper_script("kubeha-tui:0.1.0")


def test_on_the_node_itself_without_ssh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    fake = FakeNode(tmp_path / "node")
    shims = tmp_path / "shims"
    shims.mkdir()
    fake.install_shims(shims)
    request.addfinalizer(fake.close)
    monkeypatch.setenv("PATH", f"{shims}:/usr/sbin:/usr/bin:/sbin:/bin")
    local = Installer(LocalNode(), str(fake.bin_dir), str(fake.upload_dir), say=lambda _: None)
    archive = make_archive(tmp_path, "0.1.0")
    assert local.install(archive) == (
        f"installed kubeha-tui 0.1.0 on this node: {fake.wrapper} runs kubeha-tui:0.1.0"
    )
    assert fake.images() == ["kubeha-tui:0.1.0"] and fake.leftovers() == []
    assert local.install(archive).endswith("nothing changed")


def test_the_command_line(
    node: FakeNode, sshd: Sshd, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = make_archive(tmp_path, "0.1.0", os.urandom(200_000))
    argv = ["node-install", "--ssh", f"root@127.0.0.1:{sshd.port}", "--identity",
            str(sshd.user_key), "--known-hosts", str(sshd.known_hosts), "--bin-dir",
            str(node.bin_dir), "--upload-dir", str(node.upload_dir)]  # fmt: skip
    assert cli.main([*argv, "--archive", str(archive.path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("installed kubeha-tui 0.1.0 on root@127.0.0.1")
    assert "uploading kubeha-tui-0.1.0.docker.tar.gz" in err and "] 100%" in err

    bad = tmp_path / "bad.docker.tar.gz"
    bad.write_bytes(b"not a tar")
    assert cli.main([*argv, "--archive", str(bad)]) == 1
    assert f"{bad} is not a kubeha-tui docker archive" in capsys.readouterr().err
    assert cli.main([*argv, "--archive", str(tmp_path / "none.tar.gz")]) == 1
    assert "run `make image` first" in capsys.readouterr().err
    assert cli.main([*argv, "--uninstall"]) == 0
    assert capsys.readouterr().out.startswith(f"removed {node.wrapper}")
    assert node.images() == []
