//! Hooks, from the outside: which run and in what order, what is refused and why, how failures,
//! timeouts, signals and floods of output are survived, and what the operator and the user get to read.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::http::wait_for;

use common::*;

#[test]
fn hooks_run_in_byte_order_as_root_with_the_target_described() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    let log = h.path("order");
    for name in ["20-b", "10-a", "B-upper", "a-lower", "100-c"] {
        h.sh(name, &format!("echo {name} $(id -u) $ROOTHOOKS_UID $ROOTHOOKS_GID $ROOTHOOKS_USER $ROOTHOOKS_HOME $ROOTHOOKS_GROUPS >> {}", log.display()));
    }
    let out = run(h.roothooks().args(["--gid", "4242", "--groups", "4343", "--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let order: Vec<String> = std::fs::read_to_string(&log).unwrap().lines().map(String::from).collect();
    let names: Vec<&str> = order.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(names, ["10-a", "100-c", "20-b", "B-upper", "a-lower"]);
    let fields: Vec<&str> = order[0].split(' ').collect();
    assert_eq!(fields[1], "0", "hooks run as root");
    assert_eq!(fields[3], "4242");
    assert_eq!(fields[5], "/");
    assert_eq!(fields[6], format!("4242,4343"));
    let err = stderr(&out);
    assert!(err.contains(&format!("running 5 hooks from {} as root", h.dir().display())), "{err}");
    assert!(err.contains("5 hooks: 5 ok, 0 failed in"), "{err}");
}

#[test]
fn files_that_are_not_hooks_are_skipped_with_the_reason() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    let ran = h.path("ran");
    let body = format!("#!/bin/sh\necho $0 >> {}\n", ran.display());
    h.raw("10-not-executable", &body, 0o644);
    h.raw(".20-hidden", &body, 0o755);
    h.raw("30-backup~", &body, 0o755);
    h.raw("40-conf.dpkg-old", &body, 0o755);
    h.raw("41-conf.rpmsave", &body, 0o755);
    std::fs::create_dir(h.dir().join("50-directory")).unwrap();
    nix::unistd::mkfifo(&h.dir().join("60-fifo"), nix::sys::stat::Mode::from_bits_truncate(0o755)).unwrap();
    symlink("/nonexistent/hook", h.dir().join("70-broken-link")).unwrap();
    h.raw("99-runs", &body, 0o755);
    let out = run(h.roothooks().args(["--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&ran).unwrap().lines().count(), 1, "only 99-runs may run");
    let err = stderr(&out);
    for (name, reason) in [
        ("10-not-executable", "not executable (chmod +x"),
        (".20-hidden", "hidden file"),
        ("30-backup~", "leftover"),
        ("40-conf.dpkg-old", "leftover"),
        ("41-conf.rpmsave", "leftover"),
        ("50-directory", "a directory"),
        ("60-fifo", "not a regular file"),
        ("70-broken-link", "broken symlink"),
    ] {
        let line = err.lines().find(|l| l.contains(&format!("skipping {}", h.dir().join(name).display())));
        let line = line.unwrap_or_else(|| panic!("no skip line for {name}: {err}"));
        assert!(line.contains(reason), "{name}: {line}");
    }
    assert!(err.lines().any(|l| l.contains("WARN") && l.contains("10-not-executable")), "not executable must warn");
}

#[test]
fn a_root_hooks_interpreter_is_judged_as_the_hook_is() {
    if !need_root() {
        return;
    }
    let user = Account::new(0);
    // the user's interpreter, as /opt/conda/bin/python3 is in docker-stacks images
    let theirs = users_dir(user.uid);
    let marker = theirs.path().join("ran-as-root");
    let interp = theirs.path().join("python3");
    std::fs::write(&interp, format!("#!/bin/sh\nid -u > {}\n", marker.display())).unwrap();
    set_mode(&interp, 0o755);
    give_to(&interp, user.uid);
    // root's own script interpreter, which names the user's in turn
    let h = Hooks::new();
    let middle = h.path("middle");
    std::fs::write(&middle, format!("#!{}\n", interp.display())).unwrap();
    set_mode(&middle, 0o755);
    let ran = h.path("ran");
    h.raw("10-direct", &format!("#!{}\nprint('x')\n", interp.display()), 0o755);
    h.raw("20-env-path", &format!("#!/usr/bin/env {}\n", interp.display()), 0o755);
    h.raw("30-nested", &format!("#!{}\n", middle.display()), 0o755);
    // an env option that takes a word (-u NAME) before the program
    h.raw("35-env-options", &format!("#!/usr/bin/env -S -u FOO {} -u\n", interp.display()), 0o755);
    // env searching a PATH it is given, with the user's directory in it
    h.raw("36-env-path-var", &format!("#!/usr/bin/env -S PATH={}:/usr/bin python3\n", theirs.path().display()), 0o755);
    h.raw("40-env-search", &format!("#!/usr/bin/env sh\necho ok >> {}\n", ran.display()), 0o755);
    h.raw("50-sh", &format!("#!/bin/sh\necho ok >> {}\n", ran.display()), 0o755);
    let out = run(h.roothooks().args(["--", "true"]));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!marker.exists(), "the user's interpreter ran as root: {err}");
    assert_eq!(std::fs::read_to_string(&ran).unwrap(), "ok\nok\n", "{err}");
    let named = format!("its interpreter {}: directory {}", interp.display(), theirs.path().display());
    let owned = format!("{named} is owned by uid {}, not root", user.uid);
    for name in ["10-direct", "20-env-path", "30-nested"] {
        refused_line(&err, &h, name, &owned);
    }
    // the kernel passes env one word, spaces and all: a form the judge does not take
    for name in ["35-env-options", "36-env-path-var"] {
        refused_line(&err, &h, name, "the kernel passes it as one argument, spaces and all");
    }
    // interpreters that name interpreters, one deeper than the kernel follows: refused with the reason
    let chain = Hooks::new();
    let mut next = std::path::PathBuf::from("/bin/sh");
    for i in 0..5 {
        let link = chain.path(&format!("interp{i}"));
        std::fs::write(&link, format!("#!{}\n", next.display())).unwrap();
        set_mode(&link, 0o755);
        next = link;
    }
    chain.raw("10-deep", &format!("#!{}\necho ran\n", next.display()), 0o755);
    let out = run(chain.roothooks().args(["--", "true"]));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("more than 4 interpreters, one naming the next; not running it as root"), "{err}");
}

#[test]
fn hooks_a_non_root_user_could_change_are_not_run_as_root() {
    if !need_root() {
        return;
    }
    let user = Account::new(0);
    let h = Hooks::new();
    let ran = h.path("ran");
    let body = format!("#!/bin/sh\necho $0 >> {}\n", ran.display());
    h.raw("10-world-writable", &body, 0o757);
    h.raw("20-group-writable", &body, 0o775);
    let owned = h.raw("30-user-owned", &body, 0o755);
    give_to(&owned, user.uid);
    // a user-owned directory elsewhere, reached through a root-owned symlink in the hooks dir
    let theirs = scratch("rh-theirs");
    give_to(theirs.path(), user.uid);
    std::fs::write(theirs.path().join("evil"), &body).unwrap();
    set_mode(&theirs.path().join("evil"), 0o755);
    symlink(theirs.path().join("evil"), h.dir().join("40-link-to-user-dir")).unwrap();
    h.raw("50-fine", &body, 0o755);

    let out = run(h.roothooks().args(["--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&ran).unwrap().trim(), h.dir().join("50-fine").display().to_string());
    let err = stderr(&out);
    let reason = |name: &str| {
        err.lines()
            .find(|l| l.contains(&format!("skipping {}", h.dir().join(name).display())))
            .unwrap_or_else(|| panic!("no line for {name}: {err}"))
            .to_string()
    };
    assert!(reason("10-world-writable").contains("writable by others (chmod o-w"));
    assert!(reason("20-group-writable").contains("writable by group 0 (chmod g-w"));
    assert!(reason("30-user-owned").contains(&format!("owned by uid {}, not root (chown root", user.uid)));
    let link = reason("40-link-to-user-dir");
    assert!(link.contains(&format!("directory {} is owned by uid {}", theirs.path().display(), user.uid)), "{link}");
    assert!(link.contains("not running it as root"));

    // a hooks directory a user owns taints every hook in it
    let h2 = Hooks::new();
    h2.raw("10-in-user-dir", &body, 0o755);
    give_to(&h2.dir(), user.uid);
    let out = run(h2.roothooks().args(["--", "true"]));
    assert!(
        stderr(&out).contains(&format!("directory {} is owned by uid {}", h2.dir().display(), user.uid)),
        "{}",
        stderr(&out)
    );

    // the documented override runs them, loudly
    std::fs::remove_file(&ran).ok();
    let out = run(h.roothooks().args(["--allow-untrusted-hooks", "--", "true"]));
    assert_eq!(std::fs::read_to_string(&ran).unwrap().lines().count(), 5, "{}", stderr(&out));
    assert!(stderr(&out).contains("WARN running UNTRUSTED hook"), "{}", stderr(&out));
}

#[test]
fn every_kind_of_hook_failure_is_logged_and_the_command_still_starts() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    h.sh("10-exit-3", "exit 3");
    h.sh("20-killed", "kill -KILL $$");
    h.raw("30-no-shebang", "echo hello\n", 0o755);
    h.raw("40-garbage", "\x7fELF\x02\x01\x01garbage", 0o755);
    let interp = h.path("not-an-interpreter");
    std::fs::write(&interp, "x").unwrap();
    set_mode(&interp, 0o644);
    h.raw("50-denied", &format!("#!{}\n", interp.display()), 0o755);
    h.sh("60-closes-output", "exec >&- 2>&-; sleep 0.2; exit 0");
    h.sh("70-slow", "sleep 30");
    // a timeout long enough that only 70-slow meets it, on a loaded machine too
    let out = run(h.roothooks().args(["--hook-timeout", "5", "--", "sh", "-c", "echo command ran; exit 5"]));
    assert_eq!(out.status.code(), Some(5), "the command's own status: {}", stderr(&out));
    assert_eq!(stdout(&out), "command ran\n");
    let err = stderr(&out);
    for expected in [
        "hook 10-exit-3 failed: exit 3",
        "hook 20-killed failed: killed by SIGKILL",
        "hook 30-no-shebang failed: not started: exec format error (no #! line",
        "hook 40-garbage failed: not started: exec format error",
        "hook 50-denied failed: not started: permission denied",
        "hook 60-closes-output: ok",
        "hook 70-slow failed: timed out after 5 s",
        "7 hooks: 1 ok, 6 failed (10-exit-3: exit 3, 20-killed: killed by SIGKILL, 30-no-shebang: not started: exec format error",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in {err}");
    }
}

#[test]
fn a_timeout_takes_the_whole_process_group_but_a_setsid_daemon_survives_a_clean_exit() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    let (child, daemon) = (h.path("child.pid"), h.path("daemon.pid"));
    // A well-behaved daemon: its own session, its output elsewhere, left running by a hook that exits 0.
    h.sh("10-daemon", &format!("setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > {}", daemon.display()));
    // A hung hook with a child in its process group that ignores SIGTERM.
    h.sh("20-hangs", &format!("sh -c 'trap \"\" TERM; sleep 300' & echo $! > {}; sleep 300", child.display()));
    let out = run(h.roothooks().args(["--hook-timeout", "3", "--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("hook 20-hangs failed: timed out after 3 s"), "{err}");
    assert!(err.contains("outlived it: sending SIGKILL to its process group"), "{err}");
    let (child, daemon) = (read_pid(&child), read_pid(&daemon));
    assert!(!alive(child), "a child of the timed-out hook is still running");
    assert!(alive(daemon), "the daemon a hook left behind was killed");
    signal(daemon, nix::sys::signal::Signal::SIGKILL).unwrap();
}

#[test]
fn a_timeout_ends_what_the_hook_started_outside_its_process_group_too() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    let pids: Vec<_> = ["setsid", "timeout", "orphan"].iter().map(|n| h.path(&format!("{n}.pid"))).collect();
    // a daemon a hook started earlier and left on purpose (s3fs's way) is not the timed-out hook's
    let daemon = h.path("daemon.pid");
    h.sh("10-daemon", &format!("setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > {}", daemon.display()));
    // three ways out of the hook's process group: a new session, GNU timeout's own group, and a
    // double fork whose middle process ends (so the escapee is no descendant of the hook any more)
    h.sh(
        "20-escapes",
        &format!(
            "setsid sh -c 'echo $$ > {}; exec sleep 300' </dev/null >/dev/null 2>&1 &\n\
             timeout 300 sh -c 'echo $$ > {}; exec sleep 301' </dev/null >/dev/null 2>&1 &\n\
             (setsid sh -c 'echo $$ > {}; exec sleep 302' </dev/null >/dev/null 2>&1 &)\n\
             sleep 300",
            pids[0].display(),
            pids[1].display(),
            pids[2].display()
        ),
    );
    // a hook that moves itself into roothooks' own process group: only its pid reaches it
    h.raw("30-moves", "#!/usr/bin/perl\nsetpgrp(0, getpgrp(getppid()));\nsleep 300;\n", 0o755);
    let child = h
        .roothooks()
        .args(["--hook-timeout", "1", "--", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    wait_for("roothooks to end after both hooks timed out", Duration::from_secs(120), || !alive(pid));
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    for file in &pids {
        let escapee = read_pid(file);
        assert!(!alive(escapee), "{} is still running: {err}", file.display());
        assert!(
            err.contains(&format!("ended sleep (pid {escapee}), which it left running outside its process group")),
            "{err}"
        );
    }
    assert!(err.contains("hook 30-moves failed: timed out after 1 s"), "{err}");
    let daemon = read_pid(&daemon);
    assert!(alive(daemon), "the daemon an earlier hook left was ended: {err}");
    signal(daemon, nix::sys::signal::Signal::SIGKILL).unwrap();
}

/// Kills, whatever becomes of the test, each process whose pid a hook wrote to one of these files.
struct KillOnDrop(Vec<std::path::PathBuf>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for file in &self.0 {
            if let Some(pid) = std::fs::read_to_string(file).ok().and_then(|p| p.trim().parse().ok()) {
                let _ = signal(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

#[test]
fn a_timeout_ends_an_escapee_whose_main_thread_ended_while_its_other_threads_run() {
    if !need_root() || !need_program("/usr/bin/python3", "--version", "needs Debian's python3 (/usr/bin/python3)") {
        return;
    }
    let h = Hooks::new();
    let pid = h.path("escapee.pid");
    let _cleanup = KillOnDrop(vec![pid.clone()]);
    // A process of its own session whose main thread ends (pthread_exit) while another runs on as
    // root: /proc/PID/stat shows its leader as a zombie. The other thread writes the pid once the
    // leader shows so, and the hook hangs only then, so the timeout finds that state.
    let python = format!(
        "import ctypes, os, threading, time\n\
         def work():\n    \
             while open(\"/proc/self/stat\").read().rsplit(\")\", 1)[1].split()[0] != \"Z\":\n        \
                 time.sleep(0.01)\n    \
             open(\"{pid}.new\", \"w\").write(str(os.getpid()))\n    \
             os.rename(\"{pid}.new\", \"{pid}\")\n    \
             time.sleep(300)\n\
         threading.Thread(target=work).start()\n\
         ctypes.CDLL(None).pthread_exit(None)\n",
        pid = pid.display()
    );
    h.sh(
        "10-escapes",
        &format!(
            "setsid /usr/bin/python3 -c '{python}' </dev/null >/dev/null 2>&1 &\n\
             while [ ! -e {pid} ]; do sleep 0.05; done\n\
             echo its main thread has ended\n\
             sleep 300",
            pid = pid.display()
        ),
    );
    let out = run(h.roothooks().args(["--hook-timeout", "5", "--", "true"]));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("hook 10-escapes failed: timed out after 5 s"), "{err}");
    assert!(
        err.contains("10-escapes: its main thread has ended"),
        "the escapee's main thread had not ended within the timeout: {err}"
    );
    let escapee = read_pid(&pid);
    // SIGKILL ends all its threads, but not all at the same instant
    wait_for("the escapee's last thread to end after roothooks", Duration::from_secs(30), || !alive(escapee));
    assert!(
        err.contains(&format!("ended python3 (pid {escapee}), which it left running outside its process group")),
        "{err}"
    );
}

#[test]
fn a_timeout_never_ends_what_an_earlier_hooks_daemon_forks_meanwhile() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    let (daemon, escapee) = (h.path("daemon.pid"), h.path("escapee.pid"));
    // a daemon an earlier hook left on purpose, forking all the time (a server's workers)
    h.sh(
        "10-daemon",
        &format!(
            "setsid sh -c 'echo $$ > {}; while :; do sleep 0.3 & sleep 0.005; done' </dev/null >/dev/null 2>&1 &",
            daemon.display()
        ),
    );
    h.sh(
        "20-escapes",
        &format!(
            "setsid sh -c 'echo $$ > {}; exec sleep 300' </dev/null >/dev/null 2>&1 &\nsleep 300",
            escapee.display()
        ),
    );
    // a group that ignores SIGTERM: SIGKILL after the grace, and its members may not have died yet
    // when the escapees are sought; they are no escapees
    h.sh("30-stubborn", "trap '' TERM\nsleep 300 &\nsleep 300 &\nsleep 300");
    let out = run(h.roothooks().args(["--hook-timeout", "1", "--", "true"]));
    let err = stderr(&out);
    let daemon = read_pid(&daemon);
    let daemon_alive = alive(daemon);
    let _ = signal(daemon, nix::sys::signal::Signal::SIGKILL);
    assert!(out.status.success(), "{err}");
    assert!(daemon_alive, "the daemon an earlier hook left was ended: {err}");
    let escapee = read_pid(&escapee);
    assert!(!alive(escapee), "the escapee is still running: {err}");
    assert!(err.contains("hook 30-stubborn failed: timed out after 1 s"), "{err}");
    // only the escapee: none of the daemon's children, though it forked while the escapees were
    // sought, and none of the stubborn group
    let ended: Vec<&str> =
        err.lines().filter(|l| l.contains("which it left running outside its process group")).collect();
    assert_eq!(ended.len(), 1, "{err}");
    assert!(ended[0].contains(&format!("ended sleep (pid {escapee})")), "{err}");
}

#[test]
fn a_timeout_never_ends_the_worker_an_earlier_hooks_daemon_double_forks_meanwhile() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    let [daemon, worker, escapee, trigger] = ["daemon.pid", "worker.pid", "escapee.pid", "trigger"].map(|n| h.path(n));
    let _cleanup = KillOnDrop(vec![daemon.clone(), worker.clone(), escapee.clone()]);
    // a daemon an earlier hook left on purpose (a double fork into a session of its own) that, when
    // asked, double-forks a worker: the worker's middle process ends, so the worker comes back to
    // roothooks and descends from the daemon no more
    h.sh(
        "10-daemon",
        &format!(
            "(setsid sh -c 'echo $$ > {d}.new; mv {d}.new {d}\n\
              while [ ! -e {t} ]; do sleep 0.05; done\n\
              (sh -c \"echo \\$\\$ > {w}.new; mv {w}.new {w}; exec sleep 300\" &)\n\
              exec sleep 300' </dev/null >/dev/null 2>&1 &)",
            d = daemon.display(),
            t = trigger.display(),
            w = worker.display()
        ),
    );
    // a later hook that leaves an escapee of its own, asks the daemon for its worker, waits until the
    // worker is roothooks' child, and hangs past its timeout
    h.sh(
        "20-escapes",
        &format!(
            "setsid sh -c 'echo $$ > {e}.new; mv {e}.new {e}; exec sleep 300' </dev/null >/dev/null 2>&1 &\n\
             touch {t}\n\
             while [ ! -e {w} ] || [ ! -e {e} ]; do sleep 0.05; done\n\
             while [ \"$(cut -d' ' -f4 /proc/$(cat {w})/stat)\" != \"$PPID\" ]; do sleep 0.05; done\n\
             echo the daemons worker came back to roothooks\n\
             sleep 300",
            e = escapee.display(),
            t = trigger.display(),
            w = worker.display()
        ),
    );
    let out = run(h.roothooks().args(["--hook-timeout", "5", "--", "true"]));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("hook 20-escapes failed: timed out after 5 s"), "{err}");
    assert!(
        err.contains("20-escapes: the daemons worker came back to roothooks"),
        "the worker was not roothooks' child within the timeout: {err}"
    );
    let (daemon, worker, escapee) = (read_pid(&daemon), read_pid(&worker), read_pid(&escapee));
    assert!(alive(daemon), "the daemon an earlier hook left was ended: {err}");
    assert!(alive(worker), "the worker the daemon forked was ended: {err}");
    wait_for("the timed-out hook's escapee to end", Duration::from_secs(30), || !alive(escapee));
    // the escapee alone is named
    let ended: Vec<&str> =
        err.lines().filter(|l| l.contains("which it left running outside its process group")).collect();
    assert_eq!(ended.len(), 1, "{err}");
    assert!(ended[0].contains(&format!("ended sleep (pid {escapee})")), "{err}");
}

#[test]
fn abort_policy_stops_at_the_first_failure_and_starts_nothing() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    let later = h.path("later-ran");
    h.sh("10-fails", "exit 4");
    h.sh("20-later", &format!("touch {}", later.display()));
    let command_ran = h.path("command-ran");
    let out = run(h.roothooks().args(["--on-hook-failure", "abort", "--", "touch"]).arg(&command_ran));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("hook 10-fails failed (exit 4) and --on-hook-failure is abort; not starting the command")
    );
    assert!(!later.exists() && !command_ran.exists());

    // the same through the environment; the report says the later hook was never reached
    let report = h.path("report.json");
    let out = run(h
        .roothooks()
        .env("ROOTHOOKS_ON_HOOK_FAILURE", "abort")
        .arg("--report")
        .arg(&report)
        .args(["--", "touch"])
        .arg(&command_ran));
    assert_eq!(out.status.code(), Some(1));
    assert!(!command_ran.exists());
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["hooks"][0]["outcome"], "exit");
    assert_eq!(json["hooks"][1]["outcome"], "not-reached");
    assert_eq!(json["final_state"], serde_json::Value::Null, "nothing was started");
}

/// Start roothooks with stderr piped, and return it with a line reader on that stderr.
fn spawn_reading(mut cmd: Command) -> (std::process::Child, impl Iterator<Item = String>) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines().map_while(Result::ok);
    (child, lines)
}

#[test]
fn sigterm_while_a_hook_runs_stops_it_and_starts_nothing() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    let (pid_file, next, command_ran) = (h.path("hook.pid"), h.path("next-ran"), h.path("command-ran"));
    // A loop of short sleeps: dash runs a trap between commands, but a `wait` on a child forked just
    // after the signal arrived would block until that child ends.
    h.sh(
        "10-slow",
        &format!(
            "trap 'echo got TERM; exit 0' TERM; echo $$ > {}; echo started; while :; do sleep 0.1; done",
            pid_file.display()
        ),
    );
    h.sh("20-next", &format!("touch {}", next.display()));
    let mut cmd = h.roothooks();
    cmd.args(["--", "touch"]).arg(&command_ran);
    let (mut child, mut lines) = spawn_reading(cmd);
    assert!(lines.any(|l| l.contains("10-slow: started")), "hook never started");
    signal(child.id(), nix::sys::signal::Signal::SIGTERM).unwrap();
    let rest: Vec<String> = lines.collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "128 + SIGTERM: {rest:?}");
    let text = rest.join("\n");
    assert!(text.contains("received SIGTERM: passing it to the hook's process group"), "{text}");
    assert!(text.contains("10-slow: got TERM"), "the hook itself got the signal: {text}");
    assert!(text.contains("received SIGTERM while running hooks"), "{text}");
    assert!(!next.exists() && !command_ran.exists(), "nothing may start after SIGTERM");
    assert!(!alive(read_pid(&pid_file)));
}

#[test]
fn a_hook_that_ignores_sigterm_is_killed_after_the_grace() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    h.sh("10-stubborn", "trap '' TERM INT; echo started; while :; do sleep 1; done");
    let mut cmd = h.roothooks();
    cmd.args(["--", "true"]);
    let (mut child, mut lines) = spawn_reading(cmd);
    assert!(lines.any(|l| l.contains("10-stubborn: started")));
    signal(child.id(), nix::sys::signal::Signal::SIGINT).unwrap();
    let text: String = lines.collect::<Vec<_>>().join("\n");
    assert_eq!(child.wait().unwrap().code(), Some(130), "{text}");
    assert!(text.contains("sending SIGKILL to its process group"), "{text}");
}

