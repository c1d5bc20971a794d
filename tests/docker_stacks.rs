//! roothooks as a drop-in for docker-stacks' start.sh, tried the way docker-stacks' own tests try
//! start.sh: `docker run --user root -e NB_UID=1010 ... IMAGE COMMAND`, then what the user sees (`id`,
//! `umask`, the environment, group write access). Here runc runs a container whose root filesystem is
//! shaped like docker-stacks' images: jovyan is uid 1000 in group users (100), /opt/conda belongs to
//! group users and is group-writable, hooks live in /usr/local/bin/start-notebook.d and
//! before-notebook.d, and /bin/bash is there to source `*.sh` hooks.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::oci::*;
use common::*;
use serde_json::{json, Value};

/// Root, runc, busybox, a C compiler (for the bundle's setuid helper) and bash, or a loud skip.
fn ready() -> bool {
    if !need_root() {
        return false;
    }
    let works = |cmd: &str, arg: &str| Command::new(cmd).arg(arg).output().is_ok_and(|o| o.status.success());
    let missing: Vec<&str> =
        [("runc", "--version"), ("/bin/busybox", "true"), ("cc", "--version"), ("/bin/bash", "-c")]
            .into_iter()
            .filter(|(cmd, arg)| !(if *arg == "-c" { Path::new(cmd).exists() } else { works(cmd, arg) }))
            .map(|(cmd, _)| cmd)
            .collect();
    missing.is_empty() || skip(&format!("missing {missing:?}; run scripts/install-e2e.sh as root"))
}

const START_HOOKS: &str = "usr/local/bin/start-notebook.d";
const BEFORE_HOOKS: &str = "usr/local/bin/before-notebook.d";

/// A container image shaped like docker-stacks' base-notebook.
fn image() -> Bundle {
    let b = Bundle::new();
    b.add_program(Path::new("/bin/bash"));
    let root = b.rootfs();
    for dir in [START_HOOKS, BEFORE_HOOKS, "opt/conda", "home/jovyan"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for applet in ["rm", "env"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    // docker-stacks' fix-permissions: group users owns /opt/conda and can write it
    let chown = |rel: &str, uid: u32, gid: u32| std::os::unix::fs::chown(root.join(rel), Some(uid), Some(gid)).unwrap();
    chown("opt/conda", 0, 100);
    set_mode(&root.join("opt/conda"), 0o2775);
    chown("home/jovyan", 1000, 100);
    set_mode(&root.join("home/jovyan"), 0o2775);
    b
}

/// A hook file with `body` and `mode`.
fn hook_file(b: &Bundle, dir: &str, name: &str, body: &str, mode: u32) {
    let path = b.rootfs().join(dir).join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `docker run --user root -e VAR=... IMAGE` with roothooks (and `flags`) as the entrypoint, in front
/// of `script` run by sh; the image's own NB_USER=jovyan is always set, as docker-stacks' ENV does.
/// NB_* variables are read with or without --docker-stacks, which only adds the hook directories.
fn run(b: &Bundle, env: &[&str], flags: &[&str], script: &str) -> (i32, String, String) {
    run_as(b, 0, 0, env, flags, script)
}

fn run_as(b: &Bundle, uid: u32, gid: u32, env: &[&str], flags: &[&str], script: &str) -> (i32, String, String) {
    let mut args = vec!["/roothooks", "--log-file", "none"];
    args.extend(flags);
    args.extend(["--", "sh", "-c", script]);
    let caps = if uid == 0 { caps(&[]) } else { no_caps() };
    let mut p = process(uid, gid, &[], caps, false, &args);
    let mut vars: Vec<Value> = ["PATH=/bin", "HOME=/root", "NB_USER=jovyan"].iter().map(|v| json!(v)).collect();
    vars.extend(env.iter().map(|v| json!(v)));
    p["env"] = Value::Array(vars);
    b.run(p, &[])
}

/// [`run`], started in directory `cwd`, with `mounts` (OCI mount objects) in the container.
fn run_in(b: &Bundle, cwd: &str, mounts: &[Value], env: &[&str], script: &str) -> (i32, String, String) {
    let args = ["/roothooks", "--log-file", "none", "--docker-stacks", "--", "sh", "-c", script];
    let mut p = process(0, 0, &[], caps(&[]), false, &args);
    let mut vars: Vec<Value> = ["PATH=/bin", "HOME=/root", "NB_USER=jovyan"].iter().map(|v| json!(v)).collect();
    vars.extend(env.iter().map(|v| json!(v)));
    p["env"] = Value::Array(vars);
    p["cwd"] = json!(cwd);
    b.run(p, mounts)
}

fn line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines().find_map(|l| l.strip_prefix(key)).unwrap_or_else(|| panic!("no '{key}' line in:\n{out}"))
}

const ID_AND_WRITE: &str = "echo \"id: $(id)\"; echo \"home: $HOME\"; echo \"passwd: $(grep ^jovyan: /etc/passwd)\"; \
                            touch /opt/conda/installed && echo conda: writable; cat /proc/self/status";

#[test]
fn nb_uid_and_nb_gid_change_jovyans_numbers_and_keep_group_users() {
    if !ready() {
        return;
    }
    let b = image();
    let (code, out, err) = run(&b, &["NB_UID=1010", "NB_GID=110"], &[], ID_AND_WRITE);
    assert_eq!(code, 0, "{out}\n{err}");
    let id = line(&out, "id: ");
    assert!(id.starts_with("uid=1010(jovyan) gid=110(jovyan)"), "{id}");
    assert!(id.contains("100(users)"), "the former primary group users is kept: {id}");
    assert_eq!(line(&out, "home: "), "/home/jovyan");
    assert_eq!(line(&out, "passwd: "), "jovyan:x:1010:110::/home/jovyan:/bin/sh");
    assert!(out.contains("conda: writable"), "group users can still install packages: {out}\n{err}");
    assert_dropped(&out, 1010);
    assert!(err.contains("keeping group 100"), "{err}");
    // /etc/passwd stays root's and writable by nobody else
    let meta = std::fs::metadata(b.rootfs().join("etc/passwd")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o022, 0, "passwd must not become group/other-writable");

    // `docker restart`: the same container again; the entry is already right and is not added twice
    let (code, out, err) = run(&b, &["NB_UID=1010", "NB_GID=110"], &[], ID_AND_WRITE);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(line(&out, "id: ").starts_with("uid=1010(jovyan)"), "{out}");
    let passwd = std::fs::read_to_string(b.rootfs().join("etc/passwd")).unwrap();
    assert_eq!(passwd.lines().filter(|l| l.starts_with("jovyan:")).count(), 1, "{passwd}");
    assert_eq!(std::fs::read_to_string(b.rootfs().join("etc/group")).unwrap().matches(":110:").count(), 1);
}

#[test]
fn clear_groups_still_drops_the_former_primary_group() {
    if !ready() {
        return;
    }
    let b = image();
    let (code, out, err) = run(&b, &["NB_GID=110"], &["--clear-groups"], ID_AND_WRITE);
    assert_eq!(code, 0, "{out}\n{err}");
    let id = line(&out, "id: ");
    assert!(id.starts_with("uid=1000(jovyan) gid=110"), "{id}");
    assert!(!id.contains("100(users)"), "{id}");
    assert!(!out.contains("conda: writable"), "{out}");
}

#[test]
fn nb_uid_of_another_account_and_disagreeing_flags_start_nothing() {
    if !ready() {
        return;
    }
    let b = image();
    std::fs::write(
        b.rootfs().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\njovyan:x:1000:100::/home/jovyan:/bin/sh\nbob:x:1010:1010::/:/bin/sh\n",
    )
    .unwrap();
    let (code, out, err) = run(&b, &["NB_UID=1010"], &[], "echo started");
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("uid 1010 already belongs to account 'bob'"), "{err}");
    assert!(!out.contains("started"));
    // the flags keep today's rule: an explicit --uid that disagrees with --user is a mistake
    let (code, _, err) = run(&b, &[], &["--user", "jovyan", "--uid", "1020"], "echo started");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("give only one of them"), "{err}");
}

