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
//! - `lock`: glibc's lock on the account databases.

mod creds;
mod fds;
mod lock;
mod signals;
mod spawn;

use std::io;

#[cfg(target_arch = "x86_64")]
pub use creds::x32_abi_available;
pub use creds::{
    install_seccomp_filter, join_new_session_keyring, session_keyring, setgroups_denied, started, CapSets, Credentials,
    Kernel, Regained, Started, Syscall,
};
pub use fds::{cloexec_all_but, enter_root_dir, open_fds, prepare_process};
pub use lock::PasswdLock;
pub use nix::unistd::{Gid, Uid};
pub use signals::reset_signals;
pub use spawn::{Spawned, Spawner};

/// Turn a C-style `-1` return into the `errno` it stands for, once, instead of at every call site;
/// for whatever integer type the call returns.
fn check<T: PartialEq + From<i8>>(ret: T) -> io::Result<T> {
    if ret == T::from(-1) {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
