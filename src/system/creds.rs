//! Who this process is and what it may do: its ids, groups and all five capability sets, read from and
//! written to the kernel; the system calls of a privilege drop ([`Syscall`], with [`Kernel`] the real
//! one); and its session keyring, which outlives both.
//!
//! Capability sets are changed through the `caps` crate. It knows the capabilities of its release
//! (0-40); a kernel newer than this binary may know more, and those must be dropped and verified all
//! the same: the bounding set is also emptied past the crate's list, up to the last number the
//! kernel knows, and the sets are read back as the kernel's own 64-bit masks
//! (`/proc/self/status`), with the crate's reads only where /proc is not mounted.

use std::io;

use nix::libc;

use super::check;
use super::{Gid, Uid};

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
    /// seccomp filters in place, as `/proc/self/status` counts them (`None` without /proc): read with
    /// the capabilities, so that installing roothooks' filter need not read the status again to know
    /// how many there must be after it
    pub seccomp_filters: Option<usize>,
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

/// A capability-crate error as an `io::Error`, keeping the OS error where there is one.
fn caps_error(e: caps::errors::CapsError) -> io::Error {
    io::Error::other(e.to_string())
}

/// The supplementary groups. nix's getgroups sizes its buffer from sysconf(_SC_NGROUPS_MAX), which
/// glibc answers by reading /proc/sys/kernel/ngroups_max each time; the kernel says how many there are.
fn groups() -> io::Result<Vec<Gid>> {
    loop {
        // SAFETY: a size of 0 asks only for the number of groups; nothing is written.
        let count = check(unsafe { libc::getgroups(0, std::ptr::null_mut()) })?;
        if count == 0 {
            return Ok(Vec::new());
        }
        let mut gids: Vec<libc::gid_t> = vec![0; usize::try_from(count).unwrap_or(0)];
        // SAFETY: gids has room for `count` gids, the size passed.
        match check(unsafe { libc::getgroups(count, gids.as_mut_ptr()) }) {
            Ok(n) => {
                gids.truncate(usize::try_from(n).unwrap_or(0));
                return Ok(gids.into_iter().map(Gid::from_raw).collect());
            }
            // the groups changed in between (another thread's setgroups): ask again
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => continue,
            Err(e) => return Err(e),
        }
    }
}

fn prctl(option: libc::c_int, arg2: libc::c_ulong) -> io::Result<libc::c_int> {
    // SAFETY: every option used here takes integer arguments only; unused ones must be zero.
    check(unsafe { libc::prctl(option, arg2, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) })
}

/// The first capability number the `caps` crate does not know.
fn past_the_crate() -> u32 {
    caps::all().iter().map(|c| u32::from(c.index()) + 1).max().unwrap_or(0)
}

/// The capability numbers past the `caps` crate's list that this kernel knows: probed until it
/// says it does not know one (EINVAL).
fn past_the_crates_list() -> impl Iterator<Item = u32> {
    (past_the_crate()..64).take_while(|&cap| prctl(libc::PR_CAPBSET_READ, cap.into()).is_ok())
}

/// A set as a 64-bit mask, from the crate's names.
fn mask(set: &caps::CapsHashSet) -> u64 {
    set.iter().fold(0, |mask, cap| mask | cap.bitmask())
}

/// The five sets as the `caps` crate reads them, with the bounding and ambient numbers it does not
/// know probed from the kernel: where /proc is not mounted.
fn crate_caps() -> io::Result<CapSets> {
    let read = |set| caps::read(None, set).map(|s| mask(&s)).map_err(caps_error);
    let past = |probe: &dyn Fn(u32) -> io::Result<libc::c_int>| -> io::Result<u64> {
        past_the_crates_list().try_fold(0, |mask, cap| Ok(if probe(cap)? == 1 { mask | 1 << cap } else { mask }))
    };
    let ambient_past = past(&|cap| check(ambient_is_set(cap)))?;
    Ok(CapSets {
        effective: read(caps::CapSet::Effective)?,
        permitted: read(caps::CapSet::Permitted)?,
        inheritable: read(caps::CapSet::Inheritable)?,
        ambient: read(caps::CapSet::Ambient)? | ambient_past,
        bounding: read(caps::CapSet::Bounding)? | past(&|cap| prctl(libc::PR_CAPBSET_READ, cap.into()))?,
    })
}

