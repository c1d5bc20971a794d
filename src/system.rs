//! The one thin layer that talks to the kernel about credentials, capabilities and process state.
//!
//! Everything that changes who this process is goes through the [`Syscall`] trait, so the *order* of a
//! privilege drop can be unit-tested against a recording fake while the integration tests check the
//! real result from inside the exec'd command. Nothing outside this module calls libc directly.
//!
//! Capabilities are read and written as raw 64-bit masks, not as a list of names known at compile time:
//! a kernel newer than this binary may know capabilities we have never heard of, and those must be
//! dropped and verified all the same.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::io;
use std::os::fd::{OwnedFd, RawFd};

use nix::libc;
pub use nix::unistd::{Gid, Uid};

/// Turn a C-style `-1` return into the `errno` it stands for, once, instead of at every call site.
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The credentials and privilege state of the calling process, as the kernel reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// real, effective, saved and filesystem uid
    pub uids: [Uid; 4],
    /// real, effective, saved and filesystem gid
    pub gids: [Gid; 4],
    pub groups: Vec<Gid>,
    pub caps: CapSets,
    pub no_new_privs: bool,
}

/// All five capability sets as bit masks (bit N is capability N).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
    pub bounding: u64,
}

impl CapSets {
    /// The sets that are not empty, by the names `/proc/self/status` uses.
    pub fn non_empty(&self) -> Vec<(&'static str, u64)> {
        [
            ("CapEff", self.effective),
            ("CapPrm", self.permitted),
            ("CapInh", self.inheritable),
            ("CapAmb", self.ambient),
            ("CapBnd", self.bounding),
        ]
        .into_iter()
        .filter(|(_, mask)| *mask != 0)
        .collect()
    }
}

/// The privileged operations of a drop, in the vocabulary of the kernel.
///
/// The real implementation is [`Kernel`]; tests use a recorder to check the order of calls.
pub trait Syscall {
    /// Make sure a change of uid clears the permitted and effective sets (PR_SET_KEEPCAPS 0).
    fn clear_keep_caps(&mut self) -> io::Result<()>;
    /// Empty the ambient set; an unprivileged process may always do this.
    fn clear_ambient(&mut self) -> io::Result<()>;
    /// Remove every capability from the bounding set; needs CAP_SETPCAP.
    fn clear_bounding(&mut self) -> io::Result<()>;
    /// Set the supplementary groups, even to an empty list.
    fn set_groups(&mut self, groups: &[Gid]) -> io::Result<()>;
    fn set_resgid(&mut self, gid: Gid) -> io::Result<()>;
    fn set_resuid(&mut self, uid: Uid) -> io::Result<()>;
    /// Empty the effective, permitted and inheritable sets; lowering them is always allowed.
    fn clear_capabilities(&mut self) -> io::Result<()>;
    fn set_no_new_privs(&mut self) -> io::Result<()>;
    /// Read back what the kernel now says about this process.
    fn credentials(&self) -> io::Result<Credentials>;
    /// Try to become uid 0, then gid 0, again; each `true` is an attempt that succeeded.
    fn try_regain_root(&mut self) -> Regained;
}

/// What [`Syscall::try_regain_root`] got back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Regained {
    pub uid: bool,
    pub gid: bool,
}

/// The real kernel.
#[derive(Debug, Default)]
pub struct Kernel;

// Not exported by the libc crate: the capget/capset header and data of _LINUX_CAPABILITY_VERSION_3.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn capget() -> io::Result<(u64, u64, u64)> {
    let mut header = CapHeader { version: CAPABILITY_VERSION_3, pid: 0 };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and data are valid, writable and of the layout version 3 expects (two elements).
    let ret = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    check(ret as libc::c_int)?;
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    Ok((
        join(data[0].effective, data[1].effective),
        join(data[0].permitted, data[1].permitted),
        join(data[0].inheritable, data[1].inheritable),
    ))
}

fn capset_empty() -> io::Result<()> {
    let mut header = CapHeader { version: CAPABILITY_VERSION_3, pid: 0 };
    let data = [CapData::default(); 2];
    // SAFETY: header and data are valid and of the layout version 3 expects; the kernel only reads data.
    let ret = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    check(ret as libc::c_int).map(drop)
}

