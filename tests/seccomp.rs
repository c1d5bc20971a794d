//! The command's system call filter, tried from inside the command: a small C program makes each denied
//! call with harmless arguments and prints the errno it got, under the default filter, with it off, and
//! with groups allowed back.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

/// Each denied call, made so that without a filter it does nothing harmful.
const PROBE: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *name, long r) { printf("%s %d\n", name, r == -1 ? errno : 0); }

int main(int argc, char **argv) {
    char c = '\n';
    int null = open("/dev/null", O_RDONLY);
    if (argc > 1 && strcmp(argv[1], "tiocsti") == 0) {
        show("tiocsti", ioctl(0, TIOCSTI, &c));
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "beside") == 0) {
        /* the numbers next to each denied one, with arguments that make each fail harmlessly */
        static const long numbers[] = {BESIDE};
        for (unsigned i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
            long r = syscall(numbers[i], -1L, -1L, -1L, -1L, -1L, -1L);
            printf("%ld %d\n", numbers[i], r == -1 ? errno : 0);
        }
        show("ioctl-tcgets", ioctl(null, TCGETS, &c));
        show("unshare-nothing", syscall(SYS_unshare, 0));
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "x32") == 0) {
        /* getpid under the x32 ABI's number, and an ordinary socket beside the denied families */
        show("x32-getpid", syscall(0x40000000L | SYS_getpid));
        show("socket-unix", syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0));
        return 0;
    }
    if (argc > 2 && strcmp(argv[1], "uffd-dev") == 0) {
        int dev = open(argv[2], O_RDWR | O_CLOEXEC);
        show("open", dev);
        show("ioctl-userfaultfd-new", ioctl(dev, 0xAA00 /* USERFAULTFD_IOC_NEW */, O_CLOEXEC));
        return 0;
    }
    /* clone first: after a successful unshare this process has no mapping for its own uid */
    long child = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (child == 0) _exit(0);
    if (child > 0) waitpid(child, 0, 0);
    show("clone-newuser", child);
    show("unshare-newuser", syscall(SYS_unshare, CLONE_NEWUSER));
    show("clone3", syscall(SYS_clone3, 0, 0));
    show("ioctl-tiocsti", ioctl(null, TIOCSTI, &c));
    show("ioctl-tioclinux", ioctl(null, TIOCLINUX, &c));
    show("add_key", syscall(SYS_add_key, 0, 0, 0, 0, 0));
    show("request_key", syscall(SYS_request_key, 0, 0, 0, 0));
    show("keyctl", syscall(SYS_keyctl, 0, -3, 0));
    show("bpf", syscall(SYS_bpf, -1, 0, 0));
    show("perf_event_open", syscall(SYS_perf_event_open, 0, 0, -1, -1, 0));
    show("userfaultfd", syscall(SYS_userfaultfd, 1 /* UFFD_USER_MODE_ONLY */));
    show("io_uring_setup", syscall(SYS_io_uring_setup, 0, 0));
    show("io_uring_enter", syscall(SYS_io_uring_enter, -1, 0, 0, 0, 0, 0));
    show("io_uring_register", syscall(SYS_io_uring_register, -1, 0, 0, 0));
    show("kexec_load", syscall(SYS_kexec_load, 0, 0, 0, 0));
    show("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, 0, 0));
    show("init_module", syscall(SYS_init_module, 0, 0, 0));
    show("finit_module", syscall(SYS_finit_module, -1, 0, 0));
    show("delete_module", syscall(SYS_delete_module, 0, 0));
    show("reboot", syscall(SYS_reboot, 0, 0, 0, 0));
    show("swapon", syscall(SYS_swapon, 0, 0));
    show("swapoff", syscall(SYS_swapoff, 0));
    show("acct", syscall(SYS_acct, 0));
    show("mount", syscall(SYS_mount, 0, 0, 0, 0, 0));
    show("umount2", syscall(SYS_umount2, "/nonexistent", 0));
    show("pivot_root", syscall(SYS_pivot_root, 0, 0));
    show("setns", syscall(SYS_setns, -1, 0));
    show("fsopen", syscall(SYS_fsopen, 0, -1));
    show("fsconfig", syscall(SYS_fsconfig, -1, 0, 0, 0, 0));
    show("fsmount", syscall(SYS_fsmount, -1, -1, 0));
    show("fspick", syscall(SYS_fspick, -1, "", -1));
    show("move_mount", syscall(SYS_move_mount, -1, "", -1, "", -1));
    show("open_tree", syscall(SYS_open_tree, -1, "", 0));
    show("mount_setattr", syscall(SYS_mount_setattr, -1, "", 0, 0, 0));
    show("open_tree_attr", syscall(467 /* SYS_open_tree_attr, Linux 6.15 */, -1, "", 0, 0, 0));
    show("socket-vsock", syscall(SYS_socket, 40 /* AF_VSOCK */, SOCK_STREAM, 0));
    show("socket-alg", syscall(SYS_socket, 38 /* AF_ALG */, SOCK_SEQPACKET, 0));
    return 0;
}
"#;