#[test]
fn dry_run_prints_the_plan_and_executes_nothing() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    let ran = h.path("ran");
    h.sh("10-would-run", &format!("touch {}", ran.display()));
    h.raw("20-not-executable", "#!/bin/sh\n", 0o644);
    let command_ran = h.path("command-ran");
    let out = run(h.roothooks().args(["--dry-run", "--", "touch"]).arg(&command_ran));
    assert!(out.status.success(), "{}", stderr(&out));
    let plan = stdout(&out);
    assert!(plan.contains("run   10-would-run"), "{plan}");
    assert!(plan.contains("skip  20-not-executable: not executable"), "{plan}");
    assert!(plan.contains("found at:    /usr/bin/touch"), "{plan}");
    assert!(!ran.exists() && !command_ran.exists());
    assert!(!h.path("roothooks.log").exists(), "a dry run writes no log file");
}

#[test]
fn no_exec_runs_the_hooks_and_exits_without_a_command() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    let ran = h.path("ran");
    h.sh("10-provision", &format!("touch {}", ran.display()));
    h.sh("20-fails", "exit 2");
    let report = h.path("report.json");
    let out = run(h.roothooks().arg("--no-exec").arg("--report").arg(&report));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(ran.exists());
    assert!(stderr(&out).contains("--no-exec: hooks done, not starting a command"));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["summary"]["failed"], 1);
    assert_eq!(json["final_state"], serde_json::Value::Null);
}

