//! A kernel-surface filter for the user's server, installed as the last step of the drop.
//!
//! The pods roothooks serves often run privileged or `seccompProfile: Unconfined` (FUSE, mounts), and a
//! privileged container gets no seccomp filter from its runtime at all. After the drop the user has no
//! capability, but could still reach kernel code that most local root exploits of recent years went
//! through (user namespaces, io_uring, bpf), read keys, or type into the terminal roothooks was started
//! on. The filter denies those in named [`Group`]s, with EPERM (ENOSYS for clone3, so libc falls back
//! to clone, whose flags can be checked), and is inherited by everything the command starts.
//!
//! The calls are named by the libc crate's numbers for the architecture being built; [`bpf`] turns the
//! table into one program, a binary search over call numbers. The program first checks the
//! architecture and kills a process that calls in with another ABI (i386's `int 0x80` on x86_64); on
//! x86_64, where the kernel answers the x32 ABI at all, every denied call is denied again under its
//! x32 number, so no rule can be bypassed through either.

mod bpf;

use std::collections::BTreeMap;
use std::fmt;

use nix::libc;

pub use bpf::Insn;
use bpf::{Answer, Test};

use crate::error::{Error, Result};

/// A program as `seccomp(2)` installs it.
pub type Program = Vec<Insn>;

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
    fn denied(self) -> Vec<(libc::c_long, Option<Test>)> {
        Vec::new()
    }

    /// The calls denied with EPERM: each with the test on its arguments that denies it (none: always).
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn denied(self) -> Vec<(libc::c_long, Option<Test>)> {
        let always = |calls: &[libc::c_long]| calls.iter().map(|&nr| (nr, None)).collect();
        match self {
            Group::Userns => {
                let newuser = flag_set(0, libc::CLONE_NEWUSER);
                vec![(libc::SYS_unshare, Some(newuser)), (libc::SYS_clone, Some(newuser))]
            }
            Group::TtyInject => vec![
                (libc::SYS_ioctl, Some(request_is(libc::TIOCSTI))),
                (libc::SYS_ioctl, Some(request_is(libc::TIOCLINUX))),
            ],
            Group::Keyring => always(&[libc::SYS_add_key, libc::SYS_request_key, libc::SYS_keyctl]),
            Group::Bpf => always(&[libc::SYS_bpf]),
            Group::Perf => always(&[libc::SYS_perf_event_open]),
            Group::Userfaultfd => {
                // the same object through the device node (Linux 6.1), whatever mode an image gave it
                vec![(libc::SYS_userfaultfd, None), (libc::SYS_ioctl, Some(request_is(USERFAULTFD_IOC_NEW)))]
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

/// Argument `arg` has `flag` set (clone and unshare flags: `unsigned long`, every flag in the low half).
fn flag_set(arg: u8, flag: libc::c_int) -> Test {
    Test::FlagSet { arg, mask: flag.cast_unsigned() }
}

/// `_IO(0xAA, 0x00)`: the ioctl of /dev/userfaultfd that makes a userfaultfd (not in the libc crate).
const USERFAULTFD_IOC_NEW: libc::c_ulong = 0xAA00;

/// ioctl's request is `request`. The kernel reads it as a 32-bit int, so only those bits are compared.
fn request_is(request: libc::c_ulong) -> Test {
    Test::Equals { arg: 1, value: request as u32 }
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

    /// The BPF program to install; none when off or when every group is allowed back.
    pub fn program(&self) -> Result<Option<Program>> {
        let denied = self.denied();
        if denied.is_empty() {
            return Ok(None);
        }
        let mut answers = answers(libc::EPERM, denied.iter().flat_map(|g| g.denied()));
        if denied.contains(&Group::Userns) {
            // clone3 passes its flags in memory a filter cannot read: no clone3 at all, so libc uses clone
            answers.extend(self::answers(libc::ENOSYS, [(libc::SYS_clone3, None)]));
        }
        let arch = ARCH.ok_or_else(|| {
            Error::Verify(format!(
                "no system call filter can be built for {} (x86_64 and aarch64 only); pass --seccomp off",
                std::env::consts::ARCH
            ))
        })?;
        bpf::program(arch, &with_x32(answers))
            .map(Some)
            .map_err(|e| Error::Setup(format!("cannot build the seccomp filter: {e}")))
    }
}

/// The architecture the filter is built for, as the kernel names it to a filter (`AUDIT_ARCH_*`):
/// this binary's. Elsewhere the call numbers are not known here, and the default start fails, saying
/// to pass `--seccomp off`.
#[cfg(all(target_arch = "x86_64", target_endian = "little"))]
const ARCH: Option<u32> = Some(0xC000_003E);
#[cfg(all(target_arch = "aarch64", target_endian = "little"))]
const ARCH: Option<u32> = Some(0xC000_00B7);
#[cfg(not(all(any(target_arch = "x86_64", target_arch = "aarch64"), target_endian = "little")))]
const ARCH: Option<u32> = None;

/// The calls to deny with `errno`, by number. A call denied unconditionally by one entry stays denied
/// always, whatever tests another entry puts on it: those would otherwise narrow it.
fn answers(
    errno: libc::c_int,
    entries: impl IntoIterator<Item = (libc::c_long, Option<Test>)>,
) -> BTreeMap<u32, Answer> {
    let errno = u16::try_from(errno).expect("an errno fits 16 bits");
    let mut answers = BTreeMap::new();
    for (nr, test) in entries {
        let nr = u32::try_from(nr).expect("system call numbers are small and positive");
        let answer = answers.entry(nr).or_insert_with(|| Answer::ErrnoIf(errno, Vec::new()));
        match (answer, test) {
            (answer, None) => *answer = Answer::Errno(errno),
            (Answer::ErrnoIf(_, tests), Some(test)) if !tests.contains(&test) => tests.push(test),
            _ => {}
        }
    }
    answers
}

/// On x86_64 where the kernel answers x32 calls, the same answers under the x32 ABI's numbers: the
/// native number with bit 30 set, except where x32 has a call of its own (ioctl is 514, kexec_load
/// 528). Elsewhere, the answers as they are: the filter's cost at install grows with its length.
fn with_x32(answers: BTreeMap<u32, Answer>) -> BTreeMap<u32, Answer> {
    #[cfg(target_arch = "x86_64")]
    let x32 = crate::system::x32_abi_available();
    #[cfg(not(target_arch = "x86_64"))]
    let x32 = false;
    if !x32 {
        return answers;
    }
    x32_answers(answers)
}

fn x32_answers(answers: BTreeMap<u32, Answer>) -> BTreeMap<u32, Answer> {
    const X32: u32 = 0x4000_0000;
    let mut all = answers.clone();
    for (nr, answer) in answers {
        let x32 = match i64::from(nr) {
            libc::SYS_ioctl => 514,
            libc::SYS_kexec_load => 528,
            _ => nr,
        };
        all.insert(x32 | X32, answer);
    }
    all
}

/// Install the filter while no_new_privs is not set (`--allow-privilege-escalation`, GRANT_SUDO),
/// which takes CAP_SYS_ADMIN: without it (`docker run`'s default capabilities) nothing is installed and
/// `Ok(false)` says so, so that the start the operator asked for still happens, without the filter.
pub fn install_without_nnp(program: Option<&Program>) -> Result<bool> {
    const CAP_SYS_ADMIN: u32 = 21;
    if program.is_some() && !crate::system::has_effective_cap(CAP_SYS_ADMIN) {
        return Ok(false);
    }
    install(program, None).map(|()| true)
}

/// Install `program` in this process (and so in the command it execs), then check that
/// `/proc/self/status` shows filter mode and one more filter than `before` (read here when not known).
pub fn install(program: Option<&Program>, before: Option<usize>) -> Result<()> {
    let Some(program) = program else { return Ok(()) };
    let before = before.or_else(|| crate::system::seccomp_state().1);
    crate::system::install_seccomp_filter(program).map_err(|e| {
        Error::Verify(format!(
            "cannot install the seccomp filter: {e} (without no_new_privs it needs CAP_SYS_ADMIN; \
             --seccomp off turns it off)"
        ))
    })?;
    if before == Some(0) && crate::system::seccomp_mode() == Some(2) {
        // filter mode where there was no filter before: the one in place is this one (the kernel's
        // own answer, without another read of /proc/self/status)
        return Ok(());
    }
    let expected = before.unwrap_or(0) + 1;
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
        assert!(Seccomp::Off.program().unwrap().is_none());
        assert!(Seccomp::On { allowed: vec![] }.program().unwrap().is_some());
        assert!(some.program().unwrap().is_some());
        assert!(Seccomp::On { allowed: Group::ALL.to_vec() }.program().unwrap().is_none());
    }

    #[test]
    fn a_call_denied_always_is_not_narrowed_by_tests_elsewhere() {
        let ioctl = u32::try_from(libc::SYS_ioctl).unwrap();
        let tiocsti = request_is(libc::TIOCSTI);
        let map = answers(libc::EPERM, [(libc::SYS_ioctl, Some(tiocsti)), (libc::SYS_ioctl, None)]);
        assert_eq!(map[&ioctl], Answer::Errno(1), "ioctl must stay denied always");
        let map = answers(libc::EPERM, [(libc::SYS_ioctl, None), (libc::SYS_ioctl, Some(tiocsti))]);
        assert_eq!(map[&ioctl], Answer::Errno(1), "ioctl must stay denied always");
        let tioclinux = request_is(libc::TIOCLINUX);
        let map = answers(libc::EPERM, [(libc::SYS_ioctl, Some(tiocsti)), (libc::SYS_ioctl, Some(tioclinux))]);
        assert_eq!(map[&ioctl], Answer::ErrnoIf(1, vec![tiocsti, tioclinux]));
    }

    #[test]
    fn the_default_program_gives_every_number_its_groups_answer() {
        let arch = ARCH.unwrap();
        let mut table = answers(libc::EPERM, Group::ALL.into_iter().flat_map(Group::denied));
        table.extend(answers(libc::ENOSYS, [(libc::SYS_clone3, None)]));
        // as built for this kernel, and as built for one with x32
        let this_kernel = (Seccomp::default().program().unwrap().unwrap(), with_x32(table.clone()));
        let x32 = (bpf::program(arch, &x32_answers(table.clone())).unwrap(), x32_answers(table));
        // short, since the kernel's install cost grows with the length (README: 51 and 85 on x86_64)
        assert!(this_kernel.0.len() <= 128 && x32.0.len() <= 128, "{} {}", this_kernel.0.len(), x32.0.len());
        eprintln!("default program: {} instructions here, {} with the x32 rules", this_kernel.0.len(), x32.0.len());
        for (program, table) in [this_kernel, x32] {
            check_every_number(&program, &table, arch);
        }
    }

    fn check_every_number(program: &[Insn], table: &BTreeMap<u32, Answer>, arch: u32) {
        let newuser = u64::from(libc::CLONE_NEWUSER.cast_unsigned());
        for nr in (0..1100).chain(0x4000_0000..0x4000_0400) {
            for args in
                [[0; 6], [newuser, 0, 0, 0, 0, 0], [0, libc::TIOCSTI, 0, 0, 0, 0], [0, USERFAULTFD_IOC_NEW, 0, 0, 0, 0]]
            {
                let got = bpf::run(program, nr, arch, args);
                let denied = got != libc::SECCOMP_RET_ALLOW;
                assert_eq!(got, bpf::answer_of(table, nr, args), "nr {nr} args {args:x?}: denied {denied}");
            }
        }
        let errno = |nr: libc::c_long, args| bpf::run(program, nr as u32, arch, args) & 0xffff;
        assert_eq!(errno(libc::SYS_clone3, [0; 6]), libc::ENOSYS as u32);
        assert_eq!(errno(libc::SYS_bpf, [0; 6]), libc::EPERM as u32);
        assert_eq!(errno(libc::SYS_unshare, [newuser, 0, 0, 0, 0, 0]), libc::EPERM as u32);
        assert_eq!(bpf::run(program, libc::SYS_unshare as u32, arch, [0; 6]), libc::SECCOMP_RET_ALLOW);
    }

    #[test]
    fn x32_numbers_repeat_every_answer_with_x32s_own_ioctl() {
        let map = x32_answers(answers(libc::EPERM, Group::ALL.into_iter().flat_map(Group::denied)));
        let native: Vec<_> = map.keys().filter(|&&nr| nr < 0x4000_0000).collect();
        assert_eq!(map.len(), 2 * native.len());
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(map[&(0x4000_0000 | 514)], map[&16], "x32's ioctl is 514");
            assert_eq!(map[&(0x4000_0000 | 528)], map[&246], "x32's kexec_load is 528");
            assert!(!map.contains_key(&(0x4000_0000 | 16)));
        }
    }

    #[test]
    fn names_are_the_ones_the_flag_takes() {
        use clap::ValueEnum;
        for group in Group::ALL {
            assert_eq!(Group::from_str(group.name(), false), Ok(group), "{group}");
        }
    }
}
