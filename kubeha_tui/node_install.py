"""``kubeha-tui node-install``: put the node image on a stack node, with its wrapper.

Checks first (docker answers, ``sudo -n`` works, room for the archive), then
uploads the ``docker load`` archive (SFTP over the SSH session, or nothing to
upload when run on the node itself), loads it, checks the loaded image is the
archive's, and writes ``/opt/bin/kubeha-tui`` through sudo (root, 0755), a
shell script that runs the image as the stack's own ``/opt/bin/ceph`` wrappers
do. A failure undoes what this run did; the same version twice changes
nothing; a newer one replaces the wrapper's image tag and drops the old tag.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import paramiko

from kubeha_tui.config import ConfigError, parse_ssh_target
from kubeha_tui.errors import ServiceError
from kubeha_tui.ssh import CommandResult, SSHError, SSHOptions, SSHSession, run_local

WRAPPER_NAME = "kubeha-tui"
MARKER = "# kubeha-tui node wrapper, image "  # our wrapper says so on its second line
Progress = Callable[[int, int], None]  # bytes done, bytes in all


class NodeInstallError(ServiceError):
    """Refused or failed; the message says what and what to try."""


@dataclass(frozen=True)
class Archive:
    path: Path
    tag: str  # kubeha-tui:<version>, what `docker load` tags
    image_id: str  # sha256 hex of the image config: the id `docker load` gives it
    size: int
    unpacked: int  # the layer, uncompressed: what the engine stores

    @classmethod
    def read(cls, path: Path) -> Archive:
        """The archive's manifest, config and layer size; refuses anything else."""
        try:
            with tarfile.open(path) as tar:
                manifest = json.load(_member(tar, "manifest.json"))
                (entry,) = manifest
                (tag,) = entry["RepoTags"]
                config = _member(tar, entry["Config"]).read()
                (layer_name,) = entry["Layers"]
                layer = tar.getmember(layer_name)
                data = _member(tar, layer_name)
                head = data.read(2)
                if head == b"\x1f\x8b":  # gzip: its trailer holds the size mod 2**32
                    data.seek(layer.size - 4)
                    unpacked = int.from_bytes(data.read(4), "little")
                else:
                    unpacked = layer.size
        except (OSError, tarfile.TarError, KeyError, ValueError, TypeError) as exc:
            raise NodeInstallError(f"{path} is not a kubeha-tui docker archive: {exc}") from None
        image_id = hashlib.sha256(config).hexdigest()
        if not tag.startswith(f"{WRAPPER_NAME}:") or entry["Config"] != f"{image_id}.json":
            raise NodeInstallError(f"{path}: not a kubeha-tui image archive (tag {tag!r})")
        return cls(path, tag, image_id, path.stat().st_size, unpacked)


def _member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    f = tar.extractfile(name)
    if f is None:
        raise KeyError(f"{name} is not a file")
    return f


def wrapper_script(tag: str) -> str:
    """``/opt/bin/kubeha-tui``: the console in its image, with the node's endpoints mounted."""
    return f"""#!/bin/sh
{MARKER}{tag}
# Runs kubeha-tui in its container on this node, as /opt/bin/ceph runs Ceph's tools.
set -e
state="${{XDG_STATE_HOME:-$HOME/.local/state}}/kubeha-tui"
mkdir -p "$state"
kubeconfig="${{KUBECONFIG:-$HOME/.kube/config}}"
set -- --rm -i --net=host -e TERM -e COLORTERM -e LANG \\
  -e XDG_STATE_HOME=/state -v "$state:/state/kubeha-tui" "{tag}" "$@"
# Mount only what exists: docker would make a missing path an empty directory.
[ -t 0 ] && [ -t 1 ] && set -- -t "$@"
[ -S /var/run/fleet.sock ] && set -- -v /var/run/fleet.sock:/var/run/fleet.sock:ro "$@"
[ -f "$kubeconfig" ] && set -- -v "$kubeconfig:/root/.kube/config:ro" "$@"
[ -d /etc/ceph ] && set -- -v /etc/ceph:/etc/ceph:ro "$@"
[ -d /etc/kubernetes/ssl ] && set -- -v /etc/kubernetes/ssl:/etc/kubernetes/ssl:ro "$@"
exec docker run "$@"
"""


