//! Root's phase, attacked the way a user who owns the target uid would: with files, symlinks, a home
//! and a working directory of their own, and the way an odd launcher would start roothooks. One test
//! per class of the trust issue; each failed on the code before the trust walk. Root's files live in
//! scratch directories; the host's /etc is never touched.

mod common;

use std::os::unix::fs::symlink;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Run `cmd`, but never for longer than `limit`: a start that hangs is killed (with its process
/// group) and fails the test, rather than hanging the suite.
fn run_within(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).spawn().expect("start");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > limit {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let out = child.wait_with_output().unwrap();
            panic!("still running after {limit:?}, killed; stderr: {}", stderr(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A symlink at `link` to `target`, owned by `uid`: planted by the user.
fn plant_link(target: &Path, link: &Path, uid: u32) {
    symlink(target, link).unwrap();
    nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        link,
        Some(nix::unistd::Uid::from_raw(uid)),
        None,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

/// A root-owned directory holding a program that leaves `marker` when it runs.
fn root_programs(marker: &Path) -> tempfile::TempDir {
    let dir = scratch("rh-root-programs");
    let program = dir.path().join("make");
    std::fs::write(&program, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    set_mode(&program, 0o755);
    dir
}

#[test]
fn paths_are_judged_as_written_not_where_a_users_symlink_leads() {
    if !need_root() {
        return;
    }
    let user = Account::new(0);
    let theirs = users_dir(user.uid);
    let marker = theirs.path().join("ran-as-root");
    let programs = root_programs(&marker);

    // repo2docker's default hooks directory, made a symlink to root's programs by the repository's owner
    let repo = theirs.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    give_to(&repo, user.uid);
    plant_link(programs.path(), &repo.join("roothooks.d"), user.uid);
    let out = run(roothooks_as(user.uid).env("REPO_DIR", &repo).args(["--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!marker.exists(), "root's program ran through the user's symlink: {}", stderr(&out));
    let owned = format!("directory {} is owned by uid {}", theirs.path().display(), user.uid);
    assert!(stderr(&out).contains(&owned), "{}", stderr(&out));

    // a sticky, world-writable hooks directory: anyone can plant a symlink to a program of their choice
    let sticky = scratch("rh-sticky-hooks");
    set_mode(sticky.path(), 0o1777);
    plant_link(&programs.path().join("make"), &sticky.path().join("10-planted"), user.uid);
    let out = run(roothooks_as(user.uid).arg("--hooks-dir").arg(sticky.path()).args(["--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!marker.exists(), "a hook planted in a sticky directory ran: {}", stderr(&out));
    assert!(stderr(&out).contains(&format!("directory {} is writable by", sticky.path().display())));

    // a directory on the way to the log copy, swapped for a symlink into a root-only place
    let victim = scratch("rh-victim");
    plant_link(victim.path(), &theirs.path().join("logs"), user.uid);
    let log = theirs.path().join("logs/roothooks.log");
    let out = run(roothooks().args(["--uid", &user.uid.to_string(), "--log-file"]).arg(&log).args(["--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!victim.path().join("roothooks.log").exists(), "root wrote through the user's symlink");
    assert!(stderr(&out).contains("a user could redirect the file"), "{}", stderr(&out));

    // the skel: a symlink to a root-only directory would copy root's secrets into the user's new home
    let secrets = scratch("rh-secrets");
    set_mode(secrets.path(), 0o700);
    std::fs::write(secrets.path().join("id_rsa"), "ROOT KEY\n").unwrap();
    plant_link(secrets.path(), &theirs.path().join("skel"), user.uid);
    let homes = scratch("rh-homes");
    let home = homes.path().join("alice");
    let out = run(roothooks_as(user.uid)
        .args(["--create-home", "--home"])
        .arg(&home)
        .arg("--skel")
        .arg(theirs.path().join("skel"))
        .args(["--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(home.is_dir(), "the home is still made: {}", stderr(&out));
    assert!(!home.join("id_rsa").exists(), "root's secret was copied to the user");
    assert!(stderr(&out).contains("is not trusted"), "{}", stderr(&out));

    // an env file reached through the user's symlink: root would read its secrets into the command
    std::fs::write(secrets.path().join("env"), "SECRET=root-only\n").unwrap();
    plant_link(&secrets.path().join("env"), &theirs.path().join("env"), user.uid);
    let out = run(roothooks_as(user.uid).arg("--env-file").arg(theirs.path().join("env")).args(["--", "env"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("root-only"), "root read a secret for the user through their symlink");
    assert!(stderr(&out).contains("a user could redirect it"), "{}", stderr(&out));

    // the home's parent, and --nss-dir, through the user's symlink into a root-owned directory
    let roots = scratch("rh-roots");
    plant_link(roots.path(), &theirs.path().join("to-roots"), user.uid);
    let out = run(roothooks_as(user.uid)
        .args(["--create-home", "--home"])
        .arg(theirs.path().join("to-roots/alice"))
        .arg("--nss-dir")
        .arg(theirs.path().join("to-roots"))
        .args(["--user", &user.name, "--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let left: Vec<_> = std::fs::read_dir(roots.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "root created {left:?} through the user's symlink: {}", stderr(&out));
}

#[test]
fn root_never_removes_or_hands_over_a_file_that_is_not_the_users() {
    if !need_root() {
        return;
    }
    let user = Account::new(0);
    let etc = scratch("rh-etc");
    let preload = etc.path().join("ld.so.preload");
    let log = etc.path().join("roothooks.log");
    for path in [&preload, &log] {
        std::fs::write(path, "precious\n").unwrap();
        set_mode(path, 0o644);
    }
    let check = |out: &Output, path: &Path| {
        assert!(out.status.success(), "the command still starts: {}", stderr(out));
        assert_eq!(std::fs::read_to_string(path).unwrap(), "precious\n");
        let meta = std::fs::metadata(path).unwrap();
        assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 0, "{} was given away", path.display());
        let line = format!("{} already exists (owned by uid 0) and roothooks did not write it", path.display());
        assert!(stderr(out).contains(&line), "{}", stderr(out));
    };
    let uid = user.uid.to_string();
    let out = run(roothooks().args(["--uid", &uid, "--log-file", "none", "--report"]).arg(&preload).arg("true"));
    check(&out, &preload);
    let out = run(roothooks().args(["--uid", &uid, "--log-file"]).arg(&log).arg("true"));
    check(&out, &log);
    let out =
        run(roothooks().args(["--uid", &uid, "--log-file", "none"]).env("ROOTHOOKS_REPORT", &preload).arg("true"));
    check(&out, &preload);
    let out = run(roothooks().args(["--uid", &uid]).env("ROOTHOOKS_LOG_FILE", &log).arg("true"));
    check(&out, &log);

    // the user's own stale copy is what gets replaced
    let stale = etc.path().join("stale.log");
    std::fs::write(&stale, "old\n").unwrap();
    give_to(&stale, user.uid);
    let out = run(roothooks().args(["--uid", &uid, "--log-file"]).arg(&stale).arg("true"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!std::fs::read_to_string(&stale).unwrap().contains("old"), "the stale copy was not replaced");

    // --nss-dir replaces only what it wrote: not a file of root's, and nothing in a directory others write
    let nss = scratch("rh-nss");
    std::fs::write(nss.path().join("passwd"), "root:x:0:0:kept:/root:/bin/sh\n").unwrap();
    let nss_run = |dir: &Path| {
        run(roothooks_as(user.uid).args(["--no-exec", "--user", &user.name, "--nss-dir"]).arg(dir).args(["--", "true"]))
    };
    let out = nss_run(nss.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(nss.path().join("passwd")).unwrap(), "root:x:0:0:kept:/root:/bin/sh\n");
    assert!(stderr(&out).contains("roothooks did not write it"), "{}", stderr(&out));
    std::fs::remove_file(nss.path().join("passwd")).unwrap();
    for _ in 0..2 {
        let out = nss_run(nss.path());
        assert!(stderr(&out).contains("wrote passwd and group to"), "its own files are replaced: {}", stderr(&out));
    }
    let open = scratch("rh-nss-open");
    set_mode(open.path(), 0o777);
    let out = nss_run(open.path());
    assert!(stderr(&out).contains("is writable by"), "{}", stderr(&out));
    assert!(!open.path().join("passwd").exists());
}

#[test]
fn hooks_run_in_roots_context_not_the_users() {
    if !need_root() {
        return;
    }
    if !Path::new("/usr/bin/python3").exists() {
        skip("needs /usr/bin/python3 (Debian's python3)");
        return;
    }
    let user = Account::new(0);
    let home = users_dir(user.uid);
    let marker = |what: &str| home.path().join(format!("ran-as-root-{what}"));
    let plant = |rel: &str, body: String, mode: u32| {
        let path = home.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, body).unwrap();
        set_mode(&path, mode);
        give_to(&path, user.uid);
    };
    // the user's json.py in the working directory, usercustomize.py in HOME's user site, a BASH_ENV,
    // and a python3 of theirs first in PATH
    plant("json.py", format!("open('{}', 'w')\n", marker("cwd").display()), 0o644);
    let site = Command::new("/usr/bin/python3")
        .args(["-c", "import site; print(site.getusersitepackages())"])
        .env("HOME", home.path())
        .output()
        .unwrap();
    let site = PathBuf::from(String::from_utf8(site.stdout).unwrap().trim());
    let rel_site = site.strip_prefix(home.path()).unwrap().join("usercustomize.py");
    plant(rel_site.to_str().unwrap(), format!("open('{}', 'w')\n", marker("home").display()), 0o644);
    plant("bashenv", format!("touch {}\n", marker("bash-env").display()), 0o644);
    plant(
        "bin/python3",
        format!("#!/bin/sh\ntouch {}\nexec /usr/bin/python3 \"$@\"\n", marker("path").display()),
        0o755,
    );

    let h = Hooks::new();
    let seen = h.path("seen");
    h.sh("10-python", &format!("python3 -c 'import json' && pwd > {seen} && env >> {seen}", seen = seen.display()));
    h.raw("20-env-python", "#!/usr/bin/env python3\nimport json\n", 0o755);
    h.raw("30-bash", "#!/bin/bash\ntrue\n", 0o755);
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", home.path().join("bin").display());
    let out = run(h
        .roothooks()
        .current_dir(home.path())
        .env("HOME", home.path())
        .env("USER", &user.name)
        .env("SHELL", home.path().join("bin/python3"))
        .env("BASH_ENV", home.path().join("bashenv"))
        .env("PATH", &path)
        .env("S3_SECRET", "for-the-mount")
        .args(["--hook-env", "S3_SECRET", "--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    for what in ["cwd", "home", "bash-env", "path"] {
        assert!(!marker(what).exists(), "the user's file ran as root ({what}): {}", stderr(&out));
    }
    let seen = std::fs::read_to_string(&seen).unwrap();
    let mut lines = seen.lines();
    assert_eq!(lines.next(), Some("/"), "hooks start in /");
    let env: Vec<&str> = lines.collect();
    for expected in ["HOME=/root", "USER=root", "LOGNAME=root", "SHELL=/", "S3_SECRET=for-the-mount", "ROOTHOOKS_USER="]
    {
        assert!(env.iter().any(|l| l.starts_with(expected)), "{expected} missing: {env:?}");
    }
    assert!(
        !env.iter().any(|l| l.starts_with("BASH_ENV=") || l.starts_with(&format!("SHELL={}", home.path().display()))),
        "{env:?}"
    );
    let err = stderr(&out);
    let withheld = err.lines().find(|l| l.contains("INFO not passing ")).unwrap_or_default();
    assert!(withheld.contains("variable(s) of the environment to root's hooks: they get an allowlist"), "{err}");
    assert!(err.contains(&format!("PATH for hooks leaves out '{}'", home.path().join("bin").display())), "{err}");
}

#[test]
fn nothing_a_hook_or_the_starter_does_makes_the_start_hang() {
    if !need_root() {
        return;
    }
    let limit = Duration::from_secs(20);
    // a hook that exits but leaves something writing to its output forever
    let h = Hooks::new();
    let pid_file = h.path("chatty.pid");
    h.sh("10-chatty", &format!("(while :; do echo tick; sleep 0.01; done) &\necho $! > {}", pid_file.display()));
    let out = run_within(h.roothooks().args(["--", "echo", "started"]), limit);
    assert_eq!(stdout(&out), "started\n", "{}", stderr(&out));
    // Two documented ways to let it go, and which one comes depends on the scheduler, not on roothooks:
    // "still writes to its output 1 s after it exited" while the ticks keep coming, "still holds its
    // output open" once the writer is held up for 50 ms (a loaded machine). Either ends the drain.
    let err = stderr(&out);
    let let_go = ["still writes to its output 1 s after it exited", "still holds its output open"];
    assert!(let_go.iter().any(|how| err.contains(&format!("{how}; no longer relaying it"))), "{err}");
    assert!(err.contains("10-chatty: tick"), "what it wrote before it was let go is relayed: {err}");
    let _ = signal(read_pid(&pid_file), nix::sys::signal::Signal::SIGKILL);

    // started with SIGCHLD ignored, and no hook timeout to fall back on
    let h = Hooks::new();
    h.sh("10-quick", "true");
    let mut cmd = Command::new("env");
    without_settings(&mut cmd).args(["--ignore-signal=CHLD", BIN, "--hooks-dir"]).arg(h.dir());
    cmd.args(["--uid", &free_id().to_string(), "--log-file", "none", "--hook-timeout", "0", "--", "echo", "started"]);
    let out = run_within(cmd.stdin(Stdio::null()), limit);
    assert_eq!(stdout(&out), "started\n", "{}", stderr(&out));
    assert!(stderr(&out).contains("hook 10-quick: ok"), "{}", stderr(&out));

    // an env file that is a FIFO nobody writes to
    let dir = scratch("rh-fifo");
    let fifo = dir.path().join("env");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let out = run_within(roothooks_as(free_id()).arg("--env-file").arg(&fifo).args(["--", "echo", "started"]), limit);
    assert_eq!(stdout(&out), "started\n", "{}", stderr(&out));
    assert!(stderr(&out).contains("is not a regular file"), "{}", stderr(&out));

    // a timeout too small to mean anything is a bad value, not "no limit"
    let out = run(roothooks_as(free_id()).args(["--hook-timeout", "1e-300", "--", "true"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("'1e-300' is too short to be a timeout"), "{}", stderr(&out));
}

#[test]
fn nothing_of_roots_session_reaches_the_command() {
    if !need_root() || !need_program("keyctl", "--version", "needs keyctl (Debian's keyutils)") {
        return;
    }
    // a key root added to its session keyring (a mount's credentials) is not the user's to read
    let uid = free_id();
    let script = format!(
        "keyctl add user rh-secret s3cr3t @s >/dev/null && exec {BIN} --uid {uid} --log-file none \
         --seccomp-allow keyring -- \
         sh -c 'keyctl print %user:rh-secret; keyctl rdescribe @s'"
    );
    let mut cmd = Command::new("keyctl");
    let out = run(without_settings(&mut cmd).args(["session", "-", "sh", "-c", &script]).stdin(Stdio::null()));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("s3cr3t"), "the user read root's key: {}", stdout(&out));
    assert!(stderr(&out).contains("Can't find 'user:rh-secret'"), "{}", stderr(&out));
    // the command's session keyring is a new one, the user's own: keyring;UID;GID;PERM;NAME
    let fields: Vec<&str> = stdout(&out)
        .trim()
        .split(';')
        .map(str::to_string)
        .collect::<Vec<_>>()
        .leak()
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(fields.get(1).copied(), Some(uid.to_string().as_str()), "{}", stdout(&out));

    // an inherited working directory under a directory the user cannot enter gives no access
    let private = scratch("rh-private");
    set_mode(private.path(), 0o700);
    let public = private.path().join("public");
    std::fs::create_dir(&public).unwrap();
    set_mode(&public, 0o755);
    std::fs::write(public.join("secret"), "root's eyes only\n").unwrap();
    set_mode(&public.join("secret"), 0o644);
    let out = run(roothooks_as(free_id()).current_dir(&public).args(["--", "sh", "-c", "pwd; cat secret"]));
    assert!(!stdout(&out).contains("root's eyes only"), "the user read a file under a 0700 directory");
    assert!(stdout(&out).starts_with("/\n"), "{}", stdout(&out));
    assert!(stderr(&out).contains(&format!("cannot enter {}", public.display())), "{}", stderr(&out));
    // where the user may enter it, the command starts there as before
    let open = scratch("rh-open");
    let out = run(roothooks_as(free_id()).current_dir(open.path()).args(["--", "pwd"]));
    assert_eq!(stdout(&out).trim(), open.path().display().to_string(), "{}", stderr(&out));

    // a new session keyring that cannot be had (the user's key quota is full) is a drop that cannot be
    // verified: root's keyring would stay reachable, so nothing starts
    let uid = free_id();
    let as_user = |script: &str| run(as_uid(uid, uid).args(["sh", "-c", script]));
    let filled = as_user("i=0; while keyctl add user k$i v @u >/dev/null 2>&1; do i=$((i+1)); done; echo $i");
    assert!(stdout(&filled).trim().parse::<u32>().unwrap() > 0, "{}", stderr(&filled));
    let script = format!("exec {BIN} --uid {uid} --log-file none -- echo started");
    let mut cmd = Command::new("keyctl");
    let out = run(without_settings(&mut cmd).args(["session", "-", "sh", "-c", &script]).stdin(Stdio::null()));
    as_user("keyctl clear @u");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!stdout(&out).contains("started"));
    assert!(stderr(&out).contains("the command would keep root's session keyring"), "{}", stderr(&out));
}

#[test]
fn hostile_or_odd_starts_fail_closed_with_the_right_words() {
    if !need_root() {
        return;
    }
    // bytes that are not UTF-8 in an identity value: named, never a fallback to the default uid
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"10\xff");
    let out = run(roothooks().env("NB_UID", bad).args(["--log-file", "none", "--", "id", "-u"]));
    assert_eq!(out.status.code(), Some(2), "ran as uid {}", stdout(&out));
    assert!(stderr(&out).contains("NB_UID='10\u{FFFD}' (from the environment) is not valid UTF-8"), "{}", stderr(&out));
    let out = run(roothooks().arg("--uid").arg(bad).args(["--log-file", "none", "--", "id", "-u"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--uid '10\u{FFFD}' is not valid UTF-8"), "{}", stderr(&out));

    // --on-hook-failure abort: a refused hook, a missing given directory, a hook that cannot start
    let user = Account::new(0);
    let h = Hooks::new();
    let theirs = h.raw("10-theirs", "#!/bin/sh\n", 0o755);
    give_to(&theirs, user.uid);
    let h2 = Hooks::new();
    h2.raw("10-no-shebang", "echo hi\n", 0o755);
    let cases: [(&str, Command); 3] = [
        ("was refused", h.roothooks()),
        ("does not exist", {
            let mut c = roothooks_as(free_id());
            c.args(["--hooks-dir", "/nonexistent/roothooks.d"]);
            c
        }),
        ("exec format error", h2.roothooks()),
    ];
    for (why, mut cmd) in cases {
        let out = run(cmd.args(["--on-hook-failure", "abort", "--", "echo", "started"]));
        assert_eq!(out.status.code(), Some(1), "{why}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{why}: the command started");
        assert!(stderr(&out).contains(why) && stderr(&out).contains("not starting the command"), "{}", stderr(&out));
    }

    // a user namespace that denies setgroups: said so, not blamed on a missing capability
    let mut cmd = Command::new("unshare");
    without_settings(&mut cmd).args(["--user", "--map-root-user", BIN, "--uid", "1000", "--log-file", "none"]);
    let out = run(cmd.args(["--", "echo", "started"]).stdin(Stdio::null()));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("this user namespace denies setgroups"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("lacks CAP_SETUID"), "{}", stderr(&out));

    // $ROOTHOOKS_ENV's directory, left by a roothooks killed between hooks, is gone at the next start
    let h = Hooks::new();
    let where_file = h.path("handoff");
    h.sh("10-slow", &format!("echo \"$ROOTHOOKS_ENV\" > {}\nexec sleep 30", where_file.display()));
    let mut child = h.roothooks().args(["--", "true"]).stderr(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    while std::fs::metadata(&where_file).map_or(true, |m| m.len() == 0) {
        assert!(start.elapsed() < Duration::from_secs(120), "the hook never wrote $ROOTHOOKS_ENV's path");
        std::thread::sleep(Duration::from_millis(20));
    }
    let handoff = PathBuf::from(std::fs::read_to_string(&where_file).unwrap().trim());
    let dir = handoff.parent().unwrap().to_path_buf();
    assert!(dir.is_dir(), "{} is there while its roothooks runs", dir.display());
    let h2 = Hooks::new();
    h2.sh("10-any", "true");
    let out = run(h2.roothooks().args(["--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.is_dir(), "another start removed the hand-off of one still running: {}", stderr(&out));
    // SIGKILL leaves no chance to remove it; another test's start may already clean it up, which is
    // the point, so its being gone after the next start is what counts
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = Command::new("pkill").args(["-KILL", "-f", "exec sleep 30|^sleep 30$"]).status();
    let out = run(h2.roothooks().args(["--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!dir.exists(), "{} was left behind: {}", dir.display(), stderr(&out));
}

#[test]
fn a_non_root_start_with_gid_0_starts_like_openshift() {
    if !need_root() {
        return;
    }
    // OpenShift: an arbitrary uid, gid 0, group 0; `docker run --user 1010` gives gid 0 too
    let uid = free_id().to_string();
    let mut cmd = Command::new("setpriv");
    without_settings(&mut cmd).args(["--reuid", &uid, "--regid", "0", "--groups", "0", "--", BIN]);
    let out =
        run(cmd.args(["--uid", &uid, "--log-file", "none", "--", "cat", "/proc/self/status"]).stdin(Stdio::null()));
    assert!(out.status.success(), "{}", stderr(&out));
    let status = proc_status(&stdout(&out));
    assert_eq!(status["Uid"], four(uid.parse().unwrap()));
    assert_eq!(status["Gid"], four(0), "the gid it cannot leave is kept");
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(status[set], "0000000000000000", "{set}");
    }
    assert_eq!(status["NoNewPrivs"], "1");
    assert!(stderr(&out).contains("gid 0 and group 0 kept"), "{}", stderr(&out));
}

#[test]
fn no_secret_of_a_malformed_line_and_no_raw_control_character_reaches_the_log() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    // an env file with a credentials line written the wrong way, and a quoted value with a tail
    let env_file = h.path("server.env");
    std::fs::write(
        &env_file,
        "GOOD=1\nAWS_SECRET_ACCESS_KEY: wJalrXUtnFEMI/K7MDENG=bPxRfiCYEXAMPLEKEY\nTOKEN='abc'tail-s3cr3t\n",
    )
    .unwrap();
    // a bare token handed over, and hook names from a directory the operator filled carelessly: a
    // newline that would forge a line, and an escape sequence for the operator's terminal
    h.sh("10-hand", "echo 'c2VjcmV0+/dG9rZW4=' >> \"$ROOTHOOKS_ENV\"; printf 'out\\033[2Jput\\n'");
    h.raw("20-a\nWARN forged line", "#!/bin/sh\n", 0o644);
    h.raw("30-\x1b[2J", "#!/bin/sh\n", 0o644);
    let log = h.path("copy.log");
    let out = run(h
        .bare()
        .args(["--uid", &free_id().to_string(), "--env-file"])
        .arg(&env_file)
        .arg("--log-file")
        .arg(&log)
        .args(["--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let copy = std::fs::read_to_string(&log).unwrap();
    for text in [&err, &copy] {
        for secret in ["wJalr", "EXAMPLEKEY", "s3cr3t", "tail", "c2VjcmV0", "dG9rZW4"] {
            assert!(!text.contains(secret), "{secret} in the log: {text}");
        }
        assert!(text.contains("line 2: what stands before '=' is not a variable name"), "{text}");
        assert!(text.contains("line 3: TOKEN: text after the closing quote"), "{text}");
        assert!(
            text.contains("ignoring $ROOTHOOKS_ENV line 1: what stands before '=' is not a variable name"),
            "{text}"
        );
        assert!(!text.lines().any(|l| l.starts_with("WARN forged")), "a forged line: {text}");
        assert!(text.contains("20-a\\nWARN forged line"), "{text}");
        assert!(!text.contains('\x1b'), "an escape sequence reached the log: {text}");
        assert!(text.contains("30-\\u001b[2J") && text.contains("out\\u001b[2Jput"), "{text}");
    }
}

#[test]
fn a_start_as_root_says_when_a_user_could_replace_roothooks_own_program() {
    if !need_root() {
        return;
    }
    let user = Account::new(0);
    // a start as root of the program at `program` (relative ones in `cwd`), with nothing else to do
    let start = |program: &Path, cwd: &Path| {
        let mut cmd = Command::new(program);
        without_settings(&mut cmd).stdin(Stdio::null()).current_dir(cwd);
        cmd.args(["--uid", &free_id().to_string(), "--log-file", "none", "--hooks-dir", "/nonexistent", "--", "true"]);
        let out = run(&mut cmd);
        assert!(out.status.success(), "{}", stderr(&out));
        stderr(&out)
    };
    let warned = |err: &str, path: &Path| {
        err.contains(&format!("roothooks itself runs from {}, which uid {} could replace", path.display(), user.uid))
    };
    // a root-owned copy in the user's directory (their /opt/conda/bin)
    let theirs = users_dir(user.uid);
    let planted = theirs.path().join("roothooks");
    copy_program(BIN, &planted);
    let err = start(&planted, Path::new("/"));
    assert!(warned(&err, &planted), "{err}");
    assert!(err.contains(&format!("directory {} is owned by uid {}", theirs.path().display(), user.uid)), "{err}");
    assert!(err.contains("install it where only root can change it, e.g. /usr/local/bin"), "{err}");
    // the same, started by a relative path: judged from the directory it was started in
    let err = start(Path::new("./roothooks"), theirs.path());
    assert!(warned(&err, &planted), "{err}");
    // a root-only directory: nothing to say
    let roots = scratch("rh-own-program");
    let trusted = roots.path().join("roothooks");
    copy_program(BIN, &trusted);
    let err = start(&trusted, Path::new("/"));
    assert!(!err.contains("roothooks itself runs from"), "{err}");
    // root's copy, reached through the user's directory and a symlink in it: the path as written is
    // judged, not where /proc/self/exe says the program lies
    symlink(roots.path(), theirs.path().join("bin")).unwrap();
    let via = theirs.path().join("bin/roothooks");
    let err = start(&via, Path::new("/"));
    assert!(warned(&err, &via), "{err}");
    // started as the user, who could replace it anyway: not said
    let mut cmd = as_uid(user.uid, user.gid);
    let out = run(cmd.arg(&planted).args(["--log-file", "none", "--hooks-dir", "/nonexistent", "--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("roothooks itself runs from"), "{}", stderr(&out));
}
