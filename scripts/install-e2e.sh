#!/usr/bin/env bash
# Installs what the end-to-end tests (tests/e2e.rs) need, on a fresh Debian 12 machine, as root.
# Idempotent: what is already there is kept. Everything but the Debian packages goes under one prefix
# outside /root (mode 0700 there), because the user servers the tests start run as unprivileged uids.
#   - runc: the OCI runtime (Debian's; crun refuses hybrid cgroups on these machines)
#   - busybox-static: a minimal root filesystem for the containers
#   - a venv from Debian's /usr/bin/python3 with jupyterhub, jupyter-server and ipykernel from PyPI, and
#     jupyterhub-kubespawner, kubernetes, pycurl and jsonschema to render Zero to JupyterHub user pods
#   - configurable-http-proxy from npm
#   - Docker and debootstrap from Debian, and container images made from them (scripts/e2e-images.sh)
set -euo pipefail
PREFIX="${ROOTHOOKS_E2E_PREFIX:-/opt/roothooks-e2e}"
JUPYTERHUB_VERSION=6.1.1
JUPYTER_SERVER_VERSION=2.21.1
IPYKERNEL_VERSION=7.4.0
# for tests/z2jh.rs: KubeSpawner builds the user pod from the chart's own hub config (../shared/z2jh)
KUBESPAWNER_VERSION=7.1.0
KUBERNETES_VERSION=37.0.2
PYCURL_VERSION=7.49.0
JSONSCHEMA_VERSION=4.26.0
# for tests/docker.rs: the hub in a booted systemd spawns each server as a transient unit
SYSTEMDSPAWNER_VERSION=1.0.2
CHP_VERSION=5.3.0

if [ "$(id -u)" != 0 ]; then
    echo "scripts/install-e2e.sh: needs root to install packages; the e2e tests will skip" >&2
    exit 0
fi

missing=()
command -v runc >/dev/null || missing+=(runc)
[ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 && ldd /bin/busybox 2>&1 | grep -q 'not a dynamic' || missing+=(busybox-static)
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v npm >/dev/null || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

mkdir -p "$PREFIX"
if ! "$PREFIX/venv/bin/python" -c "import jupyterhub, jupyter_server, ipykernel, kubespawner, kubernetes, pycurl, jsonschema, systemdspawner" 2>/dev/null; then
    /usr/bin/python3 -m venv "$PREFIX/venv"
    "$PREFIX/venv/bin/pip" install -q --disable-pip-version-check \
        "jupyterhub==$JUPYTERHUB_VERSION" "jupyter-server==$JUPYTER_SERVER_VERSION" "ipykernel==$IPYKERNEL_VERSION" \
        "jupyterhub-kubespawner==$KUBESPAWNER_VERSION" "kubernetes==$KUBERNETES_VERSION" \
        "pycurl==$PYCURL_VERSION" "jsonschema==$JSONSCHEMA_VERSION" \
        "jupyterhub-systemdspawner==$SYSTEMDSPAWNER_VERSION"
fi
if [ ! -x "$PREFIX/node/node_modules/.bin/configurable-http-proxy" ]; then
    npm install --silent --no-audit --no-fund --prefix "$PREFIX/node" "configurable-http-proxy@$CHP_VERSION" >/dev/null
fi
chmod -R go+rX,go-w "$PREFIX"
# Docker (Debian's docker.io) and the images tests/docker.rs runs, made from debootstrap and cached
JUPYTER_SERVER_VERSION="$JUPYTER_SERVER_VERSION" bash "$(dirname "$0")/e2e-images.sh"
echo "e2e components ready under $PREFIX"