fn prctl(option: libc::c_int, arg2: libc::c_ulong) -> io::Result<libc::c_int> {
    // SAFETY: every option used here takes integer arguments only; unused ones must be zero.
    check(unsafe { libc::prctl(option, arg2, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) })
}

fn prctl_ambient(op: libc::c_ulong, cap: libc::c_ulong) -> io::Result<libc::c_int> {
    // SAFETY: PR_CAP_AMBIENT takes integer arguments only; the unused ones must be zero.
    check(unsafe { libc::prctl(libc::PR_CAP_AMBIENT, op, cap, 0 as libc::c_ulong, 0 as libc::c_ulong) })
}

/// Walk capability numbers until the kernel says it does not know one (EINVAL), collecting those for
/// which `probe` answers 1.
fn cap_mask(probe: impl Fn(libc::c_ulong) -> io::Result<libc::c_int>) -> io::Result<u64> {
    let mut mask = 0u64;
    for cap in 0..64u32 {
        match probe(cap.into()) {
            Ok(1) => mask |= 1 << cap,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(mask)
}

fn bounding_mask() -> io::Result<u64> {
    cap_mask(|cap| prctl(libc::PR_CAPBSET_READ, cap))
}

fn ambient_mask() -> io::Result<u64> {
    cap_mask(|cap| prctl_ambient(libc::PR_CAP_AMBIENT_IS_SET as libc::c_ulong, cap))
}

/// CapAmb and CapBnd as `/proc/self/status` reports them, if it can be read.
fn proc_status_caps() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let mask = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name))?;
        u64::from_str_radix(line[name.len()..].trim(), 16).ok()
    };
    Some((mask("CapAmb:")?, mask("CapBnd:")?))
}

/// Who this process is, without the cost of reading its capabilities: real and effective uid, the
/// supplementary groups, and where it was started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub real: Uid,
    pub effective: Uid,
    pub groups: Vec<Gid>,
    /// the working directory it was started in, as the kernel names it (`None`: deleted, or out of
    /// reach)
    pub cwd: Option<std::path::PathBuf>,
    /// the kernel started it in secure mode (AT_SECURE): setuid, setgid or with file capabilities
    pub secure_mode: bool,
}

pub fn started() -> io::Result<Started> {
    let uids = nix::unistd::getresuid()?;
    // SAFETY: getauxval only reads the auxiliary vector the kernel passed; an absent entry is 0.
    let secure_mode = unsafe { libc::getauxval(libc::AT_SECURE) } != 0;
    Ok(Started {
        real: uids.real,
        effective: uids.effective,
        groups: nix::unistd::getgroups()?,
        cwd: std::env::current_dir().ok(),
        secure_mode,
    })
}

/// Leave whatever directory this process is in for `/`, so that nothing root does afterwards (a hook
/// importing from its working directory) can depend on a directory a user may own.
pub fn enter_root_dir() -> io::Result<()> {
    std::env::set_current_dir("/")
}

/// Whether this user namespace forbids setgroups (`/proc/self/setgroups` says `deny`): then no drop
/// can set the supplementary groups, whatever capabilities roothooks holds.
pub fn setgroups_denied() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
}

// keyctl(2) operations and special ids; not in the libc crate.
const KEYCTL_GET_KEYRING_ID: libc::c_long = 0;
const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;

/// The id of this process's session keyring, without creating one.
pub fn session_keyring() -> io::Result<i64> {
    // SAFETY: KEYCTL_GET_KEYRING_ID takes two integer arguments; 0 asks not to create a keyring.
    let id = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0) };
    if id == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(id)
    }
}

/// Join a new, empty, anonymous session keyring, owned by whoever this process now is, leaving the
/// one inherited from the starter (root's keys) behind. Returns its id.
pub fn join_new_session_keyring() -> io::Result<i64> {
    // SAFETY: a null name asks for a new anonymous keyring; no memory is passed.
    let id = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, std::ptr::null::<libc::c_char>()) };
    if id == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(id)
    }
}