#[test]
fn nb_umask_and_jupyter_env_vars_to_unset() {
    if !ready() {
        return;
    }
    let b = image();
    let env = ["NB_UMASK=002", "JUPYTER_ENV_VARS_TO_UNSET=SECRET_A,SECRET_B", "SECRET_A=1", "SECRET_B=2", "KEPT=3"];
    let script = "echo \"umask: $(umask)\"; echo \"env: ${SECRET_A-unset} ${SECRET_B-unset} ${KEPT-unset}\"";
    let (code, out, err) = run(&b, &env, &[], script);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(line(&out, "umask: "), "0002");
    assert_eq!(line(&out, "env: "), "unset unset 3");
}

#[test]
fn sourced_hooks_hand_their_exports_to_later_hooks_and_the_server() {
    if !ready() {
        return;
    }
    let b = image();
    // what start-notebook.d hooks usually are: not executable, exporting something for the server
    hook_file(
        &b,
        START_HOOKS,
        "10-conda.sh",
        "export CONDA_ENV='my env'\nexport TWO_LINES=$'one\\ntwo='\nunset DROP_ME\nNOT_EXPORTED=1\n",
        0o644,
    );
    hook_file(&b, START_HOOKS, "20-check", "#!/bin/sh\necho \"root hook: uid $(id -u) sees $CONDA_ENV\" >&2\n", 0o755);
    hook_file(&b, START_HOOKS, "30-notes.txt", "not a hook\n", 0o644);
    hook_file(
        &b,
        BEFORE_HOOKS,
        "10-user.sh",
        "echo \"user hook: uid $(id -u) umask $(umask) home $HOME sees $CONDA_ENV\" >&2\nexport FROM_USER=yes\n",
        0o644,
    );
    let script = "echo \"server: $CONDA_ENV|${FROM_USER-}|${DROP_ME-unset}|${NOT_EXPORTED-unset}\"; \
                  printf 'two lines: %s\\n' \"$TWO_LINES\" | tr '\\n' '/'";
    // root's later hooks see an export only through the gate: here the operator names it, and
    // DROP_ME, which a root hook can unset only if it got it
    let flags = ["--docker-stacks", "--report", "/tmp/report.json", "--hook-env", "CONDA_ENV,DROP_ME"];
    let (code, out, err) = run(&b, &["NB_UID=1010", "NB_UMASK=027", "DROP_ME=x"], &flags, script);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(line(&out, "server: "), "my env|yes|unset|unset", "{err}");
    assert_eq!(line(&out, "two lines: "), "one/two=/", "a value with a newline and '=' arrives whole");
    assert!(err.contains("root hook: uid 0 sees my env"), "a later hook sees the export: {err}");
    assert!(err.contains("user hook: uid 1010 umask 0027 home /home/jovyan sees my env"), "{err}");
    assert!(err.contains("skipping /usr/local/bin/start-notebook.d/30-notes.txt: not executable"), "{err}");
    assert!(err.contains("running 1 hook from /usr/local/bin/before-notebook.d as the user"), "{err}");
    // each change said once, with who gets it: root's exports and unsets pass the gate here, the
    // user hook's go to the hooks after it and the server
    let everyone = "for the root hooks after it, the user's hooks and the command";
    assert!(err.contains(&format!("hook 10-conda.sh: exported CONDA_ENV, TWO_LINES {everyone}")), "{err}");
    assert!(err.contains(&format!("hook 10-conda.sh: unset DROP_ME {everyone}")), "{err}");
    assert!(err.contains("hook 10-user.sh: exported FROM_USER for the hooks after it and the command"), "{err}");
    // the report has both phases
    let report: Value = serde_json::from_slice(&std::fs::read(b.rootfs().join("tmp/report.json")).unwrap()).unwrap();
    assert_eq!(report["user_hooks_dir"], "/usr/local/bin/before-notebook.d");
    assert_eq!(
        (report["user_hooks"][0]["name"].as_str(), report["user_hooks"][0]["outcome"].as_str()),
        (Some("10-user.sh"), Some("ok"))
    );
    assert_eq!(report["hooks"][0]["name"], "10-conda.sh");
    // not named: a root hook's export is the operator's, and reaches the later root hook all the same
    // (docker-stacks' own tests expect it), past the gate's checks
    let (code, out, err) = run(&b, &["NB_UID=1010"], &["--docker-stacks"], script);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("root hook: uid 0 sees my env"), "{err}");
    assert!(err.contains("user hook: uid 1010 umask 0022 home /home/jovyan sees my env"), "{err}");
    assert_eq!(line(&out, "server: "), "my env|yes|unset|unset", "{err}");
}

#[test]
fn a_user_hook_cannot_get_root_back_and_runs_even_from_a_non_root_start() {
    if !ready() {
        return;
    }
    let b = image();
    hook_file(&b, START_HOOKS, "10-root.sh", "echo \"root hook ran\" >&2\n", 0o644);
    hook_file(
        &b,
        BEFORE_HOOKS,
        "10-user.sh",
        "grep -E '^(Uid|CapEff|CapBnd|NoNewPrivs)' /proc/self/status >&2\nexport SEEN=1\n",
        0o644,
    );
    // root start: the user's hook runs after the drop
    let (code, out, err) = run(&b, &[], &["--docker-stacks"], "echo \"server: ${SEEN-}\"");
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(line(&out, "server: "), "1");
    assert!(err.contains("Uid:\t1000\t1000\t1000\t1000") && err.contains("CapBnd:\t0000000000000000"), "{err}");
    assert!(err.contains("NoNewPrivs:\t1"), "{err}");
    // OpenShift's way (a non-root start with gid 0): no root hooks, the user's hooks still run
    let (code, out, err) = run_as(&b, 1010, 0, &[], &["--docker-stacks"], "echo \"server: ${SEEN-} $(id -u)\"");
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(line(&out, "server: "), "1 1010");
    assert!(!err.contains("root hook ran"), "{err}");
    assert!(err.contains("not running the 1 hook(s) in /usr/local/bin/start-notebook.d"), "{err}");
}