class Node(Protocol):
    @property
    def where(self) -> str: ...

    uploads: bool  # False: the archive is already on the node

    def run(self, command: str, timeout: float = 30.0) -> CommandResult: ...

    def put(self, local: Path, remote: str, progress: Progress | None = None) -> None: ...


@dataclass
class SSHNode:
    """A node over the SSH session: commands on it, files by SFTP."""

    session: SSHSession
    uploads: bool = True

    @property
    def where(self) -> str:
        return str(self.session.options.target)

    def run(self, command: str, timeout: float = 30.0) -> CommandResult:
        return self.session.run(command, timeout=timeout)

    def put(self, local: Path, remote: str, progress: Progress | None = None) -> None:
        try:
            with self.session.client().open_sftp() as sftp:
                channel = sftp.get_channel()
                if channel is not None:
                    channel.settimeout(self.session.options.timeout)
                sftp.put(str(local), remote, callback=progress)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise NodeInstallError(
                f"uploading to {self.where}:{remote} failed: {exc or type(exc).__name__} "
                "(does its sshd serve SFTP?)"
            ) from None


@dataclass
class LocalNode:
    """This machine, when kubeha-tui node-install runs on the node itself."""

    where: str = "this node"
    uploads: bool = False

    def run(self, command: str, timeout: float = 30.0) -> CommandResult:
        try:
            return run_local(command, timeout)
        except SSHError as exc:
            raise NodeInstallError(str(exc)) from None

    def put(self, local: Path, remote: str, progress: Progress | None = None) -> None:
        total, done = local.stat().st_size, 0
        with local.open("rb") as src, open(remote, "wb") as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                dst.write(block)
                done += len(block)
                if progress:
                    progress(done, total)


def _q(text: str) -> str:
    return shlex.quote(text)