fn fsuid() -> Uid {
    // SAFETY: setfsuid with an invalid id (-1) changes nothing and returns the current fsuid.
    Uid::from_raw(unsafe { libc::setfsuid(u32::MAX) } as u32)
}

fn fsgid() -> Gid {
    // SAFETY: setfsgid with an invalid id (-1) changes nothing and returns the current fsgid.
    Gid::from_raw(unsafe { libc::setfsgid(u32::MAX) } as u32)
}

impl Syscall for Kernel {
    fn clear_keep_caps(&mut self) -> io::Result<()> {
        prctl(libc::PR_SET_KEEPCAPS, 0).map(drop)
    }

    fn clear_ambient(&mut self) -> io::Result<()> {
        prctl_ambient(libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0).map(drop)
    }

    fn clear_bounding(&mut self) -> io::Result<()> {
        // Dropping an absent capability succeeds, so walk them all until the kernel knows no more.
        for cap in 0..64u32 {
            match prctl(libc::PR_CAPBSET_DROP, cap.into()) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn set_groups(&mut self, groups: &[Gid]) -> io::Result<()> {
        nix::unistd::setgroups(groups).map_err(io::Error::from)
    }

    fn set_resgid(&mut self, gid: Gid) -> io::Result<()> {
        nix::unistd::setresgid(gid, gid, gid).map_err(io::Error::from)
    }

    fn set_resuid(&mut self, uid: Uid) -> io::Result<()> {
        nix::unistd::setresuid(uid, uid, uid).map_err(io::Error::from)
    }

    fn clear_capabilities(&mut self) -> io::Result<()> {
        capset_empty()
    }

    fn set_no_new_privs(&mut self) -> io::Result<()> {
        nix::sys::prctl::set_no_new_privs().map_err(io::Error::from)
    }

    fn credentials(&self) -> io::Result<Credentials> {
        let uids = nix::unistd::getresuid()?;
        let gids = nix::unistd::getresgid()?;
        let (effective, permitted, inheritable) = capget()?;
        // One read of the kernel's own report instead of two walks of 41+ prctl calls each; the walks
        // remain for a container without /proc.
        let (ambient, bounding) = match proc_status_caps() {
            Some(both) => both,
            None => (ambient_mask()?, bounding_mask()?),
        };
        Ok(Credentials {
            uids: [uids.real, uids.effective, uids.saved, fsuid()],
            gids: [gids.real, gids.effective, gids.saved, fsgid()],
            groups: nix::unistd::getgroups()?,
            caps: CapSets { effective, permitted, inheritable, ambient, bounding },
            no_new_privs: nix::sys::prctl::get_no_new_privs()?,
        })
    }

    fn try_regain_root(&mut self) -> Regained {
        let uid = nix::unistd::setuid(Uid::from_raw(0)).is_ok();
        let gid = nix::unistd::setgid(Gid::from_raw(0)).is_ok();
        Regained { uid, gid }
    }
}

/// What std's runtime start-up would do that roothooks needs, without the rest of it (see main.rs):
/// open /dev/null on any of descriptors 0, 1 and 2 that is closed, so that nothing opened later (the
/// log copy, a hook's pipe) can land there and be written to as if it were stdout or stderr; and ignore
/// SIGPIPE, so a log reader that went away is an error on a write, not the end of the start. Also puts
/// back the one disposition the hook runner relies on, SIGCHLD's.
pub fn prepare_process() -> io::Result<()> {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd { fd, events: 0, revents: 0 });
    // SAFETY: fds is a valid array of 3 pollfd for the kernel to fill in; timeout 0 does not block.
    check(unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) })?;
    for pfd in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        // The lowest free descriptor is the closed one: descriptors below it are open.
        // SAFETY: a constant NUL-terminated path; the flags take no further arguments.
        let fd = check(unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) })?;
        if fd != pfd.fd {
            return Err(io::Error::other(format!("/dev/null opened as fd {fd}, not the closed fd {}", pfd.fd)));
        }
    }
    // SAFETY: SIG_IGN is a valid disposition for SIGPIPE; no handler code is involved.
    if unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    // A launcher may start us with SIGCHLD ignored, which makes the kernel reap hooks by itself: their
    // exit would never be seen, and a finished hook would look like a hung one.
    check(set_default(libc::SIGCHLD) as libc::c_int)?;
    Ok(())
}

