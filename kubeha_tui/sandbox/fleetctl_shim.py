"""A ``fleetctl`` for sandbox nodes that implements only ``fd-forward SOCKET``:
it copies stdin to the unix socket and the socket to stdout, which is how
``fleetctl --tunnel`` (and kubeha-tui over SSH) reaches fleet on a node."""

from __future__ import annotations

import os
import selectors
import socket
import sys
from pathlib import Path


def fd_forward(path: str) -> int:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        print(f"fleetctl: unable to connect to {path}: {exc.strerror}", file=sys.stderr)
        return 1
    sel = selectors.DefaultSelector()
    sel.register(0, selectors.EVENT_READ, "stdin")
    sel.register(sock, selectors.EVENT_READ, "sock")
    while sel.get_map():
        for key, _ in sel.select():
            if key.data == "stdin":
                data = os.read(0, 65536)
                if data:
                    sock.sendall(data)
                else:
                    sel.unregister(0)
                    sock.shutdown(socket.SHUT_WR)
            else:
                data = sock.recv(65536)
                if not data:
                    return 0
                os.write(1, data)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "fd-forward":
        return fd_forward(args[1])
    print(
        "fleetctl (kubeha-tui sandbox): only `fleetctl fd-forward SOCKET` is implemented",
        file=sys.stderr,
    )
    return 1


def install(bin_dir: Path) -> Path:
    """Write a ``fleetctl`` script into ``bin_dir`` that runs this shim with our Python."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "fleetctl"
    script.write_text(
        f'#!/bin/sh\nexec {sys.executable} -m kubeha_tui.sandbox.fleetctl_shim "$@"\n'
    )
    script.chmod(0o755)
    return script


if __name__ == "__main__":
    raise SystemExit(main())
