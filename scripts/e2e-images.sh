#!/usr/bin/env bash
# Builds the container images tests/docker.rs runs, as root; called by scripts/install-e2e.sh.
# Idempotent and cached: an image whose inputs have not changed is kept (tagged by a hash of them),
# and the debootstrap root filesystem is kept as a tarball under $CACHE.
#   - roothooks-e2e/bookworm: Debian 12 minbase with python3, from debootstrap and Debian's mirror,
#     imported (no image can be pulled here)
#   - roothooks-e2e/base-notebook: shaped like docker-stacks' base-notebook (tests/docker/)
#   - roothooks-e2e/builder: gcc, glibc's static libraries and this machine's Rust toolchain, for
#     Dockerfile.example's build stage
#   - roothooks-e2e/systemd: systemd and dbus, to boot as PID 1 in a container
# The engine is Debian's docker.io, started with --bridge=none --iptables=false --ip-masq=false
# (containers use --network host or none; nothing leaves 127.0.0.1) and stopped again if this script
# started it.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${ROOTHOOKS_E2E_CACHE:-/var/cache/roothooks-e2e}"
DOCKER=/usr/bin/docker
JUPYTER_SERVER_VERSION="${JUPYTER_SERVER_VERSION:-2.21.1}"

missing=()
[ -x /usr/sbin/dockerd ] && [ -x "$DOCKER" ] || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# docker.io's package starts its own units where systemd runs; the tests start the engine themselves
systemctl disable --now docker.service docker.socket >/dev/null 2>&1 || true

started=""
if ! "$DOCKER" info >/dev/null 2>&1; then
    dockerd --bridge=none --iptables=false --ip-masq=false >"$CACHE.dockerd.log" 2>&1 &
    started=$!
    for _ in $(seq 1 100); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 0.2; done
fi
stop_engine() {
    if [ -n "$started" ]; then
        kill "$started" 2>/dev/null || true
        wait "$started" 2>/dev/null || true
    fi
}
trap stop_engine EXIT

# image NAME HASH: whether NAME:HASH is there already; tags it :latest when it is
have() {
    "$DOCKER" image inspect "$1:$2" >/dev/null 2>&1 && "$DOCKER" tag "$1:$2" "$1:latest"
}
hash_of() { { cat "$@"; cat; } | sha256sum | cut -c1-12; } # files, then what is on stdin

mkdir -p "$CACHE"
rootfs_tar="$CACHE/bookworm-minbase-python3.tar"
if [ ! -s "$rootfs_tar" ]; then
    tmp="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$tmp" \
        http://deb.debian.org/debian >/dev/null
    tar -C "$tmp" -cf "$rootfs_tar.part" .
    mv "$rootfs_tar.part" "$rootfs_tar"
    rm -rf "$tmp"
fi
tag="$(sha256sum "$rootfs_tar" | cut -c1-12)"
if ! have roothooks-e2e/bookworm "$tag"; then
    "$DOCKER" import "$rootfs_tar" "roothooks-e2e/bookworm:$tag" >/dev/null
    "$DOCKER" tag "roothooks-e2e/bookworm:$tag" roothooks-e2e/bookworm:latest
fi

# A build context with FILES and this machine's CA bundle (ca-certificates.crt): the images fetch from
# PyPI, Debian and crates.io with the certificates this machine trusts, whatever network it is on.
context() {
    local dir
    dir="$(mktemp -d "$CACHE/context.XXXXXX")"
    cp "$@" /etc/ssl/certs/ca-certificates.crt "$dir/"
    echo "$dir"
}
ca="/etc/ssl/certs/ca-certificates.crt"

tag="$(hash_of tests/docker/base-notebook.Dockerfile tests/docker/start-notebook.py "$ca" <<<"$JUPYTER_SERVER_VERSION")"
if ! have roothooks-e2e/base-notebook "$tag"; then
    dir="$(context tests/docker/base-notebook.Dockerfile tests/docker/start-notebook.py)"
    DOCKER_BUILDKIT=0 "$DOCKER" build -q --force-rm --network host --build-arg "JUPYTER_SERVER_VERSION=$JUPYTER_SERVER_VERSION" \
        -f "$dir/base-notebook.Dockerfile" -t "roothooks-e2e/base-notebook:$tag" "$dir" >/dev/null
    "$DOCKER" tag "roothooks-e2e/base-notebook:$tag" roothooks-e2e/base-notebook:latest
    rm -rf "$dir"
fi

sysroot="$(rustc --print sysroot)"
auditable="$(command -v cargo-auditable || true)"
tag="$(hash_of tests/docker/builder.Dockerfile "$ca" <<<"$(rustc -vV; [ -z "$auditable" ] || sha256sum "$auditable")")"
if ! have roothooks-e2e/builder "$tag"; then
    dir="$(context tests/docker/builder.Dockerfile)"
    mkdir "$dir/toolchain"
    # the toolchain without its documentation
    cp -a "$sysroot/bin" "$sysroot/lib" "$dir/toolchain/"
    if [ -d "$sysroot/libexec" ]; then cp -a "$sysroot/libexec" "$dir/toolchain/"; fi
    # scripts/build-static.sh builds with cargo-auditable, which would otherwise be compiled in every
    # image build of Dockerfile.example
    if [ -n "$auditable" ]; then cp "$auditable" "$dir/toolchain/bin/"; fi
    DOCKER_BUILDKIT=0 "$DOCKER" build -q --force-rm --network host -f "$dir/builder.Dockerfile" \
        -t "roothooks-e2e/builder:$tag" "$dir" >/dev/null
    "$DOCKER" tag "roothooks-e2e/builder:$tag" roothooks-e2e/builder:latest
    rm -rf "$dir"
fi
tag="$(hash_of tests/docker/systemd.Dockerfile "$ca" </dev/null)"
if ! have roothooks-e2e/systemd "$tag"; then
    dir="$(context tests/docker/systemd.Dockerfile)"
    DOCKER_BUILDKIT=0 "$DOCKER" build -q --force-rm --network host -f "$dir/systemd.Dockerfile" \
        -t "roothooks-e2e/systemd:$tag" "$dir" >/dev/null
    "$DOCKER" tag "roothooks-e2e/systemd:$tag" roothooks-e2e/systemd:latest
    rm -rf "$dir"
fi
# versions of these images that inputs since changed made, and layers nothing uses any more
for image in bookworm base-notebook builder systemd; do
    id="$("$DOCKER" image inspect -f '{{.Id}}' "roothooks-e2e/$image:latest")"
    for stale in $("$DOCKER" images --format '{{.Repository}}:{{.Tag}}' "roothooks-e2e/$image" | grep -v ':latest$'); do
        [ "$("$DOCKER" image inspect -f '{{.Id}}' "$stale")" = "$id" ] || "$DOCKER" rmi "$stale" >/dev/null 2>&1 || true
    done
done
"$DOCKER" image prune -f >/dev/null
echo "container images ready: $("$DOCKER" images --format '{{.Repository}}' roothooks-e2e/* | sort -u | tr '\n' ' ')"
