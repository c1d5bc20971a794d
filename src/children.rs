//! What the hook runner and the supervisor share about the processes they start: signals taken from a
//! signalfd instead of handlers, reaping every child (and, as PID 1 or a subreaper, every orphan),
//! passing a signal on to a process group, and the exit status a child's end stands for.
//!
//! Both block the signals they care about and read them as events of their own loop, so no handler
//! races the loop and nothing is lost between a fork and the first read.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tracing::debug;

/// Signals blocked and readable from a descriptor, for as long as this lives; the old mask is put
/// back by [`Listener::restore`].
pub struct Listener {
    fd: SignalFd,
    old_mask: SigSet,
}

impl Listener {
    /// Block `signals` and start listening for them (non-blocking reads: the loop polls).
    pub fn new(signals: &SigSet) -> io::Result<Listener> {
        let mut old_mask = SigSet::empty();
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(signals), Some(&mut old_mask))?;
        let fd = SignalFd::with_flags(signals, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;
        Ok(Listener { fd, old_mask })
    }

    /// The next pending signal's number, or `None` when none is waiting. A number, not a [`Signal`]:
    /// the supervisor passes real-time signals on too.
    pub fn pending(&mut self) -> nix::Result<Option<i32>> {
        Ok(self.fd.read_signal()?.map(|info| info.ssi_signo.cast_signed()))
    }

    /// Stop listening and give back the mask this process had before.
    pub fn restore(self) -> nix::Result<()> {
        sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.old_mask), None)
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Reap every child that has ended (stopped too, with `stopped`), and return what became of `watch`
/// if it was among them. The rest are our children's orphans (we are PID 1 or a subreaper); they are
/// collected so that none stays a zombie.
pub fn reap(watch: Pid, stopped: bool) -> Option<WaitStatus> {
    let flags = if stopped { WaitPidFlag::WNOHANG | WaitPidFlag::WUNTRACED } else { WaitPidFlag::WNOHANG };
    let mut found = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(flags)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return found,
            Ok(status) => match status.pid() {
                Some(pid) if pid == watch => found = Some(status),
                Some(pid) => debug!(pid = pid.as_raw(), "reaped orphan {pid}"),
                None => {}
            },
        }
    }
}

/// Send signal number `signo` to the process group `leader` leads; to `leader` alone when the group
/// is gone (the command moved itself to another group). Returns what the kernel said.
pub fn signal_group(leader: Pid, signo: i32) -> nix::Result<()> {
    match crate::system::send_signal(Pid::from_raw(-leader.as_raw()), signo) {
        Err(Errno::ESRCH) => crate::system::send_signal(leader, signo),
        other => other,
    }
}

/// The exit status a child's end stands for, as a shell reports it: its code, or 128+N for signal N.
pub fn exit_status(status: WaitStatus) -> Option<u8> {
    match status {
        // an exit code is its low 8 bits, as the kernel keeps them; a signal number is below 65
        WaitStatus::Exited(_, code) => Some(u8::try_from(code & 0xff).unwrap_or(u8::MAX)),
        WaitStatus::Signaled(_, sig, _) => Some(128u8.wrapping_add(u8::try_from(sig as i32).unwrap_or(0))),
        _ => None,
    }
}

/// A signal's name for the log, real-time ones included (`SIGRTMIN+3`).
pub fn signal_name(signo: i32) -> String {
    match Signal::try_from(signo) {
        Ok(sig) => sig.as_str().to_string(),
        Err(_) => match signo - crate::system::sigrtmin() {
            0 => "SIGRTMIN".to_string(),
            n => format!("SIGRTMIN+{n}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_death_is_128_plus_its_number() {
        let pid = Pid::from_raw(7);
        assert_eq!(exit_status(WaitStatus::Exited(pid, 0)), Some(0));
        assert_eq!(exit_status(WaitStatus::Exited(pid, 7)), Some(7));
        assert_eq!(exit_status(WaitStatus::Signaled(pid, Signal::SIGKILL, false)), Some(137));
        assert_eq!(exit_status(WaitStatus::Signaled(pid, Signal::SIGTERM, true)), Some(143));
        assert_eq!(exit_status(WaitStatus::Stopped(pid, Signal::SIGTSTP)), None);
    }

    #[test]
    fn signals_are_named_real_time_ones_too() {
        assert_eq!(signal_name(15), "SIGTERM");
        let min = crate::system::sigrtmin();
        assert_eq!(signal_name(min), "SIGRTMIN");
        assert_eq!(signal_name(min + 3), "SIGRTMIN+3");
    }
}
