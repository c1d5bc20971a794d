//! Becoming two processes after the drop: the fork, process groups and sessions, and what the one
//! that stays resident asks of the kernel (orphans as a subreaper, no ptrace by the user).

use std::io;

use nix::unistd::{ForkResult, Pid};

/// Which side of [`fork`] this is.
pub enum Forked {
    Parent { child: Pid },
    Child,
}

/// Fork. Only called while roothooks has one thread (the hook runner and the log start none), so the
/// child may allocate and log before it execs.
pub fn fork() -> io::Result<Forked> {
    // SAFETY: roothooks is single-threaded here: no other thread can hold a lock (the allocator's,
    // the log's) that the child would then wait on forever.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => Ok(Forked::Parent { child }),
        ForkResult::Child => Ok(Forked::Child),
    }
}

/// Put `pid` (0: this process) in a process group of its own. Called by both sides of a fork, so the
/// group exists before either relies on it; the parent's call fails harmlessly once the child execs.
pub fn own_process_group(pid: Pid) -> io::Result<()> {
    Ok(nix::unistd::setpgid(pid, pid)?)
}

/// Start a new session (and process group), with no controlling terminal.
pub fn new_session() -> io::Result<()> {
    nix::unistd::setsid()?;
    Ok(())
}

/// Have orphaned descendants reparented to this process instead of to PID 1.
pub fn become_subreaper() -> io::Result<()> {
    Ok(nix::sys::prctl::set_child_subreaper(true)?)
}

/// Keep processes of the same uid from ptracing this one or opening its /proc files (fd, mem).
pub fn forbid_ptrace() -> io::Result<()> {
    Ok(nix::sys::prctl::set_dumpable(false)?)
}

/// This process's pid.
pub fn pid() -> Pid {
    nix::unistd::getpid()
}

/// This process's process group.
pub fn process_group() -> Pid {
    nix::unistd::getpgrp()
}

/// Stop this process until something continues it (a shell's `fg`).
pub fn stop_self() -> io::Result<()> {
    Ok(nix::sys::signal::kill(pid(), nix::sys::signal::Signal::SIGSTOP)?)
}