#[test]
fn the_docker_stacks_example_starts_its_hooks_and_command_like_start_sh() {
    if !ready() {
        return;
    }
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/docker-stacks");
    let dockerfile = std::fs::read_to_string(example.join("Dockerfile")).unwrap();
    let b = image();
    let root = b.rootfs();
    copy_program(root.join("roothooks"), root.join("usr/local/bin/roothooks"));
    for (from, to) in [("start-notebook.d", START_HOOKS), ("before-notebook.d", BEFORE_HOOKS)] {
        for entry in std::fs::read_dir(example.join(from)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), root.join(to).join(entry.file_name())).unwrap();
        }
    }
    // the image's CMD, standing in for docker-stacks' start-notebook.py (no Python in this rootfs)
    let cmd = exec_form(&dockerfile, "CMD");
    assert_eq!(cmd, ["start-notebook.py"]);
    hook_file(
        &b,
        "usr/local/bin",
        "start-notebook.py",
        "#!/bin/sh\necho \"server: $(id) scratch=$JUPYTER_SCRATCH\"\nls -ld \"$SCRATCH_DIR\"\n",
        0o755,
    );
    // the ENTRYPOINT as written: roothooks is PID 1 of the container, and stays as its init
    let entrypoint = exec_form(&dockerfile, "ENTRYPOINT");
    assert_eq!(entrypoint[0], "/usr/local/bin/roothooks", "no tini in front: roothooks is the init");
    let args: Vec<&str> = entrypoint.iter().chain(&cmd).map(String::as_str).collect();
    let mut p = process(0, 0, &[], caps(&[]), false, &args);
    p["env"] = json!(["PATH=/usr/local/bin:/bin", "HOME=/root", "NB_USER=jovyan", "NB_UID=1010"]);
    let (code, out, err) = b.run(p, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!err.contains("roothooks itself runs from"), "the image has it where only root can change it: {err}");
    assert!(out.contains("server: uid=1010(jovyan) gid=100(users)"), "{out}\n{err}");
    assert!(out.contains("scratch=/srv/scratch/jovyan"), "{out}\n{err}");
    assert!(out.contains("drwx------") && out.contains("jovyan"), "the scratch directory is the user's: {out}");
    assert!(err.contains("starting for jovyan (uid 1010), scratch space in /srv/scratch/jovyan"), "{err}");
    assert!(err.contains("init (roothooks is PID 1)"), "{err}");
}

#[test]
fn nb_user_never_changes_roots_or_a_system_accounts_numbers() {
    if !ready() {
        return;
    }
    let b = image();
    let passwd = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
                  jovyan:x:1000:100::/home/jovyan:/bin/sh\n";
    std::fs::write(b.rootfs().join("etc/passwd"), passwd).unwrap();
    std::fs::write(
        b.rootfs().join("etc/group"),
        "root:x:0:\ndaemon:x:1:\ndisk:x:6:root\nadm:x:4:root,daemon\nusers:x:100:\n",
    )
    .unwrap();
    for (env, account) in [
        (["NB_USER=root", "NB_UID=1010", "NB_GID=1010"], "'root' (uid 0), root's own account"),
        (["NB_USER=daemon", "NB_UID=1010", "NB_GID=100"], "'daemon' (uid 1), a system account"),
    ] {
        let (code, out, err) = run(&b, &env, &[], "id");
        assert_eq!(code, 2, "{env:?}: {out}\n{err}");
        assert!(err.contains(&format!("names {account}")), "{err}");
        assert_eq!(out, "", "nothing started");
        assert_eq!(std::fs::read_to_string(b.rootfs().join("etc/passwd")).unwrap(), passwd, "passwd changed");
    }
}

#[test]
fn a_lock_a_killed_start_left_naming_pid_1_does_not_wedge_the_next_start() {
    if !ready() {
        return;
    }
    let b = image();
    let etc = b.rootfs().join("etc");
    // a start killed while it held the locks, as PID 1 of the container, as the next start will be
    std::fs::write(etc.join("passwd.lock"), "1\0").unwrap();
    std::fs::write(etc.join("group.lock"), "1\0").unwrap();
    std::fs::write(etc.join(".passwd.roothooks.1"), "half a copy").unwrap();
    std::fs::write(etc.join("group.1"), "1\0").unwrap();
    let (code, out, err) = run(&b, &["NB_UID=1010"], &[], "id -u");
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(out.trim(), "1010");
    assert!(err.contains("removing the stale lock /etc/passwd.lock (it names pid 1, this very start"), "{err}");
    assert!(err.contains("left in /etc by a start that was killed"), "{err}");
    assert!(!err.contains("cannot lock"), "{err}");
    let passwd = std::fs::read_to_string(etc.join("passwd")).unwrap();
    assert!(passwd.contains("jovyan:x:1010:100:"), "{passwd}");
    for left in ["passwd.lock", "group.lock", ".passwd.roothooks.1", "group.1"] {
        assert!(!etc.join(left).exists(), "{left} is still there");
    }
}

#[test]
fn a_symlinked_passwd_is_neither_read_nor_replaced() {
    if !ready() {
        return;
    }
    let b = image();
    let etc = b.rootfs().join("etc");
    // the user's own file, where a symlink in /etc leads
    let theirs = b.rootfs().join("home/jovyan/passwd");
    let content = "root:x:0:0:root:/root:/bin/sh\njovyan:x:1000:100::/home/jovyan:/bin/sh\n";
    std::fs::write(&theirs, content).unwrap();
    std::os::unix::fs::chown(&theirs, Some(1000), Some(100)).unwrap();
    std::fs::remove_file(etc.join("passwd")).unwrap();
    std::os::unix::fs::symlink("/home/jovyan/passwd", etc.join("passwd")).unwrap();
    let (code, out, err) = run(&b, &["NB_UID=1010"], &[], "id -u");
    assert_eq!(code, 0, "a refused edit is logged and tolerated: {out}\n{err}");
    assert!(err.contains("/etc/passwd is a symbolic link (to /home/jovyan/passwd), not the file itself"), "{err}");
    assert!(err.contains("nothing written"), "{err}");
    assert!(std::fs::symlink_metadata(etc.join("passwd")).unwrap().file_type().is_symlink(), "replaced");
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), content, "the user's file was written");
    let meta = std::fs::metadata(&theirs).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 1000);
}

