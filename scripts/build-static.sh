#!/usr/bin/env bash
# A roothooks that needs no libc at run time, for images that have none (busybox, distroless, scratch):
#   bash scripts/build-static.sh      -> target/static/roothooks
# glibc, linked statically (the musl target is not needed). It reads the image's /etc/passwd and
# /etc/group itself, whatever nsswitch.conf names (a static glibc cannot safely load NSS modules):
# LDAP, sssd or systemd accounts need the ordinary, dynamically linked build. In an image it is also
# the fastest and smallest build (bench/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
host="$(rustc -vV | sed -n 's/^host: //p')"
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --quiet --target "$host" --target-dir target/static
cp "target/static/$host/release/roothooks" target/static/roothooks
echo "target/static/roothooks: $(stat -c %s target/static/roothooks) bytes, $(file -b target/static/roothooks | cut -d, -f1-5)"