/// PR_CAP_AMBIENT_IS_SET for `cap`: 1 when it is in the ambient set.
fn ambient_is_set(cap: u32) -> libc::c_int {
    // SAFETY: PR_CAP_AMBIENT takes integer arguments only; the unused ones must be zero.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_IS_SET as libc::c_ulong,
            libc::c_ulong::from(cap),
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    }
}

/// The five sets, CapEff to CapBnd, and Seccomp_filters as `/proc/self/status` reports them, if it
/// can be read: the kernel's own masks, every bit.
fn proc_status_caps() -> Option<(CapSets, Option<usize>)> {
    let status = super::self_status()?;
    let names = ["CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd", "Seccomp_filters"];
    let [effective, permitted, inheritable, ambient, bounding, filters] = super::status_fields(&status, names);
    let filters = filters.and_then(|n| n.parse().ok());
    let masked = |value: Option<&str>| super::hex_mask(value?);
    let sets = CapSets {
        effective: masked(effective)?,
        permitted: masked(permitted)?,
        inheritable: masked(inheritable)?,
        ambient: masked(ambient)?,
        bounding: masked(bounding)?,
    };
    Some((sets, filters))
}

/// Who this process is, without the cost of reading its capabilities: real and effective uid, the
/// supplementary groups, and where it was started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub real: Uid,
    pub effective: Uid,
    /// the effective gid (OpenShift's 0, which a non-root start cannot leave)
    pub gid: Gid,
    pub groups: Vec<Gid>,
    /// the working directory it was started in, as the kernel names it (`None`: deleted, or out of
    /// reach)
    pub cwd: Option<std::path::PathBuf>,
    /// the kernel started it in secure mode (AT_SECURE): setuid, setgid or with file capabilities
    pub secure_mode: bool,
    /// it is PID 1 of its pid namespace: a container's init, whose orphans come to it
    pub pid1: bool,
    /// a terminal is within its reach: a controlling terminal (someone's shell started it, or
    /// `docker run -t`), whatever its standard descriptors are (`roothooks ... </dev/null >log 2>&1`
    /// from a root shell still has the shell's terminal, which what it starts could take), or a
    /// terminal on a descriptor it was handed, controlling or not (`setsid roothooks ...` from a root
    /// shell has the shell's terminal on 0-2, from which what it starts could read what root types)
    pub on_terminal: bool,
}

/// `handed`: the descriptors above 2 that roothooks was handed (see `prepare_process`).
pub fn started(handed: &std::collections::BTreeSet<std::os::fd::RawFd>) -> io::Result<Started> {
    let uids = nix::unistd::getresuid()?;
    // SAFETY: getauxval only reads the auxiliary vector the kernel passed; an absent entry is 0.
    let secure_mode = unsafe { libc::getauxval(libc::AT_SECURE) } != 0;
    Ok(Started {
        real: uids.real,
        effective: uids.effective,
        gid: nix::unistd::getegid(),
        groups: groups()?,
        cwd: std::env::current_dir().ok(),
        secure_mode,
        pid1: nix::unistd::getpid().as_raw() == 1,
        on_terminal: super::tty::has_controlling_terminal()
            || (0..3).chain(handed.iter().copied()).any(super::tty::is_terminal),
    })
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
    Uid::from_raw(unsafe { libc::setfsuid(u32::MAX) }.cast_unsigned())
}

fn fsgid() -> Gid {
    // SAFETY: setfsgid with an invalid id (-1) changes nothing and returns the current fsgid.
    Gid::from_raw(unsafe { libc::setfsgid(u32::MAX) }.cast_unsigned())
}

/// The capabilities to drop from the bounding set, in order: those it held at the start, since
/// nothing can add one back (PR_CAPBSET_DROP is the only change there is). Unknown at the start:
/// every number, until the kernel knows no more. (The crate drops those it knows of that are held.)
fn bounding_to_drop(at_start: Option<u64>) -> impl Iterator<Item = u32> {
    (0..64u32).filter(move |&cap| at_start.is_none_or(|mask| mask & (1 << cap) != 0))
}

impl Syscall for Kernel {
    fn clear_keep_caps(&mut self) -> io::Result<()> {
        prctl(libc::PR_SET_KEEPCAPS, 0).map(drop)
    }

    fn clear_ambient(&mut self) -> io::Result<()> {
        caps::clear(None, caps::CapSet::Ambient).map_err(caps_error)
    }