#[test]
fn account_files_root_edits_must_be_roots_and_writable_by_no_other_user() {
    if !ready() {
        return;
    }
    let etc = |b: &Bundle| b.rootfs().join("etc");
    let set = |b: &Bundle, owner: (u32, u32), mode: u32| {
        std::os::unix::fs::chown(etc(b).join("passwd"), Some(owner.0), Some(owner.1)).unwrap();
        set_mode(&etc(b).join("passwd"), mode);
    };
    // docker-stacks' own shape: root's, writable by group 0 (for OpenShift); the edit is made
    let b = image();
    set(&b, (0, 0), 0o664);
    let (code, out, err) = run(&b, &["NB_UID=1010"], &[], "id -u");
    assert_eq!((code, out.trim()), (0, "1010"), "{err}");
    assert!(std::fs::read_to_string(etc(&b).join("passwd")).unwrap().contains("jovyan:x:1010:"), "{err}");
    // writable by another group, or owned by a user: refused, nothing written, the start goes on
    for (owner, mode, why) in [
        ((0, 100), 0o664, "/etc/passwd: it is writable by group 100 (chmod g-w /etc/passwd)"),
        ((1000, 100), 0o644, "/etc/passwd: it is owned by uid 1000, not root"),
        ((0, 0), 0o646, "/etc/passwd: it is writable by others"),
    ] {
        let b = image();
        set(&b, owner, mode);
        let before = std::fs::read_to_string(etc(&b).join("passwd")).unwrap();
        let (code, out, err) = run(&b, &["NB_UID=1010"], &[], "id -u");
        assert_eq!((code, out.trim()), (0, "1010"), "{err}");
        assert!(err.contains(why) && err.contains("nothing written"), "{owner:?} {mode:o}: {err}");
        assert_eq!(std::fs::read_to_string(etc(&b).join("passwd")).unwrap(), before, "{owner:?} {mode:o}");
    }
}

#[test]
fn lock_files_planted_as_symlinks_are_never_followed() {
    if !ready() {
        return;
    }
    for (lock, lost) in [(".pwd.lock", "home/jovyan/made-by-root"), ("passwd.lock", "home/jovyan/holder")] {
        let b = image();
        let root = b.rootfs();
        // a link to a place of the user's: glibc's lock would create (and lock) the user's file as root
        std::os::unix::fs::symlink(format!("/{lost}"), root.join("etc").join(lock)).unwrap();
        let before = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
        let (code, out, err) = run(&b, &["NB_UID=1010"], &[], "id -u");
        assert_eq!((code, out.trim()), (0, "1010"), "a refused edit is logged and tolerated: {err}");
        assert!(err.contains(&format!("cannot lock /etc/{lock}")), "{lock}: {err}");
        assert!(!root.join(lost).exists(), "{lock}: root created the user's file through the link");
        assert_eq!(std::fs::read_to_string(root.join("etc/passwd")).unwrap(), before, "{lock}");
    }
}

#[test]
fn an_empty_hooks_directory_is_named_in_the_log() {
    if !ready() {
        return;
    }
    let b = image();
    let (code, out, err) = run(&b, &[], &["--docker-stacks"], "true");
    assert_eq!(code, 0, "{out}\n{err}");
    for dir in [START_HOOKS, BEFORE_HOOKS] {
        assert!(err.contains(&format!("no hooks in /{dir}")), "{dir}: {err}");
    }
}

#[test]
fn the_rootless_triplet_keeps_the_command_root_and_nothing_else_does() {
    if !ready() {
        return;
    }
    let b = image();
    let triplet = ["NB_USER=root", "NB_UID=0", "NB_GID=0"];
    let script = "echo \"id: $(id -u):$(id -g)\"; echo \"home: $HOME\"; cat /proc/self/status";
    let (code, out, err) = run(&b, &triplet, &["--docker-stacks"], script);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(line(&out, "id: "), "0:0", "{out}");
    assert_eq!(line(&out, "home: "), "/home/root", "{out}");
    // root in a rootless container, still with nothing to regain
    assert_unprivileged(&proc_status(&out));
    assert!(err.contains("rootless triplet") && err.contains("WARN"), "{err}");
    // outside --docker-stacks, or with only some of the three, root is still refused
    for (env, flags) in [
        (&triplet[..], &[][..]),
        (&triplet[..2], &["--docker-stacks"][..]),
        (&["NB_USER=root", "NB_UID=0", "NB_GID=100"][..], &["--docker-stacks"][..]),
    ] {
        let (code, out, err) = run(&b, env, flags, "id -u");
        assert_eq!(code, 2, "{env:?} {flags:?}: {out}\n{err}");
        assert_eq!(out, "", "nothing started");
    }
}

#[test]
fn grant_sudo_writes_roots_rule_in_one_step_and_allows_escalation_under_docker_stacks_only() {
    if !ready() {
        return;
    }
    let b = image();
    let root = b.rootfs();
    let sudoers_d = root.join("etc/sudoers.d");
    std::fs::create_dir_all(&sudoers_d).unwrap();
    set_mode(&sudoers_d, 0o750);
    // a stand-in for sudo: what is checked is the rule and the escalation roothooks allows
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    hook_file(&b, "usr/bin", "sudo", "#!/bin/sh\nexit 0\n", 0o755);
    let rule = sudoers_d.join("roothooks-grant-sudo");
    let nnp = "grep NoNewPrivs /proc/self/status";
    let (code, out, err) = run(&b, &["GRANT_SUDO=yes"], &["--docker-stacks"], nnp);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(out.trim(), "NoNewPrivs:\t0", "escalation allowed: {err}");
    assert!(err.contains("GRANT_SUDO: jovyan may run any command as root with sudo, without a password"), "{err}");
    // docker run's default capabilities have no CAP_SYS_ADMIN, which a filter without no_new_privs
    // needs: the start still happens, without roothooks' filter, and says so
    assert!(err.contains("no system call filter for the command: with privilege escalation allowed"), "{err}");
    let text = std::fs::read_to_string(&rule).unwrap();
    assert_eq!(text.lines().last(), Some("jovyan ALL=(ALL) NOPASSWD:ALL"), "{text}");
    let meta = std::fs::metadata(&rule).unwrap();
    assert_eq!((std::os::unix::fs::MetadataExt::uid(&meta), meta.permissions().mode() & 0o7777), (0, 0o440));
    let names: Vec<_> = std::fs::read_dir(&sudoers_d).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "no half-written file left beside it: {names:?}");
    // a restart finds its rule in place; GRANT_SUDO=1 is docker-stacks' other spelling
    let (code, _, err) = run(&b, &["GRANT_SUDO=1"], &["--docker-stacks"], nnp);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("was already there"), "{err}");

    // without --docker-stacks GRANT_SUDO is not read; a value start.sh ignores is named and ignored
    std::fs::remove_file(&rule).unwrap();
    for (env, flags) in [("GRANT_SUDO=yes", &[][..]), ("GRANT_SUDO=true", &["--docker-stacks"][..])] {
        let (code, out, err) = run(&b, &[env], flags, nnp);
        assert_eq!((code, out.trim()), (0, "NoNewPrivs:\t1"), "{env} {flags:?}: {err}");
        assert!(!rule.exists(), "{env} {flags:?} wrote a rule");
    }
    let (_, _, err) = run(&b, &["GRANT_SUDO=true"], &["--docker-stacks"], nnp);
    assert!(err.contains("GRANT_SUDO='true' is neither yes nor 1"), "{err}");

    // a symlink planted at the rule's name is not followed, and the user's file stays as it was
    let target = root.join("home/jovyan/mine");
    std::fs::write(&target, "the user's\n").unwrap();
    std::os::unix::fs::symlink("/home/jovyan/mine", &rule).unwrap();
    let (code, _, err) = run(&b, &["GRANT_SUDO=yes"], &["--docker-stacks"], nnp);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("no sudoers rule written") && err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "the user's\n");
    std::fs::remove_file(&rule).unwrap();

    // no sudo in the image: said so, nothing written
    std::fs::remove_file(root.join("usr/bin/sudo")).unwrap();
    let (code, _, err) = run(&b, &["GRANT_SUDO=yes"], &["--docker-stacks"], nnp);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("sudo is not installed"), "{err}");
    assert!(!rule.exists());
}

