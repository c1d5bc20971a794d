//! The lock on the account databases that glibc's `lckpwdf()` and so shadow-utils (useradd, usermod)
//! take: a POSIX write lock (`fcntl`) on the whole of `.pwd.lock` beside passwd. Taken here rather than
//! through `lckpwdf()`, which always means /etc, waits with SIGALRM and is a stub that always succeeds
//! in musl.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use nix::libc;

use super::check;

/// Holds the lock until dropped (closing the file releases it).
#[derive(Debug)]
pub struct PasswdLock {
    _held: File,
}

/// Who holds the lock, when it is taken.
pub type Holder = Option<i32>;

impl PasswdLock {
    /// Open (or create, 0600) `path` and try once to lock it: `Err(holder)` when another process holds
    /// it. The file must be a regular file of root's; it is never followed through a symlink.
    pub fn try_acquire(path: &Path) -> io::Result<Result<PasswdLock, Holder>> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() || meta.uid() != 0 || meta.mode() & 0o022 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{} is not a regular file that only root can write", path.display()),
            ));
        }
        let mut lock = whole_file(libc::F_WRLCK);
        // SAFETY: F_SETLK reads a valid, initialised flock struct; the descriptor is open for writing.
        match check(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock) }) {
            Ok(_) => Ok(Ok(PasswdLock { _held: file })),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => {
                // SAFETY: F_GETLK writes into the valid flock struct it is given.
                let asked = check(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut lock) });
                Ok(Err(asked.ok().filter(|_| i32::from(lock.l_type) != libc::F_UNLCK).map(|_| lock.l_pid)))
            }
            Err(e) => Err(e),
        }
    }
}

fn whole_file(kind: libc::c_int) -> libc::flock {
    // SAFETY: flock is a plain C struct for which all zeroes is a valid value.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    // F_RDLCK, F_WRLCK, F_UNLCK (0-2) and SEEK_SET (0): small constants libc declares as int for a
    // short field; zero (unlocked, from the start) if one ever did not fit
    lock.l_type = i16::try_from(kind).unwrap_or_default();
    lock.l_whence = i16::try_from(libc::SEEK_SET).unwrap_or_default();
    lock
}
