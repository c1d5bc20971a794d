#!/usr/bin/env bash
# roothooks beside the tools people use instead, in one run on one machine, as root:
#   bash bench/run.sh            # full run (a few minutes)
#   QUICK=1 bash bench/run.sh    # fewer runs, for a look
# Installs what it needs when missing: gosu, tini and GNU time from Debian, jupyterhub-roothooks
# 0.2.1 from PyPI in a venv. setpriv and run-parts come with Debian. Prints one markdown table.
# roothooks is measured twice: as cargo builds it (dynamically linked; what cargo install and pip give)
# and as scripts/build-static.sh builds it for images (what Dockerfile.example puts in one).
# Times are medians of round-robin runs (bench/interleave.rs). Not a test: nothing here passes or fails.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/run.sh: run as root (every tool switches users)" >&2; exit 1; }

PREFIX="${ROOTHOOKS_BENCH_PREFIX:-/opt/roothooks-bench}"
RUNS="${RUNS:-1000}"
if [ -n "${QUICK:-}" ]; then RUNS=150; fi
USER_ID=65534

missing=()
command -v gosu >/dev/null || missing+=(gosu)
[ -x /usr/bin/time ] || missing+=(time)
command -v run-parts >/dev/null || missing+=(debianutils)
command -v tini >/dev/null || missing+=(tini)
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -x "$PREFIX/venv/bin/jupyterhub-roothooks" ]; then
    /usr/bin/python3 -m venv "$PREFIX/venv"
    "$PREFIX/venv/bin/pip" install -q --disable-pip-version-check "jupyterhub-roothooks==0.2.1"
fi
cargo build --release --locked -q
bash scripts/build-static.sh >/dev/null
# what pip users get (repo2docker's requirements.txt, a conda env): `pip install .` into a venv,
# maturin building with cargo into this repository's target directory
[ -x "$PREFIX/pip-venv/bin/pip" ] || /usr/bin/python3 -m venv "$PREFIX/pip-venv"
CARGO_TARGET_DIR="$PWD/target" "$PREFIX/pip-venv/bin/pip" install -q --disable-pip-version-check --force-reinstall . >/dev/null
RHP="$PREFIX/pip-venv/bin/roothooks"
cargo bench --locked -q --bench interleave --no-run 2>/dev/null
RH="$PWD/target/release/roothooks"
RHS="$PWD/target/static/roothooks" # what Dockerfile.example puts in an image
JRH="$PREFIX/venv/bin/jupyterhub-roothooks"

WORK="$(mktemp -d /tmp/roothooks-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
chmod 755 "$WORK"
mkdir -m 755 "$WORK/empty" "$WORK/hooks100" "$WORK/flood"
for i in $(seq -w 1 100); do
    printf '#!/bin/sh\nexit 0\n' > "$WORK/hooks100/$i-hook"
