//! The one thin layer that talks to the kernel about credentials, capabilities and process state.
//!
//! Everything that changes who this process is goes through the [`Syscall`] trait, so the *order* of a
//! privilege drop can be unit-tested against a recording fake while the integration tests check the
//! real result from inside the exec'd command. Nothing outside this module calls libc directly.
//!
//! - `creds`: who this process is, its capabilities, the drop's system calls, its session keyring;
//! - `fds`: the descriptors and the working directory it holds, and what it passes on;
//! - `signals`: the signal state the command and hooks start with;
//! - `spawn`: starting hooks;
//! - `lock`: glibc's lock on the account databases;
//! - `process`: the supervisor's fork, process groups and sessions;
//! - `tty`: terminals and the command's pseudo-terminal.

mod creds;
mod fds;
mod lock;
pub mod process;
mod signals;
mod spawn;
pub mod tty;

use std::io;

use nix::libc;

pub use creds::{
    install_seccomp_filter, join_new_session_keyring, session_keyring, setgroups_denied, started, CapSets, Credentials,
    Kernel, Regained, Started, Syscall,
};
pub use fds::{anonymous_file, cloexec_all_but, enter_root_dir, prepare_process, set_nonblocking};
pub use lock::{Holder, PasswdLock};
pub use nix::unistd::{Gid, Uid};
pub use signals::{ignore_file_size_limit, reset_signals, send_signal, sigrtmin};
pub use spawn::{ExecVectors, Spawned, Spawner};

/// What the start's read of `/proc/self/status` said that later steps need (each `None` where it
/// could not be read), recorded once by [`prepare_process`].
#[derive(Debug, Clone, Copy, Default)]
struct AtStart {
    /// the signals the launcher left ignored (SigIgn): hooks and the command get them back at the
    /// default (see `signals`)
    ignored: Option<u64>,
    /// the bounding set it held (CapBnd): what the drop removes from it (see `creds`)
    bounding: Option<u64>,
}

static AT_START: std::sync::OnceLock<AtStart> = std::sync::OnceLock::new();

fn record_at_start(facts: AtStart) {
    let _ = AT_START.set(facts);
}

/// The start's record; all unknown before [`prepare_process`] (in a unit test, say).
fn at_start() -> AtStart {
    AT_START.get().copied().unwrap_or_default()
}

/// This process's `/proc/self/status`, the kernel's own account of its credentials, signals and
/// seccomp state; `None` where /proc is not mounted.
fn self_status() -> Option<String> {
    use std::io::Read;
    // Room for all of it (about 1.5 KiB), so that it comes in one read and the one that says it ended;
    // std's read_to_string would first ask the file's size and position, which /proc does not know.
    let mut status = vec![0; 4096];
    let mut file = std::fs::File::open("/proc/self/status").ok()?;
    let mut len = 0;
    loop {
        if len == status.len() {
            status.resize(len * 2, 0);
        }
        match file.read(status.get_mut(len..)?) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    status.truncate(len);
    String::from_utf8(status).ok()
}

/// The path the launcher gave execve(2) for this program, as it wrote it: relative if it was, through
/// whatever symlinks it named (the kernel's AT_EXECFN, not /proc/self/exe's resolved path). `None`
/// where the kernel passed none.
pub fn exec_path() -> Option<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: getauxval only reads the auxiliary vector the kernel passed; an absent entry is 0.
    let at = unsafe { libc::getauxval(libc::AT_EXECFN) };
    if at == 0 {
        return None;
    }
    // SAFETY: a present AT_EXECFN is the address of the NUL-terminated file name the kernel copied
    // onto the initial stack at exec; it stays there for the life of the process, and nothing here
    // writes to it. It is copied out at once.
    let name = unsafe { std::ffi::CStr::from_ptr(at as *const libc::c_char) };
    Some(std::path::PathBuf::from(std::ffi::OsStr::from_bytes(name.to_bytes())))
}