/// The descriptors open in this process, by number, as `/proc/self/fd` lists them.
///
/// `None` when `/proc` is not mounted (possible in a minimal container).
pub fn open_fds() -> Option<BTreeSet<RawFd>> {
    let listed: BTreeSet<RawFd> =
        std::fs::read_dir("/proc/self/fd").ok()?.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    // The listing's own directory handle shows up in it; it is closed now, so keep only what is open.
    // SAFETY: F_GETFD only reads descriptor flags; a closed fd fails with EBADF.
    Some(listed.into_iter().filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1).collect())
}

/// Mark every descriptor from 3 up that is not in `keep` close-on-exec, so nothing this process opened
/// itself reaches the command, while descriptors handed to us (socket activation) still do.
///
/// One close_range call marks them all; then only the kept ones, usually none, are un-marked.
pub fn cloexec_all_but(keep: &BTreeSet<RawFd>) -> io::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on descriptors; no memory involved.
    let ret = unsafe {
        libc::syscall(libc::SYS_close_range, 3 as libc::c_uint, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC)
    };
    if ret == -1 {
        // Kernels before 5.11 lack CLOSE_RANGE_CLOEXEC: walk what is open instead.
        return cloexec_by_walking(keep);
    }
    for &fd in keep.iter().filter(|fd| **fd >= 3) {
        // SAFETY: F_GETFD/F_SETFD only read and set descriptor flags; a closed fd fails with EBADF.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags != -1 {
            // SAFETY: as above.
            check(unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) })?;
        }
    }
    Ok(())
}

fn cloexec_by_walking(keep: &BTreeSet<RawFd>) -> io::Result<()> {
    let open = open_fds().ok_or_else(|| io::Error::other("neither close_range nor /proc/self/fd is available"))?;
    for fd in open.into_iter().filter(|fd| *fd >= 3 && !keep.contains(fd)) {
        // SAFETY: F_GETFD/F_SETFD only read and set descriptor flags; a stale fd fails with EBADF.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags == -1 {
            continue;
        }
        // SAFETY: as above.
        check(unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) })?;
    }
    Ok(())
}

/// Give the command the signal state a freshly started process has: nothing blocked, nothing ignored.
///
/// roothooks ignores SIGPIPE, the hook runner blocks the termination signals, and whoever started us may
/// have ignored anything; none of it may leak. Hooks get the same through [`Spawner`]. (Caught signals
/// need nothing: an exec puts those back to their default itself.)
pub fn reset_signals() -> io::Result<()> {
    use nix::sys::signal::{SigSet, SigmaskHow};
    for signal in ignored_signals() {
        check(set_default(signal) as libc::c_int)?;
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
    Ok(())
}

/// The signals this process ignores, as `/proc/self/status` reports them (SigIgn); every signal when
/// that cannot be read, so that resetting them errs on the side of too many.
fn ignored_signals() -> Vec<libc::c_int> {
    let all = (1..=64).filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP);
    let mask = std::fs::read_to_string("/proc/self/status").ok().and_then(|status| {
        let line = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
        u64::from_str_radix(line.trim(), 16).ok()
    });
    match mask {
        Some(mask) => all.filter(|s| mask & (1 << (s - 1)) != 0).collect(),
        None => all.collect(),
    }
}

/// Put `signal` back to SIG_DFL with the raw system call: glibc refuses to touch the two real-time
/// signals it reserves (32, 33), which can arrive ignored all the same. Returns the call's result, -1
/// with errno set on failure; async-signal-safe, so a [`Spawner`] child may call it.
fn set_default(signal: libc::c_int) -> libc::c_long {
    // The kernel's struct sigaction, zeroed: SIG_DFL, no flags, empty mask, whatever the architecture's
    // layout of those fields (at most 32 bytes).
    let default = [0u64; 4];
    // SAFETY: `default` is a valid, zeroed kernel sigaction that outlives the call; no old action is
    // asked for; the size is the kernel's sigset size (64 signals).
    unsafe { libc::syscall(libc::SYS_rt_sigaction, signal, default.as_ptr(), std::ptr::null_mut::<u64>(), 8usize) }
}