#[test]
fn the_report_tells_what_happened_and_what_the_command_starts_with() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    h.sh("10-ok", "true");
    h.sh("20-mount", "exit 3");
    h.raw("30-off", "#!/bin/sh\n", 0o644);
    let report = h.path("report.json");
    let out = run(h.roothooks().arg("--report").arg(&report).args(["--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let hooks = json["hooks"].as_array().unwrap();
    assert_eq!(hooks[0]["outcome"], "ok");
    assert_eq!(hooks[1]["outcome"], "exit");
    assert_eq!(hooks[1]["exit_status"], 3);
    assert!(hooks[1]["duration_s"].as_f64().is_some());
    assert_eq!(hooks[2]["decision"], "skip");
    assert_eq!(json["summary"]["failed"], 1);
    let state = &json["final_state"];
    for set in ["CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"] {
        assert_eq!(state[set], "0000000000000000");
    }
    assert_eq!(state["no_new_privs"], true);
    assert_ne!(json["target"]["uid"], 0);
    let meta = std::fs::metadata(&report).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&meta),
        json["target"]["uid"].as_u64().unwrap() as u32,
        "the user can read it"
    );

    // the other outcomes: a hook that cannot be executed, and one that times out
    let h = Hooks::new();
    h.raw("10-no-shebang", "echo hi\n", 0o755);
    h.sh("20-slow", "sleep 30");
    let report = h.path("report.json");
    let out = run(h.roothooks().args(["--hook-timeout", "2", "--report"]).arg(&report).args(["--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let hooks = json["hooks"].as_array().unwrap();
    assert_eq!(hooks[0]["outcome"], "not-started");
    assert_eq!(hooks[0]["error"], "exec format error");
    assert_eq!(hooks[0]["hint"], "no #! line, or not a program for this machine");
    assert_eq!(hooks[1]["outcome"], "timeout");
    assert_eq!(json["summary"]["failed"], 2);
}

#[test]
fn the_users_log_copy_never_follows_a_planted_symlink_or_writes_through_a_planted_file() {
    if !need_root() {
        return;
    }
    let user = Account::new(0);
    let h = Hooks::new();
    h.sh("10-says", "echo mount failed: bucket not found");
    let log = h.path("roothooks.log");
    let victim = h.path("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    symlink(&victim, &log).unwrap();
    let out = run(h.roothooks().args(["--", "true"]));
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(stderr(&out).contains("is a symbolic link (planted?)"), "{}", stderr(&out));

    // a planted regular file (hard-linked so its old inode can be checked) is replaced, not written into
    std::fs::remove_file(&log).unwrap();
    std::fs::write(&log, "planted\n").unwrap();
    give_to(&log, user.uid);
    let planted_copy = h.path("planted-inode");
    std::fs::hard_link(&log, &planted_copy).unwrap();
    let out =
        run(h.bare().args(["--uid", &user.uid.to_string(), "--log-file"]).arg(&log).args(["--", "cat"]).arg(&log));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&planted_copy).unwrap(), "planted\n");
    // the user's server can read the new copy, and it holds the hook's words
    assert!(stdout(&out).contains("10-says: mount failed: bucket not found"), "{}", stdout(&out));

    // a directory a user controls is refused outright
    let theirs = scratch("rh-logdir");
    give_to(theirs.path(), user.uid);
    let out = run(h.bare().args(["--uid", "4242", "--log-file"]).arg(theirs.path().join("x.log")).args(["--", "true"]));
    assert!(out.status.success());
    assert!(stderr(&out).contains("a user could redirect the file"), "{}", stderr(&out));
    assert!(!theirs.path().join("x.log").exists());
}

#[test]
fn the_users_copy_from_the_last_start_is_rewritten_in_place_and_nothing_of_it_is_left() {
    if !need_root() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let user = Account::new(0);
    let h = Hooks::new();
    for i in 0..20 {
        h.sh(&format!("{i:02}-talks"), "echo a line of the last start, longer than what this start says");
    }
    let log = h.path("copy.log");
    let quiet = scratch("rh-quiet-hooks");
    let start = |hooks: &Path| {
        let out = run(roothooks()
            .args(["--uid", &user.uid.to_string(), "--hooks-dir"])
            .arg(hooks)
            .arg("--log-file")
            .arg(&log)
            .args(["--", "true"]));
        assert!(out.status.success(), "{}", stderr(&out));
        std::fs::metadata(&log).unwrap()
    };
    let first = start(&h.dir());
    // the user changes the mode and group of their copy; the next start puts both back
    set_mode(&log, 0o666);
    nix::unistd::chown(&log, None, Some(nix::unistd::Gid::from_raw(user.gid + 1))).unwrap();
    let second = start(quiet.path());
    assert_eq!(second.ino(), first.ino(), "the user's own copy is rewritten in place, not replaced");
    assert_eq!((second.uid(), second.gid(), second.mode() & 0o7777), (user.uid, user.gid, 0o640));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.len() < first.len() as usize / 4 && !text.contains("the last start"), "{text}");
    assert!(text.contains(&format!("no hooks in {}", quiet.path().display())), "{text}");
    assert!(
        text.ends_with("denies userns, tty-inject, keyring, bpf, perf, userfaultfd, io_uring, kernel, sockets\n"),
        "{text}"
    );

    // with a second name (a hard link the user made), it is replaced, and the other name keeps its text
    let other = h.path("other-name");
    std::fs::hard_link(&log, &other).unwrap();
    let third = start(quiet.path());
    assert_ne!(third.ino(), second.ino());
    assert_eq!(std::fs::read_to_string(&other).unwrap(), text);

    // a FIFO of the user's at the name is not opened: the start goes on, without a copy
    std::fs::remove_file(&log).unwrap();
    assert!(Command::new("mkfifo").arg(&log).status().unwrap().success());
    give_to(&log, user.uid);
    let out = run(roothooks()
        .args(["--uid", &user.uid.to_string(), "--hooks-dir"])
        .arg(quiet.path())
        .arg("--log-file")
        .arg(&log)
        .args(["--", "echo", "started"]));
    assert_eq!(stdout(&out), "started\n", "{}", stderr(&out));
    assert!(stderr(&out).contains("not a regular file"), "{}", stderr(&out));
}

#[test]
fn the_log_copy_holds_the_starts_lines_by_the_time_the_command_runs() {
    if !need_root() {
        return;
    }
    // The start's lines wait to go to the copy in one write: they must be out before the command
    // runs, whether roothooks execs it or stays beside it (--init).
    let quiet = scratch("rh-quiet-hooks");
    let log = scratch("rh-copy-dir");
    for flags in [&[][..], &["--init"][..]] {
        let copy = log.path().join(format!("copy{}.log", flags.len()));
        let out = run(roothooks()
            .args(["--uid", &free_id().to_string(), "--hooks-dir"])
            .arg(quiet.path())
            .arg("--log-file")
            .arg(&copy)
            .args(flags)
            .arg("--")
            .arg("cat")
            .arg(&copy));
        assert!(out.status.success(), "{flags:?}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("no hooks in") && text.contains("dropped to uid"), "{flags:?}: {text}");
        assert!(text.contains("system call filter installed"), "{flags:?}: {text}");
    }
}

#[test]
fn output_is_relayed_as_it_comes_not_when_the_hook_ends() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    let go = h.path("go");
    // The hook waits for the test to have *seen* its first line; relayed only at the end, it gives up.
    h.sh(
        "10-talks",
        &format!("echo early; i=0; while [ ! -e {go} ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i+1)); done; [ -e {go} ] && echo late || echo gave-up", go = go.display()),
    );
    let mut cmd = h.roothooks();
    cmd.args(["--", "true"]);
    let (mut child, mut lines) = spawn_reading(cmd);
    assert!(lines.any(|l| l.contains("10-talks: early")));
    std::fs::write(&go, "").unwrap();
    let rest: Vec<String> = lines.collect();
    assert!(child.wait().unwrap().success());
    assert!(rest.iter().any(|l| l.contains("10-talks: late")), "{rest:?}");
}

/// Peak resident memory of a finished child, from the kernel's own accounting.
fn wait_max_rss_kib(child: &std::process::Child) -> (i32, i64) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in; pid is our own child.
    let mut usage: nix::libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: status and usage are valid for writes; the child has not been waited for yet.
    let pid = unsafe { nix::libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    (nix::libc::WEXITSTATUS(status), usage.ru_maxrss)
}

#[test]
fn a_flood_of_lines_and_a_10_mb_line_without_newline_keep_memory_bounded() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    h.sh("10-flood", "seq 1 100000; head -c 10000000 /dev/zero | tr '\\0' x; echo; echo after >&2");
    h.sh("20-next", "echo next ran");
    let mut cmd = h.bare();
    cmd.args(["--log-file", "none", "--no-exec"]).stdout(Stdio::null()).stderr(Stdio::piped());
    // Waited for with wait4 below, which clippy cannot see.
    #[allow(clippy::zombie_processes)]
    let mut child = cmd.spawn().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut text).unwrap();
        text
    });
    let (code, max_rss_kib) = wait_max_rss_kib(&child);
    let text = String::from_utf8(reader.join().unwrap()).unwrap();
    assert_eq!(code, 0);
    assert!(text.contains("10-flood: 1\n") && text.contains("10-flood: 100000\n"));
    let numbered = |l: &&str| l.rsplit_once("10-flood: ").is_some_and(|(_, n)| n.parse::<u32>().is_ok());
    assert_eq!(text.lines().filter(numbered).count(), 100_000);
    let cut = text.lines().filter(|l| l.contains("[line cut at 65536 bytes, continues]")).count();
    assert_eq!(cut, 10_000_000 / 65_536);
    assert!(text.contains("10-flood: after") && text.contains("20-next: next ran"));
    assert!(max_rss_kib < 12 * 1024, "peak RSS {max_rss_kib} KiB: output is being held in memory");
}

