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
# A static-pie relocates itself at start: -z pack-relative-relocs stores those relocations as DT_RELR
# bitmaps instead of 24 bytes each, 88 KiB less. Only glibc 2.36 and later (Debian 12 on) link the start
# code that applies them; an older one would start with its pointers unrelocated, so it keeps the table.
flags="-C target-feature=+crt-static"
glibc="$(getconf GNU_LIBC_VERSION | cut -d' ' -f2)"
if [ "$(printf '2.36\n%s\n' "$glibc" | sort -V | head -1)" = 2.36 ]; then
    flags="$flags -C link-arg=-Wl,-z,pack-relative-relocs"
fi
RUSTFLAGS="$flags" cargo build --release --locked --quiet --target "$host" --target-dir target/static
cp "target/static/$host/release/roothooks" target/static/roothooks
echo "target/static/roothooks: $(stat -c %s target/static/roothooks) bytes, $(file -b target/static/roothooks | cut -d, -f1-5)"