@dataclass
class Installer:
    node: Node
    bin_dir: str = "/opt/bin"
    upload_dir: str = "/var/tmp"
    progress: Progress | None = None
    say: Callable[[str], None] = print

    @property
    def wrapper(self) -> str:
        return f"{self.bin_dir}/{WRAPPER_NAME}"

    def _run(self, command: str, what: str, timeout: float = 30.0) -> str:
        """``command``'s output; its failure raises, with its last line of output."""
        result = self._ok(command, timeout)
        if result.exit_status:
            lines = (result.stderr or result.stdout).strip().splitlines()
            detail = lines[-1] if lines else f"exit status {result.exit_status}"
            raise NodeInstallError(f"{what} failed on {self.node.where}: {detail}")
        return result.stdout

    def _ok(self, command: str, timeout: float = 30.0) -> CommandResult:
        try:
            return self.node.run(command, timeout)
        except SSHError as exc:
            raise NodeInstallError(f"{command!r} on {self.node.where}: {exc}") from None

    def check(self) -> None:
        """Refuse, before anything changes, when docker or sudo does not work."""
        if self._ok("command -v docker").exit_status:
            raise NodeInstallError(f"no docker on {self.node.where}: the node image needs it")
        self._run("docker version --format '{{.Server.Version}}'", "docker (is its daemon up?)")
        if self._ok("sudo -n true").exit_status:
            raise NodeInstallError(
                f"sudo -n true failed on {self.node.where}: writing {self.wrapper} needs "
                "sudo without a password (as `core` has it on CoreOS)"
            )

    def installed(self) -> tuple[str | None, str | None]:
        """The wrapper's text (None when there is none) and the image tag it runs."""
        result = self._ok(f"cat {_q(self.wrapper)}")
        if result.exit_status:
            return None, None
        lines = result.stdout.splitlines()
        if len(lines) > 1 and lines[1].startswith(MARKER):
            return result.stdout, lines[1][len(MARKER) :].strip()
        return result.stdout, None

    def image_id(self, tag: str) -> str | None:
        result = self._ok(f"docker image inspect --format '{{{{.Id}}}}' {_q(tag)}")
        return result.stdout.strip().removeprefix("sha256:") if not result.exit_status else None

    def _check_space(self, archive: Archive) -> None:
        """Room for the upload and for the unpacked image in docker's directory."""
        root = self._run("docker info --format '{{.DockerRootDir}}'", "docker info").strip()
        places = [root, self.upload_dir] if self.node.uploads else [root]
        need = {root: archive.unpacked + archive.size, self.upload_dir: archive.size}
        out = self._run(f"df -Pk {' '.join(map(_q, places))}", "df")
        rows = [line.split() for line in out.splitlines()[1:] if line.strip()]
        if len(rows) != len(places):
            raise NodeInstallError(f"cannot read df's answer on {self.node.where}: {out!r}")
        wanted: dict[str, int] = {}  # by mount point: places on one filesystem add up
        free: dict[str, int] = {}
        for place, row in zip(places, rows, strict=True):
            wanted[row[5]] = wanted.get(row[5], 0) + need[place]
            free[row[5]] = int(row[3]) * 1024
        for mount, want in wanted.items():
            if free[mount] < want:
                raise NodeInstallError(
                    f"not enough space on {self.node.where}: {mount} has "
                    f"{free[mount] / 2**20:.0f} MiB free, the image needs {want / 2**20:.0f} MiB "
                    "there; nothing changed"
                )

    def install(self, archive: Archive, *, force: bool = False) -> str:
        self.check()
        text, old_tag = self.installed()
        if text is not None and old_tag is None and not force:
            raise NodeInstallError(
                f"{self.wrapper} on {self.node.where} is not a kubeha-tui wrapper; "
                "nothing changed (--force replaces it)"
            )
        want = wrapper_script(archive.tag)
        had_image = self.image_id(archive.tag) == archive.image_id
        version = archive.tag.partition(":")[2]
        if had_image and text == want:
            return (
                f"kubeha-tui {version} is already installed on {self.node.where} "
                f"({self.wrapper}, image {archive.image_id[:12]}); nothing changed"
            )
        if not had_image:
            self._check_space(archive)
        tmp = self._run(f"mktemp -d {_q(self.upload_dir + '/kubeha-tui.XXXXXX')}", "mktemp").strip()
        loaded = False
        try:
            if not had_image:
                remote = str(archive.path.resolve())
                if self.node.uploads:
                    remote = f"{tmp}/{archive.path.name}"
                    self.say(f"uploading {archive.path.name} to {self.node.where}:{remote}")
                    self.node.put(archive.path, remote, self.progress)
                self._run(f"docker load -i {_q(remote)}", "docker load", timeout=900)
                loaded = True
                got = self.image_id(archive.tag)
                if got != archive.image_id:
                    raise NodeInstallError(
                        f"docker load on {self.node.where} gave {archive.tag} the id {got}, "
                        f"not the archive's {archive.image_id}"
                    )
            self._write_wrapper(want, tmp)
        except BaseException:
            if loaded:
                self._ok(f"docker rmi {_q(archive.tag)}")
            raise
        finally:
            self._ok(f"rm -rf {_q(tmp)}")
        said = f"installed kubeha-tui {version} on {self.node.where}: {self.wrapper} runs {archive.tag}"
        if old_tag and old_tag != archive.tag:
            self._ok(f"docker rmi {_q(old_tag)}")
            said += f" (was {old_tag}, removed)"
        return said

    def _write_wrapper(self, text: str, tmp: str) -> None:
        with tempfile.TemporaryDirectory() as local:
            path = Path(local, WRAPPER_NAME)
            path.write_text(text)
            self.node.put(path, f"{tmp}/{WRAPPER_NAME}")
        new = f"{self.bin_dir}/.{WRAPPER_NAME}.new"
        self._run(
            f"sudo -n mkdir -p {_q(self.bin_dir)} && "
            f"sudo -n install -o root -g root -m 0755 {_q(tmp + '/' + WRAPPER_NAME)} {_q(new)} && "
            f"sudo -n mv -f {_q(new)} {_q(self.wrapper)}",
            f"writing {self.wrapper}",
        )

    def uninstall(self) -> str:
        self.check()
        text, tag = self.installed()
        if text is None:
            return f"kubeha-tui is not installed on {self.node.where} ({self.wrapper}); nothing changed"
        if tag is None:
            raise NodeInstallError(
                f"{self.wrapper} on {self.node.where} is not a kubeha-tui wrapper; left alone"
            )
        self._run(f"sudo -n rm -f {_q(self.wrapper)}", f"removing {self.wrapper}")
        gone = self._ok(f"docker rmi {_q(tag)}").exit_status == 0
        return f"removed {self.wrapper} from {self.node.where}" + (
            f" and the image {tag}" if gone else f"; the image {tag} was already gone"
        )