#[test]
fn as_pid_1_orphans_of_hooks_are_reaped() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    // The orphan dies while the next hook runs, which waits until it is gone: as PID 1 roothooks must
    // collect it (a zombie stays in /proc, and the wait runs out, 120 s on).
    let pid_file = h.path("orphan.pid");
    h.sh("10-orphan", &format!("(sleep 0.1 & echo $! > {}) ; exit 0", pid_file.display()));
    h.sh(
        "20-wait",
        &format!(
            "p=$(cat {}); i=0; while [ -e /proc/$p ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i+1)); done",
            pid_file.display()
        ),
    );
    let out = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "--", BIN, "--hooks-dir"])
        .arg(h.dir())
        .args(["--uid", &free_id().to_string(), "--log-file", "none", "--"])
        .args(["sh", "-c", "echo pid=$$; for s in /proc/[0-9]*/stat; do cut -d' ' -f1,2,3 $s; done"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // roothooks stays PID 1, as the command's init (tests/supervise.rs); the command is its child.
    // Whether PID 1 is asleep or running at the moment it is read is the machine's business.
    let init = text.lines().find(|l| l.starts_with("1 ")).unwrap_or_else(|| panic!("no PID 1: {text}"));
    assert!(init.starts_with("1 (roothooks) ") && !init.ends_with(" Z"), "{text}");
    assert!(!text.starts_with("pid=1\n"), "{text}");
    assert!(!text.lines().any(|l| l.ends_with(" Z")), "a zombie was left: {text}");
}

#[test]
fn hooks_get_no_stdin_and_odd_bytes_in_their_output_break_nothing() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    // With roothooks' stdin inherited, this would block until the timeout.
    h.sh("10-reads-stdin", "cat; echo stdin closed");
    h.sh("20-not-utf8", "printf 'bad \\377\\376 bytes\\r\\n'");
    let mut cmd = h.roothooks();
    cmd.args(["--hook-timeout", "20", "--", "echo", "command ran"]).stdin(Stdio::piped());
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let _open_stdin = child.stdin.take();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(stdout(&out), "command ran\n");
    let err = stderr(&out);
    assert!(err.contains("10-reads-stdin: stdin closed") && err.contains("hook 10-reads-stdin: ok"), "{err}");
    assert!(err.contains("20-not-utf8: bad \u{fffd}\u{fffd} bytes\n"), "{err}");
}

