//! Shared helpers for the integration tests: run the real binary, make real accounts, read the real
//! `/proc/self/status` of the command roothooks started.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub const BIN: &str = env!("CARGO_BIN_EXE_roothooks");

/// The static build that scripts/build-static.sh makes (scripts/test.sh runs it before the tests).
pub fn static_binary() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/static/roothooks")
}

/// The wheel that carries the static build (`scripts/build-static.sh --wheel`, which scripts/test.sh
/// runs), or a loud skip when it is missing.
pub fn static_wheel() -> Option<std::path::PathBuf> {
    let version = env!("CARGO_PKG_VERSION");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/wheels");
    let name = format!("roothooks-{version}-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl");
    if dir.join(&name).exists() {
        return Some(dir.join(name));
    }
    skip(&format!("no {}; run scripts/build-static.sh --wheel", dir.join(name).display()));
    None
}

/// The running test's name: libtest names each test's thread after it.
pub fn test_name() -> String {
    std::thread::current().name().unwrap_or("a test").to_string()
}

/// True when the test can go on. Without root it says so (see [`skip`]) and returns false; under CI
/// (CI=true) a missing root is a failure.
pub fn need_root() -> bool {
    nix::unistd::geteuid().is_root() || skip(&format!("needs root, running as uid {}", nix::unistd::geteuid()))
}

/// Whether `program` runs (asked with `arg`, such as `--version`); if not, the test is skipped with
/// `why` (see [`skip`]). For `if !need_program(...) { return }`.
pub fn need_program(program: &str, arg: &str, why: &str) -> bool {
    Command::new(program).arg(arg).output().is_ok() || skip(why)
}

/// Say loudly that the running test is skipped and why, on the terminal (past the harness's capture);
/// under CI (CI=true), where every test must run, fail instead. Returns false, for
/// `if !ready() { return }`.
pub fn skip(why: &str) -> bool {
    let reason = format!("SKIPPED {}: {why}", test_name());
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{reason}; CI must run every test");
    }
    let _ = writeln!(std::io::stderr(), "{reason}");
    false
}

/// A directory owned by `uid`, as a user's home, repository or /opt/conda would be.
pub fn users_dir(uid: u32) -> tempfile::TempDir {
    let dir = scratch("rh-users");
    give_to(dir.path(), uid);
    dir
}

/// Make `path` belong to `uid`, as a user's own file or directory would.
pub fn give_to(path: &std::path::Path, uid: u32) {
    nix::unistd::chown(path, Some(nix::unistd::Uid::from_raw(uid)), None).expect("chown");
}

/// Send `signal` to process `pid`.
pub fn signal(pid: u32, signal: nix::sys::signal::Signal) -> nix::Result<()> {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal)
}

/// The binary, with no identity settings leaking in from the environment the tests run in.
pub fn roothooks() -> Command {
    let mut cmd = Command::new(BIN);
    without_settings(&mut cmd).stdin(Stdio::null());
    cmd
}

/// `cmd` without the ROOTHOOKS_*, NB_* and REPO_DIR variables of the environment the tests run in.
pub fn without_settings(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("ROOTHOOKS_") || key.starts_with("NB_") || key == "REPO_DIR" {
            cmd.env_remove(&*key);
        }
    }
    cmd
}

/// `program` with `args`, started with exactly `envp` (`NAME=value` entries) as its environment, a
/// name given twice if it is given twice, as any execve can give it (std's Command, a shell, Python's
/// os.environ and GNU env keep one value per name): the child calls execve itself, once std has set
/// up its descriptors.
pub fn with_raw_env(envp: &[&str], program: &str, args: &[&std::ffi::OsStr]) -> Command {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;
    let path = CString::new(program).unwrap();
    let args: Vec<CString> = std::iter::once(program.as_bytes())
        .chain(args.iter().map(|a| a.as_bytes()))
        .map(|a| CString::new(a).unwrap())
        .collect();
    let envs: Vec<CString> = envp.iter().map(|e| CString::new(*e).unwrap()).collect();
    let argv = Pointers(args.iter().map(|a| a.as_ptr()).chain([std::ptr::null()]).collect());
    let envp = Pointers(envs.iter().map(|e| e.as_ptr()).chain([std::ptr::null()]).collect());
    let mut cmd = Command::new(program);
    cmd.stdin(Stdio::null());
    // SAFETY: execve is async-signal-safe; every pointer was made before the fork and points into
    // the CStrings this closure owns; if the exec fails the child returns the error to std.
    unsafe {
        cmd.pre_exec(move || {
            let (_keep, argv, envp) = ((&path, &args, &envs), &argv, &envp);
            nix::libc::execve(path.as_ptr(), argv.0.as_ptr(), envp.0.as_ptr());
            Err(std::io::Error::last_os_error())
        });
    }
    cmd
}

