//! Built-in provisioning, from the outside: accounts for arbitrary uids (also under concurrency), home
//! directories (also against planted symlinks), the environment hand-off, env files, unset patterns,
//! and the limits the command sees in its own /proc/self/limits; homes also on a file system that
//! refuses RENAME_NOREPLACE, as NFS does.

mod common;

use std::os::unix::fs::{symlink, MetadataExt};
use std::path::Path;
use std::process::Command;

use common::*;

/// Removes accounts that roothooks added, whatever happens to the test.
struct Added(Vec<String>);

impl Drop for Added {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("userdel").arg(name).output();
            let _ = Command::new("groupdel").arg(name).output();
            let _ = std::fs::remove_dir_all(format!("/home/{name}"));
        }
    }
}

fn passwd_entries() -> Vec<String> {
    std::fs::read_to_string("/etc/passwd").unwrap().lines().map(String::from).collect()
}

#[test]
fn an_arbitrary_uid_gets_a_working_account() {
    if !need_root() {
        return;
    }
    let uid = free_id();
    let name = format!("rhn{uid}");
    let _cleanup = Added(vec![name.clone()]);
    let script = "whoami; id -gn; python3 -c 'import os, pwd; print(pwd.getpwuid(os.getuid()).pw_name)'; echo $HOME";
    let out = run(roothooks()
        .args(["--ensure-account", "--user", &name, "--uid", &uid.to_string(), "--log-file", "none", "--"])
        .args(["sh", "-c", script])
        .env("PATH", "/usr/bin:/bin"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{name}\n{name}\n{name}\n/home/{name}\n"));
    assert!(
        stderr(&out).contains(&format!("added account {name} (uid {uid}, gid {uid}) to /etc/passwd and /etc/group"))
    );
    for file in ["/etc/passwd", "/etc/group"] {
        let meta = std::fs::metadata(file).unwrap();
        assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o644), "{file} must stay root's and 0644");
    }
    // a second start finds it there and writes nothing
    let out = run(roothooks().args(["--ensure-account", "--user", &name, "--log-file", "none", "--", "true"]));
    assert!(out.status.success());
    assert!(!stderr(&out).contains("added account"));
}

