//! The command's own pseudo-terminal, relayed to the starter's: input, output, window size, ^C,
//! a stop of the command, EOF, and the starter's terminal mode put back at the end.
//!
//! The command starts in a new session whose controlling terminal is the new pty, on each standard
//! descriptor that was a terminal. Whatever it leaves behind can take only that pty, which is hung
//! up when roothooks closes it; the starter's terminal is held by roothooks alone, which is not
//! dumpable and exits with the command.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use nix::poll::PollFlags;
use nix::sys::termios::{LocalFlags, SpecialCharacterIndices, Termios};
use nix::unistd::Pid;
use tracing::warn;

use crate::system::{process, tty};

/// How much is read from either side at once.
const CHUNK: usize = 16 * 1024;

pub struct Relay {
    master: File,
    /// roothooks' own hold on the other end, so the master never reads as hung up before the
    /// command opens it; let go in [`Relay::finish`]
    slave: OwnedFd,
    slave_path: PathBuf,
    /// which of the command's standard descriptors are the pty
    on_pty: [bool; 3],
    /// the starter's terminal on stdin, made raw while the command runs: the mode to put back
    saved: Option<Termios>,
    /// stdin is relayed (until its end)
    input: bool,
    /// stdin is a terminal (its end is a hang-up, not an EOF to pass on)
    input_is_terminal: bool,
    /// where the pty's output goes: stdout or stderr, whichever the command had on the pty
    output: Option<File>,
    /// read from stdin, not yet taken by the pty
    pending: Vec<u8>,
    /// the last byte passed to the pty, for how to say EOF
    last: u8,
}