/// The calls whose errno without a filter is not EPERM for an unprivileged user on this kind of
/// kernel (6.x), by group: for these the filter's EPERM is its own doing. The rest of the kernel group
/// (reboot, swapon, acct, pivot_root, ...) the kernel refuses to an unprivileged user by itself, or
/// answers ENOSYS where it was built without them, so there the filter's answer cannot be told apart.
const TELLING: &[(&str, &[&str])] = &[
    ("userns", &["unshare-newuser", "clone-newuser", "clone3"]),
    ("tty-inject", &["ioctl-tiocsti", "ioctl-tioclinux"]),
    ("keyring", &["add_key", "request_key", "keyctl"]),
    ("bpf", &["bpf"]),
    ("perf", &["perf_event_open"]),
    ("userfaultfd", &["userfaultfd"]),
    ("io_uring", &["io_uring_setup", "io_uring_enter", "io_uring_register"]),
    ("kernel", &["mount", "umount2", "setns", "fsconfig", "open_tree", "mount_setattr", "open_tree_attr"]),
    ("sockets", &["socket-vsock", "socket-alg"]),
];

/// On x86_64, the allowed numbers on either side of each denied one (and two numbers no kernel has),
/// each with the denied neighbour it stands beside: called with every argument -1, each fails with
/// its own errno, never the filter's EPERM. An off-by-one in the filter's search would show here.
#[cfg(target_arch = "x86_64")]
const BESIDE: &[(i64, &str)] = &[
    (17, "ioctl"),            // pread64
    (55, "clone"),            // getsockopt
    (154, "pivot_root"),      // modify_ldt
    (156, "pivot_root"),      // _sysctl
    (162, "acct"),            // sync
    (174, "init_module"),     // create_module
    (177, "delete_module"),   // get_kernel_syms
    (245, "kexec_load"),      // mq_getsetattr
    (247, "kexec_load"),      // waitid
    (251, "keyctl"),          // ioprio_set
    (271, "unshare"),         // ppoll
    (273, "unshare"),         // set_robust_list
    (297, "perf_event_open"), // rt_tgsigqueueinfo
    (299, "perf_event_open"), // recvmmsg
    (307, "setns"),           // sendmmsg
    (309, "setns"),           // getcpu
    (314, "finit_module"),    // sched_setattr
    (319, "kexec_file_load"), // memfd_create
    (322, "bpf"),             // execveat
    (324, "userfaultfd"),     // membarrier
    (424, "io_uring_setup"),  // pidfd_send_signal
    (434, "fspick"),          // pidfd_open
    (436, "clone3"),          // close_range
    (441, "mount_setattr"),   // epoll_pwait2
    (443, "mount_setattr"),   // quotactl_fd
    (466, "open_tree_attr"),  // removexattrat
    (468, "open_tree_attr"),  // file_getattr
    (1000, "none"),           // no such call
    (0x3fff_ffff, "none"),    // no such call
];
#[cfg(not(target_arch = "x86_64"))]
const BESIDE: &[(i64, &str)] = &[(1000, "none")];

const EPERM: i32 = 1;
const ENOSYS: i32 = 38;

/// The probe, built static in a root-owned scratch directory the user can read.
fn probe() -> Option<(tempfile::TempDir, PathBuf)> {
    if !need_program("cc", "--version", "needs cc to build the probe") {
        return None;
    }
    let dir = scratch("rh-seccomp");
    let src = dir.path().join("probe.c");
    std::fs::write(&src, PROBE).unwrap();
    let bin = dir.path().join("probe");
    let beside = BESIDE.iter().map(|(nr, _)| nr.to_string()).collect::<Vec<_>>().join(",");
    let out =
        Command::new("cc").args(["-O", &format!("-DBESIDE={beside}"), "-o"]).arg(&bin).arg(&src).output().unwrap();
    assert!(out.status.success(), "cc: {}", stderr(&out));
    Some((dir, bin))
}

