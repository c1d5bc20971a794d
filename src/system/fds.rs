//! What this process holds besides its credentials: descriptors, which must not leak into the
//! command, and a working directory, which root must not work from.

use std::collections::BTreeSet;
use std::io;
use std::os::fd::RawFd;

use nix::libc;

use super::check;
use super::signals::set_default;

/// What std's runtime start-up would do that roothooks needs, without the rest of it (see main.rs):
/// open /dev/null (where there is none, `/` with `O_PATH`, which neither reads nor writes) on any of
/// descriptors 0, 1 and 2 that is closed, so that nothing opened later (the
/// log copy, a hook's pipe) can land there and be written to as if it were stdout or stderr; and ignore
/// SIGPIPE, so a log reader that went away is an error on a write, not the end of the start. Also puts
/// back the one disposition the hook runner relies on, SIGCHLD's.
///
/// Returns the descriptors this process was handed (from 3 up, before it opened any of its own), to
/// be passed on to the command. One read of `/proc/self/status` at the start says what the launcher
/// left ignored and which capabilities the bounding set holds (recorded, [`super::AtStart`]), and how
/// large the descriptor table is, so that the descriptors are
/// found with one `poll` instead of a listing of `/proc/self/fd`, which costs a fresh process three
/// times as much.
pub fn prepare_process() -> io::Result<BTreeSet<RawFd>> {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd { fd, events: 0, revents: 0 });
    // SAFETY: fds is a valid array of 3 pollfd for the kernel to fill in; timeout 0 does not block.
    check(unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) })?;
    for pfd in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        // The lowest free descriptor is the closed one: descriptors below it are open.
        // SAFETY: a constant NUL-terminated path; the flags take no further arguments.
        let mut fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if fd < 0 {
            // No /dev/null (a bare chroot): a descriptor that neither reads nor writes holds the place,
            // failing both with EBADF as the closed one did.
            // SAFETY: as above.
            fd = check(unsafe { libc::open(c"/".as_ptr(), libc::O_PATH | libc::O_DIRECTORY) })?;
        }
        if fd != pfd.fd {
            return Err(io::Error::other(format!("/dev/null opened as fd {fd}, not the closed fd {}", pfd.fd)));
        }
    }
    // Read before SIGPIPE is ignored here, so that SigIgn is what the launcher left.
    let status = super::self_status();
    let [ignored, bounding, table] = match status.as_deref() {
        Some(status) => super::status_fields(status, ["SigIgn", "CapBnd", "FDSize"]),
        None => [None; 3],
    };
    super::record_at_start(super::AtStart {
        ignored: ignored.and_then(super::hex_mask),
        bounding: bounding.and_then(super::hex_mask),
    });
    // SAFETY: SIG_IGN is a valid disposition for SIGPIPE; no handler code is involved.
    if unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    // A launcher may start us with SIGCHLD ignored, which makes the kernel reap hooks by itself: their
    // exit would never be seen, and a finished hook would look like a hung one.
    check(set_default(libc::SIGCHLD))?;
    let table = table.and_then(|t| t.parse().ok());
    let handed = table.and_then(open_below).or_else(open_fds);
    // Without /proc (a minimal container): as far up as poll may look, the soft RLIMIT_NOFILE, and at
    // most POLLED_AT_MOST; a descriptor above both cannot be found, and is not passed on.
    Ok(handed.or_else(|| open_below(soft_descriptor_limit().min(POLLED_AT_MOST))).unwrap_or_default())
}

/// The soft RLIMIT_NOFILE, as a count of descriptors (0 when it cannot be read).
fn soft_descriptor_limit() -> usize {
    use nix::sys::resource::{getrlimit, Resource};
    getrlimit(Resource::RLIMIT_NOFILE).map_or(0, |(soft, _)| usize::try_from(soft).unwrap_or(usize::MAX))
}

/// Polled at most this many descriptors; a larger table (a launcher that opened thousands) is listed.
/// Also how far up descriptors are looked for where there is no /proc to say how large the table is.
const POLLED_AT_MOST: usize = 4096;

