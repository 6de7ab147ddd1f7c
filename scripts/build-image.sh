#!/usr/bin/env bash
# Builds the node image: OUT_DIR/kubeha-tui-<version>.docker.tar.gz, a `docker load`
# archive whose root filesystem is made from Debian 12 packages by mmdebstrap (no
# base image from any registry), with the wheel and its pinned dependencies in a
# venv made from the image's /usr/bin/python3. Run as root (mmdebstrap, chroot).
#
# Reproducible: SOURCE_DATE_EPOCH (default: the last commit's time) fixes the
# mtimes, the tar order and owners, the .pyc files (checked-hash) and the gzip
# header; apt caches, logs, docs, man pages and message catalogs are left out.
# Usage: scripts/build-image.sh [OUT_DIR]   (default dist/)
set -euo pipefail
cd "$(dirname "$0")/.."

OUT_DIR=$(realpath -m "${1:-dist}")
export PYTHON=${PYTHON:-.venv/bin/python}  # also for scripts/wheelhouse.sh
SUITE=bookworm
PREFIX=/opt/kubeha-tui  # the venv inside the image

[ "$(id -u)" -eq 0 ] || { echo "build-image: run as root (mmdebstrap, chroot)" >&2; exit 1; }
for tool in mmdebstrap; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool missing; run make install" >&2; exit 1; }
done

version=$("$PYTHON" -c 'import kubeha_tui; print(kubeha_tui.__version__)')
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
out="$OUT_DIR/kubeha-tui-$version.docker.tar.gz"

work=$(mktemp -d /tmp/kubeha-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/wheelhouse" "$work/src" "$OUT_DIR"

echo "build-image: the wheel and its pinned dependencies"
# Built from a copy of the tree's files, so that no stale build/ directory leaks in.
while IFS= read -r -d '' f; do
  if [ -f "$f" ]; then cp --parents -t "$work/src" "$f"; fi
done < <(git ls-files -z --cached --others --exclude-standard)
"$PYTHON" -m pip wheel -q --no-deps --no-build-isolation -w "$work/wheelhouse" "$work/src"
wheel=$(ls "$work"/wheelhouse/kubeha_tui-"$version"-*.whl)
cp "$(scripts/wheelhouse.sh "$wheel")"/*.whl requirements.lock "$work/wheelhouse/"

echo "build-image: root filesystem from Debian $SUITE (mmdebstrap)"
# Only what the console needs at run time; python3-venv goes again once the venv exists.
# C.UTF-8 is built into Debian 12's libc, so no locales package is needed.
chroot_env=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"
  LANG=C.UTF-8 PYTHONHASHSEED=0 HOME=/root)
mmdebstrap --quiet --variant=essential --mode=root \
  --include=usr-is-merged,python3,python3-rados,python3-rbd,ca-certificates,python3-venv \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --dpkgopt='path-exclude=/usr/share/bash-completion/*' \
  --customize-hook="copy-in $work/wheelhouse /tmp" \
  --customize-hook="chroot \"\$1\" ${chroot_env[*]} python3 -m venv $PREFIX" \
  --customize-hook="chroot \"\$1\" ${chroot_env[*]} $PREFIX/bin/pip install -q --no-index \
    --no-cache-dir --disable-pip-version-check --find-links /tmp/wheelhouse \
    -c /tmp/wheelhouse/requirements.lock kubeha-tui==$version" \
  --customize-hook="chroot \"\$1\" ${chroot_env[*]} $PREFIX/bin/pip uninstall -q -y pip setuptools" \
  --customize-hook="chroot \"\$1\" ${chroot_env[*]} dpkg --purge python3-venv python3.11-venv \
    python3-pip-whl python3-setuptools-whl python3-distutils python3-lib2to3 >/dev/null" \
  --customize-hook="chroot \"\$1\" sh -c 'for m in rados rbd; do \
    ln -s /usr/lib/python3/dist-packages/\$m.cpython-311-x86_64-linux-gnu.so \
    $PREFIX/lib/python3.11/site-packages/; done'" \
  --customize-hook='rm -rf "$1"/tmp/wheelhouse "$1"/var/log/* "$1"/var/cache/ldconfig/aux-cache \
    "$1"/var/cache/debconf/*-old "$1"/var/lib/dpkg/*-old "$1"/root/.cache "$1"/etc/machine-id' \
  "$SUITE" "$work/rootfs"

echo "build-image: docker archive"
"$PYTHON" scripts/docker_archive.py "$work/rootfs" "$out" \
  --tag "kubeha-tui:$version" --entrypoint "$PREFIX/bin/kubeha-tui" \
  --env "PATH=$PREFIX/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --env LANG=C.UTF-8 --env LC_ALL=C.UTF-8 --env PYTHONDONTWRITEBYTECODE=1
echo "build-image: wrote $out ($(du -h "$out" | cut -f1))"
