"""Write a root filesystem as a ``docker load`` archive (docker-archive format).

The archive holds ``manifest.json`` (read by Docker 1.10+, podman and skopeo),
``repositories`` (for older loaders), the image config JSON named by its
sha256 and one gzipped layer tar; the outer tar is not compressed. Everything is
byte-for-byte reproducible for one SOURCE_DATE_EPOCH: entries sorted, mtimes
clamped to it, owner names dropped (numeric ids kept), gzip header without
name or time. Standard library only; run as root to read every file.

Usage: docker_archive.py ROOTFS OUT.tar.gz --tag NAME:TAG --entrypoint PATH [--env K=V]...
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import tempfile
from pathlib import Path

# Kept as empty directories: the engine mounts its own there.
EMPTIED = ("dev", "proc", "sys", "run", "tmp", "var/tmp")


def _epoch() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH", "0"))


def _walk(root: Path) -> list[str]:
    """Every path under ``root`` (relative, sorted, directories before their contents)."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        dirnames.sort()
        if rel != "." and rel in EMPTIED:
            dirnames[:] = []
            continue
        for name in sorted(
            [*filenames, *(d for d in dirnames if os.path.islink(Path(dirpath, d)))]
        ):
            found.append(os.path.normpath(os.path.join(rel, name)))
        for name in dirnames:
            if not os.path.islink(Path(dirpath, name)):
                found.append(os.path.normpath(os.path.join(rel, name)) + "/")
    return sorted(found, key=lambda p: p.rstrip("/").split("/"))


def write_layer(root: Path, out: io.RawIOBase, epoch: int) -> None:
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in _walk(root):
            path = root / rel.rstrip("/")
            info = tar.gettarinfo(str(path), arcname=rel.rstrip("/"))
            if info.ischr() or info.isblk() or info.isfifo() or stat.S_ISSOCK(path.lstat().st_mode):
                continue  # device nodes and sockets belong to the engine, not the image
            info.mtime = min(int(info.mtime), epoch)
            info.uname = info.gname = ""
            info.pax_headers = {}
            if info.isreg():
                with path.open("rb") as data:
                    tar.addfile(info, data)
            else:
                tar.addfile(info)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def image_config(diff_id: str, entrypoint: str, env: list[str], epoch: int) -> bytes:
    created = datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {"Entrypoint": [entrypoint], "Env": env, "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        "history": [{"created": created, "created_by": "scripts/build-image.sh (mmdebstrap)"}],
    }
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, epoch: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), epoch, 0o644
    tar.addfile(info, io.BytesIO(data))


class _HashingWriter(io.RawIOBase):
    """Passes bytes on to ``out`` and keeps their sha256 (the layer's diff id)."""

    def __init__(self, out: gzip.GzipFile) -> None:
        self.out, self.digest, self.written = out, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.written

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.digest.update(data)
        self.written += len(data)
        return self.out.write(data)


def write_archive(
    root: Path, out: Path, *, tag: str, entrypoint: str, env: list[str], epoch: int
) -> None:
    name, _, version = tag.rpartition(":")
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        layer = Path(tmp, "layer.tar.gz")
        with (
            layer.open("wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
        ):
            hashing = _HashingWriter(gz)
            write_layer(root, hashing, epoch)
        diff_id = hashing.digest.hexdigest()
        config = image_config(diff_id, entrypoint, env, epoch)
        config_name = hashlib.sha256(config).hexdigest() + ".json"
        layer_name = f"{diff_id}/layer.tar.gz"
        manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": [layer_name]}]
        partial = out.with_name(out.name + ".partial")
        # The outer tar stays uncompressed: skopeo before 1.10 (Debian 12 has 1.9) reads
        # docker-archive only so; the layer inside is gzipped, which Docker, podman and
        # skopeo all load.
        with (
            partial.open("wb") as raw,
            tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            _add_bytes(tar, config_name, config, epoch)
            info = tarfile.TarInfo(diff_id)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, epoch
            tar.addfile(info)
            info = tar.gettarinfo(str(layer), arcname=layer_name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = epoch, 0, 0, "", ""
            info.mode = 0o644
            with layer.open("rb") as data:
                tar.addfile(info, data)
            _add_bytes(tar, "manifest.json", json.dumps(manifest).encode(), epoch)
            repositories = {name: {version: diff_id}}
            _add_bytes(tar, "repositories", json.dumps(repositories).encode(), epoch)
        partial.replace(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rootfs", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--tag", required=True, help="NAME:TAG")
    parser.add_argument("--entrypoint", required=True)
    parser.add_argument("--env", action="append", default=[], help="K=V, repeatable")
    args = parser.parse_args(argv)
    if ":" not in args.tag:
        parser.error("--tag must be NAME:TAG")
    write_archive(
        args.rootfs,
        args.out,
        tag=args.tag,
        entrypoint=args.entrypoint,
        env=args.env,
        epoch=_epoch(),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
