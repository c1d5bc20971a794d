//! glibc's lock on the user and group databases, held while `--ensure-account` edits them.

use std::io;

use nix::libc;

use super::check;

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
