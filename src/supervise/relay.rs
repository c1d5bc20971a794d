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

/// How much the relay holds in either direction: what the pty gave that the terminal has not yet
/// taken, and what the starter typed that the pty has not yet taken. When the terminal is slow, the
/// relay stops reading the pty, so the command's writes wait (back-pressure); nothing else does.
const BUFFER: usize = 64 * 1024;

/// How long the relay keeps passing on what the pty holds once the command has exited, before it
/// hangs the pty up: a job the command left writing must not keep roothooks (and the starter's
/// terminal, raw and taken) forever.
pub const DRAIN: std::time::Duration = std::time::Duration::from_secs(1);

/// Bytes read from one side, waiting to be written to the other: a fixed buffer, filled at its end
/// and emptied from its start, so nothing is moved.
struct Buffer {
    data: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Buffer {
    fn new() -> Buffer {
        Buffer { data: vec![0; BUFFER].into_boxed_slice(), start: 0, end: 0 }
    }

    fn waiting(&self) -> &[u8] {
        self.data.get(self.start..self.end).unwrap_or_default()
    }

    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    fn has_room(&self) -> bool {
        self.end < self.data.len()
    }

    fn room(&mut self) -> &mut [u8] {
        self.data.get_mut(self.end..).unwrap_or_default()
    }

    fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.data.len());
    }

    fn taken(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
    }

    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.room().first_mut() {
            *slot = byte;
            self.filled(1);
        }
    }
}

/// What a read of the pty found.
enum Got {
    Some,
    /// nothing for now
    Nothing,
    /// no one has the pty open any more, or it failed
    Gone,
}

/// Which descriptor an entry of [`Relay::interest`] is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Master,
    Input,
    Output,
}

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
    /// the output's file status flags before the relay made it non-blocking, to put back
    output_flags: Option<nix::fcntl::OFlag>,
    /// read from the pty, not yet written to the output
    out: Buffer,
    /// read from stdin, not yet taken by the pty
    pending: Buffer,
    /// the last byte passed to the pty, for how to say EOF
    last: u8,
    /// the pty has no one left on its other end
    master_gone: bool,
}