/// The open descriptors from 3 up to `table` (the size of the descriptor table, which every open
/// descriptor is below), found with one `poll` that reports each closed one as invalid. `None` when the
/// table is larger than [`POLLED_AT_MOST`] or the call fails (a soft RLIMIT_NOFILE lowered below a
/// descriptor already open, which poll refuses to reach).
fn open_below(table: usize) -> Option<BTreeSet<RawFd>> {
    if table > POLLED_AT_MOST {
        return None;
    }
    let mut fds: Vec<libc::pollfd> =
        (3..RawFd::try_from(table).ok()?).map(|fd| libc::pollfd { fd, events: 0, revents: 0 }).collect();
    // SAFETY: fds is a valid array of fds.len() pollfd for the kernel to fill in; timeout 0 does not
    // block, and with it the kernel only asks each file for its state, waiting on nothing.
    check(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) }).ok()?;
    Some(fds.iter().filter(|p| p.revents & libc::POLLNVAL == 0).map(|p| p.fd).collect())
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

/// Leave whatever directory this process is in for `/`, so that nothing root does afterwards (a hook
/// importing from its working directory) can depend on a directory a user may own.
pub fn enter_root_dir() -> io::Result<()> {
    std::env::set_current_dir("/")
}

/// An anonymous file in memory, closed on exec: where a sourced hook's shell writes what it exported
/// (as descriptor 3, see `Spawner::spawn`). No path, so nothing for anyone to swap or read.
pub fn anonymous_file(name: &std::ffi::CStr) -> io::Result<std::fs::File> {
    // SAFETY: name is NUL-terminated; the kernel returns a new descriptor this process owns, or -1.
    let fd = check(unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) })?;
    // SAFETY: fd was just created and is owned by nothing else.
    Ok(unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// Make `fd` non-blocking, keeping its other status flags: a pipe or pty read by an event loop.
pub fn set_nonblocking(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Held by the tests that count or compare this process's descriptors, so that they do not open
    /// and close theirs in the middle of each other's.
    static DESCRIPTORS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Set in the process of its own that a test re-runs itself in.
    const ALONE: &str = "ROOTHOOKS_TEST_ALONE";

    #[test]
    fn open_fds_does_not_list_its_own_directory_handle() {
        // every other test's threads open and close descriptors at any moment: the count is taken in
        // a process of its own, this test alone in it
        if std::env::var_os(ALONE).is_none() {
            let name = "system::fds::tests::open_fds_does_not_list_its_own_directory_handle";
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", name, "--test-threads", "1"])
                .env(ALONE, "1")
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && said.contains("1 passed"),
                "{said}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        let _alone = DESCRIPTORS.lock().unwrap_or_else(|e| e.into_inner());
        let before = open_fds().unwrap();
        let file = std::fs::File::open("/proc/self/status").unwrap();
        let with_file = open_fds().unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        assert!(with_file.contains(&fd) && !before.contains(&fd));
        assert_eq!(with_file.len(), before.len() + 1, "{before:?} {with_file:?}");
    }

    #[test]
    fn one_poll_over_the_table_finds_open_descriptors_and_only_those() {
        use std::os::fd::AsRawFd;
        let _alone = DESCRIPTORS.lock().unwrap_or_else(|e| e.into_inner());
        // one descriptor low and one high in the table (other tests' threads open and close their own
        // meanwhile, so only these two are compared)
        let low = std::fs::File::open("/dev/null").unwrap();
        let high = nix::fcntl::fcntl(&low, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(200)).unwrap();
        let table = || -> usize {
            super::super::self_status().and_then(|s| super::super::status_field(&s, "FDSize")?.parse().ok()).unwrap()
        };
        let polled = open_below(table()).unwrap();
        assert!(polled.contains(&low.as_raw_fd()) && polled.contains(&high), "{polled:?}");
        nix::unistd::close(high).unwrap();
        assert!(!open_below(table()).unwrap().contains(&high), "a closed descriptor is not listed");
        assert_eq!(open_below(POLLED_AT_MOST + 1), None, "a table this large is listed instead");
    }
}
