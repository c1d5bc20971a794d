//! The gate between the environment and root's hooks, attacked by a user who owns the target uid and
//! every directory it can write (in docker-stacks images, /opt/conda too): through the variables
//! roothooks is started with, and through what a sourced root hook exports for the hooks after it.
//! Each test failed on the code before the gate, which filtered a list of names and let exports past.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A program of the user's at `dir/name` that leaves `marker` when anything runs it.
fn users_program(dir: &Path, name: &str, marker: &Path, uid: u32) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    set_mode(&path, 0o755);
    give_to(&path, uid);
}

/// The environment a hook saw, as `env -0` wrote it to `file`.
fn seen(file: &Path) -> Vec<(String, String)> {
    let text = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    text.split(|b| *b == 0)
        .filter(|r| !r.is_empty())
        .filter_map(|r| String::from_utf8_lossy(r).split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

fn value<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A hook that writes its environment to `file`.
fn env_hook(h: &Hooks, name: &str, file: &Path) {
    h.sh(name, &format!("env -0 > {}", file.display()));
}

#[test]
fn a_path_a_sourced_root_hook_exports_never_runs_the_users_interpreter_as_root() {
    if !need_root() {
        return;
    }
    let uid = free_id();
    let theirs = users_dir(uid);
    let marker = theirs.path().join("ran-as-root");
    users_program(theirs.path(), "rh-interp", &marker, uid);
    let h = Hooks::new();
    // the README's own pattern: a start-notebook.d hook that puts conda's bin first
    h.raw("10-path.sh", &format!("export PATH={}:$PATH\n", theirs.path().display()), 0o644);
    h.raw("20-tool", "#!/usr/bin/env rh-interp\n", 0o755);
    let out = run(h
        .bare()
        .args(["--docker-stacks", "--uid", &uid.to_string(), "--log-file", "none", "--", "sh", "-c"])
        .arg("echo \"command PATH: $PATH\""));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!marker.exists(), "a later root hook ran the user's interpreter: {}", stderr(&out));
    let err = stderr(&out);
    let dropped = format!("PATH for the root hooks after it leaves out '{}'", theirs.path().display());
    assert!(err.contains(&dropped), "{err}");
    assert!(err.contains("hook 20-tool failed: exit 127"), "no rh-interp on root's PATH: {err}");
    // the command, which runs as the user, still gets what the hook exported
    let path_line = format!("command PATH: {}:", theirs.path().display());
    assert!(stdout(&out).starts_with(&path_line), "{}", stdout(&out));
}

#[test]
fn exports_that_load_code_stop_at_the_gate_and_still_reach_the_command() {
    if !need_root() {
        return;
    }
    let uid = free_id();
    let theirs = users_dir(uid);
    let marker = theirs.path().join("bash-env-ran");
    let rc = theirs.path().join("rc");
    std::fs::write(&rc, format!("touch {}\n", marker.display())).unwrap();
    give_to(&rc, uid);
    let h = Hooks::new();
    let exported = ["LD_PRELOAD", "BASH_ENV", "PYTHONPATH", "XDG_CACHE_HOME", "CONDA_ENV"];
    h.raw(
        "10-exports.sh",
        &format!(
            "export LD_PRELOAD={d}/no.so BASH_ENV={rc} PYTHONPATH={d} XDG_CACHE_HOME={d}/.cache CONDA_ENV=mine\n",
            d = theirs.path().display(),
            rc = rc.display()
        ),
        0o644,
    );
    let seen_by_root = h.path("root-env");
    // bash reads BASH_ENV before a script: the hook that would run the user's rc as root
    h.raw("20-bash", &format!("#!/bin/bash\nenv -0 > {}\n", seen_by_root.display()), 0o755);
    let script = "for n in LD_PRELOAD BASH_ENV PYTHONPATH XDG_CACHE_HOME CONDA_ENV; do printenv $n >/dev/null && echo \"has $n\"; done";
    let out = run(h.bare().args([
        "--docker-stacks",
        "--uid",
        &uid.to_string(),
        "--log-file",
        "none",
        "--",
        "sh",
        "-c",
        script,
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!marker.exists(), "the user's BASH_ENV ran as root: {}", stderr(&out));
    let env = seen(&seen_by_root);
    let err = stderr(&out);
    for name in exported {
        assert!(stdout(&out).contains(&format!("has {name}")), "the command lost {name}: {}", stdout(&out));
        if name == "CONDA_ENV" {
            // an export that names nothing of the user's is the operator's hook's to pass on
            assert_eq!(value(&env, name), Some("mine"), "{err}");
            continue;
        }
        assert_eq!(value(&env, name), None, "{name} reached a later root hook");
        let said = format!(
            "hook 10-exports.sh: exported {name} for the user's hooks and the command, not the root hooks after it: "
        );
        assert_eq!(err.matches(&said).count(), 1, "{name} not said once: {err}");
    }
}

#[test]
fn a_root_hooks_exports_and_handed_over_lines_reach_later_root_hooks_through_the_checks() {
    if !need_root() {
        return;
    }
    let uid = free_id();
    let theirs = users_dir(uid);
    let h = Hooks::new();
    // docker-stacks' own test: a start-notebook.d hook's export is seen by the hooks after it
    h.raw(
        "10-exports.sh",
        &format!(
            "export MY_VAR=123 PYTHONPATH={d} XDG_CACHE_HOME={d}/.cache S3_URL=s3://bucket/key
",
            d = theirs.path().display()
        ),
        0o644,
    );
    h.sh(
        "20-handoff",
        &format!(
            "echo HANDED=yes >> \"$ROOTHOOKS_ENV\"; echo CACHE={}/x >> \"$ROOTHOOKS_ENV\"",
            theirs.path().display()
        ),
    );
    let seen_by_root = h.path("root-env");
    env_hook(&h, "30-env", &seen_by_root);
    let script = "echo \"$MY_VAR $HANDED ${PYTHONPATH:+py} ${CACHE:+cache}\"";
    let out = run(h.bare().args([
        "--docker-stacks",
        "--uid",
        &uid.to_string(),
        "--log-file",
        "none",
        "--",
        "sh",
        "-c",
        script,
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let env = seen(&seen_by_root);
    let err = stderr(&out);
    assert_eq!(value(&env, "MY_VAR"), Some("123"), "{err}");
    assert_eq!(value(&env, "S3_URL"), Some("s3://bucket/key"), "{err}");
    assert_eq!(value(&env, "HANDED"), Some("yes"), "{err}");
    for held in ["PYTHONPATH", "XDG_CACHE_HOME", "CACHE"] {
        assert_eq!(value(&env, held), None, "{held} reached a later root hook: {err}");
    }
    assert!(err.contains("hook 10-exports.sh: exported PYTHONPATH for the user's hooks and the command, not the root hooks after it: it steers an interpreter, the loader or a shell (PYTHON*)"), "{err}");
    let owner = format!("directory {} is owned by uid {uid}, not root", theirs.path().display());
    for (hook, what, place) in
        [("10-exports.sh", "exported XDG_CACHE_HOME", ""), ("20-handoff", "wrote CACHE", " to $ROOTHOOKS_ENV,")]
    {
        let said = format!(
            "hook {hook}: {what}{place} for the user's hooks and the command, not the root hooks after it: \
             its value names a path a user could change: {owner}"
        );
        assert!(err.contains(&said), "{said}: {err}");
    }
    // every variable said once, with where it goes: what passes in one line per hook
    let whom = "for the root hooks after it, the user's hooks and the command";
    assert!(err.contains(&format!("hook 10-exports.sh: exported MY_VAR, S3_URL {whom}")), "{err}");
    assert!(err.contains(&format!("hook 20-handoff: wrote HANDED to $ROOTHOOKS_ENV, {whom}")), "{err}");
    for name in ["MY_VAR", "S3_URL", "HANDED", "PYTHONPATH", "XDG_CACHE_HOME", "CACHE"] {
        let lines = err.lines().filter(|l| l.split([' ', ',']).any(|w| w == name)).count();
        assert_eq!(lines, 1, "{name} is not reported exactly once: {err}");
    }
    // the command, the user's own, still gets all of it
    assert_eq!(stdout(&out), "123 yes py cache\n", "{err}");
}

/// Debian's python3, for a root Python hook, when the test can run as root; `None` (said) otherwise.
fn root_python() -> Option<&'static Path> {
    let python = Path::new("/usr/bin/python3");
    if !need_root() {
        return None;
    }
    if !python.exists() {
        skip("needs Debian's /usr/bin/python3 for a root Python hook");
        return None;
    }
    Some(python)
}

/// The `NAME=value` entries of a process's own environment, as the kernel holds it, `/proc/PID/environ`
/// as written to `file`: a name given twice is there twice.
fn environ_entries(file: &Path, name: &str) -> Vec<String> {
    let text = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let prefix = format!("{name}=");
    text.split(|b| *b == 0)
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .filter(|entry| entry.starts_with(&prefix))
        .collect()
}

#[test]
fn a_name_given_twice_at_the_start_reaches_root_hooks_and_the_command_once_with_its_first_value() {
    let Some(_) = root_python() else { return };
    // `env -i SECRET=one SECRET=two roothooks ...` as execve can give it: getenv, and roothooks,
    // read `one`; a shell hook read `two`, and a hook that reads its environ whole got both
    let h = Hooks::new();
    let (sh_environ, sh_read) = (h.path("sh-environ"), h.path("sh-read"));
    h.sh(
        "10-sh",
        &format!("cat /proc/$$/environ > {}\necho \"$SECRET\" > {}", sh_environ.display(), sh_read.display()),
    );
    let (py_environ, py_read) = (h.path("py-environ"), h.path("py-read"));
    h.raw(
        "20-python",
        &format!(
            "#!/usr/bin/python3\nimport os\nopen('{}', 'wb').write(open('/proc/self/environ', 'rb').read())\nopen('{}', 'w').write(os.environ['SECRET'] + '\\n')\n",
            py_environ.display(),
            py_read.display()
        ),
        0o755,
    );
    let uid = free_id();
    let theirs = users_dir(uid);
    let (cmd_environ, cmd_read) = (theirs.path().join("environ"), theirs.path().join("read"));
    let script = format!("cat /proc/$$/environ > {}; echo \"$SECRET\" > {}", cmd_environ.display(), cmd_read.display());
    let (dir, uid) = (h.dir(), uid.to_string());
    let args: Vec<&std::ffi::OsStr> = [
        "--hooks-dir".as_ref(),
        dir.as_os_str(),
        "--uid".as_ref(),
        uid.as_ref(),
        "--log-file".as_ref(),
        "none".as_ref(),
        "--hook-env".as_ref(),
        "SECRET".as_ref(),
        "--".as_ref(),
        "/bin/sh".as_ref(),
        "-c".as_ref(),
        script.as_ref(),
    ]
    .into();
    let envp = ["SECRET=one", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "SECRET=two", "PATH=/nowhere"];
    let out = run(&mut with_raw_env(&envp, BIN, &args));
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("2 hooks: 2 ok, 0 failed"), "{err}");
    for (who, environ, read) in [
        ("the sh hook", &sh_environ, &sh_read),
        ("the Python hook", &py_environ, &py_read),
        ("the command", &cmd_environ, &cmd_read),
    ] {
        assert_eq!(environ_entries(environ, "SECRET"), ["SECRET=one"], "{who}'s environment: {err}");
        assert_eq!(environ_entries(environ, "PATH").len(), 1, "{who}'s environment: {err}");
        let read = std::fs::read_to_string(read).unwrap_or_else(|e| panic!("{who}: {e}: {err}"));
        assert_eq!(read, "one\n", "{who} read another value than roothooks did: {err}");
    }
}

#[test]
fn an_env_file_for_the_server_never_steers_a_root_python_hook() {
    let Some(python) = root_python() else { return };
    let version =
        Command::new(python).args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"]).output().unwrap();
    let version = String::from_utf8(version.stdout).unwrap();
    let uid = free_id();
    let theirs = users_dir(uid);
    // the user's per-user site-packages, with a .pth file: Python runs its import lines at start
    let site = theirs.path().join(format!(".local/lib/python{}/site-packages", version.trim()));
    std::fs::create_dir_all(&site).unwrap();
    let marker = theirs.path().join("ran-as-root");
    std::fs::write(
        site.join("evil.pth"),
        format!("import os; open('{}', 'w').write(str(os.getuid()))\n", marker.display()),
    )
    .unwrap();
    let h = Hooks::new();
    let env_file = h.path("server.env");
    // a build flag naming the user's headers: a root hook that compiles would read them
    std::fs::write(
        &env_file,
        format!("PYTHONUSERBASE={0}/.local\nLANG=C.UTF-8\nGOOD=1\nCFLAGS=-O2 -I{0}/include\n", theirs.path().display()),
    )
    .unwrap();
    let seen_by_root = h.path("root-env");
    h.raw("10-python", &format!("#!/usr/bin/python3\nimport os\nopen('{}', 'wb').write(b'\\0'.join(k.encode() + b'=' + v.encode() for k, v in os.environ.items()))\n", seen_by_root.display()), 0o755);
    let out = run(h
        .bare()
        .args(["--uid", &uid.to_string(), "--log-file", "none", "--env-file"])
        .arg(&env_file)
        .args(["--", "sh", "-c", "echo $PYTHONUSERBASE"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!marker.exists(), "the user's .pth ran in a root hook: {err}");
    let env = seen(&seen_by_root);
    assert_eq!(value(&env, "PYTHONUSERBASE"), None, "{err}");
    assert_eq!(value(&env, "CFLAGS"), None, "{err}");
    assert!(err.contains("not passing CFLAGS to root's hooks: its value names a path a user could change"), "{err}");
    assert_eq!((value(&env, "GOOD"), value(&env, "LANG")), (Some("1"), Some("C.UTF-8")), "{err}");
    assert!(err.contains("not passing PYTHONUSERBASE to root's hooks: it steers an interpreter, the loader or a shell (PYTHON*), which root's hooks never get; the command still gets it"), "{err}");
    assert_eq!(stdout(&out).trim(), format!("{}/.local", theirs.path().display()));
}

#[test]
fn hook_env_patterns_pass_values_only_through_the_same_checks() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    let seen_by_root = h.path("root-env");
    env_hook(&h, "10-env", &seen_by_root);
    let out = run(h
        .roothooks()
        .env("JUPYTERHUB_USER", "../../etc")
        .env("JUPYTERHUB_API_TOKEN", "0123abcd")
        .env("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api")
        .env("LC_ALL", "../../home/jovyan/loc")
        .env("LC_TIME", "C.UTF-8")
        .args(["--hook-env", "JUPYTERHUB_*", "--hook-env", "LC_*", "--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let env = seen(&seen_by_root);
    let err = stderr(&out);
    assert_eq!((value(&env, "JUPYTERHUB_USER"), value(&env, "LC_ALL")), (None, None), "{err}");
    assert_eq!(value(&env, "JUPYTERHUB_API_TOKEN"), Some("0123abcd"));
    assert_eq!(value(&env, "JUPYTERHUB_API_URL"), Some("http://127.0.0.1:8081/hub/api"));
    assert_eq!(value(&env, "LC_TIME"), Some("C.UTF-8"));
    assert!(
        err.contains("not passing JUPYTERHUB_USER to root's hooks: its value has a '/' or a control character"),
        "{err}"
    );
    assert!(err.contains("not passing LC_ALL to root's hooks: its value names a file, not a locale"), "{err}");
    // a pattern that could only name what root never gets is a mistake said at once
    let out = run(h.roothooks().args(["--hook-env", "PYTHON*", "--", "true"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("'PYTHON*' names variables that steer an interpreter"), "{}", stderr(&out));
}

#[test]
fn the_hooks_secrets_reach_root_hooks_and_never_the_command() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    let seen_by_root = h.path("root-env");
    env_hook(&h, "10-env", &seen_by_root);
    let uid = free_id();
    let theirs = users_dir(uid);
    let cmd_env = theirs.path().join("command-env");
    let out = run(h
        .bare()
        .args(["--uid", &uid.to_string(), "--log-file", "none"])
        .env("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        .env("BUCKET_TOKEN", "t0k")
        .env("JUPYTER_ENV_VARS_TO_UNSET", "BUCKET_TOKEN")
        .env("NOT_A_SECRET", "x")
        .args(["--unset-env", "AWS_*", "--", "sh", "-c"])
        .arg(format!("env -0 > {}", cmd_env.display())));
    assert!(out.status.success(), "{}", stderr(&out));
    let root = seen(&seen_by_root);
    let user = seen(&cmd_env);
    assert_eq!(value(&root, "AWS_SECRET_ACCESS_KEY"), Some("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"));
    assert_eq!(value(&root, "BUCKET_TOKEN"), Some("t0k"), "docker-stacks' way to name a hook's secret");
    assert_eq!(value(&root, "NOT_A_SECRET"), None);
    assert_eq!((value(&user, "AWS_SECRET_ACCESS_KEY"), value(&user, "BUCKET_TOKEN")), (None, None));
    assert_eq!(value(&user, "NOT_A_SECRET"), Some("x"));
    assert!(!stderr(&out).contains("wJalr"), "a secret in the log: {}", stderr(&out));
}

/// Variables that make some tool load, run or write what the user chose, none of them on any list
/// roothooks kept before; and one with a name no tool reads yet.
const STEERING: &[&str] = &[
    "PYTHONPYCACHEPREFIX",
    "GIT_SSH_COMMAND",
    "OPENSSL_CONF",
    "LUA_INIT",
    "PIP_INDEX_URL",
    "PIP_FIND_LINKS",
    "SSLKEYLOGFILE",
    "EDITOR",
    "PAGER",
    "TMPDIR",
    "NLSPATH",
    "LOCPATH",
    "TERMINFO",
    "R_LIBS",
    "TCLLIBPATH",
    "MPLCONFIGDIR",
    "GIT_CONFIG_PARAMETERS",
    "HOSTALIASES",
    "RH_A_NAME_NO_TOOL_READS_YET",
];

#[test]
fn no_variable_outside_the_allowlist_reaches_a_root_hook_whatever_its_name() {
    if !need_root() {
        return;
    }
    let uid = free_id();
    let theirs = users_dir(uid);
    let h = Hooks::new();
    let seen_by_root = h.path("root-env");
    env_hook(&h, "10-env", &seen_by_root);
    // a root Python hook with the user's bytecode cache: the attack PYTHONPYCACHEPREFIX made work
    let cmd_env = theirs.path().join("command-env");
    let mut cmd = h.bare();
    for name in STEERING {
        cmd.env(name, theirs.path().join("x"));
    }
    cmd.env("LANG", "C.UTF-8").env("TZ", "/home/x/zone").env("NB_UID", "4242").env("JUPYTERHUB_USER", "alice");
    cmd.env("ROOTHOOKS_S3_BUCKET", "b");
    let out = run(cmd
        .args(["--uid", &uid.to_string(), "--log-file", "none", "--log-level", "debug", "--", "sh", "-c"])
        .arg(format!("env -0 > {}", cmd_env.display())));
    assert!(out.status.success(), "{}", stderr(&out));
    let env = seen(&seen_by_root);
    for name in STEERING {
        assert_eq!(value(&env, name), None, "{name} reached a root hook");
    }
    assert_eq!(value(&env, "TZ"), None, "a TZ that names a file");
    let kept = ["LANG", "NB_UID", "JUPYTERHUB_USER", "ROOTHOOKS_S3_BUCKET"];
    for name in kept {
        assert!(value(&env, name).is_some(), "{name} is on the allowlist: {env:?}");
    }
    assert_eq!(value(&env, "HOME"), Some("/root"));
    let err = stderr(&out);
    let held = err.lines().find(|l| l.contains("DEBUG not on root's hooks' allowlist: ")).unwrap_or(&err);
    for name in STEERING {
        assert!(held.contains(&format!(" {name},")) || held.contains(&format!(" {name} ")), "{name}: {err}");
    }
    assert!(err.contains("not passing TZ to root's hooks: its value names a file, not a time zone"), "{err}");
    assert!(err.contains("--hook-env NAME, or ROOTHOOKS_HOOK_ENV, passes one"), "{err}");
    // the command runs as the user and gets its environment as it was
    let env = seen(&cmd_env);
    for name in STEERING.iter().chain(&kept) {
        assert!(value(&env, name).is_some(), "the command lost {name}");
    }
}

#[test]
fn hook_env_passes_exactly_what_it_names_and_env_files_reach_hooks() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    let seen_by_root = h.path("root-env");
    env_hook(&h, "10-env", &seen_by_root);
    let env_file = h.path("vars.env");
    std::fs::write(&env_file, "FROM_FILE=yes\n").unwrap();
    let mut cmd = h.roothooks();
    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "GCS_KEY", "GCS_OTHER", "MY_AWS", "EXTRA", "EXTRA2"] {
        cmd.env(name, "v");
    }
    let out = run(cmd
        .env("ROOTHOOKS_HOOK_ENV", "EXTRA")
        .args(["--hook-env", "AWS_*", "--hook-env", "GCS_KEY", "--env-file"])
        .arg(&env_file)
        .args(["--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let env = seen(&seen_by_root);
    for (name, passed) in [
        ("AWS_ACCESS_KEY_ID", true),
        ("AWS_SECRET_ACCESS_KEY", true),
        ("GCS_KEY", true),
        ("FROM_FILE", true),
        ("GCS_OTHER", false),
        ("MY_AWS", false),
        ("EXTRA", false), // the flag wins over the variable, as every setting does
        ("EXTRA2", false),
    ] {
        assert_eq!(value(&env, name).is_some(), passed, "{name}: {env:?}");
    }
    // without the flag, the variable names them
    let mut cmd = h.roothooks();
    let out = run(cmd.env("EXTRA", "v").env("ROOTHOOKS_HOOK_ENV", "EXTRA,AWS_*").args(["--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(value(&seen(&seen_by_root), "EXTRA"), Some("v"));
    // --dry-run shows what root's hooks get
    let out = run(h.roothooks().args(["--dry-run", "--hook-env", "AWS_*,GCS_KEY", "--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let plan = stdout(&out);
    let line = plan.lines().find(|l| l.starts_with("  hook env:")).unwrap_or_else(|| panic!("{plan}"));
    assert!(line.contains("ROOTHOOKS_*, NB_USER") && line.contains("LC_*"), "{line}");
    assert!(line.ends_with("; --hook-env: AWS_*, GCS_KEY"), "{line}");
    // a pattern that would pass everything, or is no name, starts nothing
    for bad in ["*", "A-B"] {
        let out = run(h.roothooks().args(["--hook-env", bad, "--", "true"]));
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert!(stderr(&out).contains(&format!("--hook-env (or ROOTHOOKS_HOOK_ENV) '{bad}'")), "{}", stderr(&out));
    }
}

/// roothooks running `hook` (a sourced `*.sh` root hook) and then a hook that reports what it got.
/// No hook timeout: bash itself takes time that grows with the square of the names exported (every
/// listing of its variables checks each against all before it), and a loaded machine must not turn the
/// bound's answer into a timeout.
fn run_sourced(h: &Hooks, hook: &str, policy: &str) -> std::process::Output {
    h.raw("10-exports.sh", hook, 0o644);
    let report = h.path("report.json");
    run(h
        .roothooks()
        .args(["--docker-stacks", "--hook-timeout", "0", "--on-hook-failure", policy, "--report"])
        .arg(&report)
        .args(["--", "sh", "-c", "echo \"command: ${EXPORTED-unset}\""]))
}

#[test]
fn exports_beyond_their_bounds_are_refused_whole_and_memory_stays_small() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    // 60,000 names: the bound (10,000) answers, instead of a start that takes their square
    let many = "for i in $(seq 60000); do export V$i=1; done; export EXPORTED=yes\n";
    let out = run_sourced(&h, many, "continue");
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("it exported 60001 names, more than 10000, the bound per hook; none was taken"), "{err}");
    assert_eq!(stdout(&out), "command: unset\n", "a refused report hands nothing over");
    // 64 MiB written to descriptor 3: refused at its size, never read, never logged
    let flood = "head -c 67108864 /dev/zero | tr '\\0' x >&3; export EXPORTED=yes\n";
    let out = run_sourced(&h, flood, "continue");
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("it exported more than 1048576 bytes, the bound per hook"), "{err}");
    assert!(err.len() < 64 * 1024, "the log grew with the flood: {} bytes", err.len());
    assert_eq!(stdout(&out), "command: unset\n");
    // as many as the bound allows are taken
    let out = run_sourced(&h, "for i in $(seq 9999); do export V$i=1; done; export EXPORTED=yes\n", "continue");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "command: yes\n", "{}", stderr(&out));
    assert!(
        stderr(&out).contains("and 9960 more for the root hooks after it, the user's hooks and the command"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_sourced_hook_that_loses_its_exports_is_a_failure_the_policy_decides() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    for (body, what) in [
        ("export EXPORTED=yes\nexec 3>&-\n", "closed descriptor 3"),
        ("export EXPORTED=yes\nexit 0\n", "exit"),
        ("export EXPORTED=yes\nexec true\n", "exec"),
    ] {
        let out = run_sourced(&h, body, "continue");
        assert!(out.status.success(), "{what}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("hook 10-exports.sh failed: its exports were lost: the wrapper never reported them"),
            "{what}: {err}"
        );
        assert_eq!(stdout(&out), "command: unset\n", "{what}");
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(h.path("report.json")).unwrap()).unwrap();
        assert_eq!(report["hooks"][0]["outcome"], "exports-lost", "{what}");
        let out = run_sourced(&h, body, "abort");
        assert_eq!(out.status.code(), Some(1), "{what}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{what}: nothing starts under abort");
    }
    // a hook that failed anyway keeps its own outcome, and the lost exports are said beside it
    let out = run_sourced(&h, "export EXPORTED=yes\nexit 3\n", "continue");
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("hook 10-exports.sh failed: exit 3"), "{err}");
    // (only the warning says it: the result line and the summary give the exit status)
    assert!(err.contains("its exports were lost: the wrapper never reported them"), "{err}");
    assert_eq!(stdout(&out), "command: unset\n");
}

/// Hold the lock useradd takes (glibc's lckpwdf: a POSIX write lock on /etc/.pwd.lock) in a helper
/// process until its stdin closes.
fn hold_pwd_lock() -> std::process::Child {
    let script = "import fcntl, sys\nf = open('/etc/.pwd.lock', 'a')\nfcntl.lockf(f, fcntl.LOCK_EX)\nprint('locked', flush=True)\nsys.stdin.read()\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.as_mut().unwrap()), &mut line).unwrap();
    assert_eq!(line, "locked\n");
    child
}

#[test]
fn roothooks_waits_for_the_lock_useradd_holds_and_edits_after_it() {
    if !need_root() || !need_program("python3", "--version", "needs python3 to hold the lock as useradd does") {
        return;
    }
    let uid = free_id();
    let name = format!("rhl{uid}");
    let mut holder = hold_pwd_lock();
    let log = scratch("rh-lock-log");
    let log_file = log.path().join("roothooks.log");
    let child = roothooks()
        .args(["--ensure-account", "--user", &name, "--uid", &uid.to_string(), "--log-file"])
        .arg(&log_file)
        .args(["--", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // the state awaited: roothooks says it waits for the lock
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&log_file).unwrap_or_default();
        if text.contains("waiting for the lock on the account databases, /etc/.pwd.lock (held by pid") {
            break;
        }
        assert!(Instant::now() < deadline, "roothooks never said it waits for /etc/.pwd.lock: {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let passwd = || std::fs::read_to_string("/etc/passwd").unwrap();
    assert!(!passwd().contains(&format!("\n{name}:")), "roothooks edited /etc/passwd while useradd's lock was held");
    drop(holder.stdin.take());
    holder.wait().unwrap();
    let out = child.wait_with_output().unwrap();
    let added = passwd().contains(&format!("\n{name}:x:{uid}:"));
    let _ = Command::new("userdel").arg(&name).output();
    let _ = Command::new("groupdel").arg(&name).output();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(added, "the account was not added once the lock was free: {}", stderr(&out));
}

#[test]
fn useradd_and_roothooks_at_once_lose_no_account() {
    if !need_root() {
        return;
    }
    // five useradds and five roothooks --ensure-account at the same time: every one of the ten
    // accounts is in /etc/passwd afterwards (an edit that read the file before another wrote it
    // would lose the other's account)
    let ids: Vec<u32> = (0..10).map(|_| free_id()).collect();
    let names: Vec<String> = ids.iter().map(|id| format!("rhc{id}")).collect();
    let children: Vec<std::process::Child> = ids
        .iter()
        .zip(&names)
        .enumerate()
        .map(|(i, (id, name))| {
            let mut cmd = if i % 2 == 0 {
                let mut c = Command::new("sh");
                // useradd refuses at once when the lock is taken: retry, as an operator's script does
                c.args([
                    "-c",
                    "for i in $(seq 300); do useradd -M -u \"$1\" -U \"$2\" && exit 0; sleep 0.1; done; exit 1",
                    "sh",
                ])
                .arg(id.to_string())
                .arg(name);
                c
            } else {
                let mut c = roothooks();
                c.args([
                    "--ensure-account",
                    "--user",
                    name,
                    "--uid",
                    &id.to_string(),
                    "--log-file",
                    "none",
                    "--",
                    "true",
                ]);
                c
            };
            cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    let outs: Vec<std::process::Output> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let missing: Vec<&String> = names.iter().filter(|n| !passwd.contains(&format!("\n{n}:"))).collect();
    for name in &names {
        let _ = Command::new("userdel").arg(name).output();
        let _ = Command::new("groupdel").arg(name).output();
    }
    for out in &outs {
        assert!(out.status.success(), "{}", stderr(out));
    }
    assert!(missing.is_empty(), "accounts lost: {missing:?}");
}

#[test]
fn no_secret_value_reaches_the_log_or_the_users_copy_from_any_source() {
    if !need_root() {
        return;
    }
    // A secret that looks like a path (AWS keys have slashes), given through every source root reads,
    // in every way the gate or a parser refuses it, at the most detailed level, in both formats.
    let secret = "s3cr3t-wJalrXUtnFEMI/K7MDENG/bPxRfiCY";
    let uid = free_id();
    let theirs = users_dir(uid);
    let h = Hooks::new();
    let env_file = h.path("operator.env");
    std::fs::write(&env_file, format!("API_TOKEN={secret}\nPASSWORD: {secret}\n{secret}\n")).unwrap();
    h.raw(
        "10-exports.sh",
        &format!("export HOOK_SECRET={secret} PYTHONSECRET={secret} CACHE_KEY={}/{secret}\n", theirs.path().display()),
        0o644,
    );
    h.sh("20-handoff", &format!("printf 'HANDED={secret}\\n{secret}\\nBAD LINE {secret}\\n' >> \"$ROOTHOOKS_ENV\""));
    let seen_by_root = h.path("root-env");
    env_hook(&h, "30-env", &seen_by_root);
    for format in ["text", "json"] {
        let copy = h.path(&format!("copy-{format}.log"));
        let out = run(h
            .bare()
            .args(["--docker-stacks", "--uid", &uid.to_string(), "--log-level", "debug", "--log-format", format])
            .arg("--log-file")
            .arg(&copy)
            .arg("--env-file")
            .arg(&env_file)
            .args(["--unset-env", "AWS_*", "--hook-env", "JUPYTERHUB_*", "--", "true"])
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("OTHER_TOKEN", secret)
            .env("JUPYTERHUB_API_TOKEN", secret)
            .env("JUPYTERHUB_USER", format!("../{secret}")));
        assert!(out.status.success(), "{}", stderr(&out));
        let err = stderr(&out);
        let copy = std::fs::read_to_string(&copy).unwrap();
        // the sources were read and judged: the root hooks got what the rules let through
        let env = seen(&seen_by_root);
        for name in ["AWS_SECRET_ACCESS_KEY", "JUPYTERHUB_API_TOKEN", "API_TOKEN", "HOOK_SECRET", "HANDED"] {
            assert_eq!(value(&env, name), Some(secret), "{name} did not reach the root hooks: {err}");
        }
        for name in ["OTHER_TOKEN", "PYTHONSECRET", "CACHE_KEY", "JUPYTERHUB_USER"] {
            assert_eq!(value(&env, name), None, "{name} reached the root hooks: {err}");
        }
        assert!(err.contains("line 2") && err.contains("line 3"), "the bad lines were reported: {err}");
        for (what, text) in [("stderr", &err), ("the user's copy", &copy)] {
            assert!(!text.contains("s3cr3t"), "{format}: the secret is in {what}:\n{text}");
            assert!(!text.contains("wJalrXUtnFEMI"), "{format}: part of the secret is in {what}:\n{text}");
        }
    }
}

#[test]
fn a_sourced_root_hooks_shell_settings_neither_trace_a_secret_nor_lose_its_exports() {
    if !need_root() {
        return;
    }
    // The wrapper that sources a hook then compares every exported value, the hooks' secrets among
    // them, under whatever the hook left set: its `set -x` traced the comparison into the log.
    let secret = "s3cr3t-Qv7TraceMe";
    let settings = [
        ("set -x", Some("EXPORTED=yes")),
        ("set -v", Some("export EXPORTED=yes")),
        ("set -eu", None),
        ("trap 'echo \"debug: $BASH_COMMAND\" >&2' DEBUG; set -T", Some("debug: ")),
        ("trap 'echo \"debug: ${!SECRET*}\" >&2' DEBUG ERR RETURN; set -ET; shopt -s extdebug", Some("debug: ")),
        ("exec 9>&2; BASH_XTRACEFD=9; set -x", Some("EXPORTED=yes")),
        ("set -af; shopt -s nocasematch; IFS=:", None),
        (
            "shopt -s expand_aliases; alias builtin=echo compgen=echo; printf() { echo \"$@\" >&2; }; builtin() { echo \"$@\" >&2; }",
            None,
        ),
    ];
    let uid = free_id();
    for (setting, evidence) in settings {
        let h = Hooks::new();
        // CASE comes in as abc and leaves as ABC: under nocasematch the two compared equal
        h.raw("10-settings.sh", &format!("{setting}\nexport EXPORTED=yes CASE=ABC\n"), 0o644);
        h.sh("20-later", &format!("echo \"later: $EXPORTED\" > {}", h.path("later").display()));
        let copy = h.path("copy.log");
        let out = run(h
            .bare()
            .args(["--docker-stacks", "--uid", &uid.to_string(), "--log-level", "debug", "--log-file"])
            .arg(&copy)
            .args(["--unset-env", "SECRET", "--hook-env", "CASE", "--", "sh", "-c", "echo \"$EXPORTED $CASE\""])
            .env("SECRET", secret)
            .env("CASE", "abc"));
        assert!(out.status.success(), "{setting}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("hook 10-settings.sh: ok"), "{setting}: {err}");
        if let Some(evidence) = evidence {
            assert!(err.contains(evidence), "{setting} did not take effect in the hook: {err}");
        }
        assert_eq!(stdout(&out), "yes ABC\n", "{setting}: the exports were not taken whole: {err}");
        let later = std::fs::read_to_string(h.path("later")).unwrap_or_default();
        assert_eq!(later, "later: yes\n", "{setting}: the next root hook lost the export: {err}");
        let copy = std::fs::read_to_string(&copy).unwrap();
        for (what, text) in [("stderr", &err), ("the user's copy", &copy)] {
            assert!(!text.contains("Qv7TraceMe"), "{setting}: the secret is in {what}:\n{text}");
        }
        // nor the wrapper's own text, but the reset's first lines where the hook moved the trace
        if !setting.contains("BASH_XTRACEFD") {
            assert!(!err.contains("__roothooks"), "{setting}: the wrapper was traced or echoed: {err}");
        }
    }
}

#[test]
fn thirty_held_back_variables_are_one_line_at_info_and_named_at_debug() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    h.sh("10-quiet", "true");
    let names: Vec<String> = (0..30).map(|i| format!("RH_HELD_{i:02}")).collect();
    let start = |level: &str| {
        let mut cmd = h.bare();
        // only these 30 and PATH: the count is theirs (PATH is on the allowlist)
        cmd.env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        for name in &names {
            cmd.env(name, "x");
        }
        let out =
            run(cmd.args(["--uid", &free_id().to_string(), "--log-file", "none", "--log-level", level, "--", "true"]));
        assert!(out.status.success(), "{}", stderr(&out));
        stderr(&out)
    };
    let info = start("info");
    let counted: Vec<&str> = info.lines().filter(|l| l.contains("to root's hooks")).collect();
    assert_eq!(counted.len(), 1, "{info}");
    assert!(counted[0].contains("INFO not passing 30 variable(s) of the environment to root's hooks"), "{info}");
    assert!(counted[0].contains("--hook-env NAME"), "the way to pass one: {info}");
    assert!(!info.contains("RH_HELD_"), "names at info: {info}");
    let debug = start("debug");
    let named = debug.lines().find(|l| l.contains("DEBUG not on root's hooks' allowlist: ")).unwrap_or(&debug);
    for name in &names {
        assert!(named.contains(name.as_str()), "{name} not named at debug: {debug}");
    }
}

/// `script` in a mount namespace of the test's own (gone with it) where `/run` is a tmpfs mounted
/// with `run_options` (read-only, as in a pod with a read-only root filesystem; or writable by all),
/// and `/tmp` is read-only too when `tmp_read_only`.
fn with_run(run_options: &str, script: &str, tmp_read_only: bool) -> std::process::Output {
    let tmp = if tmp_read_only { "mount --bind /tmp /tmp && mount -o remount,bind,ro /tmp && " } else { "" };
    let script = format!("mount -t tmpfs -o {run_options} tmpfs /run && {tmp}{script}");
    let mut cmd = Command::new("unshare");
    run(without_settings(&mut cmd).args(["-m", "--propagation", "private", "sh", "-c", &script]))
}

const RUN_READ_ONLY: &str = "ro,mode=0755";

#[test]
fn where_root_hooks_write_and_whom_they_serve_comes_only_from_roothooks() {
    if !need_root() {
        return;
    }
    // the starting environment is the user's to shape in a repo2docker image (`ENV` in their
    // Dockerfile); where roothooks cannot make the hand-off file, it named the file root's hooks wrote
    let h = Hooks::new();
    let writable = h.path("writable");
    std::fs::create_dir(&writable).unwrap();
    let (victim, seen_by_root) = (writable.join("victim"), writable.join("root-env"));
    env_hook(&h, "10-env", &seen_by_root);
    h.sh("20-hand-over", "echo MOUNTED=yes >> \"$ROOTHOOKS_ENV\"");
    let uid = free_id();
    let script = format!(
        "mount -t tmpfs -o mode=0755 tmpfs {w} && : > {victim} && \
         ROOTHOOKS_ENV={victim} ROOTHOOKS_HOME=/etc {BIN} --uid {uid} --hooks-dir {hooks} --log-file none \
         -- sh -c 'echo server started'; cat {victim}; tr '\\0' '\\n' < {seen}",
        w = writable.display(),
        victim = victim.display(),
        hooks = h.dir().display(),
        seen = seen_by_root.display(),
    );
    let out = with_run(RUN_READ_ONLY, &script, true);
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{text}\n{err}");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("server started"), "{err}");
    assert!(!text.contains("MOUNTED=yes"), "a root hook wrote where the starting environment said: {text}");
    assert!(!text.contains("ROOTHOOKS_ENV="), "{text}");
    assert!(text.lines().any(|l| l == format!("ROOTHOOKS_HOME=/home/{uid}") || l == "ROOTHOOKS_HOME=/"), "{text}");
    assert!(err.contains("cannot create the $ROOTHOOKS_ENV file: /run: "), "{err}");
    assert!(
        err.contains("not passing ROOTHOOKS_ENV to root's hooks: only roothooks sets it for them, and it has no value"),
        "{err}"
    );
}

#[test]
fn with_run_read_only_hooks_still_hand_variables_over_through_tmp() {
    if !need_root() {
        return;
    }
    // roothooks on `hooks`, then the command's `shell`
    let start = |hooks: &Hooks, shell: &str| {
        format!("{BIN} --uid {} --hooks-dir {} --log-file none -- sh -c '{shell}'", free_id(), hooks.dir().display())
    };
    let h = Hooks::new();
    h.sh("10-hand-over", "echo MOUNTED=yes >> \"$ROOTHOOKS_ENV\"");
    let out = with_run(RUN_READ_ONLY, &start(&h, "echo \"command: $MOUNTED\""), false);
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{text}\n{err}");
    assert_eq!(text.trim(), "command: yes", "{err}");
    assert!(!err.contains("cannot create the $ROOTHOOKS_ENV file"), "{err}");
    // a /run anyone may write to without the sticky bit (where a user could rename root's directory
    // away and put theirs at its name) is passed over for /tmp too
    let where_hook = Hooks::new();
    where_hook.sh("10-where", "echo \"WHERE=$ROOTHOOKS_ENV\" >> \"$ROOTHOOKS_ENV\"");
    let out = with_run("mode=0777", &start(&where_hook, "echo \"$WHERE\""), false);
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{text}\n{err}");
    assert!(text.starts_with("/tmp/roothooks-env."), "{text}\n{err}");
}

#[test]
fn a_tilde_that_names_the_users_home_never_steers_a_root_python_hook() {
    if root_python().is_none() {
        return;
    }
    let account = Account::with_home(0);
    let home = account.home.clone().unwrap();
    // the user's startup file, where a tool that expands `~NAME` (Python's expanduser, as IPython
    // reads IPYTHONDIR and conda its paths) would look
    let startup = home.join(".tool/startup.py");
    std::fs::create_dir_all(startup.parent().unwrap()).unwrap();
    let marker = home.join("ran-as-root");
    std::fs::write(&startup, format!("open('{}', 'w').write('x')\n", marker.display())).unwrap();
    give_to(&home.join(".tool"), account.uid);
    give_to(&startup, account.uid);
    let h = Hooks::new();
    let env_file = h.path("server.env");
    std::fs::write(&env_file, format!("RH_TOOL_DIR=~{}/.tool\n", account.name)).unwrap();
    h.raw(
        "10-tool",
        "#!/usr/bin/python3\nimport os, runpy\nd = os.environ.get('RH_TOOL_DIR')\nif d:\n    \
         runpy.run_path(os.path.join(os.path.expanduser(d), 'startup.py'))\nprint('tool ran')\n",
        0o755,
    );
    let out = run(h
        .bare()
        .args(["--uid", &account.uid.to_string(), "--log-file", "none", "--env-file"])
        .arg(&env_file)
        .args(["--", "sh", "-c", "echo \"$RH_TOOL_DIR\""]));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!marker.exists(), "a root hook ran the user's startup file: {err}");
    assert!(err.contains("10-tool: tool ran") && err.contains("hook 10-tool: ok"), "{err}");
    assert!(
        err.contains("not passing RH_TOOL_DIR to root's hooks: its value names an account's home ('~NAME')"),
        "{err}"
    );
    assert_eq!(stdout(&out).trim(), format!("~{}/.tool", account.name), "the command still gets it");
}