    fn clear_bounding(&mut self) -> io::Result<()> {
        caps::clear(None, caps::CapSet::Bounding).map_err(caps_error)?;
        // what the crate does not know of, this kernel may: of what was held at the start
        for cap in bounding_to_drop(super::at_start().bounding).filter(|&cap| cap >= past_the_crate()) {
            match prctl(libc::PR_CAPBSET_DROP, cap.into()) {
                Ok(_) => {}
                // past the last capability this kernel knows
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
        // the permitted set with the effective one, then the inheritable: every bit of each, known
        // to the crate or not (capset writes whole masks)
        caps::clear(None, caps::CapSet::Permitted).map_err(caps_error)?;
        caps::clear(None, caps::CapSet::Inheritable).map_err(caps_error)
    }

    fn set_no_new_privs(&mut self) -> io::Result<()> {
        nix::sys::prctl::set_no_new_privs().map_err(io::Error::from)
    }

    fn credentials(&self) -> io::Result<Credentials> {
        let uids = nix::unistd::getresuid()?;
        let gids = nix::unistd::getresgid()?;
        // the kernel's own report; the crate's reads for a container without /proc
        let (caps, seccomp_filters) = match proc_status_caps() {
            Some(read) => read,
            None => (crate_caps()?, None),
        };
        Ok(Credentials {
            uids: [uids.real, uids.effective, uids.saved, fsuid()],
            gids: [gids.real, gids.effective, gids.saved, fsgid()],
            groups: groups()?,
            caps,
            no_new_privs: nix::sys::prctl::get_no_new_privs()?,
            seccomp_filters,
        })
    }

    fn try_regain_root(&mut self) -> Regained {
        let uid = nix::unistd::setuid(Uid::from_raw(0)).is_ok();
        let gid = nix::unistd::setgid(Gid::from_raw(0)).is_ok();
        Regained { uid, gid }
    }
}

/// Install a seccomp filter program (classic BPF, built elsewhere) for this process and what it
/// execs. Unlike the helper of the crate that builds it, this does not set no_new_privs itself:
/// `--allow-privilege-escalation` installs the filter while root still holds CAP_SYS_ADMIN instead.
pub fn install_seccomp_filter(program: &[libc::sock_filter]) -> io::Result<()> {
    let len = u16::try_from(program.len()).map_err(|_| io::Error::other("seccomp program too long"))?;
    let prog = libc::sock_fprog { len, filter: program.as_ptr().cast_mut() };
    // SAFETY: `prog` points at `program`, which outlives the call; the kernel copies the program and
    // keeps no reference to it.
    let ret = unsafe { libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, std::ptr::from_ref(&prog)) };
    check(ret).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_capabilities_held_at_the_start_are_dropped() {
        // docker's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
        // NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
        let docker: Vec<u32> = bounding_to_drop(Some(0xa804_25fb)).collect();
        assert_eq!(docker, [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31]);
        assert_eq!(bounding_to_drop(Some(0)).count(), 0);
        assert_eq!(bounding_to_drop(Some(0x1ff_ffff_ffff)).count(), 41);
        assert_eq!(bounding_to_drop(None).count(), 64, "unknown: every number, until the kernel says no more");
    }

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
        let filters =
            status.lines().find_map(|l| l.strip_prefix("Seccomp_filters:")).map(|v| v.trim().parse().unwrap());
        assert_eq!(creds.seccomp_filters, filters);
    }

    #[test]
    fn the_reads_without_proc_agree_with_proc_status() {
        let (sets, filters) = proc_status_caps().unwrap();
        // the reads for a container without /proc: the crate's, and past its list the kernel's
        assert_eq!((sets.ambient, sets.bounding), (crate_caps().unwrap().ambient, crate_caps().unwrap().bounding));
        assert_eq!(sets, crate_caps().unwrap());
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let field = |name| status.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().parse().unwrap());
        assert_eq!(filters, field("Seccomp_filters:"), "the filter count comes with the capabilities");
    }

    #[test]
    fn non_empty_names_the_sets_that_hold_something() {
        let sets = CapSets { permitted: 1, bounding: 0x20, ..Default::default() };
        assert_eq!(sets.non_empty(), vec![("CapPrm", 1), ("CapBnd", 0x20)]);
    }
}