impl Relay {
    /// A new pty sized like the starter's terminal. Stdin's terminal is to be made raw (by
    /// [`Relay::begin`]) when roothooks is its foreground, so that every key, ^C too, reaches the
    /// command's terminal and acts there. (Not ^Z: the command's process group is orphaned in its new
    /// session, and the kernel discards terminal stop signals for it.)
    pub fn open() -> io::Result<Relay> {
        let pty = tty::open_pty()?;
        crate::system::set_nonblocking(pty.master.as_fd())?;
        let slave: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NOCTTY | nix::libc::O_CLOEXEC)
            .open(&pty.slave)?
            .into();
        let terminals = [0, 1, 2].map(tty::is_terminal);
        let on_pty = if terminals.iter().any(|t| *t) { terminals } else { [true; 3] };
        let [input_is_terminal, ..] = terminals;
        let ours = tty::foreground(0) == Some(process::process_group());
        let saved = if input_is_terminal && ours { Some(tty::mode_of(tty::std_fd(0))?) } else { None };
        let output = match [(1, on_pty[1]), (2, on_pty[2])].into_iter().find(|&(_, on)| on) {
            Some((fd, _)) => Some(File::from(tty::std_fd(fd).try_clone_to_owned()?)),
            None => None,
        };
        if !input_is_terminal {
            // input from a file or pipe is not typed: the pty must not echo it into the output
            let mut mode = tty::mode_of(slave.as_fd())?;
            mode.local_flags.remove(LocalFlags::ECHO);
            tty::set_mode(slave.as_fd(), &mode)?;
        }
        let relay = Relay {
            master: pty.master,
            slave,
            slave_path: pty.slave,
            on_pty,
            saved,
            // a terminal not ours to read (a background job) is left alone
            input: on_pty[0] && (!input_is_terminal || ours),
            input_is_terminal,
            output,
            pending: Vec::new(),
            last: b'\n',
        };
        relay.resize();
        Ok(relay)
    }

    /// Start relaying: the starter's terminal goes raw now, once roothooks' own lines before it are
    /// out (raw output would not return the carriage after them).
    pub fn begin(&self) {
        self.raw();
    }

    /// In the command's process, before the exec: a new session with the pty as its controlling
    /// terminal, on the standard descriptors it replaces.
    pub fn attach(&self) -> io::Result<()> {
        process::new_session()?;
        let pty = tty::open_controlling(&self.slave_path)?;
        for (fd, on) in (0..).zip(self.on_pty) {
            if on {
                tty::install_as(pty.as_fd(), fd)?;
            }
        }
        Ok(())
    }

    /// The descriptors to wait on, and for what.
    pub fn interest(&self) -> Vec<(BorrowedFd<'_>, PollFlags)> {
        let mut fds = vec![(
            self.master.as_fd(),
            if self.pending.is_empty() { PollFlags::POLLIN } else { PollFlags::POLLIN | PollFlags::POLLOUT },
        )];
        if self.input && self.pending.is_empty() {
            fds.push((tty::std_fd(0), PollFlags::POLLIN));
        }
        fds
    }

    /// Move what [`Relay::interest`]'s descriptors have ready, `revents` in the same order.
    pub fn pump(&mut self, revents: &[PollFlags]) {
        let ready = |i: usize| revents.get(i).is_some_and(|r| !r.is_empty());
        if ready(0) {
            self.relay_output();
            self.feed();
        }
        if self.input && self.pending.is_empty() && ready(1) {
            self.take_input();
            self.feed();
        }
    }

    /// Copy the starter's window size to the pty (whose foreground group then gets SIGWINCH).
    pub fn resize(&self) {
        if let Some(fd) = (0..3).find(|&fd| tty::is_terminal(fd)) {
            if let Ok(size) = tty::window_size(tty::std_fd(fd)) {
                let _ = tty::set_window_size(self.master.as_fd(), &size);
            }
        }
    }

    /// The command stopped (by a signal): give the starter its terminal back and stop
    /// roothooks too, so the starter's shell sees its job stopped; on `fg`, carry on.
    pub fn suspend(&mut self, child: Pid) {
        self.restore();
        if let Err(e) = process::stop_self() {
            warn!("cannot stop along with the command: {e}");
        }
        // continued
        self.resize();
        self.raw();
        let _ = crate::children::signal_group(child, nix::libc::SIGCONT);
    }

    /// The command has ended: relay what it wrote last, put the starter's terminal back, let go of
    /// the pty (what the command left behind now holds a hung-up terminal).
    pub fn finish(mut self) {
        self.relay_output();
        self.restore();
    }

    fn raw(&self) {
        if let Some(saved) = &self.saved {
            if let Err(e) = tty::set_mode(tty::std_fd(0), &tty::raw(saved)) {
                warn!("cannot put the terminal in raw mode for the command's pty: {e}");
            }
        }
    }

    fn restore(&self) {
        if let Some(saved) = &self.saved {
            if let Err(e) = tty::set_mode(tty::std_fd(0), saved) {
                warn!("cannot restore the terminal's mode: {e}");
            }
        }
    }

    /// Relay all the pty has for the starter, until it has no more now.
    fn relay_output(&mut self) {
        let mut buf = [0u8; CHUNK];
        loop {
            match self.master.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if let Some(out) = self.output.as_mut() {
                        let _ = out.write_all(buf.get(..n).unwrap_or_default());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // WouldBlock: nothing more for now; EIO: no one has the pty open any more
                Err(_) => return,
            }
        }
    }

    /// Read what stdin has, once.
    fn take_input(&mut self) {
        let mut buf = [0u8; CHUNK];
        match nix::unistd::read(tty::std_fd(0), &mut buf).map_err(io::Error::from) {
            Ok(0) if self.input_is_terminal => self.input = false,
            Ok(0) => {
                // the end of a file or pipe: the pty's EOF key, twice if a line is still open
                let eof = tty::mode_of(self.slave.as_fd())
                    .ok()
                    .and_then(|m| m.control_chars.get(SpecialCharacterIndices::VEOF as usize).copied())
                    .unwrap_or(4);
                if self.last != b'\n' {
                    self.pending.push(eof);
                }
                self.pending.push(eof);
                self.input = false;
            }
            Ok(n) => {
                let read = buf.get(..n).unwrap_or_default();
                self.pending.extend_from_slice(read);
                self.last = read.last().copied().unwrap_or(self.last);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted || e.kind() == io::ErrorKind::WouldBlock => {}
            // a hung-up or stolen terminal: nothing more to relay
            Err(_) => self.input = false,
        }
    }

    /// Give the pty what it takes of the pending input.
    fn feed(&mut self) {
        while !self.pending.is_empty() {
            match self.master.write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.pending.clear();
                    self.input = false;
                }
            }
        }
    }
}
