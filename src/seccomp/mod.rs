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
//! x86_64 the whole x32 range (every number with bit 30 set) is one more interval of the search,
//! answered ENOSYS as a kernel without x32 answers, so no rule can be bypassed through it and nothing
//! has to ask the kernel first whether it speaks x32 (an outer filter may kill the asker). The unit
//! tests check every number of the kernel's own table (`scripts/kernel-syscalls.sh`) against the
//! groups' intent, by name.

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
    /// socket families a notebook has no use for: AF_VSOCK (host-guest sockets, denied by Docker's
    /// default profile too) and AF_ALG (the kernel's crypto API, the way in of several exploits)
    Sockets,
}

impl Group {
    pub const ALL: [Group; 9] = [
        Group::Userns,
        Group::TtyInject,
        Group::Keyring,
        Group::Bpf,
        Group::Perf,
        Group::Userfaultfd,
        Group::IoUring,
        Group::Kernel,
        Group::Sockets,
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
            Group::Sockets => "sockets",
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
                SYS_OPEN_TREE_ATTR,
            ]),
            Group::Sockets => vec![
                (libc::SYS_socket, Some(Test::Equals { arg: 0, value: AF_VSOCK })),
                (libc::SYS_socket, Some(Test::Equals { arg: 0, value: AF_ALG })),
            ],
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

/// open_tree_attr (Linux 6.15): open_tree that also changes the mount's attributes. One number on
/// every architecture since 424 (not in the libc crate for these yet).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const SYS_OPEN_TREE_ATTR: libc::c_long = 467;

/// The socket families of [`Group::Sockets`] (AF_VSOCK is not in the libc crate for Linux).
const AF_VSOCK: u32 = 40;
const AF_ALG: u32 = libc::AF_ALG.cast_unsigned();

/// `_IO(0xAA, 0x00)`: the ioctl of /dev/userfaultfd that makes a userfaultfd (not in the libc crate).
const USERFAULTFD_IOC_NEW: libc::c_ulong = 0xAA00;

/// ioctl's request is `request`. The kernel reads it as a 32-bit int, so only those bits are compared.
fn request_is(request: libc::c_ulong) -> Test {
    // the kernel's own truncation: ioctl's cmd is an unsigned int
    #[allow(clippy::cast_possible_truncation)]
    let value = request as u32;
    Test::Equals { arg: 1, value }
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
        let build = |e: String| Error::Setup(format!("cannot build the seccomp filter: {e}"));
        let mut answers = answers(libc::EPERM, denied.iter().flat_map(|g| g.denied())).map_err(build)?;
        if denied.contains(&Group::Userns) {
            // clone3 passes its flags in memory a filter cannot read: no clone3 at all, so libc uses clone
            answers.extend(self::answers(libc::ENOSYS, [(libc::SYS_clone3, None)]).map_err(build)?);
        }
        let arch = ARCH.ok_or_else(|| {
            Error::Verify(format!(
                "no system call filter can be built for {} (x86_64 and aarch64 only); pass --seccomp off",
                std::env::consts::ARCH
            ))
        })?;
        bpf::program(arch, &answers, X32_RANGE).map(Some).map_err(build)
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
) -> std::result::Result<BTreeMap<u32, Answer>, String> {
    let errno = u16::try_from(errno).map_err(|_| format!("errno {errno} does not fit a filter's answer"))?;
    let mut answers = BTreeMap::new();
    for (nr, test) in entries {
        let nr = u32::try_from(nr).map_err(|_| format!("system call number {nr} is not a filter's"))?;
        let answer = answers.entry(nr).or_insert_with(|| Answer::ErrnoIf(errno, Vec::new()));
        match (answer, test) {
            (answer, None) => *answer = Answer::Errno(errno),
            (Answer::ErrnoIf(_, tests), Some(test)) if !tests.contains(&test) => tests.push(test),
            _ => {}
        }
    }
    Ok(answers)
}

