# shellcheck shell=bash
# Sourced by /bin/bash as root before the drop (roothooks --docker-stacks), as start.sh sources it.
# Gives the user a scratch directory of their own and tells the server where it is: the exported
# variable reaches before-notebook.d's hooks and the Jupyter server (root's later hooks get it only
# with --hook-env SCRATCH_DIR: they see an allowlist of the environment, ROOTHOOKS_* among it). The
# directory above it is root's, so nothing the user left there (a symlink, on a restart) can steer the
# chown.
mkdir -p /srv/scratch && chown root:root /srv/scratch && chmod 0755 /srv/scratch
scratch="/srv/scratch/${ROOTHOOKS_USER:-jovyan}"
if [ -L "$scratch" ] || [ ! -d "$scratch" ]; then
    rm -f "$scratch"
    mkdir -m 0700 "$scratch" && chown "${ROOTHOOKS_UID:-1000}:${ROOTHOOKS_GID:-100}" "$scratch"
fi
export SCRATCH_DIR="$scratch"
