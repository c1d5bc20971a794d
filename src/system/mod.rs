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

#[cfg(target_arch = "x86_64")]
pub use creds::x32_abi_available;
pub use creds::{
    install_seccomp_filter, join_new_session_keyring, session_keyring, setgroups_denied, started, CapSets, Credentials,
    Kernel, Regained, Started, Syscall,
};
pub use fds::{anonymous_file, cloexec_all_but, enter_root_dir, open_fds, prepare_process, set_nonblocking};
pub use lock::{Holder, PasswdLock};
pub use nix::unistd::{Gid, Uid};
pub use signals::{reset_signals, send_signal, sigrtmin};
pub use spawn::{Spawned, Spawner};

/// This process's `/proc/self/status`, the kernel's own account of its credentials, signals and
/// seccomp state; `None` where /proc is not mounted.
fn self_status() -> Option<String> {
    use std::io::Read;
    // room for all of it (about 1.5 KiB), so that it comes in one read instead of std's growing ones
    let mut status = String::with_capacity(4096);
    std::fs::File::open("/proc/self/status").ok()?.read_to_string(&mut status).ok()?;
    Some(status)
}

/// The value of the `Name:` line of a status text, trimmed.
fn status_field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')).map(str::trim)
}

/// A hexadecimal mask field of the status (`CapBnd`, `SigIgn`).
fn status_mask(status: &str, name: &str) -> Option<u64> {
    u64::from_str_radix(status_field(status, name)?, 16).ok()
}

/// Whether this process holds capability number `cap` in its effective set (CAP_SYS_ADMIN is 21).
pub fn has_effective_cap(cap: u32) -> bool {
    self_status().and_then(|s| status_mask(&s, "CapEff")).is_some_and(|mask| mask & (1 << cap) != 0)
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

    #[test]
    fn status_fields_are_matched_by_whole_name() {
        let status = "Seccomp:\t2\nSeccomp_filters:\t3\nCapBnd:\t000001ffffffffff\n";
        assert_eq!(status_field(status, "Seccomp"), Some("2"));
        assert_eq!(status_field(status, "Seccomp_filters"), Some("3"));
        assert_eq!(status_field(status, "Seccomp_"), None);
        assert_eq!(status_mask(status, "CapBnd"), Some(0x1ff_ffff_ffff));
    }
}
