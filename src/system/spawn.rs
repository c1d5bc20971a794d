//! Starting hooks: a vfork-style clone that only rearranges descriptors and signals, then execs; and
//! the command's own exec ([`ExecVectors`]), from the same argument and environment vectors.
//!
//! Why not std's `Command`: glibc's posix_spawn under it costs each hook a fresh child stack (mmap and
//! munmap) and a query and reset of all 64 signal dispositions, and std copies the whole environment
//! into a map first. Measured again with the trust walk in place (2026-11-30, static builds, `cargo
//! bench --bench interleave`, 80 rounds of 100 trivial hooks): 74.6 ms with this, 78.9 ms with std's
//! `Command` (which, unlike this, would also need a `pre_exec`, and so a full fork, to reset every
//! ignored signal), against 77.0 ms for a sh loop over the same files.

use std::ffi::CString;
use std::io;
use std::os::fd::OwnedFd;

use nix::libc;

use super::signals::{ignored_signals, set_default};

/// Starts hooks. The environment, the stack, /dev/null (or an empty pipe where there is none) and the list of ignored signals are prepared
/// once; the child makes five system calls (six with a descriptor 3) plus one per ignored signal
/// (usually just SIGPIPE) before the exec.
pub struct Spawner {
    stack: Vec<u8>,
    dev_null: OwnedFd,
    /// what this process ignores, SIGPIPE at least: hooks start with all of it at the default
    ignored: Vec<libc::c_int>,
    env: CVector,
    /// the user's hooks: each in a session of its own (so without the starter's controlling
    /// terminal), with these inherited descriptors (terminals) closed
    isolated: Option<Vec<libc::c_int>>,
}

/// A started hook: its pid, which leads its own process group, and its stdout and stderr.
pub struct Spawned {
    pub pid: nix::unistd::Pid,
    pub stdout: std::fs::File,
    pub stderr: std::fs::File,
}

impl Spawner {
    /// Every hook gets exactly `env` (until [`Spawner::set_env`]).
    pub fn new(env: &[(std::ffi::OsString, std::ffi::OsString)]) -> io::Result<Spawner> {
        let dev_null = match std::fs::File::open("/dev/null") {
            Ok(file) => file.into(),
            // no /dev/null (a bare chroot, an empty /dev): an empty pipe reads as it does, end of file
            Err(_) => nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?.0,
        };
        let mut spawner = Spawner {
            stack: vec![0; 64 * 1024],
            dev_null,
            ignored: ignored_signals(),
            env: CVector::env(&[])?,
            isolated: None,
        };
        spawner.set_env(env)?;
        Ok(spawner)
    }

    /// Start every hook from now on in a session of its own, without a controlling terminal, and
    /// with the inherited descriptors `close` (the starter's terminal above 2) closed: as the command
    /// starts, for hooks that run as the user.
    pub fn isolate(&mut self, close: Vec<std::os::fd::RawFd>) {
        self.isolated = Some(close);
    }

    /// The environment of the hooks started from now on.
    pub fn set_env(&mut self, env: &[(std::ffi::OsString, std::ffi::OsString)]) -> io::Result<()> {
        self.env = CVector::env(env)?;
        Ok(())
    }

    /// Start `program` with `argv`: stdin on /dev/null, stdout and stderr on new pipes, `fd3` (if any)
    /// as descriptor 3, in a process group of its own, with an empty signal mask and nothing ignored.
    /// An exec that fails is an error here, with its errno, and leaves no child behind.
    pub fn spawn(
        &mut self,
        program: &std::path::Path,
        argv: &[&std::ffi::OsStr],
        fd3: Option<std::os::fd::BorrowedFd<'_>>,
    ) -> io::Result<Spawned> {
        use std::os::fd::AsRawFd;
        use std::os::unix::ffi::OsStrExt;
        let path = CString::new(program.as_os_str().as_bytes())?;
        let argv = CVector::args(argv.iter().copied())?;
        let (out_read, out_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let (err_read, err_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let fds = [self.dev_null.as_raw_fd(), out_write.as_raw_fd(), err_write.as_raw_fd()];
        let fd3 = fd3.map_or(-1, |fd| fd.as_raw_fd());
        let envp = self.env.as_ptr();
        let ignored = self.ignored.as_slice();
        let (own_session, close) = match &self.isolated {
            Some(close) => (true, close.as_slice()),
            None => (false, &[][..]),
        };
        let exec_errno = std::sync::atomic::AtomicI32::new(0);
        let child = Box::new(|| -> isize {
            // In the child, which shares this process's memory until it execs: no allocation, no
            // locks, only system calls. A failure stores errno for the parent and exits 127.
            // SAFETY: every pointer is into memory the suspended parent keeps alive (argv, envp, path,
            // ignored); the descriptors are open; dup2 clears close-on-exec on 0, 1, 2 (and 3) only.
            unsafe {
                let mut empty: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut empty);
                let ok = libc::dup2(fds[0], 0) != -1
                    && libc::dup2(fds[1], 1) != -1
                    && libc::dup2(fds[2], 2) != -1
                    // the terminals first: one of them may be descriptor 3, which fd3 then takes
                    && close.iter().all(|&fd| libc::close(fd) != -1 || *libc::__errno_location() == libc::EBADF)
                    && (fd3 == -1 || move_to_3(fd3))
                    && (if own_session { libc::setsid() != -1 } else { libc::setpgid(0, 0) != -1 })
                    && ignored.iter().all(|&signal| set_default(signal) != -1)
                    && libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) != -1;
                if ok {
                    libc::execve(path.as_ptr(), argv.as_ptr(), envp);
                }
                exec_errno.store(*libc::__errno_location(), std::sync::atomic::Ordering::Relaxed);
                libc::_exit(127)
            }
        });
        let flags = nix::sched::CloneFlags::CLONE_VM | nix::sched::CloneFlags::CLONE_VFORK;
        // SAFETY: CLONE_VFORK suspends this thread until the child execs or exits, and the child only
        // makes async-signal-safe calls, allocates nothing and writes nothing but `exec_errno` (what
        // posix_spawn's child does too); it runs on `self.stack`, 64 KiB, far more than those calls use.
        let pid = unsafe { nix::sched::clone(child, &mut self.stack, flags, Some(libc::SIGCHLD)) }?;
        drop((out_write, err_write));
        match exec_errno.load(std::sync::atomic::Ordering::Relaxed) {
            0 => Ok(Spawned { pid, stdout: out_read.into(), stderr: err_read.into() }),
            errno => {
                let _ = nix::sys::wait::waitpid(pid, None);
                Err(io::Error::from_raw_os_error(errno))
            }
        }
    }
}

