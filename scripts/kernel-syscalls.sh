#!/usr/bin/env bash
# The kernel's own system call table, for the filter's test (src/seccomp/mod.rs): the uapi headers of
# Debian unstable's linux-libc-dev, the newest kernel Debian packages, unpacked into
# target/kernel-headers (kept: run again only when it is missing or REFRESH=1). Neither the system's
# apt state nor its installed headers are touched: the package list goes to a directory of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/kernel-headers
if [ -d "$out/usr" ] && [ -z "${REFRESH:-}" ]; then
    exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main' \
    >"$work/sources.list"
apt_opts=(-q -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root)
apt-get "${apt_opts[@]}" update >/dev/null
(cd "$work" && apt-get "${apt_opts[@]}" download linux-libc-dev >/dev/null)
rm -rf "$out" "$out.new"
mkdir -p "$(dirname "$out")"
dpkg-deb -x "$work"/linux-libc-dev_*.deb "$out.new"
mv "$out.new" "$out"
echo "kernel headers: $(basename "$work"/linux-libc-dev_*.deb) in $out"
