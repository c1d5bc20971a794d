//! A kernel-surface filter for the user's server, installed as the last step of the drop.
//!
//! The pods roothooks serves often run privileged or `seccompProfile: Unconfined` (FUSE, mounts), and a
//! privileged container gets no seccomp filter from its runtime at all. After the drop the user has no
//! capability, but could still reach kernel code that most local root exploits of recent years went
//! through (user namespaces, io_uring, bpf), read keys, or type into the terminal roothooks was started
//! on. The filter denies those in named [`Group`]s, with EPERM (ENOSYS for clone3, so libc falls back
//! to clone, whose flags can be checked), and is inherited by everything the command starts.
//!
//! The BPF program is built by `seccompiler` (rust-vmm's, also used by Firecracker): syscalls by
//! their names in the libc crate for the architecture being built, no hand-written BPF. Its program
//! first checks the architecture and kills a process that calls in with another ABI (i386's `int
//! 0x80` on x86_64); on x86_64, where the kernel answers the x32 ABI at all, every denied call is
//! denied again under its x32 number, so no rule can be bypassed through either.

use std::collections::BTreeMap;
use std::fmt;

use nix::libc;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

use crate::error::{Error, Result};

/// A named set of system calls a notebook user does not need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Group {
    /// new user namespaces (unshare, clone and clone3 with CLONE_NEWUSER): the door to kernel code
    /// only root could reach before; rootless podman and Chromium's sandbox need it
    Userns,
    /// TIOCSTI and TIOCLINUX: typing into the terminal roothooks was started on
    #[value(name = "tty-inject")]
    TtyInject,
    /// add_key, request_key, keyctl: the kernel's key store
    Keyring,
    /// bpf(2): eBPF programs and maps
    Bpf,
    /// perf_event_open: performance counters and tracing
    Perf,
    /// userfaultfd, and USERFAULTFD_IOC_NEW on /dev/userfaultfd: a favourite of kernel exploits for
    /// winning races
    Userfaultfd,
    /// io_uring_setup, io_uring_enter, io_uring_register
    #[value(name = "io_uring")]
    IoUring,
    /// kexec, modules, reboot, swap, acct, mounts (classic and the new mount API), pivot_root, setns
    Kernel,
}

impl Group {
    pub const ALL: [Group; 8] = [
        Group::Userns,
        Group::TtyInject,
        Group::Keyring,
        Group::Bpf,
        Group::Perf,
        Group::Userfaultfd,
        Group::IoUring,
        Group::Kernel,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Group::Userns => "userns",
            Group::TtyInject => "tty-inject",
            Group::Keyring => "keyring",
            Group::Bpf => "bpf",
            Group::Perf => "perf",
            Group::Userfaultfd => "userfaultfd",
            Group::IoUring => "io_uring",
            Group::Kernel => "kernel",
        }
    }

    /// Where this binary has no filter (see [`ARCH`]), nothing to deny: building the filter fails.
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    fn denied(self) -> Vec<(libc::c_long, Vec<SeccompCondition>)> {
        Vec::new()
    }

    /// The calls denied with EPERM: each with the conditions on its arguments (none: always).
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn denied(self) -> Vec<(libc::c_long, Vec<SeccompCondition>)> {
        let always = |calls: &[libc::c_long]| calls.iter().map(|&nr| (nr, Vec::new())).collect();
        match self {
            Group::Userns => {
                let newuser = |arg| flag_set(arg, libc::CLONE_NEWUSER);
                vec![(libc::SYS_unshare, vec![newuser(0)]), (libc::SYS_clone, vec![newuser(0)])]
            }
            Group::TtyInject => vec![
                (libc::SYS_ioctl, vec![request_is(libc::TIOCSTI)]),
                (libc::SYS_ioctl, vec![request_is(libc::TIOCLINUX)]),
            ],
            Group::Keyring => always(&[libc::SYS_add_key, libc::SYS_request_key, libc::SYS_keyctl]),
            Group::Bpf => always(&[libc::SYS_bpf]),
            Group::Perf => always(&[libc::SYS_perf_event_open]),
            Group::Userfaultfd => {
                // the same object through the device node (Linux 6.1), whatever mode an image gave it
                vec![(libc::SYS_userfaultfd, Vec::new()), (libc::SYS_ioctl, vec![request_is(USERFAULTFD_IOC_NEW)])]
            }
            Group::IoUring => {
                always(&[libc::SYS_io_uring_setup, libc::SYS_io_uring_enter, libc::SYS_io_uring_register])
            }
            Group::Kernel => always(&[
                libc::SYS_kexec_load,
                libc::SYS_kexec_file_load,
                libc::SYS_init_module,
                libc::SYS_finit_module,
                libc::SYS_delete_module,
                libc::SYS_reboot,
                libc::SYS_swapon,
                libc::SYS_swapoff,
                libc::SYS_acct,
                libc::SYS_mount,
                libc::SYS_umount2,
                libc::SYS_pivot_root,
                libc::SYS_setns,
                libc::SYS_fsopen,
                libc::SYS_fsconfig,
                libc::SYS_fsmount,
                libc::SYS_fspick,
                libc::SYS_move_mount,
                libc::SYS_open_tree,
                libc::SYS_mount_setattr,
            ]),
        }
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn condition(arg: u8, len: SeccompCmpArgLen, op: SeccompCmpOp, value: u64) -> SeccompCondition {
    SeccompCondition::new(arg, len, op, value).expect("argument index below 6")
}

/// Argument `arg` has `flag` set (clone and unshare flags).
fn flag_set(arg: u8, flag: libc::c_int) -> SeccompCondition {
    let flag = u64::from(flag.cast_unsigned());
    condition(arg, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(flag), flag)
}

/// `_IO(0xAA, 0x00)`: the ioctl of /dev/userfaultfd that makes a userfaultfd (not in the libc crate).
const USERFAULTFD_IOC_NEW: libc::c_ulong = 0xAA00;

/// ioctl's request is `request`. The kernel reads it as a 32-bit int, so only those bits are compared.
fn request_is(request: libc::c_ulong) -> SeccompCondition {
    condition(1, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, request)
}

/// `--seccomp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// deny every group but those --seccomp-allow names
    Default,
    /// no filter (a warning on every start)
    Off,
}