#[test]
fn a_clashing_name_or_uid_is_an_error_and_nothing_is_written() {
    if !need_root() {
        return;
    }
    let existing = Account::new(0);
    let fresh_uid = free_id();
    let fresh = format!("rhc{fresh_uid}");
    let out =
        run(roothooks().args(["--ensure-account", "--user", &fresh, "--uid", &existing.uid.to_string(), "--", "true"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(&format!("uid {} already belongs to account '{}'", existing.uid, existing.name)));
    let out = run(roothooks().args([
        "--ensure-account",
        "--user",
        &existing.name,
        "--uid",
        &fresh_uid.to_string(),
        "--",
        "true",
    ]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(&format!("--user '{}' is uid {}", existing.name, existing.uid)), "{}", stderr(&out));
    // other tests add accounts meanwhile, so look for what these two would have written
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    assert!(!passwd.lines().any(|l| l.starts_with(&format!("{fresh}:")) || l.contains(&format!(":x:{fresh_uid}:"))));
    let group = std::fs::read_to_string("/etc/group").unwrap();
    assert!(!group.lines().any(|l| l.starts_with(&format!("{fresh}:"))));
}

#[test]
fn twenty_concurrent_starts_and_useradd_leave_complete_valid_files() {
    if !need_root() {
        return;
    }
    let before = passwd_entries();
    let ids: Vec<u32> = (0..20).map(|_| free_id()).collect();
    let names: Vec<String> = ids.iter().map(|id| format!("rhp{id}")).collect();
    let extra: Vec<(String, u32)> = (0..3).map(|_| free_id()).map(|id| (format!("rhu{id}"), id)).collect();
    let mut cleanup = Added(names.clone());
    cleanup.0.extend(extra.iter().map(|(n, _)| n.clone()));
    let mut children: Vec<std::process::Child> = ids
        .iter()
        .zip(&names)
        .map(|(id, name)| {
            roothooks()
                .args(["--ensure-account", "--no-exec", "--user", name, "--uid", &id.to_string(), "--log-file", "none"])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // shadow-utils at the same time, under the same locks
    let useradds: Vec<_> = extra
        .iter()
        .map(|(name, id)| Command::new("useradd").args(["-M", "-u", &id.to_string(), "-U", name]).spawn().unwrap())
        .collect();
    for child in &mut children {
        assert!(child.wait().unwrap().success());
    }
    for mut child in useradds {
        let _ = child.wait();
    }
    let after = passwd_entries();
    for line in &after {
        assert_eq!(line.split(':').count(), 7, "corrupt line: {line:?}");
    }
    // Other tests in this binary add and remove their own `rh…` accounts meanwhile; every other entry
    // that was there must still be there.
    for line in before.iter().filter(|l| !l.starts_with("rh")) {
        assert!(after.contains(line), "lost an entry: {line}");
    }
    for (id, name) in ids.iter().zip(&names) {
        assert!(after.contains(&format!("{name}:x:{id}:{id}::/home/{name}:/bin/bash")), "{name} missing");
    }
    let group = std::fs::read_to_string("/etc/group").unwrap();
    for (id, name) in ids.iter().zip(&names) {
        assert!(group.lines().any(|l| l == format!("{name}:x:{id}:")), "group {name} missing");
    }
    assert!(!Path::new("/etc/passwd.lock").exists() && !Path::new("/etc/group.lock").exists(), "a lock was left");
}

#[test]
fn home_is_created_from_skel_and_symlinks_are_refused() {
    if !need_root() {
        return;
    }
    let base = scratch("rh-homes");
    let skel = base.path().join("skel");
    std::fs::create_dir_all(skel.join(".config/app")).unwrap();
    std::fs::write(skel.join(".profile"), "export X=1\n").unwrap();
    std::fs::write(skel.join(".config/app/settings"), "a=b\n").unwrap();
    symlink("/etc/shadow", skel.join("planted-link")).unwrap();
    let homes = base.path().join("homes");
    std::fs::create_dir(&homes).unwrap();
    set_mode(&homes, 0o755);
    let uid = free_id();
    let home = homes.join("alice");
    let out = run(roothooks()
        .args(["--uid", &uid.to_string(), "--create-home", "--log-file", "none", "--home"])
        .arg(&home)
        .arg("--skel")
        .arg(&skel)
        .args(["--", "sh", "-c", "cd && cat .config/app/settings && ls -A | sort | tr '\\n' ' '"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "a=b\n.config .profile ");
    let meta = std::fs::metadata(&home).unwrap();
    assert_eq!((meta.uid(), meta.gid(), meta.mode() & 0o7777), (uid, uid, 0o700));
    assert_eq!(std::fs::metadata(home.join(".config/app/settings")).unwrap().uid(), uid);
    assert!(stderr(&out).contains("not copied from") && stderr(&out).contains("planted-link (a symbolic link)"));

    // an existing home is left exactly as it is
    set_mode(&home, 0o750);
    let out = run(roothooks()
        .args(["--uid", &uid.to_string(), "--create-home", "--log-file", "none", "--home"])
        .arg(&home)
        .args(["--", "true"]));
    assert!(out.status.success());
    assert_eq!(std::fs::metadata(&home).unwrap().mode() & 0o7777, 0o750);
    assert!(stderr(&out).contains("exists; left as it is"));

    // a symlink planted where the home should be is not followed
    let victim = base.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    symlink(&victim, homes.join("bob")).unwrap();
    let out = run(roothooks()
        .args(["--uid", &uid.to_string(), "--create-home", "--log-file", "none", "--home"])
        .arg(homes.join("bob"))
        .args(["--", "true"]));
    assert!(out.status.success(), "the server still starts");
    assert!(stderr(&out).contains("is a symbolic link (planted?)"), "{}", stderr(&out));
    assert_eq!(std::fs::metadata(&victim).unwrap().uid(), 0, "chowned through the symlink");

    // a parent a user controls could be swapped for a symlink: refused
    let user = Account::new(0);
    let theirs = base.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    give_to(&theirs, user.uid);
    let out = run(roothooks()
        .args(["--uid", &uid.to_string(), "--create-home", "--log-file", "none", "--home"])
        .arg(theirs.join("carol"))
        .args(["--", "true"]));
    assert!(out.status.success());
    assert!(
        stderr(&out).contains(&format!("is owned by uid {}", user.uid)) && stderr(&out).contains("home not created")
    );
    assert!(!theirs.join("carol").exists());
}

#[test]
fn hooks_hand_variables_to_the_command_through_roothooks_env() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    let seen = h.path("seen");
    h.sh(
        "10-handoff",
        &format!(
            "stat -c '%a %u' \"$(dirname \"$ROOTHOOKS_ENV\")\" > {seen}; echo $ROOTHOOKS_ENV >> {seen}\n\
             printf 'MOUNT_POINT=/mnt/bucket\\nbad line\\n1BAD=x\\nQUOTED=\"a b\"\\nNUL=a\\000b\\n' >> \"$ROOTHOOKS_ENV\"",
            seen = seen.display()
        ),
    );
    let out = run(h.roothooks().args(["--", "sh", "-c", "echo $MOUNT_POINT; echo $QUOTED; echo ${NUL-unset}"]));
    assert!(out.status.success(), "{}", stderr(&out));
    // a value with a NUL byte is a bad line like the others: the command still starts, without it
    assert_eq!(stdout(&out), "/mnt/bucket\na b\nunset\n", "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("ignoring $ROOTHOOKS_ENV line 2: no '='")
            && err.contains("ignoring $ROOTHOOKS_ENV line 3: what stands before '=' is not a variable name"),
        "{err}"
    );
    assert!(err.contains("line 5: NUL: a NUL byte"), "{err}");
    let seen = std::fs::read_to_string(seen).unwrap();
    let mut lines = seen.lines();
    assert_eq!(lines.next(), Some("700 0"), "the hand-off directory must be root's alone");
    assert!(!Path::new(lines.next().unwrap()).exists(), "the hand-off file was left behind");
}

#[test]
fn env_files_and_unset_patterns_shape_the_commands_environment() {
    if !need_root() {
        return;
    }
    let h = Hooks::new();
    let hook_saw = h.path("hook-saw");
    h.sh("10-mount", &format!("echo \"$AWS_SECRET_ACCESS_KEY\" > {}", hook_saw.display()));
    let creds = h.path("credentials");
    std::fs::create_dir(&creds).unwrap();
    set_mode(&creds, 0o700); // like $CREDENTIALS_DIRECTORY: root only
    let envfile = creds.join("envfile");
    std::fs::write(
        &envfile,
        "# systemd style\nDB_URL=\"postgres://db/x?a=1 b\"\n; comment\nLONG=one \\\ntwo\nbad line\nPLAIN = value  \n",
    )
    .unwrap();
    let out = run(h
        .roothooks()
        .arg("--env-file")
        .arg(&envfile)
        .args([
            "--unset-env",
            "AWS_*",
            "--hook-env",
            "AWS_*",
            "--",
            "sh",
            "-c",
            "echo \"$DB_URL|$LONG|$PLAIN|${AWS_SECRET_ACCESS_KEY-unset}|${AWS_REGION-unset}|$KEEP\"",
        ])
        .env("AWS_SECRET_ACCESS_KEY", "s3cr3t")
        .env("AWS_REGION", "eu")
        .env("KEEP", "kept"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "postgres://db/x?a=1 b|one two|value|unset|unset|kept\n");
    assert_eq!(std::fs::read_to_string(&hook_saw).unwrap(), "s3cr3t\n", "hooks still get what they need");
    assert!(stderr(&out).contains(&format!("ignoring {} line 6: no '='", envfile.display())), "{}", stderr(&out));

    // the same through the environment, comma separated
    let out = run(roothooks()
        .args(["--uid", "4242", "--log-file", "none", "--", "sh", "-c", "echo ${A-unset}${B-unset}${C_1-unset}$D"])
        .env("ROOTHOOKS_UNSET_ENV", "A,C_*")
        .envs([("A", "a"), ("B", "b"), ("C_1", "c"), ("D", "d")]));
    assert_eq!(stdout(&out), "unsetbunsetd\n");
}

#[test]
fn a_file_size_limit_for_the_command_never_kills_roothooks_own_log_copy() {
    if !need_root() {
        return;
    }
    let uid = free_id();
    let theirs = users_dir(uid);
    let logs = scratch("rh-fsize-log");
    let log = logs.path().join("copy.log");
    let big = theirs.path().join("big");
    // the copy passes 200 bytes with the start's first lines; the command's own write past it is
    // stopped by SIGXFSZ, which it gets back at its default
    let script =
        format!("grep ^SigIgn /proc/self/status; head -c 1000 /dev/zero > {}; echo \"write: $?\"", big.display());
    let out = run(roothooks()
        .args(["--uid", &uid.to_string(), "--rlimit", "fsize=200", "--log-file"])
        .arg(&log)
        .args(["--", "sh", "-c", &script]));
    let err = stderr(&out);
    assert!(out.status.success(), "{:?}: {err}", out.status);
    let text = stdout(&out);
    let ignored = u64::from_str_radix(text.lines().next().unwrap().trim_start_matches("SigIgn:").trim(), 16).unwrap();
    assert_eq!(ignored & (1 << (25 - 1)), 0, "SIGXFSZ ignored in the command: {text}");
    assert!(text.contains("write: 153") || text.contains("write: 1"), "the command's write past the limit: {text}");
    assert!(err.contains("roothooks: the log copy stops here: File too large"), "{err}");
    assert!(std::fs::metadata(&log).unwrap().len() <= 200);
}

#[test]
fn limits_umask_and_workdir_are_what_the_command_sees() {
    if !need_root() {
        return;
    }
    let dir = scratch("rh-work");
    let script = "grep -E '^Max (open files|core file size|processes)' /proc/self/limits; umask; pwd";
    let out = run(roothooks_as(4242)
        .args(["--rlimit", "nofile=123:456", "--rlimit", "core=0", "--rlimit", "nproc=77"])
        .args(["--umask", "027", "--workdir"])
        .arg(dir.path())
        .args(["--", "sh", "-c", script]));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let limit = |name: &str| {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name}: {text}"));
        line[name.len()..].split_whitespace().take(2).collect::<Vec<_>>().join(" ")
    };
    assert_eq!(limit("Max open files"), "123 456");
    assert_eq!(limit("Max core file size"), "0 0");
    assert_eq!(limit("Max processes"), "77 77");
    assert!(text.contains("\n0027\n"), "{text}");
    assert!(text.ends_with(&format!("{}\n", dir.path().display())), "{text}");

    // a hard limit above what the kernel allows cannot be applied: nothing starts
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open").unwrap().trim().parse().unwrap();
    let marker = dir.path().join("ran");
    let too_high = format!("nofile=1024:{}", nr_open + 1);
    let out = run(roothooks_as(4242).args(["--rlimit", &too_high, "--", "touch"]).arg(&marker));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("cannot apply --rlimit nofile=1024:{}", nr_open + 1)), "{}", stderr(&out));
    assert!(!marker.exists());

    // a workdir the user cannot enter: nothing starts
    let private = scratch("rh-private");
    set_mode(private.path(), 0o700);
    let out = run(roothooks()
        .args(["--uid", "4242", "--log-file", "none", "--workdir"])
        .arg(private.path())
        .args(["--", "touch"])
        .arg(&marker));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot enter --workdir") && stderr(&out).contains("as uid 4242"),
        "{}",
        stderr(&out)
    );
    assert!(!marker.exists());
}

#[test]
fn a_user_name_cannot_inject_a_line_into_etc_passwd() {
    if !need_root() {
        return;
    }
    // On a hub the name may come from the authenticator, through NB_USER.
    let uid = free_id();
    for evil in ["pwn:x:0:0::/root:/bin/sh", "pwn\nroot2::0:0::/root:/bin/sh", "../../etc/x"] {
        let out = run(roothooks()
            .args(["--ensure-account", "--create-home", "--log-file", "none", "--", "true"])
            .env("NB_USER", evil)
            .env("NB_UID", uid.to_string()));
        assert_eq!(out.status.code(), Some(2), "{evil:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("is not a valid account name"), "{}", stderr(&out));
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    assert!(!passwd.contains("pwn") && !passwd.contains("root2"));
}

#[test]
fn a_skel_a_user_could_change_is_not_copied() {
    if !need_root() {
        return;
    }
    let user = Account::new(0);
    let base = scratch("rh-skel");
    let skel = base.path().join("skel");
    std::fs::create_dir(&skel).unwrap();
    std::fs::write(skel.join(".profile"), "x\n").unwrap();
    give_to(&skel, user.uid);
    let homes = base.path().join("homes");
    std::fs::create_dir(&homes).unwrap();
    let home = homes.join("dora");
    let out = run(roothooks_as(free_id())
        .args(["--create-home", "--home"])
        .arg(&home)
        .arg("--skel")
        .arg(&skel)
        .args(["--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(home.is_dir() && !home.join(".profile").exists(), "copied from an untrusted skel");
    assert!(
        stderr(&out).contains("is not trusted") && stderr(&out).contains(&format!("owned by uid {}", user.uid)),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_account_a_hook_provided_is_not_added_again() {
    if !need_root() {
        return;
    }
    let uid = free_id();
    let name = format!("rhk{uid}");
    let _cleanup = Added(vec![name.clone()]);
    // what an sssd or LDAP set-up hook does, here with useradd
    let h = Hooks::new();
    h.sh("10-directory", &format!("useradd -M -u {uid} -U {name}"));
    let out = run(h
        .bare()
        .args(["--ensure-account", "--user", &name, "--uid", &uid.to_string(), "--log-file", "none", "--", "id", "-un"])
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{name}\n"));
    assert!(
        stderr(&out).contains(&format!("uid {uid} has an account now ({name}); not adding one")),
        "{}",
        stderr(&out)
    );
    let entries = passwd_entries().iter().filter(|l| l.starts_with(&format!("{name}:"))).count();
    assert_eq!(entries, 1, "the account is in /etc/passwd twice");
}

/// `depth` nested directories with 100-byte names under `top`, each beside four empty ones, all
/// owned by `uid`: made by descriptor, since the whole path is far past PATH_MAX.
fn deep_comb(top: &Path, depth: usize, uid: u32) {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::{mkdirat, Mode};
    let owner = Some(nix::unistd::Uid::from_raw(uid));
    let group = Some(nix::unistd::Gid::from_raw(uid));
    let name = "d".repeat(100);
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let mut dir = openat(nix::fcntl::AT_FDCWD, top, flags, Mode::empty()).unwrap();
    for _ in 0..depth {
        for sub in ["s1", "s2", "s3", "s4", name.as_str()] {
            mkdirat(&dir, sub, Mode::from_bits_truncate(0o755)).unwrap();
            nix::unistd::fchownat(&dir, sub, owner, group, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW).unwrap();
        }
        dir = openat(&dir, name.as_str(), flags, Mode::empty()).unwrap();
    }
}

#[test]
fn the_hand_overs_memory_does_not_grow_with_the_square_of_the_depth() {
    if !need_root() {
        return;
    }
    let top = scratch("rh-deep");
    let (old, new) = (free_id(), free_id());
    deep_comb(top.path(), 9000, old);
    // Its own peak, as its staying process's VmHWM: the kernel's high-water mark of this program's
    // memory since its exec (wait4's figure would include this test process's, inherited at the fork).
    let out = run(roothooks()
        .args(["--uid", &new.to_string(), "--log-file", "none", "--hooks-dir", "/nonexistent", "--init", "on"])
        .arg("--chown-tree")
        .arg(top.path())
        .args(["--", "sh", "-c", "grep VmHWM /proc/$PPID/status"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let kib: u64 = stdout(&out).split_whitespace().nth(1).and_then(|k| k.parse().ok()).unwrap();
    let peak_mib = kib / 1024;
    eprintln!("hand-over of 9,000 nested directories (45,000 entries): peak {peak_mib} MiB");
    // 100-byte names, 9,000 deep: a whole path per level would be 4 GB; a constant per level is
    // 9,000 small levels. (Before, 40 MiB here and 49 to 74 MiB under /usr/bin/time.)
    assert!(peak_mib < 30, "peak {peak_mib} MiB");
    let owner = |rel: &Path| std::fs::symlink_metadata(top.path().join(rel)).unwrap().uid();
    assert_eq!((owner(Path::new("s1")), owner(Path::new(&"d".repeat(100)))), (new, new));
    assert!(stderr(&out).contains("45001 changed"), "{}", stderr(&out));
}

#[test]
fn a_home_whose_copy_fails_halfway_is_not_left_behind_and_the_next_start_completes_it() {
    if !need_root() {
        return;
    }
    let base = scratch("rh-full-home");
    let skel = base.path().join("skel");
    std::fs::create_dir_all(&skel).unwrap();
    std::fs::write(skel.join(".profile"), "export X=1\n").unwrap();
    std::fs::write(skel.join("big"), vec![b'x'; 256 * 1024]).unwrap();
    let homes = base.path().join("homes");
    std::fs::create_dir(&homes).unwrap();
    set_mode(&homes, 0o755);
    let uid = free_id();
    // a volume too small for the skel, in a mount namespace of the test's own (gone with it)
    let script = format!(
        "mount -t tmpfs -o size=128k,mode=0755 tmpfs {homes} && \
         {BIN} --uid {uid} --create-home --log-file none --home {homes}/alice --skel {skel} -- true; \
         echo \"status $?\"; ls -A {homes}; rm {skel}/big; \
         {BIN} --uid {uid} --create-home --log-file none --home {homes}/alice --skel {skel} -- sh -c 'ls -A ~'; \
         stat -c '%u %a' {homes}/alice",
        homes = homes.display(),
        skel = skel.display(),
    );
    let mut cmd = Command::new("unshare");
    let out = run(without_settings(&mut cmd).args(["-m", "--propagation", "private", "sh", "-c", &script]));
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{text}\n{err}");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("status 0"), "the server still starts: {err}");
    assert!(err.contains("No space left on device"), "{err}");
    // nothing at the home's name, and nothing left aside: the second start found no home
    assert_eq!(lines.next(), Some(".profile"), "the second start's home, and nothing else: {text}");
    assert_eq!(lines.next(), Some(&*format!("{uid} 700")), "{text}\n{err}");
    assert!(!err.contains("exists; left as it is"), "{err}");
}

/// The kernel's answer to `renameat2(RENAME_NOREPLACE)` in `dir`: the tests below prove something
/// only on a file system that refuses it.
fn rename_noreplace_refused(dir: &Path) -> bool {
    let (from, to) = (dir.join("probe"), dir.join("probe-renamed"));
    std::fs::create_dir(&from).unwrap();
    let flags = nix::fcntl::RenameFlags::RENAME_NOREPLACE;
    let res = nix::fcntl::renameat2(nix::fcntl::AT_FDCWD, &from, nix::fcntl::AT_FDCWD, &to, flags);
    let _ = std::fs::remove_dir(&from);
    let _ = std::fs::remove_dir(&to);
    res == Err(nix::errno::Errno::EINVAL)
}

/// `base/under` shown at `base/mnt` through bindfs (unmounted when the guard drops), root's and 0755.
fn fuse_over(base: &Path) -> Option<FuseMount> {
    let (under, over) = (base.join("under"), base.join("mnt"));
    for dir in [&under, &over] {
        std::fs::create_dir(dir).unwrap();
        set_mode(dir, 0o755);
    }
    let mount = FuseMount::bindfs(&under, &over)?;
    assert!(
        rename_noreplace_refused(&over),
        "bindfs accepts RENAME_NOREPLACE now; this test needs one that refuses it"
    );
    Some(mount)
}

#[test]
fn a_home_is_created_on_a_file_system_that_refuses_rename_noreplace() {
    if !need_root() {
        return;
    }
    let base = scratch("rh-fuse-home");
    let skel = base.path().join("skel");
    std::fs::create_dir_all(skel.join(".config/app")).unwrap();
    std::fs::write(skel.join(".profile"), "export X=1\n").unwrap();
    std::fs::write(skel.join(".config/app/settings"), "a=b\n").unwrap();
    let Some(mount) = fuse_over(base.path()) else { return };
    // a root-owned parent, and a sticky one where anyone may add names (/tmp on the share)
    let sticky = mount.path.join("tmp");
    std::fs::create_dir(&sticky).unwrap();
    set_mode(&sticky, 0o1777);
    let uid = free_id();
    for home in [mount.path.join("alice"), sticky.join("bob")] {
        let out = run(roothooks()
            .args(["--uid", &uid.to_string(), "--create-home", "--log-file", "none", "--home"])
            .arg(&home)
            .arg("--skel")
            .arg(&skel)
            .args(["--", "sh", "-c", "cd && cat .config/app/settings && ls -A | sort | tr '\\n' ' '"]));
        let err = stderr(&out);
        assert!(out.status.success(), "{err}");
        assert!(err.contains(&format!("created home {}", home.display())), "{err}");
        assert_eq!(stdout(&out), "a=b\n.config .profile ", "{err}");
        let meta = std::fs::symlink_metadata(&home).unwrap();
        assert!(meta.is_dir(), "{}", home.display());
        assert_eq!((meta.uid(), meta.gid(), meta.mode() & 0o7777), (uid, uid, 0o700), "{}", home.display());
        assert_eq!(std::fs::metadata(home.join(".config/app/settings")).unwrap().uid(), uid);
    }
    // nothing left aside: the holders are gone
    let names = |dir: &Path| {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    };
    assert_eq!(names(&mount.path), ["alice", "tmp"]);
    assert_eq!(names(&sticky), ["bob"]);
}

#[test]
fn an_nb_user_home_moves_on_a_file_system_that_refuses_rename_noreplace() {
    use roothooks::provision::home::{move_home, Moved, NO_SAFE_RENAME};
    if !need_root() {
        return;
    }
    let base = scratch("rh-fuse-move");
    let Some(mount) = fuse_over(base.path()) else { return };
    let user = Account::new(0);
    // a root-owned parent: only root can rename the home's entry, so it is renamed
    let (from, to) = (mount.path.join("jovyan"), mount.path.join("kitten"));
    std::fs::create_dir(&from).unwrap();
    std::fs::write(from.join("notes"), "mine\n").unwrap();
    give_to(&from, user.uid);
    assert_eq!(move_home(&from, &to).unwrap(), Moved::Moved);
    assert_eq!(std::fs::read_to_string(to.join("notes")).unwrap(), "mine\n");
    assert_eq!(std::fs::read_link(&from).unwrap(), to, "a link at the old place");
    // a sticky parent: the user could swap their home for a symlink mid-rename; linked instead
    let sticky = mount.path.join("tmp");
    std::fs::create_dir(&sticky).unwrap();
    set_mode(&sticky, 0o1777);
    let (from, to) = (sticky.join("jovyan"), sticky.join("kitten"));
    std::fs::create_dir(&from).unwrap();
    give_to(&from, user.uid);
    assert_eq!(move_home(&from, &to).unwrap(), Moved::Linked(NO_SAFE_RENAME));
    assert_eq!(std::fs::read_link(&to).unwrap(), from);
    assert!(std::fs::symlink_metadata(&from).unwrap().is_dir());
}

#[test]
fn a_hand_over_of_a_directory_root_relies_on_is_refused_by_the_plan_and_by_the_start() {
    if !need_root() {
        return;
    }
    let hooks = Hooks::new();
    // a directory of root's on root's hooks' PATH, outside the system's trees, and a fresh volume
    let tools = scratch("rh-tools");
    std::fs::create_dir(tools.path().join("bin")).unwrap();
    set_mode(&tools.path().join("bin"), 0o755);
    let volume = scratch("rh-volume");
    let uid = free_id();
    let path_var = format!("{}/bin:/usr/bin:/bin", tools.path().display());
    let (hooks_dir, hooks_top) = (hooks.dir(), hooks.root.path().to_path_buf());
    let shown = |p: &Path| p.display().to_string();
    let (hooks, top, tools_dir, tools_bin) =
        (shown(&hooks_dir), shown(&hooks_top), shown(tools.path()), shown(&tools.path().join("bin")));
    // (flag, path as given, how the reason starts)
    let affordable = [
        ("--chown", hooks.clone(), format!("{hooks} is root's hooks directory")),
        ("--chown", top.clone(), format!("{top} contains {hooks}, root's hooks directory")),
        ("--chown-tree", format!("{tools_bin}/"), format!("{tools_bin} is a directory on root's hooks' PATH")),
        ("--chown", tools_dir.clone(), format!("{tools_dir} contains {tools_bin}, a directory on root's hooks' PATH")),
    ];
    // this machine's own: only ever in the dry run
    let system = [
        ("--chown-tree", "/etc".to_string(), "/etc is the system's configuration".to_string()),
        ("--chown", "/usr/local".to_string(), "/usr/local lies inside /usr".to_string()),
        ("--chown-tree", "/var".to_string(), "/var contains /var/lib".to_string()),
    ];
    // a dry run of a start with a command, or a start that only runs root's phase (--no-exec)
    let start = |jobs: &[&(&str, String, String)], dry_run: bool| {
        let mut cmd = roothooks_as(uid);
        cmd.env("PATH", &path_var).arg("--hooks-dir").arg(&hooks_dir).arg("--chown").arg(volume.path());
        for (flag, path, _) in jobs {
            cmd.args([flag, path.as_str()]);
        }
        run(if dry_run { cmd.args(["--dry-run", "--", "true"]) } else { cmd.arg("--no-exec") })
    };
    let out = start(&affordable.iter().chain(&system).collect::<Vec<_>>(), true);
    let plan = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut reasons = Vec::new();
    for (flag, path, why) in affordable.iter().chain(&system) {
        let path = path.trim_end_matches('/');
        let reason = plan_refusal(&plan, path, flag);
        assert!(reason.starts_with(why.as_str()), "{reason}");
        reasons.push((flag, path.to_string(), reason));
    }
    assert!(plan.contains(&format!("  hand over:   {} itself (--chown)", shown(volume.path()))), "{plan}");

    // the real start, only with what this test made: the plan above refused each of them
    let owner = |p: &Path| std::fs::metadata(p).unwrap().uid();
    let mine = [hooks_dir.clone(), hooks_top.clone(), tools.path().join("bin"), tools.path().to_path_buf()];
    assert!(mine.iter().all(|p| owner(p) == 0));
    let out = start(&affordable.iter().collect::<Vec<_>>(), false);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    for (flag, path, why) in reasons.iter().take(affordable.len()) {
        assert!(err.contains(&hand_over_refused(path, flag, why)), "{err}");
    }
    for p in &mine {
        assert_eq!(owner(p), 0, "{} changed hands: {err}", p.display());
    }
    assert_eq!(owner(volume.path()), uid, "the fresh volume is handed over: {err}");
}
