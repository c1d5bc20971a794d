//! Terminals: whether a descriptor is one, its size, mode and foreground group, and a new
//! pseudo-terminal for the command.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::termios::{self, SetArg, Termios};
use nix::unistd::Pid;

pub use nix::pty::Winsize;

/// Standard descriptor `fd` (0, 1 or 2) as a borrowed descriptor, for the calls below.
pub fn std_fd(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: 0, 1 and 2 are open for the whole life of the process: `prepare_process` opens
    // /dev/null on any that was closed, and nothing closes them.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// Whether descriptor `fd` is a terminal (a standard one, or one the command would inherit).
pub fn is_terminal(fd: RawFd) -> bool {
    // SAFETY: isatty only queries the descriptor; a closed one is just "no".
    unsafe { libc::isatty(fd) == 1 }
}

/// Whether this process has a controlling terminal: /dev/tty opens (ENXIO when it has none).
pub fn has_controlling_terminal() -> bool {
    let flags = OFlag::O_RDONLY | OFlag::O_NOCTTY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    nix::fcntl::open("/dev/tty", flags, nix::sys::stat::Mode::empty()).is_ok()
}

/// The foreground process group of the terminal on standard descriptor `fd`.
pub fn foreground(fd: RawFd) -> Option<Pid> {
    nix::unistd::tcgetpgrp(std_fd(fd)).ok()
}

/// Make `pgid` the foreground process group of the terminal on standard descriptor `fd`. The caller
/// has SIGTTOU blocked, as it must when it is not in the foreground itself.
pub fn set_foreground(fd: RawFd, pgid: Pid) -> io::Result<()> {
    Ok(nix::unistd::tcsetpgrp(std_fd(fd), pgid)?)
}

/// The mode of the terminal on `fd`.
pub fn mode_of(fd: BorrowedFd<'_>) -> io::Result<Termios> {
    Ok(termios::tcgetattr(fd)?)
}

/// Set the mode of `fd`'s terminal once what was written is out.
pub fn set_mode(fd: BorrowedFd<'_>, mode: &Termios) -> io::Result<()> {
    Ok(termios::tcsetattr(fd, SetArg::TCSADRAIN, mode)?)
}

/// `mode` made raw: every byte passes as it is, no echo, no signal keys.
pub fn raw(mode: &Termios) -> Termios {
    let mut raw = mode.clone();
    termios::cfmakeraw(&mut raw);
    raw
}

/// The size of the terminal on `fd`.
pub fn window_size(fd: BorrowedFd<'_>) -> io::Result<Winsize> {
    let mut size = Winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one struct winsize, which `size` is, and nothing else.
    super::check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size) })?;
    Ok(size)
}

/// Set the size of the terminal on `fd`; its foreground group gets SIGWINCH.
pub fn set_window_size(fd: BorrowedFd<'_>, size: &Winsize) -> io::Result<()> {
    // SAFETY: TIOCSWINSZ reads one struct winsize, which `size` points to.
    super::check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, size) })?;
    Ok(())
}

/// A new pseudo-terminal: its master, close-on-exec, and the path of its other end.
pub struct Pty {
    pub master: File,
    pub slave: PathBuf,
}

/// Open a new pseudo-terminal from the devpts instance at /dev/pts (the starter's, where the
/// starter's terminal is a pty), before the drop: [`crate::supervise::relay::Relay::open`] gives its
/// other end to the user.
pub fn open_pty() -> io::Result<Pty> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)?;
    nix::pty::grantpt(&master)?;
    nix::pty::unlockpt(&master)?;
    let slave = PathBuf::from(nix::pty::ptsname_r(&master)?);
    // SAFETY: the master's descriptor is ours alone; ownership moves to the File.
    let master = unsafe { File::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(master)) };
    Ok(Pty { master, slave })
}

/// In a new session: open `path`, a terminal, as this process's controlling terminal.
pub fn open_controlling(path: &std::path::Path) -> io::Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new().read(true).write(true).custom_flags(libc::O_CLOEXEC).open(path)?;
    // SAFETY: TIOCSCTTY takes an integer (0: do not steal a terminal another session has).
    super::check(unsafe { libc::ioctl(file.as_raw_fd(), libc::TIOCSCTTY, 0) })?;
    Ok(file.into())
}

/// Put `fd` on standard descriptor `target` (open across the exec).
pub fn install_as(fd: BorrowedFd<'_>, target: RawFd) -> io::Result<()> {
    // SAFETY: dup2 onto a standard descriptor; both are open, and no Rust object owns `target`
    // beyond the process-long standard streams, which this replaces as intended.
    super::check(unsafe { libc::dup2(fd.as_raw_fd(), target) })?;
    Ok(())
}
