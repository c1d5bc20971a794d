#!/usr/bin/env python3
"""Relaying a large output through a pseudo-terminal of the command's own: roothooks --pty against
util-linux's script and sudo with use_pty, side by side, in one run.

Each tool runs on a terminal this script holds (its controlling terminal, read as fast as it comes,
as a local terminal would), and relays `head -c SIZE /dev/zero` from a pty of its own. Rounds are
interleaved so that every tool sees the same machine. For each: the bytes per second (wall clock,
start to exit), the CPU time of the tool and the command together per 100 MB (the command is the
same for all; the command's own, which it reports last, is taken off, so what is left is the
relay's), and the peak resident size (the larger of the tool
and the command), from the kernel's account of the tool's process (wait4). This script is the child
subreaper of what it starts, so a process the tool leaves unreaped (sudo does not wait for its
monitor, which holds the command's own time) comes back to it and is counted too: without that,
sudo's relay looked three times cheaper than it is, by leaving out the command it then took off.

Usage (as root): python3 bench/pty_relay.py ROOTHOOKS [MEGABYTES] [ROUNDS]
"""
import os
import resource
import statistics
import sys
import time

BIN = sys.argv[1]
MB = int(sys.argv[2]) if len(sys.argv) > 2 else 200
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
SIZE = MB * 1024 * 1024
# the command reports its own CPU time last (`times`: the shell's, then its children's), so that the
# relay's own is the tool's total less the command's. `times` must run in the command's shell itself:
# in a pipeline (`times | sed`) it runs in a subshell and reports that subshell's nothing, which left
# the command's own time (head's writes into the pty) in every tool's figure.
SCRIPT = f"head -c {SIZE} /dev/zero; echo; echo CPU-TIMES; times"
PAYLOAD = ["sh", "-c", SCRIPT]

TOOLS = {
    "roothooks --pty": [BIN, "--uid", "65534", "--log-file", "none", "--hooks-dir", "/nonexistent",
                        "--pty", "always", "--"] + PAYLOAD,
    "script": ["script", "-qec", SCRIPT, "/dev/null"],
    "sudo (use_pty)": ["sudo", "-u", "nobody", "--"] + PAYLOAD,
}


def subreaper():
    """Take in every orphan of what this script starts (prctl PR_SET_CHILD_SUBREAPER)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:
        sys.exit(f"prctl(PR_SET_CHILD_SUBREAPER): errno {ctypes.get_errno()}")


def one(argv):
    """Run argv on a terminal of ours; return (seconds, bytes relayed, the relay's own cpu seconds,
    peak KiB)."""
    master, slave = os.openpty()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(master)
        os.setsid()
        import fcntl, termios
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        os.execvp(argv[0], argv)
    os.close(slave)
    got = 0
    tail = b""
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:
            break
        if not chunk:
            break
        got += len(chunk)
        tail = (tail + chunk)[-4096:]
    _, status, usage = os.wait4(pid, 0)
    seconds = time.monotonic() - start
    cpu = usage.ru_utime + usage.ru_stime
    # what the tool left unreaped came to us: its time is the tool's too
    while True:
        try:
            _, _, left = os.wait4(-1, 0)
        except ChildProcessError:
            break
        cpu += left.ru_utime + left.ru_stime
    os.close(master)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{argv[0]} failed: status {status}")
    # the two lines after the marker: the shell's own "0m0.001s 0m0.002s", then its children's
    lines = tail.replace(b"\r", b"").rsplit(b"CPU-TIMES\n", 1)[-1].decode().split("\n")
    after = " ".join(lines[:2]).split()
    if len(after) != 4:
        sys.exit(f"{argv[0]}: no `times` report at the end of the output: {after}")
    command = sum(float(t.split("m")[0]) * 60 + float(t.split("m")[1].rstrip("s")) for t in after)
    return seconds, got, cpu - command, usage.ru_maxrss


def main():
    subreaper()
    results = {name: [] for name in TOOLS}
    for _ in range(ROUNDS):
        for name, argv in TOOLS.items():
            results[name].append(one(argv))
    print(f"{MB} MB of output through each tool's pty, {ROUNDS} interleaved rounds, medians:")
    print()
    print("| tool | MB/s | relay's CPU s per 100 MB | peak RSS (MiB) |")
    print("|---|---|---|---|")
    for name, runs in results.items():
        rate = statistics.median(got / s / 1e6 for s, got, _, _ in runs)
        cpu = statistics.median(c / (got / 1e8) for _, got, c, _ in runs)
        rss = statistics.median(k / 1024 for _, _, _, k in runs)
        relayed = min(got for _, got, _, _ in runs)
        if relayed < SIZE:
            sys.exit(f"{name} relayed only {relayed} of {SIZE} bytes")
        print(f"| {name} | {rate:.0f} | {cpu:.2f} | {rss:.1f} |")


if __name__ == "__main__":
    main()