class ProgressBar:
    """``[#####.....]  42%  33/79 MiB`` on one line of a stream, redrawn per percent."""

    def __init__(self, stream: Callable[[str], object], width: int = 30) -> None:
        self.write, self.width, self.last = stream, width, -1

    def __call__(self, done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        if percent == self.last:
            return
        self.last = percent
        bar = "#" * (self.width * percent // 100)
        self.write(
            f"\r[{bar:.<{self.width}}] {percent:3d}%  {done / 2**20:.0f}/{total / 2**20:.0f} MiB"
            + ("\n" if done >= total else "")
        )


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{prog} node-install",
        description="Install the kubeha-tui node image and /opt/bin/kubeha-tui on a stack node "
        "(over SSH, or on this node without --ssh).",
    )
    parser.add_argument("--ssh", metavar="USER@HOST[:PORT]", help="the node, e.g. core@10.0.0.5")
    parser.add_argument("--identity", metavar="FILE", help="SSH private key")
    parser.add_argument("--known-hosts", metavar="FILE", help="default ~/.ssh/known_hosts")
    parser.add_argument("--accept-new-host-key", action="store_true", help="record an unknown key")
    parser.add_argument(
        "--archive", metavar="FILE", type=Path, help="default dist/kubeha-tui-VERSION.docker.tar.gz"
    )
    parser.add_argument("--bin-dir", default="/opt/bin", help="where the wrapper goes (/opt/bin)")
    parser.add_argument("--upload-dir", default="/var/tmp", help="on the node, for the upload")
    parser.add_argument("--uninstall", action="store_true", help="remove the wrapper and image")
    parser.add_argument("--force", action="store_true", help="replace a wrapper not ours")
    return parser


def main(argv: list[str], prog: str, version: str) -> int:
    args = build_parser(prog).parse_args(argv)
    node: Node
    session: SSHSession | None = None
    try:
        if args.ssh:
            target = parse_ssh_target(args.ssh)
            session = SSHSession(
                SSHOptions(target, args.identity, args.known_hosts, args.accept_new_host_key)
            )
            node = SSHNode(session)
        else:
            node = LocalNode()
        progress = ProgressBar(sys.stderr.write) if args.ssh else None
        installer = Installer(node, args.bin_dir, args.upload_dir, progress, say=_err)
        if args.uninstall:
            print(installer.uninstall())
        else:
            path = args.archive or Path("dist") / f"kubeha-tui-{version}.docker.tar.gz"
            if not path.is_file():
                raise NodeInstallError(f"no image archive at {path}: run `make image` first")
            print(installer.install(Archive.read(path), force=args.force))
    except (ServiceError, ConfigError) as exc:
        print(f"{prog} node-install: {exc}", file=sys.stderr)
        return 1
    finally:
        if session is not None:
            session.close()
    return 0


def _err(text: str) -> None:
    print(text, file=sys.stderr)
