//! Becoming two processes after the drop: the command's own process, process groups and sessions,
//! and what the one that stays resident asks of the kernel (orphans as a subreaper, no ptrace by the
//! user).

use std::io;

use nix::unistd::Pid;

/// Start `child` in a new process that shares this one's memory until it execs (as vfork and
/// posix_spawn do): no page tables copied, nothing copied on write, so the supervisor's start costs
/// little more than the exec itself. This process waits, suspended, until the child has exec'd or
/// exited. `child` must end in an exec or [`exit_now`], never return, and must not take a lock this
/// process could hold: roothooks has one thread here and its signals blocked, so none is held.
pub fn spawn_sharing(child: impl FnOnce() -> std::convert::Infallible) -> io::Result<Pid> {
    let mut stack = vec![0u8; 512 * 1024];
    let mut child = Some(child);
    let run = Box::new(move || -> isize {
        match child.take() {
            Some(f) => match f() {},
            None => 127,
        }
    });
    let flags = nix::sched::CloneFlags::CLONE_VM | nix::sched::CloneFlags::CLONE_VFORK;
    // SAFETY: CLONE_VFORK suspends this thread until the child execs or exits, so the memory the child
    // shares (the heap, `stack`, the closure) is used by one of them at a time; this process has one
    // thread and its signals blocked, so no lock (the allocator's, the log's) is held while the child
    // runs; the child ends in execve or _exit, never returning into this process's frames. Its
    // descriptors and signal dispositions are its own (no CLONE_FILES, no CLONE_SIGHAND).
    Ok(unsafe { nix::sched::clone(run, &mut stack, flags, Some(nix::libc::SIGCHLD)) }?)
}

/// End this process at once, without running exit handlers or flushing anything: what a child of
/// [`spawn_sharing`] must use, since those belong to the process it shares memory with.
pub fn exit_now(code: i32) -> std::convert::Infallible {
    // SAFETY: _exit only ends the process; it runs no handler and touches no memory of ours.
    unsafe { nix::libc::_exit(code) }
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

/// No longer take orphans in (those already taken stay this process's children).
pub fn stop_being_subreaper() -> io::Result<()> {
    Ok(nix::sys::prctl::set_child_subreaper(false)?)
}

/// This process's children, from one read of the kernel's list (cheap enough for every hook);
/// `None` where the kernel has no such list (CONFIG_PROC_CHILDREN).
pub fn children() -> Option<Vec<Pid>> {
    let me = pid();
    let text = std::fs::read_to_string(format!("/proc/self/task/{me}/children")).ok()?;
    Some(text.split_whitespace().filter_map(|p| p.parse().ok()).map(Pid::from_raw).collect())
}

/// A process below roothooks, as one pass over /proc saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Below {
    pub pid: Pid,
    pub parent: Pid,
    /// its process group
    pub group: Pid,
    pub session: Pid,
    pub name: String,
}

/// What a process's `/proc/PID/stat` line says of it, for [`descendants`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub name: String,
    pub parent: Pid,
    pub group: Pid,
    pub session: Pid,
    /// whether anything of it still runs: not a zombie, or a thread group whose leader has ended
    /// (`pthread_exit` in the main thread) while its other threads run on, which the kernel shows as a
    /// zombie leader with more than one thread
    pub running: bool,
}

/// Read one `/proc/PID/stat` line: "pid (comm) state ppid pgrp session ... num_threads ...". `None`
/// for a line that is not one. The name may hold spaces and parentheses, so the fields are taken from
/// after the last ')'.
pub fn parse_stat(line: &str) -> Option<Stat> {
    let (open, close) = (line.find('(')?, line.rfind(')')?);
    let name = line.get(open + 1..close)?.to_string();
    let mut fields = line.get(close + 1..)?.split_whitespace();
    let number = |field: Option<&str>| field.and_then(|f| f.parse::<i32>().ok()).map(Pid::from_raw);
    let state = fields.next()?;
    let (parent, group, session) = (number(fields.next())?, number(fields.next())?, number(fields.next())?);
    // after session: tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    // priority nice, then num_threads: the kernel counts a zombie leader until it is reaped, so a real
    // zombie shows 1 (whether its threads ended together or its last one after it), and a leader
    // whose other threads run 1 and theirs (all three measured)
    let threads = fields.nth(13).and_then(|f| f.parse::<u64>().ok());
    let running = match state {
        "Z" => threads.is_some_and(|t| t > 1),
        "X" => false,
        _ => true,
    };
    Some(Stat { name, parent, group, session, running })
}

/// Every process below `roots` (their children, theirs, ...), each with its parent and name, from
/// one pass over /proc: the parent of each process, from its `stat`. A process that ends meanwhile
/// is just absent, and so is a zombie (it has ended, and has no children); a thread group whose
/// leader ended while its other threads run is no zombie, and is there. A parent comes before its
/// children.
pub fn descendants(roots: &[Pid]) -> Vec<Below> {
    let mut all: Vec<Below> = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(line) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        if let Some(Stat { name, parent, group, session, running: true }) = parse_stat(&line) {
            all.push(Below { pid: Pid::from_raw(pid), parent, group, session, name });
        }
    }
    let mut found: Vec<Below> = Vec::new();
    let mut frontier: Vec<Pid> = roots.to_vec();
    while let Some(parent) = frontier.pop() {
        for below in all.iter().filter(|b| b.parent == parent) {
            if !found.iter().any(|f| f.pid == below.pid) && !roots.contains(&below.pid) {
                found.push(below.clone());
                frontier.push(below.pid);
            }
        }
    }
    found
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

/// This process's session.
pub fn session() -> io::Result<Pid> {
    Ok(nix::unistd::getsid(None)?)
}

/// Stop this process until something continues it (a shell's `fg`).
pub fn stop_self() -> io::Result<()> {
    Ok(nix::sys::signal::kill(pid(), nix::sys::signal::Signal::SIGSTOP)?)
}

extern "C" {
    // The linker's marks around the program's own code (GNU ld and lld define both).
    static __executable_start: u8;
    static etext: u8;
}

/// Let go of the mappings of this program's code, which a resident process has run once and will
/// mostly not run again: the pages stay in the page cache, and the few the resident loop uses come
/// back on first use. Only the read-only part before `etext` (headers, text), which is never written
/// (relocations go to the data segment after it), so nothing is lost.
pub fn release_code() -> io::Result<()> {
    let page = 4096usize;
    // only the addresses of the linker's marks: nothing is read through them
    let (start, end) = (&raw const __executable_start as usize, &raw const etext as usize);
    let start = start.next_multiple_of(page);
    let end = end - end % page;
    if end <= start {
        return Ok(());
    }
    // SAFETY: [start, end) lies within this program's own read-only, file-backed mappings (between
    // the linker's marks, page-aligned inward), which were never written: MADV_DONTNEED only drops
    // their page-table entries, and any later access reads the same bytes back from the file.
    let ret = unsafe { nix::libc::madvise(start as *mut nix::libc::c_void, end - start, nix::libc::MADV_DONTNEED) };
    super::check(ret).map(drop)
}

#[cfg(test)]
mod tests;