impl Relay {
    /// A new pty sized like the starter's terminal. Stdin's terminal is to be made raw (by
    /// [`Relay::begin`]) when roothooks is its foreground, so that every key, ^C too, reaches the
    /// command's terminal and acts there. (Not ^Z: the command's process group is orphaned in its new
    /// session, and the kernel discards terminal stop signals for it.)
    ///
    /// Opened while still root, before the drop and before the user's hooks, and given to `owner`
    /// (the user the command runs as) so that the command can open its end. Without a pty to be had,
    /// an error: the command never falls back to the starter's terminal.
    pub fn open(owner: Option<nix::unistd::Uid>) -> io::Result<Relay> {
        let pty = tty::open_pty()?;
        crate::system::set_nonblocking(pty.master.as_fd())?;
        let slave: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NOCTTY | nix::libc::O_CLOEXEC)
            .open(&pty.slave)?
            .into();
        if let Some(owner) = owner {
            nix::unistd::fchown(&slave, Some(owner), None)?;
        }
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
            output_flags: None,
            out: Buffer::new(),
            pending: Buffer::new(),
            last: b'\n',
            master_gone: false,
        };
        relay.resize();
        Ok(relay)
    }

    /// Start relaying: the starter's terminal goes raw now, once roothooks' own lines before it are
    /// out (raw output would not return the carriage after them).
    pub fn begin(&mut self) {
        self.raw();
        self.nonblocking();
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

    /// What to wait for, on which side: never a read the buffer has no room for, never a write with
    /// nothing to write.
    fn wanted(&self) -> Vec<(Side, PollFlags)> {
        let mut wanted = Vec::with_capacity(3);
        let mut master = PollFlags::empty();
        if self.out.has_room() && !self.master_gone {
            master |= PollFlags::POLLIN;
        }
        if !self.pending.is_empty() {
            master |= PollFlags::POLLOUT;
        }
        if !master.is_empty() {
            wanted.push((Side::Master, master));
        }
        if self.input && self.pending.has_room() {
            wanted.push((Side::Input, PollFlags::POLLIN));
        }
        if self.output.is_some() && !self.out.is_empty() {
            wanted.push((Side::Output, PollFlags::POLLOUT));
        }
        wanted
    }

    /// The descriptors to wait on, and for what.
    pub fn interest(&self) -> Vec<(BorrowedFd<'_>, PollFlags)> {
        self.wanted()
            .into_iter()
            .filter_map(|(side, flags)| {
                let fd = match side {
                    Side::Master => self.master.as_fd(),
                    Side::Input => tty::std_fd(0),
                    Side::Output => self.output.as_ref()?.as_fd(),
                };
                Some((fd, flags))
            })
            .collect()
    }

    /// Move what [`Relay::interest`]'s descriptors have ready, `revents` in the same order: each
    /// side once, as far as the buffers and the other side take it, never waiting.
    pub fn pump(&mut self, revents: &[PollFlags]) {
        let ready: Vec<Side> = self
            .wanted()
            .into_iter()
            .zip(revents)
            .filter(|(_, events)| !events.is_empty())
            .map(|((side, _), _)| side)
            .collect();
        // What the pty gave is written to the terminal at the next turn, when the terminal is polled
        // for room: by then the pty has often given as much again, and a write to a terminal costs
        // more than a read (sudo's relay does the same). The next turn comes at once: the terminal
        // has room, or the buffer waits for it anyway.
        if ready.contains(&Side::Master) {
            self.read_master();
            self.feed();
        }
        if ready.contains(&Side::Output) {
            self.write_output();
        }
        if ready.contains(&Side::Input) {
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
        self.blocking();
        self.restore();
        if let Err(e) = process::stop_self() {
            warn!("cannot stop along with the command: {e}");
        }
        // continued
        self.resize();
        self.raw();
        self.nonblocking();
        let _ = crate::children::signal_group(child, nix::libc::SIGCONT);
    }

    /// The command has ended: pass on what the pty holds for at most [`DRAIN`] (a job it left may
    /// write on and on), hang the pty up (closing both ends: its session gets SIGHUP, and what the
    /// command left behind holds a dead terminal), and put the starter's terminal back as it was.
    pub fn finish(mut self) {
        let until = std::time::Instant::now() + DRAIN;
        loop {
            let read = if self.out.has_room() && !self.master_gone { self.read_master() } else { Got::Nothing };
            self.write_output();
            let idle = matches!(read, Got::Nothing | Got::Gone) && (self.out.is_empty() || self.output.is_none());
            let left = until.saturating_duration_since(std::time::Instant::now());
            if idle || left.is_zero() {
                break;
            }
            let mut fds = Vec::new();
            if self.out.has_room() && !self.master_gone {
                fds.push(nix::poll::PollFd::new(self.master.as_fd(), PollFlags::POLLIN));
            }
            if let (Some(output), false) = (self.output.as_ref(), self.out.is_empty()) {
                fds.push(nix::poll::PollFd::new(output.as_fd(), PollFlags::POLLOUT));
            }
            let timeout = nix::poll::PollTimeout::try_from(left).unwrap_or(nix::poll::PollTimeout::MAX);
            if nix::poll::poll(&mut fds, timeout).is_err() {
                break;
            }
        }
        self.blocking();
        self.restore();
        // the hang-up: dropping the relay closes both ends of the pty that roothooks holds
        drop(self);
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

    /// Make the output non-blocking while the relay runs, so that a terminal that reads slowly only
    /// holds up the command's output, never the input, the signals or the end.
    fn nonblocking(&mut self) {
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        let Some(output) = &self.output else { return };
        if let Ok(bits) = fcntl(output.as_fd(), FcntlArg::F_GETFL) {
            let flags = OFlag::from_bits_truncate(bits);
            if fcntl(output.as_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).is_ok() {
                self.output_flags.get_or_insert(flags);
            }
        }
    }

    /// Put the output's flags back: the starter's shell shares them.
    fn blocking(&mut self) {
        use nix::fcntl::{fcntl, FcntlArg};
        if let (Some(output), Some(flags)) = (&self.output, self.output_flags.take()) {
            let _ = fcntl(output.as_fd(), FcntlArg::F_SETFL(flags));
        }
    }

    /// Read once what the pty has, as much as the buffer takes.
    fn read_master(&mut self) -> Got {
        loop {
            match self.master.read(self.out.room()) {
                Ok(0) => {
                    self.master_gone = true;
                    return Got::Gone;
                }
                Ok(n) => {
                    self.out.filled(n);
                    return Got::Some;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Got::Nothing,
                // EIO: no one has the pty open any more
                Err(_) => {
                    self.master_gone = true;
                    return Got::Gone;
                }
            }
        }
    }

    /// Write to the output what it takes now.
    fn write_output(&mut self) {
        while !self.out.is_empty() {
            let Some(output) = self.output.as_mut() else {
                // nowhere to go (no descriptor of the command's output was the terminal)
                self.out.taken(self.out.waiting().len());
                return;
            };
            match output.write(self.out.waiting()) {
                Ok(0) => return,
                Ok(n) => self.out.taken(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // the terminal went away: what the command writes goes nowhere from now on
                Err(_) => self.output = None,
            }
        }
    }

    /// Read what stdin has, once, as much as the buffer takes.
    fn take_input(&mut self) {
        match nix::unistd::read(tty::std_fd(0), self.pending.room()).map_err(io::Error::from) {
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
                self.pending.filled(n);
                self.last = self.pending.waiting().last().copied().unwrap_or(self.last);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted || e.kind() == io::ErrorKind::WouldBlock => {}
            // a hung-up or stolen terminal: nothing more to relay
            Err(_) => self.input = false,
        }
    }

    /// Give the pty what it takes now of the pending input.
    fn feed(&mut self) {
        while !self.pending.is_empty() {
            match self.master.write(self.pending.waiting()) {
                Ok(n) => self.pending.taken(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.pending.taken(self.pending.waiting().len());
                    self.input = false;
                }
            }
        }
    }
}