// glibc's lock on the user and group databases, the one shadow-utils (useradd) takes first; not in the
// libc crate. musl provides a stub that always succeeds.
extern "C" {
    fn lckpwdf() -> libc::c_int;
    fn ulckpwdf() -> libc::c_int;
}

/// Holds glibc's lock on the account databases (`/etc/.pwd.lock`) until dropped.
#[derive(Debug)]
pub struct PasswdLock(());

impl PasswdLock {
    /// Take the lock, waiting as glibc does (up to 15 s) for another holder.
    pub fn acquire() -> io::Result<PasswdLock> {
        // SAFETY: lckpwdf takes no arguments and only locks a file; failure is reported as -1.
        check(unsafe { lckpwdf() })?;
        Ok(PasswdLock(()))
    }
}

impl Drop for PasswdLock {
    fn drop(&mut self) {
        // SAFETY: releases the lock taken in `acquire`; nothing else to uphold.
        unsafe { ulckpwdf() };
    }
}

/// Starts hooks: a vfork-style clone that only rearranges descriptors and signals, then execs.
///
/// glibc's posix_spawn, under std's `Command`, costs each hook a fresh child stack (mmap and munmap),
/// a query and a reset of all 64 signal dispositions, and std copies the whole environment into a map
/// first; together about a third of roothooks' own time per hook. Here the environment, the stack,
/// /dev/null and the list of ignored signals are prepared once, and the child makes five system calls
/// plus one per ignored signal (usually just SIGPIPE) before the exec.
pub struct Spawner {
    stack: Vec<u8>,
    dev_null: OwnedFd,
    /// what this process ignores, SIGPIPE at least: hooks start with all of it at the default
    ignored: Vec<libc::c_int>,
    // `envp` points into `env`, which is never changed after `new`
    _env: Vec<CString>,
    envp: Vec<*const libc::c_char>,
}

/// A started hook: its pid, which leads its own process group, and its stdout and stderr.
pub struct Spawned {
    pub pid: nix::unistd::Pid,
    pub stdout: std::fs::File,
    pub stderr: std::fs::File,
}

impl Spawner {
    /// Every hook gets exactly `env`.
    pub fn new(env: &[(std::ffi::OsString, std::ffi::OsString)]) -> io::Result<Spawner> {
        use std::os::unix::ffi::OsStrExt;
        let vars = env
            .iter()
            .map(|(name, value)| c_pair(name.as_bytes(), value.as_bytes()))
            .collect::<io::Result<Vec<_>>>()?;
        let mut envp: Vec<*const libc::c_char> = vars.iter().map(|v| v.as_ptr()).collect();
        envp.push(std::ptr::null());
        let dev_null = std::fs::File::open("/dev/null")?.into();
        Ok(Spawner { stack: vec![0; 64 * 1024], dev_null, ignored: ignored_signals(), _env: vars, envp })
    }