/// getgrouplist(3): `gid` and every group that lists `name` as a member, through NSS. nix's wrapper
/// sizes its first buffer from sysconf(_SC_NGROUPS_MAX), a read of /proc/sys/kernel/ngroups_max; this
/// starts with room for 32 and takes the number glibc says it needs when that is too few.
pub fn group_list(name: &std::ffi::CStr, gid: Gid) -> io::Result<Vec<Gid>> {
    let mut room: libc::c_int = 32;
    loop {
        let mut gids: Vec<libc::gid_t> = vec![0; usize::try_from(room).unwrap_or(0)];
        let mut count = room;
        // SAFETY: name is NUL-terminated; gids has room for `count` gids, which glibc writes at most,
        // setting `count` to how many there are (and returning -1 when that is more).
        let ret = unsafe { libc::getgrouplist(name.as_ptr(), gid.as_raw(), gids.as_mut_ptr(), &mut count) };
        if ret >= 0 {
            gids.truncate(usize::try_from(count).unwrap_or(0));
            return Ok(gids.into_iter().map(Gid::from_raw).collect());
        }
        if count <= room {
            // -1 without asking for more room: the lookup itself failed
            return Err(io::Error::other(format!("getgrouplist failed for {}", name.to_string_lossy())));
        }
        room = count;
    }
}

/// Every environment variable whose name starts with `prefix`, in the environment's order, read from
/// the environment block itself: std's `vars_os` copies every variable (two allocations each) to find
/// the few wanted, and a `var_os` per name scans the whole block each time. For the start only, while
/// this is the only thread and nothing changes the environment. A name that is not UTF-8 cannot be
/// asked for by name and is left out.
pub fn env_with_prefix(prefix: &str) -> Vec<(String, std::ffi::OsString)> {
    use std::os::unix::ffi::OsStrExt;
    extern "C" {
        static environ: *const *const libc::c_char;
    }
    let mut found = Vec::new();
    // SAFETY: environ is libc's NULL-terminated array of NUL-terminated "NAME=value" strings (or
    // null); no other thread exists yet to change it while it is read, and nothing is kept from it.
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            let bytes = std::ffi::CStr::from_ptr(*entry).to_bytes();
            if let Some(eq) =
                bytes.strip_prefix(prefix.as_bytes()).and_then(|rest| rest.iter().position(|&b| b == b'='))
            {
                let (name, value) = bytes.split_at_checked(prefix.len() + eq).unwrap_or_default();
                let value = value.get(1..).unwrap_or_default(); // past the '='
                if let Ok(name) = std::str::from_utf8(name) {
                    found.push((name.to_string(), std::ffi::OsStr::from_bytes(value).to_os_string()));
                }
            }
            entry = entry.add(1);
        }
    }
    found
}

/// The value of the `Name:` line of a status text, trimmed.
fn status_field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    let [value] = status_fields(status, [name]);
    value
}

/// The values of several `Name:` lines, trimmed, found in one pass over the text's lines (the start
/// reads three fields, the drop's check three): walking the 55 lines once per field, or searching the
/// whole text for each, cost 7,000-10,000 instructions a field.
fn status_fields<'a, const N: usize>(status: &'a str, names: [&str; N]) -> [Option<&'a str>; N] {
    let mut values = [None; N];
    let mut missing = N;
    for line in status.split('\n') {
        if missing == 0 {
            break;
        }
        for (slot, name) in values.iter_mut().zip(names) {
            if slot.is_none() {
                if let Some(value) = line.strip_prefix(name).and_then(|rest| rest.strip_prefix(':')) {
                    *slot = Some(value.trim());
                    missing -= 1;
                }
            }
        }
    }
    values
}

/// A hexadecimal number, as the status's masks are written (`CapBnd`, `SigIgn`).
fn hex_mask(value: &str) -> Option<u64> {
    u64::from_str_radix(value, 16).ok()
}