/// On x86_64, every number from the x32 ABI's bit up, answered as a kernel built without x32 answers
/// it: one comparison, whatever the kernel was built with. Elsewhere no such range.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::cast_possible_truncation)] // ENOSYS is 38
const X32_RANGE: Option<(u32, Answer)> = Some((0x4000_0000, Answer::Errno(libc::ENOSYS as u16)));
#[cfg(not(target_arch = "x86_64"))]
const X32_RANGE: Option<(u32, Answer)> = None;

/// Install the filter while no_new_privs is not set (`--allow-privilege-escalation`, GRANT_SUDO),
/// which takes CAP_SYS_ADMIN: without it (`docker run`'s default capabilities) nothing is installed and
/// `Ok(false)` says so, so that the start the operator asked for still happens, without the filter.
pub fn install_without_nnp(program: Option<&Program>) -> Result<bool> {
    if program.is_some() && !crate::system::has_sys_admin() {
        return Ok(false);
    }
    install(program, None).map(|installed| installed == Installed::Ours)
}

/// What [`install`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    /// this start's filter is in place (or there was none to install)
    Ours,
    /// a nested or repeated start (the command of an outer roothooks under GRANT_SUDO): this many
    /// filters were inherited, and without no_new_privs nothing more can be added; they stay
    Inherited(usize),
}

/// Install `program` in this process (and so in the command it execs), then check that
/// `/proc/self/status` shows filter mode and one more filter than `before` (read here when not known).
/// Without no_new_privs and CAP_SYS_ADMIN the kernel refuses: where filters are already in place
/// (inherited), the start goes on under them ([`Installed::Inherited`]); with none, it fails.
pub fn install(program: Option<&Program>, before: Option<usize>) -> Result<Installed> {
    let Some(program) = program else { return Ok(Installed::Ours) };
    let before = before.or_else(|| crate::system::seccomp_state().1);
    if let Err(e) = crate::system::install_seccomp_filter(program) {
        return match before {
            Some(inherited @ 1..) if e.raw_os_error() == Some(libc::EACCES) => Ok(Installed::Inherited(inherited)),
            _ => Err(Error::Verify(format!(
                "cannot install the seccomp filter: {e} (without no_new_privs it needs CAP_SYS_ADMIN; \
                 --seccomp off turns it off)"
            ))),
        };
    }
    if before == Some(0) && crate::system::seccomp_mode() == Some(2) {
        // filter mode where there was no filter before: the one in place is this one (the kernel's
        // own answer, without another read of /proc/self/status)
        return Ok(Installed::Ours);
    }
    let expected = before.unwrap_or(0) + 1;
    match crate::system::seccomp_state() {
        (Some(2), Some(count)) if count == expected => Ok(Installed::Ours),
        (mode, count) => Err(Error::Verify(format!(
            "the seccomp filter is not in place: /proc/self/status says Seccomp {mode:?}, Seccomp_filters \
             {count:?}, not 2 and {expected}"
        ))),
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)] // test code: call numbers and flags, small and positive
mod tests {
    use super::*;

    #[test]
    fn every_group_is_denied_by_default_and_each_can_be_allowed_back() {
        assert_eq!(Seccomp::On { allowed: vec![] }.denied(), Group::ALL);
        let some = Seccomp::On { allowed: vec![Group::Userns] };
        assert!(!some.denied().contains(&Group::Userns) && some.denied().len() == Group::ALL.len() - 1);
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
        let map = answers(libc::EPERM, [(libc::SYS_ioctl, Some(tiocsti)), (libc::SYS_ioctl, None)]).unwrap();
        assert_eq!(map[&ioctl], Answer::Errno(1), "ioctl must stay denied always");
        let map = answers(libc::EPERM, [(libc::SYS_ioctl, None), (libc::SYS_ioctl, Some(tiocsti))]).unwrap();
        assert_eq!(map[&ioctl], Answer::Errno(1), "ioctl must stay denied always");
        let tioclinux = request_is(libc::TIOCLINUX);
        let map = answers(libc::EPERM, [(libc::SYS_ioctl, Some(tiocsti)), (libc::SYS_ioctl, Some(tioclinux))]).unwrap();
        assert_eq!(map[&ioctl], Answer::ErrnoIf(1, vec![tiocsti, tioclinux]));
    }

