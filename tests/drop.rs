//! The identity switch, checked from inside the command roothooks starts: its own /proc/self/status,
//! its own `id`, its own environment. Every test runs the real binary as root against real accounts.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use common::*;

const STATUS: &[&str] = &["--", "cat", "/proc/self/status"];

#[test]
fn uid_without_account_gets_nothing_to_regain() {
    if !need_root() {
        return;
    }
    let uid = free_id();
    let out = run(roothooks().args(["--uid", &uid.to_string()]).args(STATUS));
    assert!(out.status.success(), "{}", stderr(&out));
    let status = proc_status(&stdout(&out));
    assert_eq!(status["Uid"], four(uid));
    assert_eq!(status["Gid"], four(uid));
    assert_eq!(status["Groups"], uid.to_string());
    assert_unprivileged(&status);
}

#[test]
fn account_gives_gid_groups_and_identity_variables() {
    if !need_root() {
        return;
    }
    let account = Account::new(2);
    let out = run(roothooks().args(["--user", &account.name]).args([
        "--",
        "sh",
        "-c",
        "cat /proc/self/status; echo HOME=$HOME; echo USER=$USER; echo LOGNAME=$LOGNAME; echo SHELL=$SHELL",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let status = proc_status(&text);
    assert_eq!(status["Uid"], four(account.uid));
    assert_eq!(status["Gid"], four(account.gid));
    assert_eq!(groups(&status), sorted(&[account.gid, account.extra[0].1, account.extra[1].1]));
    assert_unprivileged(&status);
    assert!(text.contains(&format!("HOME=/home/{}\n", account.name)), "{text}");
    assert!(text.contains(&format!("USER={}\n", account.name)), "{text}");
    assert!(text.contains(&format!("LOGNAME={}\n", account.name)), "{text}");
    assert!(text.contains("SHELL=/bin/sh\n"), "{text}");
}

/// More groups than the first room the group lookup makes (32): it asks again with as much as glibc
/// says it needs, and the command gets every one.
#[test]
fn an_account_in_forty_groups_gets_all_of_them() {
    if !need_root() {
        return;
    }
    let account = Account::new(40);
    let out = run(roothooks().args(["--user", &account.name, "--", "cat", "/proc/self/status"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let status = proc_status(&stdout(&out));
    let mut got: Vec<u32> = status["Groups"].split_whitespace().map(|g| g.parse().unwrap()).collect();
    got.sort_unstable();
    let mut want: Vec<u32> = account.extra.iter().map(|(_, gid)| *gid).chain([account.gid]).collect();
    want.sort_unstable();
    assert_eq!(got, want);
}

#[test]
fn setuid_root_binary_does_not_give_root_back() {
    if !need_root() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("rh-suid").tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let id = dir.path().join("id");
    copy_program("/usr/bin/id", &id);
    std::fs::set_permissions(&id, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let uid = free_id().to_string();

    // Control: the same drop without no_new_privs and bounding set, as setpriv or gosu leave it.
    let control = Command::new("setpriv")
        .args(["--reuid", &uid, "--regid", &uid, "--clear-groups", "--"])
        .arg(&id)
        .arg("-u")
        .output()
        .unwrap();
    assert_eq!(stdout(&control).trim(), "0", "the setuid copy must work, else this test proves nothing");

    let out = run(roothooks().args(["--uid", &uid, "--"]).arg(&id).arg("-u"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), uid);

    // The documented opt-out really does leave the door open, and says so.
    let open = run(roothooks().args(["--uid", &uid, "--allow-privilege-escalation", "--"]).arg(&id).arg("-u"));
    assert_eq!(stdout(&open).trim(), "0");
    assert!(stderr(&open).contains("WARN") && stderr(&open).contains("no_new_privs is NOT set"), "{}", stderr(&open));
}

#[test]
fn inherited_groups_are_kept_but_group_0_is_not() {
    if !need_root() {
        return;
    }
    let (uid, fs_group) = (free_id(), free_id());
    // setpriv as root changes only the groups: what an orchestrator's fsGroup looks like to us.
    let out = Command::new("setpriv")
        .args(["--groups", &format!("0,{fs_group}"), "--", BIN, "--uid", &uid.to_string()])
        .args(STATUS)
        .env_remove("NB_UID")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let status = proc_status(&stdout(&out));
    assert_eq!(groups(&status), sorted(&[uid, fs_group]));
    assert!(stderr(&out).contains("not passing group 0"), "{}", stderr(&out));

    let cleared = Command::new("setpriv")
        .args([
            "--groups",
            &format!("0,{fs_group}"),
            "--",
            BIN,
            "--uid",
            &uid.to_string(),
            "--clear-groups",
            "--groups",
            "7777",
        ])
        .args(STATUS)
        .output()
        .unwrap();
    assert_eq!(groups(&proc_status(&stdout(&cleared))), sorted(&[uid, 7777]));
}

#[test]
fn environment_passes_through_and_the_exit_status_is_the_commands() {
    if !need_root() {
        return;
    }
    let out = run(roothooks()
        .args(["--uid", &free_id().to_string(), "--", "sh", "-c", "echo $JUPYTERHUB_API_TOKEN; exit 7"])
        .env("JUPYTERHUB_API_TOKEN", "secret-token"));
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(stdout(&out), "secret-token\n");
}

#[test]
fn exec_keeps_the_pid_and_starts_with_clean_signal_state_and_descriptors() {
    if !need_root() {
        return;
    }
    let mut cmd = roothooks();
    cmd.args([
        "--uid",
        &free_id().to_string(),
        "--",
        "sh",
        "-c",
        "echo pid=$$; ls /proc/self/fd; cat /proc/self/status",
    ]);
    // SAFETY: only async-signal-safe calls between fork and exec: block SIGUSR1, ignore SIGHUP, and
    // hand roothooks an extra descriptor 7 that the command must still get (socket activation).
    unsafe {
        cmd.pre_exec(|| {
            use nix::sys::signal::*;
            let mut set = SigSet::empty();
            set.add(Signal::SIGUSR1);
            sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
            signal(Signal::SIGHUP, SigHandler::SigIgn)?;
            if nix::libc::dup2(1, 7) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            // whatever the test harness itself leaks is not ours to judge
            for fd in (3..1024).filter(|fd| *fd != 7) {
                nix::libc::close(fd);
            }
            Ok(())
        });
    }
    let child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let text = stdout(&out);
    assert!(text.starts_with(&format!("pid={pid}\n")), "exec must keep roothooks' PID {pid}: {text}");
    let fds: Vec<&str> = text.lines().skip(1).take_while(|l| l.parse::<u32>().is_ok()).collect();
    // 0-2, the inherited 7, and the descriptor ls opens to list the directory (3)
    assert_eq!(fds, ["0", "1", "2", "3", "7"], "inherited descriptor lost or one of roothooks' own leaked");
    let status = proc_status(&text);
    assert_eq!(status["SigBlk"], "0000000000000000");
    assert_eq!(status["SigIgn"], "0000000000000000", "SIGPIPE or SIGHUP left ignored");
}

/// The command is exec'd as execvp does it: a script without a `#!` line runs under /bin/sh, with
/// the name it was given as $0 and its arguments; and it gets exactly the environment roothooks made.
#[test]
fn a_command_without_a_shebang_runs_under_sh_with_its_arguments_and_environment() {
    if !need_root() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("rh-noshebang").tempdir().unwrap();
    set_mode(dir.path(), 0o755);
    let script = dir.path().join("serve");
    std::fs::write(&script, "echo \"0=$0 1=$1 2=$2 FOO=$FOO USER=$USER\"\n").unwrap();
    set_mode(&script, 0o755);
    let uid = free_id();
    let out = run(roothooks()
        .args(["--uid", &uid.to_string(), "--log-file", "none", "--"])
        .arg(&script)
        .args(["a b", "c"])
        .env("FOO", "bar"));
    assert!(out.status.success(), "{}", stderr(&out));
    // USER: an id without an account is named by its number
    assert_eq!(stdout(&out), format!("0={} 1=a b 2=c FOO=bar USER={uid}\n", script.display()));
}

/// Started where /proc is not mounted, roothooks has no status to read at the start: it resets every
/// signal, walks every capability number for the bounding set, and looks for handed descriptors as
/// far up as poll may look. The command's state is read from outside, through the test's own /proc.
/// (`--seccomp off`: without /proc the filter cannot be verified, and then nothing starts.)
#[test]
fn without_proc_signals_capabilities_and_handed_descriptors_are_still_right() {
    if !need_root() {
        return;
    }
    use std::io::{BufRead, Write};
    let uid = free_id();
    // the user's copy from the last start cannot be reopened through /proc/self/fd: it is replaced
    let dir = scratch("rh-noproc");
    let copy = dir.path().join("copy.log");
    std::fs::write(&copy, "the last start's line\n").unwrap();
    give_to(&copy, uid);
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", "mount -t tmpfs none /proc && exec \"$@\"", "sh"])
        .arg(env!("CARGO_BIN_EXE_roothooks"))
        .args(["--uid", &uid.to_string(), "--seccomp", "off", "--log-file"])
        .arg(&copy)
        .args(["--", "sh", "-c", "echo ready; read line"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // SAFETY: only async-signal-safe calls between fork and exec: ignore SIGHUP, and hand over a
    // descriptor 7 (and close what the test harness holds).
    unsafe {
        cmd.pre_exec(|| {
            use nix::sys::signal::*;
            signal(Signal::SIGHUP, SigHandler::SigIgn)?;
            if nix::libc::syscall(nix::libc::SYS_close_range, 3, u32::MAX, 0) != 0 || nix::libc::dup2(1, 7) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    // read while the command waits on its stdin: it is the same process, roothooks exec'd into it
    let pid = child.id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let handed = std::fs::symlink_metadata(format!("/proc/{pid}/fd/7")).is_ok();
    drop(child.stdin.take().unwrap().write_all(b"go\n"));
    let out = child.wait_with_output().unwrap();
    assert_eq!(line, "ready\n", "the command did not start: {}", stderr(&out));
    let status = proc_status(&status);
    assert_eq!(status["SigIgn"], "0000000000000000", "SIGHUP, ignored by the launcher, still ignored");
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(status[set], "0000000000000000", "{set}");
    }
    assert!(handed, "the handed descriptor 7 did not reach the command");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&copy).unwrap();
    assert!(text.contains("dropped to uid") && !text.contains("the last start"), "{text}");
    let meta = std::fs::metadata(&copy).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (uid, 0o640), "the copy is the user's, 0640");
}

/// Started with docker's default bounding set (14 capabilities), roothooks drops those and the
/// command's bounding set is empty all the same, as are all its other sets.
#[test]
fn a_reduced_bounding_set_is_emptied_too() {
    if !need_root() {
        return;
    }
    const DOCKER: u64 = 0xa804_25fb;
    let mut cmd = roothooks();
    cmd.args(["--uid", &free_id().to_string(), "--", "cat", "/proc/self/status"]);
    // SAFETY: prctl is async-signal-safe and changes only the child's own bounding set.
    unsafe {
        cmd.pre_exec(|| {
            for cap in (0..64).filter(|cap| DOCKER & (1 << cap) == 0) {
                if nix::libc::prctl(nix::libc::PR_CAPBSET_DROP, cap) == -1 {
                    break; // past the last capability
                }
            }
            Ok(())
        });
    }
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", stderr(&out));
    let status = proc_status(&stdout(&out));
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(status[set], "0000000000000000", "{set}");
    }
    assert_eq!(status["NoNewPrivs"], "1");
}

/// The descriptors a launcher hands over are found wherever they are in the table: low, above the
/// table's first 64 slots, beyond a soft RLIMIT_NOFILE lowered after they were opened (which `poll`
/// cannot reach), and far up a table too large to poll.
#[test]
fn handed_descriptors_reach_the_command_wherever_they_are() {
    if !need_root() {
        return;
    }
    for (handed, soft_limit) in [(vec![5, 100], None), (vec![6, 300], Some(256)), (vec![5000], None)] {
        let mut cmd = roothooks();
        cmd.args(["--uid", &free_id().to_string(), "--", "ls", "/proc/self/fd"]);
        let fds = handed.clone();
        // SAFETY: only async-signal-safe calls between fork and exec: close what the test harness
        // holds, duplicate stdout onto the handed numbers, lower the soft limit.
        unsafe {
            cmd.pre_exec(move || {
                if nix::libc::syscall(nix::libc::SYS_close_range, 3, u32::MAX, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                for &fd in &fds {
                    if nix::libc::dup2(1, fd) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                if let Some(soft) = soft_limit {
                    let mut limit = nix::libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                    nix::libc::getrlimit(nix::libc::RLIMIT_NOFILE, &mut limit);
                    limit.rlim_cur = soft;
                    if nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &limit) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let out = run(&mut cmd);
        assert!(out.status.success(), "{handed:?}: {}", stderr(&out));
        let mut listed: Vec<i32> = stdout(&out).lines().map(|l| l.parse().unwrap()).collect();
        listed.sort_unstable();
        // 0-2, the descriptor ls opens to list the directory (3), and the handed ones
        let expected: Vec<i32> = [0, 1, 2, 3].into_iter().chain(handed.iter().copied()).collect();
        assert_eq!(
            listed, expected,
            "handed {handed:?} (soft limit {soft_limit:?}): lost, or one of roothooks' own leaked"
        );
    }
}

#[test]
fn root_is_refused_unless_asked_for_and_then_still_without_capabilities() {
    if !need_root() {
        return;
    }
    let out = run(roothooks().args(["--uid", "0", "--", "touch", "/tmp/roothooks-must-not-exist"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("refusing to run the command as uid 0"), "{}", stderr(&out));
    assert!(!std::path::Path::new("/tmp/roothooks-must-not-exist").exists());

    let out = run(roothooks().args(["--uid", "0", "--allow-root"]).args(STATUS));
    assert!(out.status.success(), "{}", stderr(&out));
    let status = proc_status(&stdout(&out));
    assert_eq!(status["Uid"], "0 0 0 0");
    assert_unprivileged(&status);
}

#[test]
fn bad_values_exit_2_with_one_line_and_run_nothing() {
    if !need_root() {
        return;
    }
    let marker = tempfile::tempdir().unwrap();
    let file = marker.path().join("ran");
    let touch = ["--", "touch", file.to_str().unwrap()];
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (&["--uid", "abc"], &[], "--uid 'abc' is not a valid uid"),
        (&["--uid", "-5"], &[], "--uid '-5' is not a valid uid"),
        (&["--gid", "x1"], &[], "--gid 'x1' is not a valid gid"),
        (&["--user", "no-such-user-rh"], &[], "--user 'no-such-user-rh': no such account"),
        (&["--user", "nobody", "--uid", "4242"], &[], "is uid 65534 but --uid '4242'"),
        (&[], &[("NB_UID", "abc")], "NB_UID='abc' (from the environment) is not a valid uid"),
        (&["--groups", "no-such-group-rh"], &[], "no such group"),
        (&["--no-such-flag"], &[], "unexpected argument '--no-such-flag'"),
    ];
    for (args, env, message) in cases {
        let out = run(roothooks().args(*args).args(touch).envs(env.iter().copied()));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: one line expected: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!file.exists(), "{args:?} ran the command");
    }
    let out = run(roothooks().args(["--uid", "4242"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no command given"), "{}", stderr(&out));
}

#[test]
fn missing_command_is_127_and_unexecutable_is_126() {
    if !need_root() {
        return;
    }
    let uid = free_id().to_string();
    let out = run(roothooks().args(["--uid", &uid, "--", "no-such-command-rh"]));
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert!(stderr(&out).contains("command not found: no-such-command-rh (searched PATH="), "{}", stderr(&out));

    let dir = tempfile::Builder::new().prefix("rh-noexec").tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let plain = dir.path().join("plain");
    std::fs::write(&plain, "echo should not run\n").unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(roothooks().args(["--uid", &uid, "--"]).arg(&plain));
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("cannot execute {}: Permission denied", plain.display())),
        "{}",
        stderr(&out)
    );

    // An explicit path behind a directory the user cannot enter is "denied", and says why.
    let closed = scratch("rh-closed");
    set_mode(closed.path(), 0o700);
    let out = run(roothooks().args(["--uid", &uid, "--"]).arg(closed.path().join("x")));
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("a directory on the way is closed to uid {uid}")), "{}", stderr(&out));

    // Root's PATH often has directories the user cannot enter; that is "not found", not "denied".
    let out = run(roothooks().args(["--uid", &uid, "--", "no-such-command-rh"]).env("PATH", "/root:/usr/bin"));
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
}

#[test]
fn a_drop_that_cannot_be_done_starts_nothing() {
    if !need_root() {
        return;
    }
    let marker = tempfile::tempdir().unwrap();
    let file = marker.path().join("ran");
    // uid 0, but without CAP_SETUID: what a pod with runAsUser 0 and a trimmed capability list gets.
    let out = Command::new("capsh")
        .args(["--drop=cap_setuid", "--caps=cap_setgid,cap_setpcap+eip", "--", "-c"])
        .arg(format!("exec {BIN} --uid 4242 -- touch {}", file.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot change uid to 4242"), "{}", stderr(&out));
    assert!(!file.exists());
}

#[test]
fn started_without_root_it_still_starts_the_command_with_nothing_to_regain() {
    if !need_root() {
        return;
    }
    let uid = free_id().to_string();
    // A non-root start that even holds an ambient capability: all of it must go.
    let out = Command::new("setpriv")
        .args(["--reuid", &uid, "--regid", &uid, "--clear-groups"])
        .args(["--inh-caps", "+net_bind_service", "--ambient-caps", "+net_bind_service", "--", BIN, "--uid", "1000"])
        .args(STATUS)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("WARN started as uid {uid}, not root: cannot become uid 1000")),
        "{}",
        stderr(&out)
    );
    let status = proc_status(&stdout(&out));
    assert_eq!(status["Uid"], four(uid.parse().unwrap()));
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(status[set], "0000000000000000", "{set}");
    }
    assert_eq!(status["NoNewPrivs"], "1");

    // Already the target user (the initContainer pattern's main container): no warning at all, and
    // HOME describes the user even though the runtime left root's.
    let account = Account::new(0);
    let id = account.uid.to_string();
    let out = Command::new("setpriv")
        .args([
            "--reuid",
            &id,
            "--regid",
            &id,
            "--clear-groups",
            "--",
            BIN,
            "--user",
            &account.name,
            "--log-file",
            "none",
        ])
        .args(["--", "sh", "-c", "echo $HOME $USER"])
        .env("HOME", "/root")
        .env("USER", "root")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("WARN"), "{}", stderr(&out));
    assert!(stderr(&out).contains("the target user"), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("/home/{0} {0}\n", account.name));
}

#[test]
fn installed_setuid_setgid_or_with_file_capabilities_it_refuses_to_run_anything() {
    if !need_root() || !need_program("setcap", "-v", "needs setcap (Debian's libcap2-bin)") {
        return;
    }
    let uid = free_id();
    let other_gid = free_id();
    // Each install makes the kernel start it in secure mode (AT_SECURE) for a user: setuid root, setgid
    // to a group that user is not in, a file capability. Only the first changes the effective uid.
    type Install<'a> = &'a dyn Fn(&Path);
    let installs: [(&str, Install); 3] = [
        ("setuid", &|p| set_mode(p, 0o4755)),
        ("setgid", &|p| {
            nix::unistd::chown(p, None, Some(nix::unistd::Gid::from_raw(other_gid))).unwrap();
            set_mode(p, 0o2755);
        }),
        ("file capability", &|p| {
            let out = Command::new("setcap").arg("cap_net_bind_service=ep").arg(p).output().unwrap();
            assert!(out.status.success(), "setcap: {}", stderr(&out));
        }),
    ];
    for (how, install) in installs {
        let dir = scratch("rh-secure-install");
        let copy = dir.path().join("roothooks");
        copy_program(BIN, &copy);
        install(&copy);
        let marker = dir.path().join("ran");
        let out = run(as_uid(uid, uid)
            .arg(&copy)
            .args(["--uid", &uid.to_string(), "--log-file", "none", "--", "touch"])
            .arg(&marker));
        assert_eq!(out.status.code(), Some(1), "{how}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("started setuid, setgid or with file capabilities"), "{how}: {err}");
        assert!(err.contains(&format!("real uid {uid}")), "{how}: {err}");
        assert!(!marker.exists(), "{how}: the command ran");
    }
}

#[test]
fn started_as_another_unprivileged_uid_the_environment_is_left_as_it_came() {
    if !need_root() {
        return;
    }
    let uid = free_id().to_string();
    let out = Command::new("setpriv")
        .args(["--reuid", &uid, "--regid", &uid, "--clear-groups", "--", BIN, "--uid", "1000", "--log-file", "none"])
        .args(["--", "sh", "-c", "echo $HOME $USER"])
        .env("HOME", "/srv/app")
        .env("USER", "app")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "/srv/app app\n", "uid 1000's identity would be a lie for uid {uid}");
}

#[test]
fn closed_standard_descriptors_are_reopened_on_dev_null() {
    if !need_root() {
        return;
    }
    let uid = free_id();
    let log = format!("/tmp/roothooks-{uid}.log");
    let mut cmd = roothooks();
    cmd.args(["--uid", &uid.to_string(), "--", "sh", "-c", "exec 3>&1; readlink /proc/self/fd/3 >&2"]);
    // SAFETY: close is async-signal-safe; it closes fd 1 of the child only.
    unsafe { cmd.pre_exec(|| nix::unistd::close(1).map_err(std::io::Error::from)) };
    let out = run(&mut cmd);
    let _ = std::fs::remove_file(&log);
    assert!(out.status.success(), "{}", stderr(&out));
    // Otherwise the log copy, opened first, would take fd 1 and the command would inherit it.
    assert!(stderr(&out).ends_with("/dev/null\n"), "{}", stderr(&out));
}

#[test]
fn without_dev_null_hooks_still_run_and_a_closed_descriptor_is_still_held() {
    if !need_root() {
        return;
    }
    // a bare chroot, or a launcher with an empty /dev: in a mount namespace of the test's own
    let h = Hooks::new();
    h.sh("10-root", "read line; echo \"root hook read ${line:-nothing}\"");
    let user_hooks = h.path("user-hooks");
    std::fs::create_dir(&user_hooks).unwrap();
    std::fs::set_permissions(&user_hooks, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(user_hooks.join("10-user"), "#!/bin/sh\nread line; echo \"user hook read ${line:-nothing}\"\n")
        .unwrap();
    std::fs::set_permissions(user_hooks.join("10-user"), std::fs::Permissions::from_mode(0o755)).unwrap();
    // stdin closed: the command's own read fails as it would have, and nothing roothooks opens lands on 0
    let script = format!(
        "mount -t tmpfs -o mode=0755 tmpfs /dev && {BIN} --uid {uid} --hooks-dir {hooks} --user-hooks-dir {user} \
         --log-file none -- sh -c 'echo \"command started\"; readlink /proc/self/fd/0; cat' <&-",
        uid = free_id(),
        hooks = h.dir().display(),
        user = user_hooks.display(),
    );
    let mut cmd = Command::new("unshare");
    let out = run(without_settings(&mut cmd).args(["-m", "--propagation", "private", "sh", "-c", &script]));
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(text, "command started\n/\n", "{err}");
    assert!(err.contains("root hook read nothing") && err.contains("user hook read nothing"), "{err}");
    assert!(err.contains("1 hook: 1 ok, 0 failed") && !err.contains("cannot prepare"), "{err}");
    assert!(err.contains("cat: -: Bad file descriptor"), "a closed stdin reads as closed: {err}");
}