done
line="$(printf '%.0sx' $(seq 1 99))" # 99 characters + newline: 100-byte lines
printf '#!/bin/sh\nyes "%s" | head -c 200000000\n' "$line" > "$WORK/flood/10-flood"
# shellcheck disable=SC2016 # $f belongs to the loop script
printf '#!/bin/sh\nfor f in %s/hooks100/*; do "$f"; done\n' "$WORK" > "$WORK/loop.sh"
chmod 755 "$WORK"/hooks100/* "$WORK/flood/10-flood"

# name|command, for the start-overhead rows
START=(
    "env true (floor)|/usr/bin/env /usr/bin/true"
    "roothooks|$RH --uid $USER_ID --hooks-dir $WORK/empty -- /usr/bin/true"
    "roothooks --log-file none|$RH --uid $USER_ID --hooks-dir $WORK/empty --log-file none -- /usr/bin/true"
    "roothooks, pip install . into a venv|$RHP --uid $USER_ID --hooks-dir $WORK/empty -- /usr/bin/true"
    "roothooks, static build|$RHS --uid $USER_ID --hooks-dir $WORK/empty -- /usr/bin/true"
    "roothooks, static build, --seccomp off|$RHS --uid $USER_ID --hooks-dir $WORK/empty --seccomp off -- /usr/bin/true"
    "roothooks, static build, --log-file none|$RHS --uid $USER_ID --hooks-dir $WORK/empty --log-file none -- /usr/bin/true"
    "roothooks, static build, --init (stays as init: fork, wait)|$RHS --uid $USER_ID --hooks-dir $WORK/empty --init -- /usr/bin/true"
    "tini -s -g (init alone, no drop)|tini -s -g -- /usr/bin/true"
    "gosu|gosu $USER_ID /usr/bin/true"
    "setpriv (same drop as roothooks)|setpriv --reuid $USER_ID --regid $USER_ID --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs /usr/bin/true"
    "jupyterhub-roothooks 0.2.1|$JRH --hooks-dir=$WORK/empty --uid=$USER_ID --gid=$USER_ID -- /usr/bin/true"
)
HOOKS=(
    "sh loop over the files (floor)|sh $WORK/loop.sh"
    "roothooks --no-exec|$RH --uid $USER_ID --hooks-dir $WORK/hooks100 --log-file none --no-exec"
    "roothooks, static build, --no-exec|$RHS --uid $USER_ID --hooks-dir $WORK/hooks100 --log-file none --no-exec"
    "run-parts|run-parts $WORK/hooks100"
    "jupyterhub-roothooks 0.2.1|$JRH --hooks-dir=$WORK/hooks100 --uid=$USER_ID --gid=$USER_ID -- /usr/bin/true"
)

# Round-robin timing (bench/interleave.rs): one run of each command in turn, so drift of this machine
# falls on all alike. Writes "index median p25 p75" lines. With NSS_FILES_ONLY=1 it runs in a
# private mount namespace whose /etc/nsswitch.conf says "files" only, as in container images (this
# host's may load libnss_systemd on every lookup).
printf 'passwd: files\ngroup: files\nshadow: files\n' > "$WORK/nsswitch.conf"
wrap() { # command... : run it, in the files-only namespace when NSS_FILES_ONLY is set
    if [ -n "${NSS_FILES_ONLY:-}" ]; then
        # shellcheck disable=SC2016 # expanded by the inner sh
        unshare --mount --propagation private sh -c 'mount --bind "$0" /etc/nsswitch.conf && exec "$@"' "$WORK/nsswitch.conf" "$@"
    else
        "$@"
    fi
}
interleave() { # OUT RUNS entries...
    local out="$1" runs="$2"; shift 2
    local commands=()
    for entry in "$@"; do commands+=("${entry#*|}"); done
    wrap cargo bench --locked -q --bench interleave -- "$runs" "${commands[@]}" > "$out"
}

# Every binary measured comes into the page cache the same way: read back from disk. A file the
# linker has just written starts measurably slower from the page cache than the same bytes read
# back (0.07-0.18 ms here, level again after this), which made the cargo row trail the pip row.
sync
echo 3 > /proc/sys/vm/drop_caches
echo "measuring start overhead ($RUNS rounds)..." >&2
interleave "$WORK/start.txt" "$RUNS" "${START[@]}"
echo "measuring start overhead again with a files-only nsswitch.conf..." >&2
NSS_FILES_ONLY=1 interleave "$WORK/start-files.txt" "$RUNS" "${START[@]}"
echo "measuring 100-hook dispatch..." >&2
interleave "$WORK/hooks.txt" "$(( RUNS / 10 > 20 ? RUNS / 10 : 20 ))" "${HOOKS[@]}"

peak_rss_kib() { # command... -> median of 15 runs of GNU time's %M (covers the process before and after its exec)
    for _ in $(seq 1 15); do
        wrap /usr/bin/time -f '%M' -o "$WORK/rss" "$@" >/dev/null 2>&1 || true
        cat "$WORK/rss"
    done | sort -n | sed -n 8p
}
echo "measuring peak RSS..." >&2
: > "$WORK/rss.txt"
: > "$WORK/rss-files.txt"
for entry in "${START[@]}"; do
    # shellcheck disable=SC2086 # the commands are whitespace-separated words
    peak_rss_kib ${entry#*|} >> "$WORK/rss.txt"
    # shellcheck disable=SC2086
    NSS_FILES_ONLY=1 peak_rss_kib ${entry#*|} >> "$WORK/rss-files.txt"
done

# What a resident roothooks (--init, as PID 1 in a container) holds while the command runs: its own
# VmRSS, read from /proc once the command is up.
resident_rss_kib() { # command... -> VmRSS of the process that runs `sleep 30` as its child, KiB
    "$@" /bin/sleep 30 2>/dev/null &
    local pid=$!
    until grep -qx sleep "/proc/$(cut -d' ' -f1 "/proc/$pid/task/$pid/children" 2>/dev/null)/comm" 2>/dev/null; do sleep 0.05; done
    awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"
    pkill -P "$pid" -x sleep || true
    wait "$pid" || true
}
echo "measuring the resident roothooks..." >&2
resident_static=$(resident_rss_kib "$RHS" --uid "$USER_ID" --hooks-dir "$WORK/empty" --log-file none --init --)
resident_dynamic=$(resident_rss_kib "$RH" --uid "$USER_ID" --hooks-dir "$WORK/empty" --log-file none --init --)
tini_rss=$(resident_rss_kib tini -s --)

# CHOWN_HOME's hand-over (--chown-tree) beside chown -R, on the same 100,000-file tree of another
# uid, alternating; each run starts from the tree as a fresh volume has it. Then the restart case:
# everything already the user's.
echo "measuring the hand-over of 100,000 files..." >&2
mkdir "$WORK/tree"
for d in $(seq 1 100); do mkdir "$WORK/tree/d$d"; (cd "$WORK/tree/d$d" && touch $(seq -f f%g 1 1000)); done
timed() { /usr/bin/time -f '%e' -o "$WORK/t" "$@" >/dev/null 2>&1; cat "$WORK/t"; }
: > "$WORK/chown.txt"; : > "$WORK/handover.txt"
for _ in 1 2 3 4 5; do
    chown -R 501:501 "$WORK/tree"
    timed chown -R "$USER_ID:$USER_ID" "$WORK/tree" >> "$WORK/chown.txt"
    chown -R 501:501 "$WORK/tree"
    timed "$RHS" --uid "$USER_ID" --hooks-dir "$WORK/empty" --log-file none --no-exec --chown-tree "$WORK/tree" >> "$WORK/handover.txt"
done
chown_again=$(timed chown -R "$USER_ID:$USER_ID" "$WORK/tree")
handover_again=$(timed "$RHS" --uid "$USER_ID" --hooks-dir "$WORK/empty" --log-file none --no-exec --chown-tree "$WORK/tree")
median() { sort -n "$1" | sed -n 3p; }
chown_fresh=$(median "$WORK/chown.txt"); handover_fresh=$(median "$WORK/handover.txt")
rm -rf "$WORK/tree"

echo "measuring relay of 200 MB..." >&2
relay_alone=$( { /usr/bin/time -f '%e' sh "$WORK/flood/10-flood" >/dev/null; } 2>&1 )
/usr/bin/time -f '%e %M' -o "$WORK/relay" "$RH" --uid "$USER_ID" --hooks-dir "$WORK/flood" --log-file none --no-exec >/dev/null 2>&1
read -r relay_time relay_rss < "$WORK/relay"
/usr/bin/time -f '%e %M' -o "$WORK/relay2" "$RH" --uid "$USER_ID" --hooks-dir "$WORK/flood" --log-file "$WORK/copy.log" --no-exec >/dev/null 2>&1
read -r relay_file_time relay_file_rss < "$WORK/relay2"

size() { stat -c %s "$1"; }
python3 - "$WORK" "$relay_alone" "$relay_time" "$relay_rss" "$relay_file_time" "$relay_file_rss" "$resident_static" "$resident_dynamic" "$tini_rss" "$chown_fresh" "$handover_fresh" "$chown_again" "$handover_again" \
    "$(size "$RH")" "$(size "$RHS")" "$(size "$(command -v gosu)")" "$(size "$(command -v setpriv)")" "${START[@]%%|*}" "--" "${HOOKS[@]%%|*}" <<'EOF'
import sys, platform, os
work, alone, rtime, rrss, ftime, frss, res_static, res_dynamic, tini_rss = sys.argv[1:10]
chown_fresh, handover_fresh, chown_again, handover_again = sys.argv[10:14]
rh_size, rhs_size, gosu_size, setpriv_size = sys.argv[14:18]
rest = sys.argv[18:]
sep = rest.index("--")
start_names, hook_names = rest[:sep], rest[sep + 1:]

def load(path):
    return [float(line.split()[1]) for line in open(path)]

start = load(f"{work}/start.txt")
start_files = load(f"{work}/start-files.txt")
hooks = load(f"{work}/hooks.txt")
rss = [int(x) for x in open(f"{work}/rss.txt").read().split()]
rss_files = [int(x) for x in open(f"{work}/rss-files.txt").read().split()]
mib = lambda kib: f"{kib / 1024:.2f} MiB"
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"Machine: {os.cpu_count()} cores, {cpu}, Linux {platform.release().split('-')[0]}; this host's nsswitch.conf: "
      + ", ".join(" ".join(l.split("#")[0].split()) for l in open("/etc/nsswitch.conf") if l.startswith(("passwd", "group"))) + "\n")
print("| start, no hooks, drop to uid 65534 and exec /usr/bin/true | this host: median | vs floor | peak RSS | files-only nsswitch: median | vs floor | peak RSS |")
print("|---|---|---|---|---|---|---|")
for name, t, r, tf, rf in zip(start_names, start, rss, start_files, rss_files):
    print(f"| {name} | {t * 1000:.2f} ms | {t / start[0]:.2f}x | {mib(r)} | {tf * 1000:.2f} ms | {tf / start_files[0]:.2f}x | {mib(rf)} |")
print("\n| dispatch of 100 trivial hooks | median | vs floor |")
print("|---|---|---|")
for name, t in zip(hook_names, hooks):
    print(f"| {name} | {t * 1000:.1f} ms | {t / hooks[0]:.2f}x |")
print("\n| resident beside the command (sleep), VmRSS | resident size |")
print("|---|---|")
for name, kib in [("roothooks --init, static build", res_static), ("roothooks --init, dynamic build", res_dynamic), ("tini -s", tini_rss)]:
    print(f"| {name} | {mib(int(kib))} |")
print(f"\n| hand-over of 100,000 files of another uid ({os.cpu_count()} cores) | fresh (median of 5) | all the user's already |")
print("|---|---|---|")
print(f"| chown -R | {float(chown_fresh):.2f} s | {float(chown_again):.2f} s |")
print(f"| roothooks --chown-tree (CHOWN_HOME_OPTS=-R), static build | {float(handover_fresh):.2f} s | {float(handover_again):.2f} s |")
mb = 200
print("\n| relay: a hook writing 200 MB of 100-byte lines | time | throughput | peak RSS |")
print("|---|---|---|---|")
print(f"| the hook alone, to /dev/null | {float(alone):.2f} s | {mb / max(float(alone), 0.01):.0f} MB/s | |")
print(f"| roothooks, stderr to /dev/null, --log-file none | {float(rtime):.2f} s | {mb / float(rtime):.0f} MB/s | {mib(int(rrss))} |")
print(f"| roothooks, stderr to /dev/null, plus the user's log copy | {float(ftime):.2f} s | {mb / float(ftime):.0f} MB/s | {mib(int(frss))} |")
print("\n| stripped binary | size |")
print("|---|---|")
for name, s in [("roothooks", rh_size), ("roothooks, static build", rhs_size), ("gosu", gosu_size), ("setpriv", setpriv_size)]:
    print(f"| {name} | {int(s) / 1024 / 1024:.2f} MiB |")
EOF
