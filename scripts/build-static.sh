#!/usr/bin/env bash
# A roothooks that needs no libc at run time, for images that have none (busybox, distroless, scratch),
# and the wheel that carries it, which pip installs without a Rust toolchain:
#   bash scripts/build-static.sh           -> target/static/roothooks
#   bash scripts/build-static.sh --wheel   -> also target/wheels/roothooks-VERSION-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl
# glibc, linked statically (the musl target is not needed). It reads the image's /etc/passwd and
# /etc/group itself, whatever nsswitch.conf names (a static glibc cannot safely load NSS modules):
# LDAP, sssd or systemd accounts need the ordinary, dynamically linked build. In an image it is also
# the fastest and smallest build (bench/run.sh).
#
# Built by cargo-auditable, so that the binary carries the list of crates it was built from (a
# .dep-v0 section that image scanners such as syft and trivy, and `cargo audit bin`, read); installed
# with cargo when missing. The wheel is maturin's (the builder pip uses for a source build too), over
# the same build: same flags, same target directory, so cargo finds it done and the wheel's program is
# target/static/roothooks byte for byte. A release uploads the wheel beside the source distribution
# (`twine upload target/wheels/*.whl`); pip takes it on x86_64 glibc images and builds from source
# (maturin, cargo) anywhere else.
set -euo pipefail
cd "$(dirname "$0")/.."
wheel=
case "${1:-}" in
    --wheel) wheel=1 ;;
    "") ;;
    *) echo "usage: bash scripts/build-static.sh [--wheel]" >&2; exit 2 ;;
esac
command -v cargo-auditable >/dev/null 2>&1 || cargo install --locked --quiet cargo-auditable
host="$(rustc -vV | sed -n 's/^host: //p')"
# A static-pie relocates itself at start: -z pack-relative-relocs stores those relocations as DT_RELR
# bitmaps instead of 24 bytes each, 88 KiB less. Only glibc 2.36 and later (Debian 12 on) link the start
# code that applies them; an older one would start with its pointers unrelocated, so it keeps the table.
flags="-C target-feature=+crt-static"
glibc="$(getconf GNU_LIBC_VERSION | cut -d' ' -f2)"
if [ "$(printf '2.36\n%s\n' "$glibc" | sort -V | head -1)" = 2.36 ]; then
    flags="$flags -C link-arg=-Wl,-z,pack-relative-relocs"
fi
export RUSTFLAGS="$flags"
cargo auditable build --release --locked --quiet --target "$host" --target-dir target/static
cp "target/static/$host/release/roothooks" target/static/roothooks
echo "target/static/roothooks: $(stat -c %s target/static/roothooks) bytes, $(file -b target/static/roothooks | cut -d, -f1-5)"
[ -n "$wheel" ] || exit 0

if [ "$host" != x86_64-unknown-linux-gnu ]; then
    echo "scripts/build-static.sh: the wheel is tagged x86_64; this machine is $host" >&2
    exit 1
fi
venv=target/maturin-venv
if [ ! -x "$venv/bin/maturin" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.5,<2"
fi
# maturin runs cargo as $CARGO: through cargo-auditable, as above, so nothing is built twice
cargo="$PWD/target/static/cargo-auditable"
printf '#!/bin/sh\nexec cargo auditable "$@"\n' >"$cargo"
chmod 755 "$cargo"
rm -f target/wheels/roothooks-*-manylinux*.whl
said="$(mktemp)"
trap 'rm -f "$said"' EXIT
if ! CARGO="$cargo" "$venv/bin/maturin" build --quiet --release --locked --target "$host" --target-dir target/static \
    --compatibility manylinux2014 --out target/wheels >"$said" 2>&1; then
    cat "$said" >&2
    exit 1
fi
for built in target/wheels/roothooks-*-manylinux*.whl; do
    echo "$built: $(stat -c %s "$built") bytes"
done