#[test]
fn a_start_inside_a_grant_sudo_command_runs_under_the_filter_it_inherited() {
    if !ready() {
        return;
    }
    // docker-stacks' own test: `start.sh sudo id` as the CMD with GRANT_SUDO=yes. The command is
    // roothooks again, as jovyan and without no_new_privs; the outer start (here with CAP_SYS_ADMIN,
    // so it could install its filter without no_new_privs) left its filter in place.
    let b = image();
    let root = b.rootfs();
    std::fs::create_dir_all(root.join("etc/sudoers.d")).unwrap();
    set_mode(&root.join("etc/sudoers.d"), 0o750);
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    hook_file(&b, "usr/bin", "sudo", "#!/bin/sh\necho sudo ran \"$@\"\n", 0o755);
    let inner = "grep -E '^(Seccomp|Seccomp_filters|NoNewPrivs):' /proc/self/status; sudo id";
    let args = [
        "/roothooks",
        "--log-file",
        "none",
        "--docker-stacks",
        "--",
        "/roothooks",
        "--log-file",
        "none",
        "--docker-stacks",
        "--",
        "sh",
        "-c",
        inner,
    ];
    let mut p = process(0, 0, &[], caps(&["SYS_ADMIN"]), false, &args);
    p["env"] = json!(["PATH=/bin:/usr/bin", "HOME=/root", "NB_USER=jovyan", "GRANT_SUDO=yes"]);
    let (code, out, err) = b.run(p, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(out, "NoNewPrivs:\t0\nSeccomp:\t2\nSeccomp_filters:\t1\nsudo ran id\n", "{err}");
    assert!(err.contains("a system call filter is already in place (1 inherited"), "{err}");
    // with no filter in place there is nothing to stand in for ours: the start still refuses
    let args = ["/roothooks", "--log-file", "none", "--allow-privilege-escalation", "--", "true"];
    let mut p = process(1000, 100, &[], no_caps(), false, &args);
    p["env"] = json!(["PATH=/bin", "HOME=/home/jovyan"]);
    let (code, _, err) = b.run(p, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot install the seccomp filter"), "{err}");
}

#[test]
fn nb_user_renames_jovyan_moves_the_home_without_following_anything_in_it_and_once() {
    if !ready() {
        return;
    }
    let b = image();
    let root = b.rootfs();
    let home = root.join("home/jovyan");
    std::fs::create_dir_all(home.join("work")).unwrap();
    std::fs::write(home.join("work/notes"), "mine\n").unwrap();
    // what a user would plant for root to follow or hand over: a symlink and a hard link to root's file
    std::fs::write(root.join("etc/secret"), "root's\n").unwrap();
    set_mode(&root.join("etc/secret"), 0o600);
    std::os::unix::fs::symlink("/etc/secret", home.join("link")).unwrap();
    std::fs::hard_link(root.join("etc/secret"), home.join("hard")).unwrap();
    let show = "echo \"id: $(id)\"; echo \"home: $HOME $USER\"; echo \"pwd: $(pwd)\"; cat notes; \
                echo \"passwd: $(grep ^kitten: /etc/passwd)\"; ls -ld /home/jovyan";
    let (code, out, err) = run_in(&b, "/home/jovyan/work", &[], &["NB_USER=kitten"], show);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(line(&out, "id: ").starts_with("uid=1000(kitten) gid=100(users)"), "{out}");
    assert_eq!(line(&out, "home: "), "/home/kitten kitten");
    assert_eq!(line(&out, "pwd: "), "/home/kitten/work", "started in the same place of the moved home");
    assert!(out.contains("mine"), "{out}");
    assert_eq!(line(&out, "passwd: "), "kitten:x:1000:100::/home/kitten:/bin/sh");
    assert!(out.contains("/home/jovyan -> /home/kitten"), "a link at the old place: {out}");
    assert!(err.contains("moved home /home/jovyan to /home/kitten"), "{err}");
    // nothing in the home was followed, copied or handed over
    let new = root.join("home/kitten");
    assert_eq!(std::fs::read_link(new.join("link")).unwrap(), Path::new("/etc/secret"));
    let secret = std::fs::metadata(root.join("etc/secret")).unwrap();
    assert_eq!((secret.uid(), secret.mode() & 0o777, secret.nlink()), (0, 0o600, 2));
    assert_eq!(std::fs::read_to_string(root.join("etc/secret")).unwrap(), "root's\n");

    // a restart: kitten exists now; nothing is written again
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    let (code, out, err) = run_in(&b, "/home/kitten", &[], &["NB_USER=kitten"], "id -un");
    assert_eq!((code, out.trim()), (0, "kitten"), "{err}");
    assert!(!err.contains("changed account"), "{err}");
    assert_eq!(std::fs::read_to_string(root.join("etc/passwd")).unwrap(), passwd);
}

#[test]
fn nb_user_with_nb_gid_and_nb_group_names_the_new_group_and_a_mounted_home_is_linked() {
    if !ready() {
        return;
    }
    let b = image();
    // the home is a volume (docker run -v): a mount point cannot be renamed, so the new name links to it
    let volume = scratch("rh-volume");
    std::os::unix::fs::chown(volume.path(), Some(1000), Some(100)).unwrap();
    let mount = json!({"destination": "/home/jovyan", "type": "bind", "source": volume.path(), "options": ["bind"]});
    let env = ["NB_USER=kitten", "NB_GID=2000", "NB_GROUP=custom-group"];
    let (code, out, err) = run_in(&b, "/", &[mount], &env, "id; ls -ld /home/kitten; touch ~/made-here");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.starts_with("uid=1000(kitten) gid=2000(custom-group)"), "{out}");
    assert!(out.contains("/home/kitten -> /home/jovyan"), "{out}");
    assert!(volume.path().join("made-here").exists(), "HOME reaches the volume: {out}\n{err}");
    let group = std::fs::read_to_string(b.rootfs().join("etc/group")).unwrap();
    assert!(group.contains("custom-group:x:2000:"), "{group}");
    // NB_GROUP naming a group that has another gid changes nothing
    let b = image();
    let (code, _, err) = run_in(&b, "/", &[], &["NB_USER=kitten", "NB_GID=2000", "NB_GROUP=users"], "id");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("NB_GROUP 'users' is a group already, with gid 100, not 2000"), "{err}");
    assert!(!std::fs::read_to_string(b.rootfs().join("etc/passwd")).unwrap().contains("kitten"));
}

