//! The hook's stdout and stderr, relayed line by line to the log as they come, never holding more
//! than a line's bound, and drained for a bounded time once the hook is gone.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};

use super::{Ready, MAX_LINE, PUMP_READS};
use tracing::warn;

/// Splits a stream into lines for the log, never holding more than [`MAX_LINE`] bytes.
#[derive(Debug, Default)]
pub(super) struct LineBuffer {
    pub(super) pending: Vec<u8>,
}

impl LineBuffer {
    /// Feed bytes; `emit(line, cut)` gets each complete line, and each [`MAX_LINE`] piece of a longer
    /// one with `cut` set. The pieces do not depend on how the bytes were split into reads.
    pub(super) fn push(&mut self, data: &[u8], mut emit: impl FnMut(&[u8], bool)) {
        for chunk in data.split_inclusive(|b| *b == b'\n') {
            let (body, ends) = match chunk.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (chunk, false),
            };
            if ends && self.pending.is_empty() && body.len() <= MAX_LINE {
                emit(body, false);
                continue;
            }
            self.pending.extend_from_slice(body);
            while self.pending.len() > MAX_LINE {
                let rest = self.pending.split_off(MAX_LINE);
                emit(&self.pending, true);
                self.pending = rest;
            }
            if ends {
                emit(&self.pending, false);
                self.pending.clear();
            }
        }
    }

    pub(super) fn finish(&mut self, emit: impl FnOnce(&[u8], bool)) {
        if !self.pending.is_empty() {
            emit(&self.pending, false);
            self.pending.clear();
        }
    }
}

/// One of a hook's output streams, while it is open.
pub(super) struct Stream {
    pub(super) name: &'static str,
    /// `None` once closed
    pub(super) pipe: Option<File>,
    pub(super) lines: LineBuffer,
}

impl Stream {
    pub(super) fn new(name: &'static str, pipe: File) -> Self {
        // Non-blocking, so a read never stalls the loop; failing that, poll still guards each read.
        let _ = crate::system::set_nonblocking(pipe.as_fd());
        Stream { name, pipe: Some(pipe), lines: LineBuffer::default() }
    }

    pub(super) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.pipe.as_ref().map(|p| p.as_fd())
    }

    /// Relay what can be read now, up to [`PUMP_READS`] reads, so that a writer that never pauses
    /// cannot keep the loop from its clock and signals.
    pub(super) fn pump(&mut self, hook: &str, buf: &mut [u8]) {
        let mut reads = 0;
        while let Some(pipe) = self.pipe.as_mut() {
            reads += 1;
            if reads > PUMP_READS {
                break;
            }
            match pipe.read(buf) {
                Ok(0) => self.close(hook),
                Ok(n) => {
                    let stream = self.name;
                    let read = buf.get(..n).unwrap_or_default();
                    self.lines.push(read, |line, cut| crate::log::hook_line(hook, stream, line, cut));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    warn!(hook, "cannot read the hook's {}: {e}", self.name);
                    self.close(hook);
                }
            }
        }
        // the lines of these reads go out in one write
        crate::log::flush_hook_output();
    }

    pub(super) fn close(&mut self, hook: &str) {
        self.pipe = None;
        let stream = self.name;
        self.lines.finish(|line, cut| crate::log::hook_line(hook, stream, line, cut));
        crate::log::flush_hook_output();
    }
}

/// A hook's stdout and stderr, relayed together.
pub(super) struct Output {
    pub(super) stdout: Stream,
    pub(super) stderr: Stream,
}

impl Output {
    pub(super) fn fds(&self) -> [Option<BorrowedFd<'_>>; 2] {
        [self.stdout.fd(), self.stderr.fd()]
    }

    pub(super) fn closed(&self) -> bool {
        self.stdout.pipe.is_none() && self.stderr.pipe.is_none()
    }

    /// The one pump: relay whichever streams [`Runner::wait`] found readable.
    pub(super) fn pump(&mut self, ready: &Ready, hook: &str, buf: &mut [u8]) {
        if ready.stdout {
            self.stdout.pump(hook, buf);
        }
        if ready.stderr {
            self.stderr.pump(hook, buf);
        }
    }

    pub(super) fn close(&mut self, hook: &str) {
        self.stdout.close(hook);
        self.stderr.close(hook);
    }
}
