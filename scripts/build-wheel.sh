#!/usr/bin/env bash
# A wheel that pip installs without a Rust toolchain: the static build (scripts/build-static.sh) as
# the `roothooks` command, tagged manylinux2014_x86_64, in target/wheels/:
#   bash scripts/build-wheel.sh   -> target/wheels/roothooks-VERSION-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
# A release uploads it beside the source distribution (`twine upload target/wheels/*.whl`); pip then
# takes the wheel on x86_64 glibc images and builds from source (maturin, cargo) anywhere else.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(uname -m)" != x86_64 ]; then
    echo "scripts/build-wheel.sh: the wheel is tagged x86_64; this machine is $(uname -m)" >&2
    exit 1
fi
bash scripts/build-static.sh >/dev/null
# tomllib: Python 3.11 and later (Debian 12's python3)
wheel="$(python3 scripts/wheel.py target/static/roothooks target/wheels)"
echo "$wheel: $(stat -c %s "$wheel") bytes"