/// Run the probe as a fresh uid under `flags`; its errno by call.
fn errnos(bin: &Path, flags: &[&str]) -> HashMap<String, i32> {
    let out = run(roothooks_as(free_id()).args(flags).arg("--").arg(bin));
    assert!(out.status.success(), "{}", stderr(&out));
    errnos_of(&stdout(&out))
}

/// The probe's `name errno` lines.
fn errnos_of(text: &str) -> HashMap<String, i32> {
    text.lines()
        .map(|l| {
            let (name, errno) = l.split_once(' ').unwrap();
            (name.to_string(), errno.parse().unwrap())
        })
        .collect()
}

#[test]
fn every_denied_call_fails_with_eperm_and_clone3_with_enosys() {
    if !need_root() {
        return;
    }
    let Some((_dir, bin)) = probe() else { return };
    let on = errnos(&bin, &[]);
    let off = errnos(&bin, &["--seccomp", "off"]);
    assert_eq!(on.len(), 37, "{on:?}");
    for (call, errno) in &on {
        let expected = if call == "clone3" { ENOSYS } else { EPERM };
        assert_eq!(*errno, expected, "{call} under the filter");
    }
    // where the kernel alone would answer otherwise, the answer is the filter's
    for (group, calls) in TELLING {
        for call in *calls {
            assert_ne!(off[*call], on[*call], "{call} ({group}) gives the same errno with the filter off");
        }
    }
}

#[test]
fn the_numbers_beside_each_denied_call_are_allowed() {
    if !need_root() {
        return;
    }
    let Some((_dir, bin)) = probe() else { return };
    let out = run(roothooks_as(free_id()).arg("--").arg(&bin).arg("beside"));
    assert!(out.status.success(), "{}", stderr(&out));
    let answers = errnos_of(&stdout(&out));
    assert_eq!(answers.len(), BESIDE.len() + 2, "{answers:?}");
    for (nr, beside) in BESIDE {
        let errno = answers[&nr.to_string()];
        assert_ne!(errno, EPERM, "call {nr}, beside {beside}, is denied by the filter");
    }
    assert_eq!(answers["1000"], ENOSYS, "an unknown number reaches the kernel");
    assert_eq!((answers["ioctl-tcgets"], answers["unshare-nothing"]), (25, 0), "ENOTTY and success");
}