#[test]
fn json_logs_are_one_object_per_line_with_the_hook_fields() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    h.sh("10-mount", "echo mounting; exit 3");
    let out = run(h.roothooks().args(["--log-format", "json", "--", "true"]));
    assert!(out.status.success());
    let events: Vec<serde_json::Value> =
        stderr(&out).lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let line = events.iter().find(|e| e["stream"] == "stdout").expect("relayed line");
    assert_eq!(line["hook"], "10-mount");
    assert_eq!(line["message"], "10-mount: mounting");
    let result = events.iter().find(|e| e["outcome"].is_string()).expect("result event");
    assert_eq!(result["outcome"], "exit 3");
    assert_eq!(result["level"], "WARN");
    assert!(result["duration_s"].as_f64().is_some());
}

#[test]
fn the_users_log_copy_stays_text_when_stderr_is_json() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    h.sh("10-mount", "echo mounting; echo a warning >&2");
    let out = run(h.roothooks().args(["--log-format", "json", "--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).lines().all(|l| l.starts_with('{')), "{}", stderr(&out));
    // the file is for a person: the same events, as text, each once
    let copy = std::fs::read_to_string(h.path("roothooks.log")).unwrap();
    assert!(!copy.contains('{'), "{copy}");
    for wanted in ["  INFO 10-mount: mounting\n", "  INFO 10-mount: a warning\n", "running 1 hook from"] {
        assert_eq!(copy.matches(wanted).count(), 1, "{wanted:?} in {copy}");
    }
}

#[test]
fn the_log_copy_has_a_default_place_and_can_be_turned_off() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    h.sh("10-says", "echo hello user");
    let uid = free_id();
    let default = std::path::PathBuf::from(format!("/tmp/roothooks-{uid}.log"));
    let _ = std::fs::remove_file(&default);
    let out = run(h.bare().args(["--uid", &uid.to_string(), "--log-file", "none", "--", "true"]));
    assert!(out.status.success());
    assert!(!default.exists(), "--log-file none still wrote {}", default.display());
    let out = run(h.bare().args(["--uid", &uid.to_string(), "--", "cat"]).arg(&default));
    let _ = std::fs::remove_file(&default);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("10-says: hello user"), "the user reads the default copy: {}", stdout(&out));
}

#[test]
fn a_missing_hooks_directory_is_logged_and_the_command_starts() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    let missing = h.path("no-such-dir");
    let out = run(roothooks().arg("--hooks-dir").arg(&missing).args([
        "--uid",
        "4242",
        "--log-file",
        "none",
        "--",
        "echo",
        "ran",
    ]));
    assert!(out.status.success());
    assert_eq!(stdout(&out), "ran\n");
    assert!(
        stderr(&out).contains(&format!("WARN hooks directory {} does not exist", missing.display())),
        "{}",
        stderr(&out)
    );

    // the default (repo2docker's $REPO_DIR/roothooks.d) missing is only information
    let out = run(roothooks().env("REPO_DIR", h.path("repo")).args([
        "--uid",
        "4242",
        "--log-file",
        "none",
        "--",
        "echo",
        "ran",
    ]));
    assert_eq!(stdout(&out), "ran\n");
    let expected = format!("INFO no hooks directory at {}/roothooks.d (the default)", h.path("repo").display());
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));

    // a file where the directory should be
    let out = run(roothooks().arg("--hooks-dir").arg("/etc/hostname").args([
        "--uid",
        "4242",
        "--log-file",
        "none",
        "--",
        "echo",
        "ran",
    ]));
    assert_eq!(stdout(&out), "ran\n");
    assert!(stderr(&out).contains("hooks directory /etc/hostname is not a directory"));
}

#[test]
fn a_symlink_to_a_user_owned_file_is_not_run() {
    if !need_root() {
        return;
    }
    let user = Account::new(0);
    let h = Hooks::new();
    let ran = h.path("ran");
    let target = h.path("user-file");
    std::fs::write(&target, format!("#!/bin/sh\ntouch {}\n", ran.display())).unwrap();
    set_mode(&target, 0o755);
    give_to(&target, user.uid);
    symlink(&target, h.dir().join("10-link")).unwrap();
    let out = run(h.roothooks().args(["--", "true"]));
    assert!(out.status.success());
    assert!(!ran.exists());
    assert!(
        stderr(&out).contains(&format!("owned by uid {}, not root (chown root {})", user.uid, target.display())),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_hook_that_leaves_a_daemon_holding_its_output_does_not_stall_the_start() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    let pid_file = h.path("daemon.pid");
    // The daemon keeps the hook's stdout and stderr open (no redirection) and outlives the hook.
    h.sh("10-careless", &format!("sleep 300 & echo $! > {}; echo started it", pid_file.display()));
    h.sh("20-next", "echo next ran");
    let out = run(h.roothooks().args(["--hook-timeout", "20", "--", "echo", "command ran"]));
    let daemon = read_pid(&pid_file);
    let still_alive = alive(daemon);
    let _ = signal(daemon, nix::sys::signal::Signal::SIGKILL);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "command ran\n");
    let err = stderr(&out);
    assert!(err.contains("hook 10-careless: ok"), "the hook ended when it exited, not when its output closed: {err}");
    assert!(err.contains("still holds its output open; no longer relaying it"), "{err}");
    assert!(err.contains("20-next: next ran"), "{err}");
    assert!(still_alive, "the daemon a hook left behind must keep running");
}

#[test]
fn a_log_reader_that_went_away_does_not_stop_the_start() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    h.sh("10-talk", "echo from the hook; echo to stderr >&2");
    let (reader, writer) = nix::unistd::pipe().unwrap();
    drop(reader); // every write to stderr now fails with EPIPE, or kills with SIGPIPE
    let out = run(h.roothooks().args(["--", "echo", "started"]).stderr(Stdio::from(writer)));
    assert!(out.status.success(), "{:?}", out.status);
    assert_eq!(stdout(&out), "started\n", "the command must start");
    let copy = std::fs::read_to_string(h.path("roothooks.log")).unwrap();
    assert!(copy.contains("from the hook"), "{copy}");
}