/// The argv and envp arrays for an execve in a forked child, made before the fork (nothing may be
/// allocated after it); they point into CStrings the same closure owns.
struct Pointers(Vec<*const nix::libc::c_char>);
// SAFETY: only read, by the one child the closure runs in, while their CStrings live.
unsafe impl Send for Pointers {}
// SAFETY: as above.
unsafe impl Sync for Pointers {}

/// `setpriv` starting what follows as `uid` and `gid` with no other groups (an unprivileged start), with
/// no identity settings leaking in and no stdin; add the program and its arguments.
pub fn as_uid(uid: u32, gid: u32) -> Command {
    let mut cmd = Command::new("setpriv");
    without_settings(&mut cmd).stdin(Stdio::null());
    cmd.args(["--reuid", &uid.to_string(), "--regid", &gid.to_string(), "--clear-groups", "--"]);
    cmd
}

/// The binary dropping to `uid`, with no log file copy.
pub fn roothooks_as(uid: u32) -> Command {
    let mut cmd = roothooks();
    cmd.args(["--uid", &uid.to_string(), "--log-file", "none"]);
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("start roothooks")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `Name: value` lines of a `/proc/self/status` dump, values with their whitespace folded.
pub fn proc_status(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.split_whitespace().collect::<Vec<_>>().join(" ")))
        .collect()
}

/// A Uid: or Gid: line's value when real, effective, saved and filesystem id are all `id`.
pub fn four(id: u32) -> String {
    [id; 4].map(|i| i.to_string()).join(" ")
}

/// The Groups line as numbers, sorted.
pub fn groups(status: &HashMap<String, String>) -> Vec<u32> {
    sorted(&status["Groups"].split(' ').filter(|g| !g.is_empty()).map(|g| g.parse().unwrap()).collect::<Vec<_>>())
}

pub fn sorted(ids: &[u32]) -> Vec<u32> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Check what must hold for every command roothooks starts as a non-root user.
pub fn assert_unprivileged(status: &HashMap<String, String>) {
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(status[set], "0000000000000000", "{set} not empty: {status:?}");
    }
    assert_eq!(status["NoNewPrivs"], "1", "no_new_privs not set");
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn taken(db: &str, key: &str) -> bool {
    Command::new("getent").args([db, key]).stdout(Stdio::null()).status().map(|s| s.success()).unwrap_or(true)
}

/// An id free in both the user and group databases, different for each call in this process.
pub fn free_id() -> u32 {
    loop {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let id = 20_000 + (std::process::id() % 1_000) * 40 + n;
        if !taken("passwd", &id.to_string()) && !taken("group", &id.to_string()) {
            return id;
        }
    }
}

