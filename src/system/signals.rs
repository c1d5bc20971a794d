//! The signal state the command and every hook start with: nothing blocked, nothing ignored.

use std::io;

use nix::libc;

use super::check;

/// Give the command the signal state a freshly started process has: nothing blocked, nothing ignored.
///
/// roothooks ignores SIGPIPE, the hook runner blocks the termination signals, and whoever started us may
/// have ignored anything; none of it may leak. Hooks get the same through [`Spawner`]. (Caught signals
/// need nothing: an exec puts those back to their default itself.)
pub fn reset_signals() -> io::Result<()> {
    use nix::sys::signal::{SigSet, SigmaskHow};
    for signal in ignored_signals() {
        check(set_default(signal))?;
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
    Ok(())
}

/// The signals this process ignores: what the launcher left ignored, SIGPIPE, which roothooks
/// always ignores itself, and SIGXFSZ once [`ignore_file_size_limit`] ignored it (nothing else here
/// sets SIG_IGN). Every signal when the start's `/proc/self/status` could not be read, so that
/// resetting them errs on the side of too many.
pub(super) fn ignored_signals() -> Vec<libc::c_int> {
    let all = (1..=64).filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP);
    let xfsz = if XFSZ_IGNORED.load(std::sync::atomic::Ordering::Relaxed) { 1 << (libc::SIGXFSZ - 1) } else { 0 };
    match super::at_start().ignored {
        Some(mask) => {
            let mask = mask | 1 << (libc::SIGPIPE - 1) | xfsz;
            all.filter(|s| mask & (1 << (s - 1)) != 0).collect()
        }
        None => all.collect(),
    }
}

static XFSZ_IGNORED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Ignore SIGXFSZ from now on, so that `--rlimit fsize=` meant for the command makes a write of
/// roothooks' own past it (the log copy) fail with EFBIG instead of killing roothooks before the
/// command starts; the command and the user's hooks get it back at its default.
pub fn ignore_file_size_limit() -> io::Result<()> {
    // SAFETY: SIG_IGN is a valid disposition for SIGXFSZ; no handler code is involved.
    if unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    XFSZ_IGNORED.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// Put `signal` back to SIG_DFL with the raw system call: glibc refuses to touch the two real-time
/// signals it reserves (32, 33), which can arrive ignored all the same. Returns the call's result, -1
/// with errno set on failure; async-signal-safe, so a [`Spawner`] child may call it.
pub(super) fn set_default(signal: libc::c_int) -> libc::c_long {
    // The kernel's struct sigaction, zeroed: SIG_DFL, no flags, empty mask, whatever the architecture's
    // layout of those fields (at most 32 bytes).
    let default = [0u64; 4];
    // SAFETY: `default` is a valid, zeroed kernel sigaction that outlives the call; no old action is
    // asked for; the size is the kernel's sigset size (64 signals).
    unsafe { libc::syscall(libc::SYS_rt_sigaction, signal, default.as_ptr(), std::ptr::null_mut::<u64>(), 8usize) }
}

/// Send signal number `signo` (real-time ones too, which nix's `Signal` cannot name) to `pid`, or to
/// the process group `-pid`.
pub fn send_signal(pid: nix::unistd::Pid, signo: libc::c_int) -> nix::Result<()> {
    // SAFETY: kill takes two integers and touches no memory of ours.
    nix::errno::Errno::result(unsafe { libc::kill(pid.as_raw(), signo) }).map(drop)
}

/// The first real-time signal this libc leaves to programs (glibc keeps 32 and 33 for itself).
pub fn sigrtmin() -> libc::c_int {
    libc::SIGRTMIN()
}