#[test]
fn dry_run_into_a_closed_pipe_is_quiet_and_into_a_full_disk_an_error() {
    if !need_root() {
        return;
    }
    let (reader, writer) = nix::unistd::pipe().unwrap();
    drop(reader); // `roothooks --dry-run | head -0`
    let out = run(roothooks_as(free_id()).args(["--dry-run", "--", "true"]).stdout(Stdio::from(writer)));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = run(roothooks_as(free_id()).args(["--dry-run", "--", "true"]).stdout(full));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot print the plan: No space left on device"), "{}", stderr(&out));
}

#[test]
fn hooks_start_with_a_clean_process_state_and_the_merged_environment() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    let (seen, fds) = (h.path("seen"), h.path("fds"));
    h.sh(
        "10-look",
        &format!(
            "{{ readlink /proc/$$/fd/0; \
             echo \"0=$0 FOO=$FOO HOME=$ROOTHOOKS_HOME pgid=$(cut -d' ' -f5 /proc/$$/stat) pid=$$\"; }} > {}",
            seen.display()
        ),
    );
    h.sh("20-fds", &format!("exec ls -l /proc/self/fd/ > {}", fds.display()));
    // not a shell, which would clear its signal mask itself: cat shows the state it was started with
    h.raw("30-status", "#!/bin/cat /proc/self/status\n", 0o755);
    let mut cmd = h.roothooks();
    cmd.args(["--home", "/h", "--hook-env", "FOO"])
        .env("FOO", "bar")
        .env("ROOTHOOKS_HOME", "/nope")
        .args(["--", "true"]);
    // Only 0, 1 and 2 handed to roothooks, whatever the test runner has open; and SIGUSR1 ignored, as
    // an orchestrator may leave it: a hook must not inherit that.
    // SAFETY: close_range and signal are async-signal-safe and touch only the child's own state.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            nix::sys::signal::signal(nix::sys::signal::Signal::SIGUSR1, nix::sys::signal::SigHandler::SigIgn)?;
            match nix::libc::syscall(nix::libc::SYS_close_range, 3, u32::MAX, 0) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        })
    };
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = std::fs::read_to_string(h.path("roothooks.log")).unwrap();
    let field = |name: &str| log.split(name).nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    assert_eq!(field("SigBlk:"), "0000000000000000", "{log}");
    let ignored = u64::from_str_radix(&field("SigIgn:"), 16).unwrap();
    let sigpipe = nix::sys::signal::Signal::SIGPIPE as u32;
    assert_eq!(ignored & (1 << (sigpipe - 1)), 0, "SIGPIPE must be at its default in hooks: {log}");
    assert_eq!(ignored, 0, "nothing roothooks ignores or was started ignoring reaches a hook: {log}");
    let text = std::fs::read_to_string(&seen).unwrap();
    assert!(text.starts_with("/dev/null\n"), "stdin: {text}");
    let pid = text.rsplit("pid=").next().unwrap().trim();
    let hook = h.dir().join("10-look");
    assert!(text.contains(&format!("0={} FOO=bar HOME=/h pgid={pid} ", hook.display())), "{text}");
    // nothing roothooks opened for itself reaches a hook: its signalfd, the /dev/null it keeps, the log
    let fds = std::fs::read_to_string(&fds).unwrap();
    assert!(!fds.contains("signalfd") && !fds.contains("roothooks.log"), "{fds}");
    assert_eq!(fds.matches("/dev/null").count(), 1, "only stdin: {fds}");
}