/// shadow-utils refuse rather than wait when another process holds their lock; retry a little.
fn shadow(cmd: &str, args: &[&str]) {
    for _ in 0..50 {
        let out = Command::new(cmd).args(args).output().expect(cmd);
        if out.status.success() {
            return;
        }
        if !String::from_utf8_lossy(&out.stderr).contains("lock") {
            panic!("{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{cmd} {args:?}: database stayed locked");
}

/// A real account (and its groups) in /etc/passwd and /etc/group, removed again when dropped.
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub extra: Vec<(String, u32)>,
    /// the home directory, when this test created it
    pub home: Option<std::path::PathBuf>,
}

impl Account {
    /// An account with its own primary group and `extra` supplementary groups.
    pub fn new(extra: usize) -> Account {
        let uid = free_id();
        let name = format!("rht{uid}");
        shadow("groupadd", &["-g", &uid.to_string(), &name]);
        let extra: Vec<(String, u32)> = (0..extra)
            .map(|_| {
                let gid = free_id();
                let group = format!("rhg{gid}");
                shadow("groupadd", &["-g", &gid.to_string(), &group]);
                (group, gid)
            })
            .collect();
        let list = extra.iter().map(|(g, _)| g.as_str()).collect::<Vec<_>>().join(",");
        let home = format!("/home/{name}");
        let uid_text = uid.to_string();
        let mut args = vec!["-u", &uid_text, "-g", &name, "-M", "-d", &home];
        args.extend(["-s", "/bin/sh"]);
        if !list.is_empty() {
            args.extend(["-G", &list]);
        }
        args.push(&name);
        shadow("useradd", &args);
        Account { name, uid, gid: uid, extra, home: None }
    }

    /// An account whose home directory exists, owned by it, mode 0700 (what a Jupyter server needs).
    pub fn with_home(extra: usize) -> Account {
        let mut account = Account::new(extra);
        let home = std::path::PathBuf::from(format!("/home/{}", account.name));
        std::fs::create_dir_all(&home).unwrap();
        let (uid, gid) = (nix::unistd::Uid::from_raw(account.uid), nix::unistd::Gid::from_raw(account.gid));
        nix::unistd::chown(&home, Some(uid), Some(gid)).unwrap();
        set_mode(&home, 0o700);
        account.home = Some(home);
        account
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        if let Some(home) = &self.home {
            let _ = std::fs::remove_dir_all(home);
        }
        shadow("userdel", &[&self.name]);
        let _ = Command::new("groupdel").arg(&self.name).output();
        for (group, _) in &self.extra {
            shadow("groupdel", &[group]);
        }
    }
}

/// Copy a program that a test will run. `cp` writes it in a process of its own: a copy written by this
/// (many-threaded) process leaves its write descriptor, for a moment, in any child another test thread
/// forks then, and running the copy in that moment fails with "Text file busy".
pub fn copy_program(from: impl AsRef<std::path::Path>, to: impl AsRef<std::path::Path>) {
    let (from, to) = (from.as_ref(), to.as_ref());
    let out = Command::new("cp").arg(from).arg(to).output().expect("cp");
    assert!(out.status.success(), "cp {} {}: {}", from.display(), to.display(), String::from_utf8_lossy(&out.stderr));
}

/// Why `--dry-run`'s plan refuses to hand `path` over (asked for by `origin`: CHOWN_EXTRA, --chown):
/// the reason on its `refused:` line. A plan that does not refuse fails the test here, before a
/// test can go on to a real start.
pub fn plan_refusal(plan: &str, path: &str, origin: &str) -> String {
    let line = format!("  refused:     {path} ({origin}): ");
    let found = plan.lines().find_map(|l| l.strip_prefix(&line));
    found.unwrap_or_else(|| panic!("the plan does not refuse {path} ({origin}):\n{plan}")).to_string()
}

/// The log line of a start that refused to hand `path` over, with the reason the plan gave.
pub fn hand_over_refused(path: &str, origin: &str, why: &str) -> String {
    format!("not handing {path} over ({origin}): {why}")
}

/// A FUSE file system (bindfs, a passthrough) mounted over a directory, and unmounted when dropped,
/// whatever the test did. bindfs is built on libfuse 2, whose protocol has no rename with flags, so
/// the kernel refuses RENAME_NOREPLACE on it with EINVAL, as NFS, CephFS and 9p do.
pub struct FuseMount {
    pub path: std::path::PathBuf,
}

impl FuseMount {
    /// `source` shown at `mountpoint` through bindfs (all users may enter it, as an NFS home), or a
    /// loud skip (see [`skip`]) when the kernel has no FUSE or bindfs is missing.
    pub fn bindfs(source: &std::path::Path, mountpoint: &std::path::Path) -> Option<FuseMount> {
        let fuse = std::fs::read_to_string("/proc/filesystems").is_ok_and(|f| f.lines().any(|l| l.ends_with("\tfuse")));
        if !fuse || !std::path::Path::new("/dev/fuse").exists() {
            skip("no FUSE here (no fuse in /proc/filesystems, or no /dev/fuse)");
            return None;
        }
        if !need_program("bindfs", "--version", "needs bindfs (Debian package bindfs; scripts/test.sh installs it)") {
            return None;
        }
        let out =
            Command::new("bindfs").args(["-o", "allow_other"]).arg(source).arg(mountpoint).output().expect("bindfs");
        assert!(out.status.success(), "bindfs {}: {}", mountpoint.display(), String::from_utf8_lossy(&out.stderr));
        Some(FuseMount { path: mountpoint.to_path_buf() })
    }
}

impl Drop for FuseMount {
    fn drop(&mut self) {
        let done = |cmd: &mut Command| cmd.output().is_ok_and(|o| o.status.success());
        // lazily if a process still has it open: the mount must not outlive the test
        if !done(Command::new("fusermount").arg("-u").arg(&self.path)) {
            done(Command::new("umount").arg("-l").arg(&self.path));
        }
    }
}

/// A root-owned, world-readable scratch directory (tempfile's default 0700 would hide it from users).
pub fn scratch(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().expect("tempdir");
    set_mode(dir.path(), 0o755);
    dir
}

pub fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A hooks directory: `dir/hooks`, plus `dir` itself for markers and outputs.
pub struct Hooks {
    pub root: tempfile::TempDir,
}

impl Hooks {
    pub fn new() -> Hooks {
        let root = scratch("rh-hooks");
        std::fs::create_dir(root.path().join("hooks")).unwrap();
        set_mode(&root.path().join("hooks"), 0o755);
        Hooks { root }
    }

    pub fn dir(&self) -> std::path::PathBuf {
        self.root.path().join("hooks")
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.root.path().join(name)
    }

    /// Add a hook with a `#!/bin/sh` script body and mode 0755.
    pub fn sh(&self, name: &str, body: &str) -> std::path::PathBuf {
        self.raw(name, &format!("#!/bin/sh\n{body}\n"), 0o755)
    }

    pub fn raw(&self, name: &str, content: &str, mode: u32) -> std::path::PathBuf {
        let path = self.dir().join(name);
        std::fs::write(&path, content).unwrap();
        set_mode(&path, mode);
        path
    }

    /// roothooks on this directory, dropping to a fresh uid, with the log file in the scratch dir.
    pub fn roothooks(&self) -> Command {
        let mut cmd = self.bare();
        cmd.args(["--uid", &free_id().to_string()]).arg("--log-file").arg(self.path("roothooks.log"));
        cmd
    }

    /// roothooks on this directory with nothing else set.
    pub fn bare(&self) -> Command {
        let mut cmd = roothooks();
        cmd.arg("--hooks-dir").arg(self.dir());
        cmd
    }
}

/// Whether process `pid` is still running: any of its threads is (a zombie counts as gone, but a
/// thread group whose leader ended while its other threads run does not).
pub fn alive(pid: u32) -> bool {
    let state = |stat: String| stat.rsplit(')').next().and_then(|s| s.split_whitespace().next()).map(str::to_string);
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return false };
    tasks.flatten().any(|task| {
        let stat = std::fs::read_to_string(task.path().join("stat")).ok();
        stat.and_then(state).is_some_and(|s| s != "Z" && s != "X")
    })
}

/// Read a pid a hook wrote to `path`.
pub fn read_pid(path: &std::path::Path) -> u32 {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).trim().parse().unwrap()
}
/// The words of a Dockerfile instruction in exec form (`ENTRYPOINT ["a", "b"]`).
pub fn exec_form(dockerfile: &str, instruction: &str) -> Vec<String> {
    let line = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{instruction} ")))
        .unwrap_or_else(|| panic!("no {instruction} in the Dockerfile"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{instruction} is not in exec form: {e}"))
}

pub mod engine;
pub mod http;
pub mod oci;
