# shellcheck shell=bash
# Sourced by /bin/bash as the user, after the drop, just before the server starts.
echo "starting for $(id -un) (uid $(id -u)), scratch space in ${SCRATCH_DIR:-none}"
export JUPYTER_SCRATCH="${SCRATCH_DIR:-}"