    /// The default program, and the table it was built from with the x32 range.
    fn default_program() -> (Program, BTreeMap<u32, Answer>) {
        let mut table = answers(libc::EPERM, Group::ALL.into_iter().flat_map(Group::denied)).unwrap();
        table.extend(answers(libc::ENOSYS, [(libc::SYS_clone3, None)]).unwrap());
        (Seccomp::default().program().unwrap().unwrap(), table)
    }

    /// What the filter answers for `nr` with `args`, as the kernel would run it.
    fn answer(program: &[Insn], nr: u32, args: [u64; 6]) -> u32 {
        bpf::run(program, nr, ARCH.unwrap(), args)
    }

    #[test]
    fn the_default_program_gives_every_number_its_groups_answer() {
        let (program, table) = default_program();
        // short, since the kernel's install cost grows with the length
        assert!(program.len() <= 128, "{}", program.len());
        eprintln!("default program: {} instructions", program.len());
        let newuser = u64::from(libc::CLONE_NEWUSER.cast_unsigned());
        let argsets = [
            [0; 6],
            [newuser, 0, 0, 0, 0, 0],
            [0, libc::TIOCSTI, 0, 0, 0, 0],
            [0, USERFAULTFD_IOC_NEW, 0, 0, 0, 0],
            [u64::from(AF_VSOCK), 1, 0, 0, 0, 0],
            [u64::from(AF_ALG), 5, 0, 0, 0, 0],
        ];
        for nr in 0..1100 {
            for args in argsets {
                let got = answer(&program, nr, args);
                assert_eq!(got, bpf::answer_of(&table, nr, args), "nr {nr} args {args:x?}");
            }
        }
        let errno = |nr: libc::c_long, args| answer(&program, nr as u32, args) & 0xffff;
        assert_eq!(errno(libc::SYS_clone3, [0; 6]), libc::ENOSYS as u32);
        assert_eq!(errno(libc::SYS_bpf, [0; 6]), libc::EPERM as u32);
        assert_eq!(errno(libc::SYS_unshare, [newuser, 0, 0, 0, 0, 0]), libc::EPERM as u32);
        assert_eq!(answer(&program, libc::SYS_unshare as u32, [0; 6]), libc::SECCOMP_RET_ALLOW);
        let inet = [libc::AF_INET as u64, 1, 0, 0, 0, 0];
        assert_eq!(answer(&program, libc::SYS_socket as u32, inet), libc::SECCOMP_RET_ALLOW);
        #[cfg(target_arch = "x86_64")]
        for nr in (0x4000_0000..0x4000_0400).chain([0x7fff_ffff, 0x8000_0000, u32::MAX]) {
            // every x32 number, allowed or not in the native table: as a kernel without x32
            assert_eq!(answer(&program, nr, [0; 6]), libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32, "{nr:#x}");
        }
    }

    /// The groups' intent, by the kernel's own names: what each group means to deny, whatever number
    /// a kernel gives it. A call added to the kernel later (open_tree_attr in 6.15) falls under a
    /// group here by its name, so a table of numbers that lacks it fails below.
    fn denied_by_intent(name: &str) -> Option<Group> {
        let kernel_mounts = ["fsopen", "fsconfig", "fspick", "pivot_root", "setns"];
        let kernel_other = ["reboot", "swapon", "swapoff", "acct"];
        // listmount and statmount only read; create_module, query_module and get_kernel_syms have
        // answered ENOSYS since Linux 2.6
        let not_meant = ["listmount", "statmount", "create_module", "query_module", "get_kernel_syms"];
        if not_meant.contains(&name) {
            return None;
        }
        match name {
            "add_key" | "request_key" | "keyctl" => Some(Group::Keyring),
            "bpf" => Some(Group::Bpf),
            "perf_event_open" => Some(Group::Perf),
            "userfaultfd" => Some(Group::Userfaultfd),
            n if n.starts_with("io_uring_") => Some(Group::IoUring),
            n if n.starts_with("kexec_") || n.ends_with("_module") => Some(Group::Kernel),
            n if n.contains("mount") || n.starts_with("open_tree") => Some(Group::Kernel),
            n if kernel_mounts.contains(&n) || kernel_other.contains(&n) => Some(Group::Kernel),
            _ => None,
        }
    }