#[test]
fn a_short_passwd_line_stops_only_the_rename_and_leaves_no_lock() {
    if !ready() {
        return;
    }
    let b = image();
    let root = b.rootfs();
    // jovyan's line hand-edited down to four fields: glibc still reads it (home and shell empty)
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\njovyan:x:1000:100\n").unwrap();
    let (code, out, err) = run(&b, &["NB_USER=alice"], &["--docker-stacks"], "id -u");
    assert_eq!((code, out.trim()), (0, "1000"), "the server still starts: {err}");
    assert!(
        err.contains("passwd line 2: account 'jovyan' has 4 of the 7 fields (name:password:uid:gid:gecos:home:shell)"),
        "{err}"
    );
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert_eq!(passwd, "root:x:0:0:root:/root:/bin/sh\njovyan:x:1000:100\n", "nothing written");
    let left: Vec<_> = std::fs::read_dir(root.join("etc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".lock") && n != ".pwd.lock")
        .collect();
    assert!(left.is_empty(), "locks left: {left:?}");

    // lines that are no entries at all are skipped, as glibc skips them, said by number, and kept
    let broken = "root:x:0:0:root:/root:/bin/sh\nno colons at all\nbad:x:not-a-number:1:::\n\
                  jovyan:x:1000:100::/home/jovyan:/bin/sh\n";
    std::fs::write(root.join("etc/passwd"), broken).unwrap();
    let (code, out, err) = run(&b, &["NB_USER=alice"], &["--docker-stacks"], "id -un");
    assert_eq!((code, out.trim()), (0, "alice"), "the rename still happens: {err}");
    assert!(err.contains("/etc/passwd line 2 and 1 more: not an entry (name:password:uid:gid:gecos:home:shell); skipped, as glibc skips it, and kept as it is"), "{err}");
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(passwd.contains("\nno colons at all\nbad:x:not-a-number:1:::\n"), "{passwd}");
}

#[test]
fn nb_user_renames_only_with_docker_stacks_and_never_a_system_account() {
    if !ready() {
        return;
    }
    let b = image();
    let (code, out, err) = run(&b, &["NB_USER=kitten"], &[], "id");
    assert_eq!(code, 2, "without --docker-stacks no account is renamed: {out}\n{err}");
    assert!(err.contains("no such account"), "{err}");
    // an image whose jovyan is a system account is never renamed
    let passwd = "root:x:0:0:root:/root:/bin/sh\njovyan:x:999:100::/home/jovyan:/bin/sh\n";
    std::fs::write(b.rootfs().join("etc/passwd"), passwd).unwrap();
    let (code, out, err) = run(&b, &["NB_USER=kitten"], &["--docker-stacks"], "id");
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("a system account"), "{err}");
    assert_eq!(std::fs::read_to_string(b.rootfs().join("etc/passwd")).unwrap(), passwd);
}

/// A tree like a home the image left to another uid: `n` directories of files owned by `uid`.
fn old_files(top: &Path, uid: u32, dirs: usize, files: usize) {
    for d in 0..dirs {
        let dir = top.join(format!("d{d}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..files {
            std::fs::write(dir.join(format!("f{f}")), "x").unwrap();
            std::os::unix::fs::lchown(dir.join(format!("f{f}")), Some(uid), Some(uid)).unwrap();
        }
        std::os::unix::fs::chown(&dir, Some(uid), Some(uid)).unwrap();
    }
}

/// Every entry under `dir` as (owner uid, path), symlinks not followed.
fn owners(dir: &Path) -> Vec<(u32, PathBuf)> {
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(false) {
        let entry = entry.unwrap();
        found.push((entry.path().symlink_metadata().unwrap().uid(), entry.path().to_path_buf()));
    }
    found
}

#[test]
fn chown_home_and_chown_extra_hand_over_what_is_not_roots_and_follow_nothing() {
    if !ready() {
        return;
    }
    let b = image();
    let root = b.rootfs();
    let home = root.join("home/jovyan");
    // the image's files of another uid (501, no account: a host's), a planted symlink to a root file
    // and a hard link to one, a file of a system account, and a bind mount (a host volume) inside
    old_files(&home, 501, 3, 4);
    std::fs::write(root.join("etc/secret"), "root's\n").unwrap();
    set_mode(&root.join("etc/secret"), 0o600);
    std::os::unix::fs::symlink("/etc/secret", home.join("d0/link")).unwrap();
    std::os::unix::fs::lchown(home.join("d0/link"), Some(501), Some(501)).unwrap();
    std::fs::hard_link(root.join("etc/secret"), home.join("d1/hard")).unwrap();
    std::fs::write(home.join("d2/daemons"), "").unwrap();
    std::os::unix::fs::chown(home.join("d2/daemons"), Some(1), Some(1)).unwrap();
    // another regular account's file, hard-linked into the user's home: its other name is alice's
    let alice = root.join("home/alice");
    std::fs::create_dir_all(&alice).unwrap();
    std::fs::write(alice.join("notes"), "alice's\n").unwrap();
    std::os::unix::fs::chown(alice.join("notes"), Some(1001), Some(1001)).unwrap();
    std::fs::hard_link(alice.join("notes"), home.join("d1/alices")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\ndaemon:x:1:1::/:/bin/false\njovyan:x:1000:100::/home/jovyan:/bin/sh\n\
         alice:x:1001:1001::/home/alice:/bin/sh\n",
    )
    .unwrap();
    let volume = scratch("rh-volume");
    old_files(volume.path(), 501, 1, 2);
    std::os::unix::fs::chown(volume.path(), Some(501), Some(501)).unwrap();
    std::fs::create_dir_all(home.join("work")).unwrap();
    let mount =
        json!({"destination": "/home/jovyan/work", "type": "bind", "source": volume.path(), "options": ["bind"]});
    // a fresh, root-owned volume named in CHOWN_EXTRA, and a symlink named there
    std::fs::create_dir_all(root.join("srv/fresh/inside")).unwrap();
    std::os::unix::fs::symlink("/etc", root.join("srv/etc-link")).unwrap();
    let env = ["CHOWN_HOME=yes", "CHOWN_HOME_OPTS=-R -v", "CHOWN_EXTRA=/srv/fresh,/srv/etc-link"];
    let (code, out, err) = run_in(&b, "/", &[mount], &env, "id -u");
    assert_eq!((code, out.trim()), (0, "1000"), "{err}");

    // (the host's view: home/jovyan/work is the empty directory under the mount, not the volume)
    let seen = owners(&home).into_iter().filter(|(_, p)| *p != home.join("work"));
    for (uid, path) in seen.chain(owners(volume.path())) {
        let name = path.file_name().unwrap().to_string_lossy();
        let expected = match &*name {
            "hard" => 0,      // root's file, hard-linked in: left alone
            "daemons" => 1,   // a system account's
            "alices" => 1001, // another account's file, hard-linked in: left alone, said by name
            _ => 1000,        // everything else is the user's now, the mounted volume's files too
        };
        assert_eq!(uid, expected, "{}", path.display());
    }
    let secret = std::fs::metadata(root.join("etc/secret")).unwrap();
    assert_eq!((secret.uid(), secret.mode() & 0o777), (0, 0o600), "root's file untouched");
    assert!(err.contains("over to uid 1000 gid 100 (CHOWN_HOME)") && err.contains("2 left alone"), "{err}");
    assert!(err.contains("CHOWN_HOME_OPTS: '-v' is not supported"), "{err}");
    let linked = "left 1 file(s) in /home/jovyan as they are (CHOWN_HOME): each has more than one link and is not \
                  uid 1000's, so its other name may be another account's file: /home/jovyan/d1/alices";
    assert!(err.contains(linked), "{err}");
    assert_eq!(std::fs::metadata(alice.join("notes")).unwrap().uid(), 1001, "alice's file untouched");
    // CHOWN_EXTRA without -R: the fresh volume itself, not what is in it; the symlink is refused
    let owner = |rel: &str| std::fs::symlink_metadata(root.join(rel)).unwrap().uid();
    assert_eq!((owner("srv/fresh"), owner("srv/fresh/inside")), (1000, 0));
    assert!(err.contains("/srv/etc-link has a symbolic link in it"), "{err}");
    assert!(owners(&root.join("etc")).iter().all(|(uid, _)| *uid == 0), "nothing in /etc changed hands");
}

#[test]
fn no_hand_over_ever_changes_the_root_directory_or_a_home_that_is_not_the_users() {
    if !ready() {
        return;
    }
    let b = image();
    let root = b.rootfs();
    std::fs::create_dir_all(root.join("root")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\ndaemon:x:1:1::/usr/sbin:/bin/false\njovyan:x:1000:100::/home/jovyan:/bin/sh\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("usr/sbin")).unwrap();
    // a uid without an account: its home is /, and CHOWN_HOME with -R would give it the whole tree;
    // CHOWN_EXTRA naming /, root's home (spelled otherwise) and daemon's
    let env = ["CHOWN_HOME=yes", "CHOWN_HOME_OPTS=-R", "CHOWN_EXTRA=/,//root/,/usr/sbin", "CHOWN_EXTRA_OPTS=-R"];
    let flags = ["--docker-stacks", "--uid", "1234"];
    // the dry run says what the start will refuse, and why; the start refuses the same, in the same words
    let (code, plan, err) = run(&b, &env, &[&flags[..], &["--dry-run"]].concat(), "id -u");
    assert_eq!(code, 0, "{err}");
    let refused = [
        ("/", "CHOWN_HOME", "uid 1234 has no account, so / is not a home of its own"),
        ("/", "CHOWN_EXTRA", "/ is the root directory"),
        ("/root", "CHOWN_EXTRA", "/root is the home of root, an account that is not a regular user's"),
        ("/usr/sbin", "CHOWN_EXTRA", "/usr/sbin is the home of daemon, an account that is not a regular user's"),
    ];
    let reasons: Vec<String> = refused
        .iter()
        .map(|(path, origin, why)| {
            let reason = plan_refusal(&plan, path, origin);
            assert!(reason.starts_with(why), "{reason}");
            reason
        })
        .collect();
    assert!(!plan.contains("hand over:"), "{plan}");
    let (code, out, err) = run(&b, &env, &flags, "id -u");
    assert_eq!((code, out.trim()), (0, "1234"), "the server still starts: {err}");
    for ((path, origin, _), why) in refused.iter().zip(&reasons) {
        assert!(err.contains(&hand_over_refused(path, origin, why)), "{err}");
    }
    for dir in [".", "etc", "root", "usr/sbin", "bin"] {
        assert_eq!(std::fs::metadata(root.join(dir)).unwrap().uid(), 0, "{dir} changed hands");
    }
    // a regular account whose home field is /: no home of its own either
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    std::fs::write(root.join("etc/passwd"), format!("{passwd}web:x:1500:1500::/:/bin/sh\n")).unwrap();
    let env = ["CHOWN_HOME=yes", "CHOWN_HOME_OPTS=-R"];
    let (_, plan, _) = run(&b, &env, &["--docker-stacks", "--user", "web", "--dry-run"], "id -u");
    let why = plan_refusal(&plan, "/", "CHOWN_HOME");
    assert_eq!(why, "account web's home is '/', not a home of its own");
    let (code, out, err) = run(&b, &env, &["--docker-stacks", "--user", "web"], "id -u");
    assert_eq!((code, out.trim()), (0, "1500"), "{err}");
    assert!(err.contains(&hand_over_refused("/", "CHOWN_HOME", &why)), "{err}");
    assert_eq!(std::fs::metadata(root).unwrap().uid(), 0, "/ changed hands");
}

#[test]
fn a_hand_over_of_a_directory_root_relies_on_is_refused_by_the_plan_and_by_the_start() {
    if !ready() {
        return;
    }
    let b = image();
    let root = b.rootfs();
    for dir in ["var/lib/dpkg", "var/log", "srv/roothooks.d", "tmp/scratch/inside"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "root's\n").unwrap();
    std::os::unix::fs::chown(root.join("tmp/scratch/inside"), Some(501), Some(501)).unwrap();
    // /etc with every entry under it, and the user's tree of a PATH they cannot reach: handed in full
    let env = ["CHOWN_EXTRA=/etc,/tmp/scratch", "CHOWN_EXTRA_OPTS=-R"];
    let flags = [
        "--docker-stacks",
        "--hooks-dir",
        "/srv/roothooks.d",
        "--chown",
        "/usr/local",
        "--chown-tree",
        "/var",
        "--chown",
        "/usr/local/bin/before-notebook.d",
        "--chown-tree",
        "/srv/",
        "--chown",
        "/home/jovyan/../../bin",
    ];
    let refused = [
        ("/etc", "CHOWN_EXTRA", "/etc is the system's configuration: "),
        ("/usr/local", "--chown", "/usr/local lies inside /usr, the system's programs and libraries: "),
        ("/var", "--chown-tree", "/var contains /var/lib, the system's state"),
        (
            "/usr/local/bin/before-notebook.d",
            "--chown",
            "/usr/local/bin/before-notebook.d is the user's hooks directory",
        ),
        ("/srv", "--chown-tree", "/srv contains /srv/roothooks.d, root's hooks directory"),
        ("/bin", "--chown", "/bin is the system's programs"),
    ];
    // the plan first: if it did not refuse each of these, no real start is made
    let (code, plan, err) = run(&b, &env, &[&flags[..], &["--dry-run"]].concat(), "id -u");
    assert_eq!(code, 0, "{err}");
    let reasons: Vec<String> = refused
        .iter()
        .map(|(path, origin, why)| {
            let reason = plan_refusal(&plan, path, origin);
            assert!(reason.starts_with(why), "{reason}");
            assert!(reason.contains("hand over a directory of the user's own outside it instead"), "{reason}");
            reason
        })
        .collect();
    assert!(plan.contains("  hand over:   /tmp/scratch and everything in it"), "{plan}");

    let before: Vec<_> = ["etc", "var", "usr", "srv", "bin"].iter().flat_map(|d| owners(&root.join(d))).collect();
    let (code, out, err) = run(&b, &env, &flags, "id -u");
    assert_eq!((code, out.trim()), (0, "1000"), "the server still starts: {err}");
    for ((path, origin, _), why) in refused.iter().zip(&reasons) {
        assert!(err.contains(&hand_over_refused(path, origin, why)), "{err}");
    }
    let after: Vec<_> = ["etc", "var", "usr", "srv", "bin"].iter().flat_map(|d| owners(&root.join(d))).collect();
    assert_eq!(before, after, "a directory root relies on changed hands");
    assert!(after.iter().all(|(uid, _)| *uid == 0), "{after:?}");
    // below /tmp is anyone's: that hand-over was made
    let owner = |rel: &str| std::fs::metadata(root.join(rel)).unwrap().uid();
    assert_eq!((owner("tmp/scratch"), owner("tmp/scratch/inside"), owner("tmp")), (1000, 1000, 0), "{err}");
}

#[test]
fn a_user_swapping_directories_for_symlinks_during_the_hand_over_reaches_nothing_of_roots() {
    if !ready() {
        return;
    }
    let b = image();
    let root = b.rootfs();
    let home = root.join("home/jovyan");
    old_files(&home, 1000, 100, 200);
    // the user, racing the walk: each directory in turn renamed away and a symlink to /etc put in
    // its place, then put back, over and over until the start is over
    set_mode(b.dir.path(), 0o711);
    let racer = format!(
        "while [ ! -e {stop} ]; do for d in {home}/d*; do [ -L \"$d\" ] && continue; \
         mv \"$d\" \"$d.x\" && ln -s /etc \"$d\" && touch {home}/swapped && rm \"$d\" && mv \"$d.x\" \"$d\"; \
         done; done",
        stop = root.join("tmp/stop").display(),
        home = home.display()
    );
    let mut user = as_uid(1000, 100).args(["sh", "-c", &racer]).spawn().unwrap();
    let swapped = home.join("swapped");
    common::http::wait_for("the user's first swap", std::time::Duration::from_secs(120), || swapped.exists());
    let (code, out, err) = run_in(&b, "/", &[], &["CHOWN_HOME=yes", "CHOWN_HOME_OPTS=-R"], "id -u");
    std::fs::write(root.join("tmp/stop"), "").unwrap();
    user.wait().unwrap();
    assert_eq!((code, out.trim()), (0, "1000"), "{err}");
    assert!(owners(&root.join("etc")).iter().all(|(uid, _)| *uid == 0), "the walk followed a swapped-in symlink");
    assert!(err.contains("(CHOWN_HOME)"), "{err}");
}

#[test]
fn a_non_root_start_without_an_account_gets_one_written_in_place_when_passwd_lets_it() {
    if !ready() {
        return;
    }
    let b = image();
    let etc = b.rootfs().join("etc");
    // docker-stacks' images: /etc/passwd writable by group 0, which OpenShift's arbitrary uid has
    std::os::unix::fs::chown(etc.join("passwd"), Some(0), Some(0)).unwrap();
    set_mode(&etc.join("passwd"), 0o664);
    let names = || {
        let mut n: Vec<_> = std::fs::read_dir(&etc).unwrap().map(|e| e.unwrap().file_name()).collect();
        n.sort();
        n
    };
    let before = names();
    let (code, out, err) = run_as(&b, 1010, 0, &[], &["--docker-stacks"], "id");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.starts_with("uid=1010(jovyan) gid=0(root)"), "{out}\n{err}");
    let passwd = std::fs::read_to_string(etc.join("passwd")).unwrap();
    assert!(passwd.contains("\nnayvoj:x:1000:100::/home/jovyan:/bin/sh\n"), "the image's entry moved aside: {passwd}");
    assert!(passwd.ends_with("\njovyan:x:1010:0:,,,:/home/jovyan:/bin/sh\n"), "{passwd}");
    assert_eq!(names(), before, "no file was created in /etc");
    assert!(err.contains("added jovyan (uid 1010, gid 0, home /home/jovyan) to /etc/passwd in place"), "{err}");
    // a restart: the uid has its entry now
    let (code, _, err) = run_as(&b, 1010, 0, &[], &["--docker-stacks"], "id");
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(etc.join("passwd")).unwrap(), passwd);

    // a passwd this uid cannot write: said so, and the start goes on
    let b = image();
    let (code, out, err) = run_as(&b, 1010, 0, &[], &["--docker-stacks"], "id -u");
    assert_eq!((code, out.trim()), (0, "1010"), "{err}");
    assert!(err.contains("uid 1010 has no account, and none is added"), "{err}");
}

#[test]
fn nb_user_leaves_a_home_already_at_the_new_name_and_the_old_one_as_they_are() {
    if !ready() {
        return;
    }
    let b = image();
    let root = b.rootfs();
    std::fs::write(root.join("home/jovyan/old-notes"), "jovyan's\n").unwrap();
    // /home/kitten is there already (a volume, an earlier image): nothing is moved onto it
    std::fs::create_dir_all(root.join("home/kitten")).unwrap();
    std::fs::write(root.join("home/kitten/theirs"), "kitten's\n").unwrap();
    let (code, out, err) = run_in(&b, "/", &[], &["NB_USER=kitten"], "id -un; echo home=$HOME; ls ~");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.starts_with("kitten\nhome=/home/kitten\ntheirs"), "{out}");
    assert!(err.contains("home /home/kitten exists; /home/jovyan left as it is"), "{err}");
    assert_eq!(std::fs::read_to_string(root.join("home/jovyan/old-notes")).unwrap(), "jovyan's\n");
    assert!(!std::fs::symlink_metadata(root.join("home/jovyan")).unwrap().file_type().is_symlink());
}