/// What the command's filter denies: every group but those allowed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seccomp {
    /// `--seccomp off`
    Off,
    /// the default: deny every group but `allowed`
    On { allowed: Vec<Group> },
}

impl Default for Seccomp {
    /// On, denying every group.
    fn default() -> Self {
        Seccomp::On { allowed: Vec::new() }
    }
}

impl Seccomp {
    pub fn new(mode: Mode, allowed: &[Group]) -> Seccomp {
        match mode {
            Mode::Off => Seccomp::Off,
            Mode::Default => {
                let mut allowed = allowed.to_vec();
                allowed.sort_unstable();
                allowed.dedup();
                Seccomp::On { allowed }
            }
        }
    }

    pub fn denied(&self) -> Vec<Group> {
        match self {
            Seccomp::Off => Vec::new(),
            Seccomp::On { allowed } => Group::ALL.into_iter().filter(|g| !allowed.contains(g)).collect(),
        }
    }

    /// The BPF programs to install, in order; none when off or when every group is allowed back.
    pub fn programs(&self) -> Result<Vec<BpfProgram>> {
        let denied = self.denied();
        if denied.is_empty() {
            return Ok(Vec::new());
        }
        let eperm = rule_map(denied.iter().flat_map(|g| g.denied()))?;
        let mut programs = vec![program(with_x32(eperm), libc::EPERM)?];
        if denied.contains(&Group::Userns) {
            // clone3 passes its flags in memory a filter cannot read: no clone3 at all, so libc uses clone
            programs.push(program(with_x32(BTreeMap::from([(libc::SYS_clone3, Vec::new())])), libc::ENOSYS)?);
        }
        Ok(programs)
    }
}

/// The architecture the filter is built for: this binary's. Elsewhere seccompiler has no tables, and
/// the default start fails, saying to pass `--seccomp off`.
#[cfg(target_arch = "x86_64")]
const ARCH: Option<TargetArch> = Some(TargetArch::x86_64);
#[cfg(target_arch = "aarch64")]
const ARCH: Option<TargetArch> = Some(TargetArch::aarch64);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ARCH: Option<TargetArch> = None;

/// The calls to deny, by number, for seccompiler: one rule per condition set, where an empty chain
/// means "always". A call denied unconditionally by one entry stays denied always, whatever
/// conditions another entry puts on it: those would otherwise narrow it.
fn rule_map(
    entries: impl IntoIterator<Item = (libc::c_long, Vec<SeccompCondition>)>,
) -> Result<BTreeMap<i64, Vec<SeccompRule>>> {
    let mut always = std::collections::BTreeSet::new();
    let mut map: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (nr, conditions) in entries {
        let rules = map.entry(nr).or_default();
        if conditions.is_empty() {
            always.insert(nr);
        } else {
            rules.push(SeccompRule::new(conditions).map_err(build_error)?);
        }
    }
    for nr in always {
        map.insert(nr, Vec::new());
    }
    Ok(map)
}