#[test]
fn user_hooks_follow_the_failure_policy_and_need_a_directory_only_root_can_change() {
    if !need_root() {
        return;
    }
    let root_hooks = Hooks::new();
    let user_hooks = Hooks::new();
    let uid = free_id();
    user_hooks.sh("10-fails", "echo \"user hook as $(id -u)\"; exit 3");
    // where the command, as the user, can leave a mark: sticky /tmp
    let marker = std::env::temp_dir().join(format!("rh-user-hooks-started-{uid}"));
    let start = |policy: &str| {
        let mut cmd = root_hooks.bare();
        cmd.args(["--uid", &uid.to_string(), "--log-file", "none", "--on-hook-failure", policy, "--user-hooks-dir"]);
        cmd.arg(user_hooks.dir()).args(["--", "touch"]).arg(&marker);
        run(&mut cmd)
    };
    // continue: logged as the user's, and the command still starts
    let out = start("continue");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("user hook as {uid}")), "{}", stderr(&out));
    assert!(stderr(&out).contains("hook 10-fails failed: exit 3"), "{}", stderr(&out));
    assert!(marker.exists());
    std::fs::remove_file(&marker).unwrap();
    // abort: exit 1, and nothing starts
    let out = start("abort");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!marker.exists(), "the command must not start after a failed user hook under abort");

    // a directory the user could change: its hooks do not run, not even as the user
    give_to(&user_hooks.dir(), uid);
    let out = start("continue");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("user hook as"), "{}", stderr(&out));
    assert!(stderr(&out).contains("not running it as the user"), "{}", stderr(&out));
    std::fs::remove_file(&marker).unwrap();
    // unless the operator says so, and then the log says whom it runs as
    let mut cmd = root_hooks.bare();
    cmd.args(["--uid", &uid.to_string(), "--log-file", "none", "--allow-untrusted-hooks", "--user-hooks-dir"]);
    let out = run(cmd.arg(user_hooks.dir()).args(["--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("user hook as {uid}")), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("running UNTRUSTED hook") && stderr(&out).contains("as the user"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("as root (--allow-untrusted-hooks)"), "{}", stderr(&out));
}

#[test]
fn the_log_level_chooses_the_lines_on_stderr_in_the_copy_and_in_json_alike() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    h.sh("10-talks", "echo said-by-the-hook");
    h.sh("20-fails", "exit 3");
    let log = h.path("roothooks.log");
    let uid = free_id().to_string();
    let start = |level: &str, format: &str| {
        let _ = std::fs::remove_file(&log);
        let out = run(h.bare().env("HELD_BACK_NAME", "x").args(["--uid", &uid, "--log-file"]).arg(&log).args([
            "--log-level",
            level,
            "--log-format",
            format,
            "--",
            "true",
        ]));
        assert!(out.status.success(), "{}", stderr(&out));
        (stderr(&out), std::fs::read_to_string(&log).unwrap())
    };
    for format in ["text", "json"] {
        for (level, error, warn, info, debug) in [
            ("error", false, false, false, false),
            ("warn", false, true, false, false),
            ("info", false, true, true, false),
            ("debug", false, true, true, true),
        ] {
            let (err, copy) = start(level, format);
            for text in [&err, &copy] {
                let has = |what: &str| text.contains(what);
                assert_eq!(has("ERROR"), error, "{level} {format}: {text}");
                assert_eq!(has("hook 20-fails failed: exit 3"), warn, "{level} {format}: {text}");
                assert_eq!(has("said-by-the-hook") && has("hook 10-talks: ok"), info, "{level} {format}: {text}");
                assert_eq!(has("HELD_BACK_NAME"), debug, "{level} {format}: {text}");
            }
            if format == "json" {
                assert!(err.lines().all(|l| l.starts_with('{')), "{err}");
            }
        }
    }
    // the environment sets it when no flag does; a bad level is a usage error that names it
    let out = run(h.roothooks().env("ROOTHOOKS_LOG_LEVEL", "warn").args(["--", "true"]));
    assert!(!stderr(&out).contains("INFO"), "{}", stderr(&out));
    let out = run(h.roothooks().args(["--log-level", "loud", "--", "true"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("'loud'"), "{}", stderr(&out));
}

/// That `err` says hook `name` of `h` was not run as root, for a reason containing `why`.
fn refused_line(err: &str, h: &Hooks, name: &str, why: &str) {
    let line = err
        .lines()
        .find(|l| l.contains(&format!("skipping {}", h.dir().join(name).display())))
        .unwrap_or_else(|| panic!("{name} not refused: {err}"));
    assert!(line.contains(why) && line.contains("not running it as root"), "{line}");
}

/// `cc` with `args`, which must succeed.
fn compile(args: &[&str]) {
    let out = Command::new("cc").args(args).output().expect("cc");
    assert!(out.status.success(), "cc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_root_hook_that_is_a_binary_is_judged_by_what_it_loads() {
    if !need_root() || !need_program("cc", "--version", "needs a C compiler (cc) to build a binary hook") {
        return;
    }
    let user = Account::new(0);
    // the user's library directory, as /opt/conda/lib is in docker-stacks images
    let theirs = users_dir(user.uid);
    let marker = theirs.path().join("ran-as-root");
    let src = theirs.path().join("lib.c");
    std::fs::write(
        &src,
        format!(
            "#include <stdio.h>\n__attribute__((constructor)) static void mine(void) {{ FILE *f = \
             fopen(\"{}\", \"w\"); if (f) fclose(f); }}\nint rh_answer(void) {{ return 42; }}\n",
            marker.display()
        ),
    )
    .unwrap();
    let lib = theirs.path().join("librhx.so");
    compile(&["-shared", "-fPIC", "-o", lib.to_str().unwrap(), src.to_str().unwrap()]);
    give_to(&lib, user.uid);
    // the user's copy of the dynamic loader
    let loader = theirs.path().join("ld.so");
    let sh = std::fs::File::open("/bin/sh").unwrap();
    let elf = roothooks::hooks::elf::read(&|at, buf| std::os::unix::fs::FileExt::read_at(&sh, buf, at), false).unwrap();
    let real_loader = String::from_utf8(elf.interpreter.expect("/bin/sh has a loader")).unwrap();
    copy_program(&real_loader, &loader);
    give_to(&loader, user.uid);
    // root-owned hooks, built by the image: one linked with RUNPATH into the user's directory, one
    // with the user's loader, one with a RUNPATH of root's own ($ORIGIN, where the hook is)
    let h = Hooks::new();
    let main = h.path("main.c");
    std::fs::write(&main, "int rh_answer(void);\nint main(void) { return rh_answer() == 42 ? 0 : 1; }\n").unwrap();
    let plain = h.path("plain.c");
    std::fs::write(&plain, "#include <stdio.h>\nint main(void) { puts(\"root's own ran\"); return 0; }\n").unwrap();
    let dir = theirs.path().to_str().unwrap();
    let hook = |name: &str| h.dir().join(name).to_str().unwrap().to_string();
    let (runpath, loaded, origin) = (hook("10-runpath"), hook("20-loader"), hook("30-origin"));
    let rpath = format!("-Wl,-rpath,{dir}");
    compile(&["-o", &runpath, main.to_str().unwrap(), "-L", dir, "-lrhx", &rpath]);
    let interp = format!("-Wl,--dynamic-linker={}", loader.display());
    compile(&["-o", &loaded, plain.to_str().unwrap(), &interp]);
    compile(&["-o", &origin, plain.to_str().unwrap(), "-Wl,-rpath,$ORIGIN/../lib"]);
    // the user's library named by its path (it has no soname, so the path is what the binary records);
    // a search directory behind a token only the loader can expand; one the user may make later
    let (by_path, token, not_yet) = (hook("50-by-path"), hook("60-token"), hook("70-not-yet"));
    compile(&["-o", &by_path, main.to_str().unwrap(), lib.to_str().unwrap()]);
    compile(&["-o", &token, plain.to_str().unwrap(), "-Wl,-rpath,/usr/$LIB"]);
    compile(&["-o", &not_yet, plain.to_str().unwrap(), &format!("-Wl,-rpath,{dir}/not-yet")]);
    // root's own program, its dynamic section moved to an address no loaded segment holds: the kernel
    // starts it, but what its loader would load cannot be read
    let mut bytes = std::fs::read("/bin/true").unwrap();
    assert_eq!(bytes[4..6], [2, 1], "a 64-bit little-endian /bin/true");
    let field = |b: &[u8], at: usize, n: usize| b[at..at + n].iter().rev().fold(0usize, |v, x| v << 8 | *x as usize);
    let (phoff, phentsize, phnum) = (field(&bytes, 0x20, 8), field(&bytes, 0x36, 2), field(&bytes, 0x38, 2));
    let dynamic = (0..phnum).map(|i| phoff + i * phentsize).find(|&at| field(&bytes, at, 4) == 2).unwrap();
    bytes[dynamic + 16..dynamic + 24].copy_from_slice(&u64::MAX.to_le_bytes());
    let unknown = h.dir().join("40-unknown");
    std::fs::write(&unknown, &bytes).unwrap();
    set_mode(&unknown, 0o755);
    let out = run(h.roothooks().args(["--", "true"]));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!marker.exists(), "the user's library ran as root: {err}");
    refused_line(&err, &h, "40-unknown", "cannot read what");
    let refused = |name: &str, why: &str| refused_line(&err, &h, name, why);
    refused(
        "10-runpath",
        &format!("loads libraries from {dir} first (RUNPATH): directory {dir} is owned by uid {}", user.uid),
    );
    refused(
        "20-loader",
        &format!("its interpreter {}: directory {dir} is owned by uid {}", loader.display(), user.uid),
    );
    assert!(err.contains("30-origin: root's own ran") && err.contains("hook 30-origin: ok"), "{err}");
    let owned = format!("directory {dir} is owned by uid {}", user.uid);
    refused("50-by-path", &format!("loads the library {}: {owned}", lib.display()));
    refused("60-token", "searches a library directory with a token roothooks cannot judge (RUNPATH)");
    refused("70-not-yet", &format!("loads libraries from {dir}/not-yet first (RUNPATH): {owned}"));
}

/// The 64-bit little-endian program headers of `bytes`: each entry's offset and type.
fn program_headers(bytes: &[u8]) -> Vec<(usize, u32)> {
    let field = |at: usize, n: usize| bytes[at..at + n].iter().rev().fold(0usize, |v, x| v << 8 | *x as usize);
    let (phoff, phnum) = (field(0x20, 8), field(0x38, 2));
    (0..phnum).map(|i| (phoff + i * 56, field(phoff + i * 56, 4) as u32)).collect()
}

/// A root-owned binary hook `dir/name` made from `bytes`.
fn write_hook(h: &Hooks, name: &str, bytes: &[u8]) {
    let path = h.dir().join(name);
    std::fs::write(&path, bytes).unwrap();
    set_mode(&path, 0o755);
}

#[test]
fn a_binary_hook_in_a_form_the_judge_does_not_understand_is_refused_whatever_it_loads() {
    if !need_root() || !need_program("cc", "--version", "needs a C compiler (cc) to build binary hooks") {
        return;
    }
    if !cfg!(target_arch = "x86_64") {
        skip("builds an x86-64 loader of its own");
        return;
    }
    let user = Account::new(0);
    let h = Hooks::new();
    // the user's directory beside the hooks directory, as `$ORIGIN/../theirs`
    let theirs = h.path("theirs");
    std::fs::create_dir(&theirs).unwrap();
    give_to(&theirs, user.uid);
    let marker = theirs.join("ran-as-root");
    let constructor = |name: &str, soname: Option<&str>| {
        let src = theirs.join(format!("{name}.c"));
        std::fs::write(
            &src,
            format!(
                "#include <stdio.h>\n__attribute__((constructor)) static void mine(void) {{ FILE *f = fopen(\"{}\", \
                 \"a\"); if (f) {{ fputs(\"{name}\\n\", f); fclose(f); }} }}\nunsigned la_version(unsigned v) {{ \
                 return v; }}\nint rh_answer(void) {{ return 42; }}\n",
                marker.display()
            ),
        )
        .unwrap();
        let lib = theirs.join(format!("{name}.so"));
        let mut args = vec!["-shared", "-fPIC", "-o", lib.to_str().unwrap(), src.to_str().unwrap()];
        let soname = soname.map(|s| format!("-Wl,-soname,{s}"));
        args.extend(soname.as_deref());
        compile(&args);
        give_to(&lib, user.uid);
        lib
    };
    let main = h.path("main.c");
    std::fs::write(&main, "int rh_answer(void);\nint main(void) { return rh_answer() == 42 ? 0 : 1; }\n").unwrap();
    let plain = h.path("plain.c");
    std::fs::write(&plain, "int main(void) { return 0; }\n").unwrap();
    let hook = |name: &str| h.dir().join(name).to_str().unwrap().to_string();
    // DT_NEEDED through $ORIGIN, which the loader expands: the user's library next to the hooks
    let origin = constructor("librhorigin", Some("$ORIGIN/../theirs/librhorigin.so"));
    compile(&["-o", &hook("10-origin-needed"), main.to_str().unwrap(), origin.to_str().unwrap()]);
    // audit modules, which the loader runs before the program
    let audit = constructor("librhaudit", None);
    compile(&["-o", &hook("20-audit"), plain.to_str().unwrap(), &format!("-Wl,--audit,{}", audit.display())]);
    compile(&["-o", &hook("25-depaudit"), plain.to_str().unwrap(), &format!("-Wl,--depaudit,{}", audit.display())]);
    // a RUNPATH into the user's directory, hidden from a reader that trusts PT_DYNAMIC's sizes
    let hidden = constructor("librhhidden", None);
    let runpath = h.path("runpath");
    let dir = theirs.to_str().unwrap();
    compile(&[
        "-o",
        runpath.to_str().unwrap(),
        main.to_str().unwrap(),
        "-L",
        dir,
        "-lrhhidden",
        &format!("-Wl,-rpath,{dir}"),
    ]);
    let _ = hidden;
    let mut bytes = std::fs::read(&runpath).unwrap();
    let (dynamic, _) = program_headers(&bytes).into_iter().find(|(_, t)| *t == 2).unwrap();
    bytes[dynamic + 32..dynamic + 48].fill(0);
    write_hook(&h, "30-dynamic-sized-0", &bytes);
    // two loaders: the kernel runs the first, the user's, which only writes the marker
    let loader_src = theirs.join("ld.c");
    std::fs::write(
        &loader_src,
        format!(
            "static long sys(long n, long a, long b, long c) {{ long r; __asm__ volatile(\"syscall\" : \"=a\"(r) : \
             \"a\"(n), \"D\"(a), \"S\"(b), \"d\"(c) : \"rcx\", \"r11\", \"memory\"); return r; }}\nvoid _start(void) \
             {{ sys(2, (long)\"{}\", 0101 | 02000, 0644); sys(60, 0, 0, 0); }}\n",
            marker.display()
        ),
    )
    .unwrap();
    let loader = theirs.join("ld.so");
    compile(&["-nostdlib", "-static", "-no-pie", "-O1", "-o", loader.to_str().unwrap(), loader_src.to_str().unwrap()]);
    give_to(&loader, user.uid);
    let two = h.path("two");
    compile(&[
        "-o",
        two.to_str().unwrap(),
        plain.to_str().unwrap(),
        &format!("-Wl,--dynamic-linker={}", loader.display()),
    ]);
    let mut bytes = std::fs::read(&two).unwrap();
    let (note, _) =
        program_headers(&bytes).into_iter().find(|(_, t)| *t == 4).expect("a PT_NOTE to turn into a loader");
    let real = b"/lib64/ld-linux-x86-64.so.2\0";
    let at = bytes.len();
    bytes.extend_from_slice(real);
    bytes[note..note + 4].copy_from_slice(&3u32.to_le_bytes());
    bytes[note + 8..note + 16].copy_from_slice(&(at as u64).to_le_bytes());
    bytes[note + 32..note + 40].copy_from_slice(&(real.len() as u64).to_le_bytes());
    write_hook(&h, "40-two-loaders", &bytes);
    // a loader roothooks does not model, and a dynamic tag it does not know
    compile(&["-o", &hook("50-unknown-loader"), plain.to_str().unwrap(), "-Wl,--dynamic-linker=/usr/bin/true"]);
    let mut bytes = std::fs::read(hook("50-unknown-loader")).unwrap();
    let field = |b: &[u8], at: usize| b[at..at + 8].iter().rev().fold(0usize, |v, x| v << 8 | *x as usize);
    let _ = &mut bytes;
    let plain_bin = h.path("plain");
    compile(&["-o", plain_bin.to_str().unwrap(), plain.to_str().unwrap()]);
    let mut bytes = std::fs::read(&plain_bin).unwrap();
    let (dynamic, _) = program_headers(&bytes).into_iter().find(|(_, t)| *t == 2).unwrap();
    let start = field(&bytes, dynamic + 8);
    let debug =
        (start..start + field(&bytes, dynamic + 32)).step_by(16).find(|&e| field(&bytes, e) == 21).expect("DT_DEBUG");
    bytes[debug..debug + 8].copy_from_slice(&0x6000_0123u64.to_le_bytes());
    write_hook(&h, "60-unknown-tag", &bytes);
    let out = run(h.roothooks().args(["--", "true"]));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        !marker.exists(),
        "the user's code ran as root: {}: {err}",
        std::fs::read_to_string(&marker).unwrap_or_default()
    );
    let owned = format!("directory {} is owned by uid {}", theirs.display(), user.uid);
    refused_line(&err, &h, "10-origin-needed", &format!("loads the library {}: {owned}", origin.display()));
    refused_line(&err, &h, "20-audit", "names an audit module (DT_AUDIT or DT_DEPAUDIT)");
    refused_line(&err, &h, "25-depaudit", "names an audit module (DT_AUDIT or DT_DEPAUDIT)");
    refused_line(&err, &h, "30-dynamic-sized-0", &format!("loads libraries from {dir} first (RUNPATH): {owned}"));
    refused_line(&err, &h, "40-two-loaders", "it names two loaders (PT_INTERP); the kernel runs the first");
    refused_line(&err, &h, "50-unknown-loader", "its loader /usr/bin/true is not one roothooks models");
    refused_line(&err, &h, "60-unknown-tag", "it has the dynamic tag 0x60000123, which roothooks does not know");
}

#[test]
fn a_root_hooks_hash_bang_argument_is_judged_in_the_forms_understood_and_refused_otherwise() {
    if !need_root() {
        return;
    }
    let user = Account::new(0);
    let theirs = users_dir(user.uid);
    let marker = theirs.path().join("ran-as-root");
    let script = theirs.path().join("x");
    std::fs::write(&script, format!("#!/bin/sh\nid -u >> {}\n", marker.display())).unwrap();
    set_mode(&script, 0o755);
    give_to(&script, user.uid);
    let (x, dir) = (script.display().to_string(), theirs.path().display().to_string());
    // a name of the user's right in `/`, where hooks run: `-fNAME` is `-f NAME`, taken from there
    let in_root = tempfile::Builder::new().prefix("rhtheirs").tempdir_in("/").unwrap();
    give_to(in_root.path(), user.uid);
    let top = in_root.path().file_name().unwrap().to_str().unwrap().to_string();
    let h = Hooks::new();
    let ran = h.path("ran");
    let refused = [
        ("10-sh-operand", format!("#!/bin/sh {x}\n"), format!("gives /bin/sh '{x}', which could name {x}")),
        (
            "20-nice-operand",
            format!("#!/usr/bin/nice {x}\n"),
            format!("gives /usr/bin/nice '{x}', which could name {x}"),
        ),
        ("30-env-split-glued", format!("#!/usr/bin/env -S{x}\n"), "env's option -S".to_string()),
        ("31-env-split-long", format!("#!/usr/bin/env --split-string={x}\n"), "env's option --split-string=".into()),
        ("32-env-chdir", format!("#!/usr/bin/env --chdir={dir}\n"), "env's option --chdir=".into()),
        ("33-env-chdir-short", "#!/usr/bin/env -C\n".to_string(), "env's option -C".into()),
        (
            "40-env-bash-env",
            format!("#!/usr/bin/env BASH_ENV={x}\n"),
            "has env set BASH_ENV, which a root hook would not get".into(),
        ),
        (
            "41-env-value",
            format!("#!/usr/bin/env RH_TOOL={x}\n"),
            "has env set RH_TOOL, which a root hook would not get".into(),
        ),
        ("50-login-shell", "#!/bin/bash -l\n".to_string(), "makes the shell read startup files".into()),
        (
            "60-awk-bundle",
            format!("#!/usr/bin/awk -f{top}\n"),
            format!("which could name /{top}: directory /{top} is owned"),
        ),
    ];
    for (name, line, _) in &refused {
        h.raw(name, &format!("{line}echo ran >> {}\n", ran.display()), 0o755);
    }
    // the forms understood, which run
    let fine = ["#!/bin/sh -eu", "#!/usr/bin/env sh", "#!/bin/sh -", "#!/bin/sh --"];
    for (i, line) in fine.iter().enumerate() {
        h.raw(&format!("70-fine-{i}"), &format!("{line}\necho ok >> {}\n", ran.display()), 0o755);
    }
    let out = run(h.roothooks().args(["--", "true"]));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!marker.exists(), "the user's script ran as root: {err}");
    for (name, _, why) in &refused {
        refused_line(&err, &h, name, why);
    }
    assert_eq!(std::fs::read_to_string(&ran).unwrap_or_default(), "ok\n".repeat(fine.len()), "{err}");
}

#[test]
fn a_library_the_loader_preloads_that_a_user_could_change_refuses_every_binary_and_binary_interpreter() {
    if !need_root() || !need_program("unshare", "--version", "needs unshare (util-linux) for a mount namespace") {
        return;
    }
    let user = Account::new(0);
    let theirs = users_dir(user.uid);
    // one the user may create later: the loader takes it then, as root
    let library = theirs.path().join("librhpreload.so");
    let h = Hooks::new();
    h.sh("10-any", &format!("echo ran >> {}", h.path("ran").display()));
    // /etc/ld.so.preload in a mount namespace of the test's own: an overlay over this machine's /etc
    let (upper, work) = (h.path("upper"), h.path("work"));
    std::fs::create_dir(&upper).unwrap();
    std::fs::create_dir(&work).unwrap();
    let script = format!(
        "mount -t overlay overlay -o lowerdir=/etc,upperdir={},workdir={} /etc && echo {} > /etc/ld.so.preload && exec \"$@\"",
        upper.display(),
        work.display(),
        library.display()
    );
    let mut cmd = Command::new("unshare");
    without_settings(&mut cmd).stdin(Stdio::null());
    cmd.args(["-m", "--propagation", "private", "sh", "-c", &script, "sh", BIN]);
    cmd.arg("--hooks-dir").arg(h.dir()).args(["--uid", &free_id().to_string(), "--log-file", "none", "--", "true"]);
    let out = run(&mut cmd);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let why = format!(
        "the loader preloads {} into every program (/etc/ld.so.preload): directory {}",
        library.display(),
        theirs.path().display()
    );
    refused_line(&err, &h, "10-any", &why);
    assert!(!h.path("ran").exists(), "{err}");
}
