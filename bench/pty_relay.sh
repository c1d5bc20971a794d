#!/usr/bin/env bash
# The pty relay beside script and sudo's use_pty (bench/pty_relay.py), as root: builds the release
# binary, installs sudo when missing, and sets `Defaults use_pty` for the run only (a file in
# /etc/sudoers.d, removed at the end). Usage: bash bench/pty_relay.sh [MEGABYTES] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v sudo >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sudo >/dev/null
fi
cargo build --release --locked -q
rule=/etc/sudoers.d/roothooks-bench-use-pty
trap 'rm -f "$rule"' EXIT
printf 'Defaults use_pty\n' >"$rule"
chmod 0440 "$rule"
/usr/bin/python3 bench/pty_relay.py "$PWD/target/release/roothooks" "${1:-200}" "${2:-3}"