/// On x86_64 where the kernel answers x32 calls, the same rules under the x32 ABI's numbers: the
/// native number with bit 30 set, except where x32 has a call of its own (ioctl is 514, kexec_load
/// 528). Elsewhere, the rules as they are: the filter's cost at install grows with its length.
fn with_x32(rules: BTreeMap<i64, Vec<SeccompRule>>) -> BTreeMap<i64, Vec<SeccompRule>> {
    #[cfg(target_arch = "x86_64")]
    let x32 = crate::system::x32_abi_available();
    #[cfg(not(target_arch = "x86_64"))]
    let x32 = false;
    if !x32 {
        return rules;
    }
    const X32: i64 = 0x4000_0000;
    let mut all = rules.clone();
    for (nr, chain) in rules {
        let x32 = match nr {
            libc::SYS_ioctl => 514,
            libc::SYS_kexec_load => 528,
            other => other,
        };
        all.insert(x32 | X32, chain);
    }
    all
}

fn program(rules: BTreeMap<i64, Vec<SeccompRule>>, errno: libc::c_int) -> Result<BpfProgram> {
    let errno = errno.cast_unsigned();
    let arch = ARCH.ok_or_else(|| {
        Error::Verify(format!(
            "no system call filter can be built for {} (x86_64 and aarch64 only); pass --seccomp off",
            std::env::consts::ARCH
        ))
    })?;
    let filter =
        SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(errno), arch).map_err(build_error)?;
    filter.try_into().map_err(build_error)
}

fn build_error(e: impl fmt::Display) -> Error {
    Error::Setup(format!("cannot build the seccomp filter: {e}"))
}

/// Install `programs` in this process (and so in the command it execs), then check that
/// `/proc/self/status` shows filter mode and that many more filters than before.
/// Install the filter while no_new_privs is not set (`--allow-privilege-escalation`, GRANT_SUDO),
/// which takes CAP_SYS_ADMIN: without it (`docker run`'s default capabilities) nothing is installed and
/// `Ok(false)` says so, so that the start the operator asked for still happens, without the filter.
pub fn install_without_nnp(programs: &[BpfProgram]) -> Result<bool> {
    const CAP_SYS_ADMIN: u32 = 21;
    if !programs.is_empty() && !crate::system::has_effective_cap(CAP_SYS_ADMIN) {
        return Ok(false);
    }
    install(programs).map(|()| true)
}

pub fn install(programs: &[BpfProgram]) -> Result<()> {
    if programs.is_empty() {
        return Ok(());
    }
    let (_, before) = crate::system::seccomp_state();
    for program in programs {
        crate::system::install_seccomp_filter(program).map_err(|e| {
            Error::Verify(format!(
                "cannot install the seccomp filter: {e} (without no_new_privs it needs CAP_SYS_ADMIN; \
                 --seccomp off turns it off)"
            ))
        })?;
    }
    let expected = before.unwrap_or(0) + programs.len();
    match crate::system::seccomp_state() {
        (Some(2), Some(count)) if count == expected => Ok(()),
        (mode, count) => Err(Error::Verify(format!(
            "the seccomp filter is not in place: /proc/self/status says Seccomp {mode:?}, Seccomp_filters \
             {count:?}, not 2 and {expected}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_is_denied_by_default_and_each_can_be_allowed_back() {
        assert_eq!(Seccomp::On { allowed: vec![] }.denied(), Group::ALL);
        let some = Seccomp::On { allowed: vec![Group::Userns] };
        assert!(!some.denied().contains(&Group::Userns) && some.denied().len() == 7);
        assert!(Seccomp::Off.denied().is_empty());
        assert!(Seccomp::Off.programs().unwrap().is_empty());
        // clone3 gets its own ENOSYS program only while userns is denied
        assert_eq!(Seccomp::On { allowed: vec![] }.programs().unwrap().len(), 2);
        assert_eq!(some.programs().unwrap().len(), 1);
        assert!(Seccomp::On { allowed: Group::ALL.to_vec() }.programs().unwrap().is_empty());
    }

    #[test]
    fn a_call_denied_always_is_not_narrowed_by_conditions_elsewhere() {
        let tiocsti = request_is(libc::TIOCSTI);
        let map =
            rule_map([(libc::SYS_ioctl, vec![tiocsti.clone()]), (libc::SYS_ioctl, vec![]), (libc::SYS_bpf, vec![])])
                .unwrap();
        assert!(map[&libc::SYS_ioctl].is_empty(), "ioctl must stay denied always");
        assert!(map[&libc::SYS_bpf].is_empty());
        let map = rule_map([(libc::SYS_ioctl, vec![tiocsti])]).unwrap();
        assert_eq!(map[&libc::SYS_ioctl].len(), 1);
    }

    #[test]
    fn names_are_the_ones_the_flag_takes() {
        use clap::ValueEnum;
        for group in Group::ALL {
            assert_eq!(Group::from_str(group.name(), false), Ok(group), "{group}");
        }
    }
}