    /// Start `program` with `arg0` as its only argument: stdin on /dev/null, stdout and stderr on
    /// new pipes, in a process group of its own, with an empty signal mask and nothing ignored.
    /// An exec that fails is an error here, with its errno, and leaves no child behind.
    pub fn spawn(&mut self, program: &std::path::Path, arg0: &std::path::Path) -> io::Result<Spawned> {
        use std::os::fd::AsRawFd;
        use std::os::unix::ffi::OsStrExt;
        let path = CString::new(program.as_os_str().as_bytes())?;
        let arg0 = CString::new(arg0.as_os_str().as_bytes())?;
        let argv = [arg0.as_ptr(), std::ptr::null()];
        let (out_read, out_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let (err_read, err_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let fds = [self.dev_null.as_raw_fd(), out_write.as_raw_fd(), err_write.as_raw_fd()];
        let envp = self.envp.as_ptr();
        let ignored = self.ignored.as_slice();
        let exec_errno = std::sync::atomic::AtomicI32::new(0);
        let child = Box::new(|| -> isize {
            // In the child, which shares this process's memory until it execs: no allocation, no
            // locks, only system calls. A failure stores errno for the parent and exits 127.
            // SAFETY: every pointer is into memory the suspended parent keeps alive (argv, envp, path,
            // ignored); the descriptors are open; dup2 clears close-on-exec on 0, 1 and 2 only.
            unsafe {
                let mut empty: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut empty);
                let ok = libc::dup2(fds[0], 0) != -1
                    && libc::dup2(fds[1], 1) != -1
                    && libc::dup2(fds[2], 2) != -1
                    && libc::setpgid(0, 0) != -1
                    && ignored.iter().all(|&signal| set_default(signal) != -1)
                    && libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) != -1;
                if ok {
                    libc::execve(path.as_ptr(), argv.as_ptr(), envp);
                }
                exec_errno.store(*libc::__errno_location(), std::sync::atomic::Ordering::Relaxed);
                libc::_exit(127)
            }
        });
        let flags = nix::sched::CloneFlags::CLONE_VM | nix::sched::CloneFlags::CLONE_VFORK;
        // SAFETY: CLONE_VFORK suspends this thread until the child execs or exits, and the child only
        // makes async-signal-safe calls, allocates nothing and writes nothing but `exec_errno` (what
        // posix_spawn's child does too); it runs on `self.stack`, 64 KiB, far more than those calls use.
        let pid = unsafe { nix::sched::clone(child, &mut self.stack, flags, Some(libc::SIGCHLD)) }?;
        drop((out_write, err_write));
        match exec_errno.load(std::sync::atomic::Ordering::Relaxed) {
            0 => Ok(Spawned { pid, stdout: out_read.into(), stderr: err_read.into() }),
            errno => {
                let _ = nix::sys::wait::waitpid(pid, None);
                Err(io::Error::from_raw_os_error(errno))
            }
        }
    }
}

fn c_pair(name: &[u8], value: &[u8]) -> io::Result<CString> {
    let mut pair = Vec::with_capacity(name.len() + value.len() + 1);
    pair.extend_from_slice(name);
    pair.push(b'=');
    pair.extend_from_slice(value);
    Ok(CString::new(pair)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_credentials_like_proc_status() {
        let creds = Kernel.credentials().expect("read credentials");
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let field = |name: &str| {
            let line = status.lines().find(|l| l.starts_with(name)).unwrap();
            u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
        };
        assert_eq!(creds.caps.effective, field("CapEff:"));
        assert_eq!(creds.caps.permitted, field("CapPrm:"));
        assert_eq!(creds.caps.inheritable, field("CapInh:"));
        assert_eq!(creds.caps.ambient, field("CapAmb:"));
        assert_eq!(creds.caps.bounding, field("CapBnd:"));
        let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        let uids: Vec<u32> = uid_line.split_whitespace().skip(1).map(|v| v.parse().unwrap()).collect();
        assert_eq!(creds.uids.map(|u| u.as_raw()).to_vec(), uids);
    }

    #[test]
    fn the_prctl_walks_agree_with_proc_status() {
        assert_eq!(proc_status_caps().unwrap(), (ambient_mask().unwrap(), bounding_mask().unwrap()));
    }

    #[test]
    fn open_fds_does_not_list_its_own_directory_handle() {
        let before = open_fds().unwrap();
        let file = std::fs::File::open("/proc/self/status").unwrap();
        let with_file = open_fds().unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        assert!(with_file.contains(&fd) && !before.contains(&fd));
        assert_eq!(with_file.len(), before.len() + 1, "{before:?} {with_file:?}");
    }

    #[test]
    fn non_empty_names_the_sets_that_hold_something() {
        let sets = CapSets { permitted: 1, bounding: 0x20, ..Default::default() };
        assert_eq!(sets.non_empty(), vec![("CapPrm", 1), ("CapBnd", 0x20)]);
    }
}
