#!/usr/bin/env bash
# Prints a directory of wheels for every pinned dependency of kubeha-tui, so that the
# image build and the wheel tests install offline (--no-index) and fast. Made once per
# machine and per requirements.lock + the wheel's Requires-Dist, in ~/.cache/kubeha-tui.
# Usage: scripts/wheelhouse.sh KUBEHA_TUI_WHEEL
set -euo pipefail
cd "$(dirname "$0")/.."
wheel=$(realpath "$1")
PYTHON=${PYTHON:-.venv/bin/python}
requires=$("$PYTHON" - "$wheel" <<'PY'
import sys, zipfile
whl = zipfile.ZipFile(sys.argv[1])
meta = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
print("\n".join(l for l in whl.read(meta).decode().splitlines() if l.startswith("Requires-Dist:")))
PY
)
key=$( { cat requirements.lock; echo "$requires"; } | sha256sum | cut -c1-16)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/kubeha-tui"
dir="$cache/wheelhouse-$key"
if [ ! -f "$dir/.complete" ]; then
  mkdir -p "$cache"
  tmp=$(mktemp -d "$dir.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  "$PYTHON" -m pip wheel -q --disable-pip-version-check -c requirements.lock -w "$tmp" "$wheel" >&2
  rm -f "$tmp"/kubeha_tui-*.whl
  touch "$tmp/.complete"
  [ -f "$dir/.complete" ] || rm -rf "$dir"
  mv -T "$tmp" "$dir" 2>/dev/null || true  # another run may have made it meanwhile
fi
echo "$dir"