    /// `#define __NR_name number` lines of a kernel header: the kernel's own table.
    fn kernel_table(text: &str) -> Vec<(String, u32)> {
        text.lines()
            .filter_map(|l| {
                let mut words = l.strip_prefix("#define __NR_")?.split_whitespace();
                Some((words.next()?.to_string(), words.next()?.parse().ok()?))
            })
            .collect()
    }

    #[test]
    fn every_call_in_the_kernels_own_table_gets_its_groups_intent() {
        #[cfg(target_arch = "x86_64")]
        const HEADER: &str = "usr/lib/linux/uapi/x86/asm/unistd_64.h";
        #[cfg(target_arch = "aarch64")]
        const HEADER: &str = "usr/include/asm-generic/unistd.h";
        let dir = std::env::var("ROOTHOOKS_KERNEL_HEADERS")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target/kernel-headers").to_string());
        let path = std::path::Path::new(&dir).join(HEADER);
        let Ok(text) = std::fs::read_to_string(&path) else {
            let why = format!(
                "SKIPPED every_call_in_the_kernels_own_table_gets_its_groups_intent: no {} (bash \
                 scripts/kernel-syscalls.sh fetches the kernel's table)",
                path.display()
            );
            assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "{why}; CI must run every test");
            eprintln!("{why}");
            return;
        };
        let table = kernel_table(&text);
        assert!(table.len() > 300, "{} calls in {}", table.len(), path.display());
        let (program, _) = default_program();
        let mut denied_names = Vec::new();
        for (name, nr) in &table {
            let got = answer(&program, *nr, [0; 6]);
            let errno = got & 0xffff;
            let expected = match denied_by_intent(name) {
                Some(group) => {
                    denied_names.push((group, name.as_str()));
                    Some(libc::EPERM as u32)
                }
                None if name == "clone3" => Some(libc::ENOSYS as u32),
                None => None,
            };
            match expected {
                Some(e) => assert_eq!((got & !0xffff, errno), (libc::SECCOMP_RET_ERRNO, e), "{name} ({nr})"),
                None => assert_eq!(got, libc::SECCOMP_RET_ALLOW, "{name} ({nr}) is denied, but no group means it"),
            }
        }
        // the calls denied only for some arguments: by the kernel's numbers, with those arguments
        let nr = |name: &str| table.iter().find(|(n, _)| n == name).map(|(_, nr)| *nr).unwrap();
        let newuser = u64::from(libc::CLONE_NEWUSER.cast_unsigned());
        let eperm = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
        assert_eq!(answer(&program, nr("unshare"), [newuser, 0, 0, 0, 0, 0]), eperm);
        assert_eq!(answer(&program, nr("clone"), [newuser, 0, 0, 0, 0, 0]), eperm);
        assert_eq!(answer(&program, nr("ioctl"), [0, libc::TIOCSTI, 0, 0, 0, 0]), eperm);
        assert_eq!(answer(&program, nr("socket"), [u64::from(AF_VSOCK), 1, 0, 0, 0, 0]), eperm);
        assert_eq!(answer(&program, nr("socket"), [u64::from(AF_ALG), 5, 0, 0, 0, 0]), eperm);
        eprintln!("{} calls in the kernel's table; denied by name: {denied_names:?}", table.len());
    }

    #[test]
    fn names_are_the_ones_the_flag_takes() {
        use clap::ValueEnum;
        for group in Group::ALL {
            assert_eq!(Group::from_str(group.name(), false), Ok(group), "{group}");
        }
    }
}