/// A hexadecimal mask field of the status (`CapBnd`, `SigIgn`).
#[cfg(test)]
fn status_mask(status: &str, name: &str) -> Option<u64> {
    hex_mask(status_field(status, name)?)
}

/// Whether this process holds CAP_SYS_ADMIN in its effective set.
pub fn has_sys_admin() -> bool {
    caps::has_cap(None, caps::CapSet::Effective, caps::Capability::CAP_SYS_ADMIN).unwrap_or(false)
}

/// This process's seccomp mode (2: filtered) and number of filters, as `/proc/self/status` says.
pub fn seccomp_state() -> (Option<usize>, Option<usize>) {
    let Some(status) = self_status() else { return (None, None) };
    let number = |name| status_field(&status, name)?.parse().ok();
    (number("Seccomp"), number("Seccomp_filters"))
}

/// This process's seccomp mode as `prctl(PR_GET_SECCOMP)` reports it (2: filtered); `None` if it fails.
pub fn seccomp_mode() -> Option<i32> {
    // SAFETY: PR_GET_SECCOMP takes no pointer and only returns the mode.
    check(unsafe { libc::prctl(libc::PR_GET_SECCOMP) }).ok()
}

/// Turn a C-style `-1` return into the `errno` it stands for, once, instead of at every call site;
/// for whatever integer type the call returns.
fn check<T: PartialEq + From<i8>>(ret: T) -> io::Result<T> {
    if ret == T::from(-1) {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 2000, failure_persistence: None, ..Default::default() })]

        /// What the kernel writes is trusted, but a parser never panics on any text.
        #[test]
        fn status_fields_never_panic_on_any_text(text in ".*", bytes in proptest::collection::vec(0u8..128, 0..200)) {
            let _ = status_fields(&text, ["Seccomp", "CapBnd", "Se"]);
            let text = String::from_utf8_lossy(&bytes);
            let [a, b] = status_fields(&text, ["A", "Seccomp"]);
            proptest::prop_assert!(a.is_none_or(|v| !v.contains('\n')) && b.is_none_or(|v| !v.contains('\n')));
        }
    }

    #[test]
    fn status_fields_are_matched_by_whole_name() {
        let status = "Seccomp:\t2\nSeccomp_filters:\t3\nCapBnd:\t000001ffffffffff\n";
        assert_eq!(status_field(status, "Seccomp"), Some("2"));
        assert_eq!(status_field(status, "Seccomp_filters"), Some("3"));
        assert_eq!(status_field(status, "Seccomp_"), None);
        assert_eq!(status_field(status, "CapBnd"), Some("000001ffffffffff"), "the last line, no newline needed");
        assert_eq!(status_field("Name:\tx y\nUmask:\t0022", "Name"), Some("x y"), "the first line");
        assert_eq!(status_field("Name:\tCapBnd: 1\n", "CapBnd"), None, "only at a line's start");
        assert_eq!(status_mask(status, "CapBnd"), Some(0x1ff_ffff_ffff));
        assert_eq!(
            status_fields(status, ["CapBnd", "Seccomp", "Nope", "Seccomp_filters"]),
            [Some("000001ffffffffff"), Some("2"), None, Some("3")]
        );
    }

    #[test]
    fn the_exec_path_is_the_program_this_process_runs() {
        let path = exec_path().expect("the kernel passes AT_EXECFN");
        let running = std::fs::canonicalize("/proc/self/exe").unwrap();
        assert_eq!(std::fs::canonicalize(&path).unwrap(), running, "{}", path.display());
    }

    #[test]
    fn group_list_is_what_nix_getgrouplist_gives() {
        let ours = group_list(c"root", Gid::from_raw(0)).unwrap();
        assert_eq!(ours, nix::unistd::getgrouplist(c"root", Gid::from_raw(0)).unwrap());
        assert_eq!(ours.first(), Some(&Gid::from_raw(0)), "the given gid comes first");
    }
}