#[test]
fn a_group_allowed_back_works_again_and_only_that_group() {
    if !need_root() {
        return;
    }
    let Some((_dir, bin)) = probe() else { return };
    for (group, calls) in TELLING {
        let errnos = errnos(&bin, &["--seccomp-allow", group]);
        for call in *calls {
            assert_ne!(errnos[*call], EPERM, "{call} still denied with --seccomp-allow {group}");
        }
        for (other, other_calls) in TELLING.iter().filter(|(g, _)| g != group) {
            let expected = |call: &str| if call == "clone3" { ENOSYS } else { EPERM };
            for call in *other_calls {
                assert_eq!(errnos[*call], expected(call), "{call} ({other}) allowed by --seccomp-allow {group}");
            }
        }
    }
    // the environment variable, comma separated
    let mut cmd = roothooks_as(free_id());
    let out = run(cmd.env("ROOTHOOKS_SECCOMP_ALLOW", "userns,keyring").args(["--", "unshare", "-U", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn unshare_u_fails_by_default_and_works_with_userns_allowed() {
    if !need_root() {
        return;
    }
    let out = run(roothooks_as(free_id()).args(["--", "unshare", "-U", "true"]));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Operation not permitted"), "{}", stderr(&out));
    let out = run(roothooks_as(free_id()).args(["--seccomp-allow", "userns", "--", "unshare", "-U", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn the_filter_is_in_the_commands_status_and_off_says_so() {
    if !need_root() {
        return;
    }
    let out = run(roothooks_as(free_id()).args(["--", "cat", "/proc/self/status"]));
    let status = proc_status(&stdout(&out));
    // one program: EPERM and clone3's ENOSYS are answers of the same filter
    assert_eq!((status["Seccomp"].as_str(), status["Seccomp_filters"].as_str()), ("2", "1"));
    assert_unprivileged(&status);
    assert!(stderr(&out).contains("system call filter installed: denies userns, tty-inject, keyring"));
    let out = run(roothooks_as(free_id()).args(["--seccomp", "off", "--", "cat", "/proc/self/status"]));
    assert_eq!(proc_status(&stdout(&out))["Seccomp"], "0");
    assert!(stderr(&out).contains("WARN no system call filter for the command"), "{}", stderr(&out));
    // --allow-privilege-escalation keeps no_new_privs off, and the filter on
    let out = run(roothooks_as(free_id()).args(["--allow-privilege-escalation", "--", "cat", "/proc/self/status"]));
    let status = proc_status(&stdout(&out));
    assert_eq!((status["Seccomp"].as_str(), status["NoNewPrivs"].as_str()), ("2", "0"), "{}", stderr(&out));
    // started without root, the filter still applies
    let uid = free_id();
    let out = run(as_uid(uid, uid).args([
        BIN,
        "--uid",
        &uid.to_string(),
        "--log-file",
        "none",
        "--",
        "cat",
        "/proc/self/status",
    ]));
    assert_eq!(proc_status(&stdout(&out))["Seccomp"], "2", "{}", stderr(&out));
}

#[test]
fn the_plan_and_the_report_name_the_groups() {
    if !need_root() {
        return;
    }
    let out = run(roothooks_as(free_id()).args(["--dry-run", "--seccomp-allow", "userns", "--", "true"]));
    let plan = stdout(&out);
    assert!(
        plan.contains("seccomp:     denies tty-inject, keyring, bpf, perf, userfaultfd, io_uring, kernel, sockets"),
        "{plan}"
    );
    assert!(plan.contains("allowed:     userns (--seccomp-allow)"), "{plan}");
    let dir = scratch("rh-seccomp-report");
    let report = dir.path().join("report.json");
    let out = run(roothooks_as(free_id()).args(["--seccomp-allow", "perf", "--report"]).arg(&report).arg("true"));
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["seccomp"]["allowed"], serde_json::json!(["perf"]));
    assert_eq!(json["seccomp"]["denied"].as_array().unwrap().len(), 8);
    assert_eq!(json["final_state"]["seccomp"], 2);
}

#[test]
fn tiocsti_into_the_terminal_roothooks_was_started_on_fails() {
    if !need_root() || !need_program("script", "--version", "needs script (util-linux) for a terminal") {
        return;
    }
    let Some((_dir, bin)) = probe() else { return };
    let in_a_tty = |flags: &str| {
        // --pty never: the command is on the very terminal roothooks was started on, as before there
        // was a pty of its own (which the probe's call would reach instead)
        let line =
            format!("{BIN} --uid {} --log-file none --pty never {flags} -- {} tiocsti", free_id(), bin.display());
        let mut cmd = Command::new("script");
        let out = run(without_settings(&mut cmd).args(["-qec", &line, "/dev/null"]).stdin(Stdio::null()));
        let text = stdout(&out);
        // (a terminal may echo a control character in front of the line: take what follows the word)
        let errno = text.lines().find_map(|l| l.split("tiocsti ").nth(1)).map(|e| e.trim().parse::<i32>().unwrap());
        (errno, text)
    };
    let (errno, text) = in_a_tty("");
    assert_eq!(errno, Some(EPERM), "{text}");
    // allowed back, the call reaches the terminal (0, or EIO where the kernel disables TIOCSTI itself)
    let (errno, text) = in_a_tty("--seccomp-allow tty-inject");
    assert!(errno.is_some_and(|e| e != EPERM), "{text}");
}

#[test]
fn a_filter_that_cannot_be_installed_starts_nothing() {
    if !need_root() {
        return;
    }
    // Started without root and without no_new_privs (--allow-privilege-escalation), nothing may install
    // a filter: the start fails and says what to do, rather than run the command unfiltered.
    let uid = free_id();
    let start = |flags: &[&str]| {
        run(as_uid(uid, uid)
            .args([BIN, "--uid", &uid.to_string(), "--log-file", "none", "--allow-privilege-escalation"])
            .args(flags)
            .args(["--", "echo", "started"]))
    };
    let dir = scratch("rh-seccomp-fail");
    set_mode(dir.path(), 0o1777);
    let report = dir.path().join("report.json");
    let out = start(&["--report", report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // the report still says what happened, with no final state: the command never started
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["final_state"], serde_json::Value::Null);
    assert_eq!(json["command"], serde_json::json!(["echo", "started"]));
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("cannot install the seccomp filter"), "{}", stderr(&out));
    assert!(stderr(&out).contains("--seccomp off turns it off"), "{}", stderr(&out));
    let out = start(&["--seccomp", "off"]);
    assert_eq!(stdout(&out), "started\n", "{}", stderr(&out));
}

#[test]
fn a_userfaultfd_node_anyone_can_open_gives_no_userfaultfd() {
    if !need_root() {
        return;
    }
    let Some((dir, bin)) = probe() else { return };
    let Ok(numbers) = std::fs::read_to_string("/sys/class/misc/userfaultfd/dev") else {
        skip("this kernel has no /dev/userfaultfd (Linux 6.1 and later, CONFIG_USERFAULTFD)");
        return;
    };
    // what an image might ship: the node, open to everyone
    let (major, minor) = numbers.trim().split_once(':').unwrap();
    let node = dir.path().join("userfaultfd");
    let made = Command::new("mknod").arg(&node).args(["c", major, minor]).output().unwrap();
    assert!(made.status.success(), "mknod: {}", stderr(&made));
    set_mode(&node, 0o666);
    let probe_node = |flags: &[&str]| {
        let out = run(roothooks_as(free_id()).args(flags).arg("--").arg(&bin).arg("uffd-dev").arg(&node));
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    assert_eq!(probe_node(&[]), "open 0\nioctl-userfaultfd-new 1\n", "USERFAULTFD_IOC_NEW must fail with EPERM");
    // the kernel's own answer, for a user who may open the node, is a userfaultfd
    assert_eq!(probe_node(&["--seccomp-allow", "userfaultfd"]), "open 0\nioctl-userfaultfd-new 0\n");
}

#[test]
fn an_empty_allow_setting_means_none_allowed_back() {
    if !need_root() {
        return;
    }
    // as an empty NB_* variable counts as unset, so does an empty ROOTHOOKS_* one
    let mut cmd = roothooks_as(free_id());
    let out = run(cmd
        .env("ROOTHOOKS_SECCOMP_ALLOW", "")
        .env("ROOTHOOKS_HOOK_TIMEOUT", "")
        .args(["--", "unshare", "-U", "true"]));
    assert_eq!(out.status.code(), Some(1), "unshare -U must still be denied: {}", stderr(&out));
    assert!(stderr(&out).contains("system call filter installed: denies userns"), "{}", stderr(&out));
}

/// A classic BPF instruction, as `seccomp(2)` takes it.
fn insn(code: u32, k: u32, jt: u8, jf: u8) -> nix::libc::sock_filter {
    nix::libc::sock_filter { code: code as u16, jt, jf, k }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn an_outer_filter_that_kills_x32_calls_still_lets_the_start_through() {
    use nix::libc;
    use std::os::unix::process::CommandExt;
    if !need_root() {
        return;
    }
    let Some((_dir, bin)) = probe() else { return };
    // without an outer filter: every x32 number answers ENOSYS under ours, an ordinary socket works
    let answers = {
        let out = run(roothooks_as(free_id()).arg("--").arg(&bin).arg("x32"));
        assert!(out.status.success(), "{}", stderr(&out));
        errnos_of(&stdout(&out))
    };
    assert_eq!((answers["x32-getpid"], answers["socket-unix"]), (ENOSYS, 0));
    // a runtime's profile that kills any x32 call (as some do): a start that asks the kernel whether
    // it speaks x32 dies there; ours must not ask
    let program = [
        insn(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 4, 0, 0),
        insn(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, 0xC000_003E, 0, 3),
        insn(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, 0),
        insn(libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K, 0x4000_0000, 0, 1),
        insn(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_KILL_PROCESS, 0, 0),
        insn(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW, 0, 0),
    ];
    let mut cmd = roothooks_as(free_id());
    cmd.args(["--", "sh", "-c", "grep ^Seccomp_filters /proc/self/status"]);
    // SAFETY: between fork and exec only prctl and seccomp are called, on memory the child owns.
    unsafe {
        cmd.pre_exec(move || {
            let prog = libc::sock_fprog { len: program.len() as u16, filter: program.as_ptr().cast_mut() };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &prog) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = run(&mut cmd);
    assert!(out.status.success(), "{:?}: {}", out.status, stderr(&out));
    assert_eq!(stdout(&out), "Seccomp_filters:\t2\n", "the outer filter and ours");
}