/// In the spawned child: `fd` as descriptor 3, open across the exec. dup2 onto itself would keep
/// close-on-exec, so that case clears the flag instead. Only async-signal-safe calls: fit for the
/// vfork child.
fn move_to_3(fd: libc::c_int) -> bool {
    // SAFETY: plain descriptor calls on descriptors this process holds; no memory is touched.
    unsafe {
        if fd == 3 {
            libc::fcntl(3, libc::F_SETFD, 0) != -1
        } else {
            libc::dup2(fd, 3) != -1
        }
    }
}

fn c_pair(name: &[u8], value: &[u8]) -> io::Result<CString> {
    let mut pair = Vec::with_capacity(name.len() + value.len() + 1);
    pair.extend_from_slice(name);
    pair.push(b'=');
    pair.extend_from_slice(value);
    Ok(CString::new(pair)?)
}

/// NUL-terminated strings and the NULL-terminated array of pointers into them, as execve takes its
/// argv and envp. The pointers stay valid for as long as the value lives: moving it moves no string.
struct CVector {
    _strings: Vec<CString>,
    pointers: Vec<*const libc::c_char>,
}

impl CVector {
    fn new(strings: Vec<CString>) -> CVector {
        let pointers = strings.iter().map(|s| s.as_ptr()).chain([std::ptr::null()]).collect();
        CVector { _strings: strings, pointers }
    }

    /// Arguments; fails on a NUL byte, which no C string can carry.
    fn args<'a>(args: impl Iterator<Item = &'a std::ffi::OsStr>) -> io::Result<CVector> {
        use std::os::unix::ffi::OsStrExt;
        Ok(CVector::new(args.map(|a| CString::new(a.as_bytes())).collect::<Result<_, _>>()?))
    }

    /// An environment, `NAME=value` each, exactly these; fails on a NUL byte.
    fn env(env: &[(std::ffi::OsString, std::ffi::OsString)]) -> io::Result<CVector> {
        use std::os::unix::ffi::OsStrExt;
        Ok(CVector::new(env.iter().map(|(k, v)| c_pair(k.as_bytes(), v.as_bytes())).collect::<io::Result<_>>()?))
    }

    fn as_ptr(&self) -> *const *const libc::c_char {
        self.pointers.as_ptr()
    }
}

/// The command's argument and environment vectors, made once for every place the command may be
/// tried at.
pub struct ExecVectors {
    argv: CVector,
    envp: CVector,
}

impl ExecVectors {
    /// `arg0` and `args` as the command's arguments, exactly `env` as its environment. Fails on a NUL
    /// byte, which no C string can carry.
    pub fn new(
        arg0: &std::ffi::OsStr,
        args: &[std::ffi::OsString],
        env: &[(std::ffi::OsString, std::ffi::OsString)],
    ) -> io::Result<ExecVectors> {
        let argv = CVector::args(std::iter::once(arg0).chain(args.iter().map(|a| a.as_os_str())))?;
        Ok(ExecVectors { argv, envp: CVector::env(env)? })
    }

    /// Replace this process with the program at `path`, a path with a `/` in it (so execvpe searches
    /// no PATH). As std's `Command::exec` did, through glibc's execvp: a file without a `#!` line that
    /// the kernel refuses (ENOEXEC) is run by /bin/sh. Returns only the error of an exec that failed.
    /// std's way also copied the environment into a map and pointed `environ` at a new block first.
    pub fn exec(&self, path: &std::path::Path) -> io::Error {
        use std::os::unix::ffi::OsStrExt;
        let Ok(path) = CString::new(path.as_os_str().as_bytes()) else {
            return io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the command's path");
        };
        // SAFETY: path, argv and envp are NUL-terminated strings and NULL-terminated arrays that live
        // across the call; execvpe only returns on failure, with errno set.
        unsafe { libc::execvpe(path.as_ptr(), self.argv.as_ptr(), self.envp.as_ptr()) };
        io::Error::last_os_error()
    }
}
