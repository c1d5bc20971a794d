#!/usr/bin/env bash
# The whole test suite, as CI and a newcomer run it: bash scripts/test.sh (as root, for the real tests).
# Installs what the tests need when it is missing (Debian packages; the end-to-end components through
# scripts/install-e2e.sh), then checks formatting, lints and runs every test. Under CI=true a test
# that would skip for lack of root or a component fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { # need COMMAND DEBIAN-PACKAGE
    command -v "$1" >/dev/null 2>&1 && return
    if [ "$(id -u)" != 0 ]; then
        echo "scripts/test.sh: $1 is missing (Debian package $2) and we are not root to install it" >&2
        return
    fi
    if [ -z "${APT_UPDATED:-}" ]; then
        apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

need capsh libcap2-bin
need setpriv util-linux
need useradd passwd
need getent libc-bin
need keyctl keyutils
need unshare util-linux
need shellcheck shellcheck
need systemd-analyze systemd
# a FUSE file system that refuses RENAME_NOREPLACE, as NFS does: --create-home's fallback (tests/provision.rs)
need bindfs bindfs
# a root Python hook in tests/gate.rs is Debian's python, whatever else is first on PATH
[ -x /usr/bin/python3 ] || { APT_UPDATED=; need /usr/bin/python3 python3; }
# the kernel's own system call table, for the filter's test against it (src/seccomp/mod.rs)
bash scripts/kernel-syscalls.sh
# the static build is tested inside a libc-less container (tests/e2e.rs), and as the wheel pip
# installs without Rust (tests/packaging.rs, tests/docker.rs); first, since the container images
# take cargo-auditable from this machine
bash scripts/build-static.sh --wheel
# runc, busybox-static, a venv with jupyterhub and jupyter-server, configurable-http-proxy
bash scripts/install-e2e.sh

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
# Every test binary runs whatever an earlier one did (--no-fail-fast), so one failure never hides
# whether the rest pass. cargo prints one summary per binary; end with the total and each failed test.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --locked --no-fail-fast 2>&1 | tee "$log" || status=$?
awk -f scripts/test-summary.awk "$log"
exit "$status"
