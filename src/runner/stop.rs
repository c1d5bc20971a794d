//! Stopping a hook: its timeout or a termination signal, SIGTERM to the hook and its process group,
//! SIGKILL after the grace, and the end of what it left running outside its group.

use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tracing::warn;

use super::KILL_GRACE;
use crate::children::reap;
use crate::system::process::Below;

/// Why and how far a running hook is being stopped: by its timeout, or by a termination signal
/// passed on to its process group; SIGTERM first, SIGKILL [`KILL_GRACE`] later.
#[derive(Debug)]
pub(super) struct Stop {
    /// when the timeout expires, if there is one
    pub(super) deadline: Option<Instant>,
    pub(super) timed_out: bool,
    pub(super) received: Option<Signal>,
    /// SIGTERM went to the group: when SIGKILL follows; `None` again once it has
    pub(super) kill_at: Option<Instant>,
}

impl Stop {
    pub(super) fn new(deadline: Option<Instant>) -> Stop {
        Stop { deadline, timed_out: false, received: None, kill_at: None }
    }

    pub(super) fn stopping(&self) -> bool {
        self.timed_out || self.received.is_some()
    }

    /// When the loop must look at the clock again.
    pub(super) fn wake(&self) -> Option<Instant> {
        if self.stopping() {
            self.kill_at
        } else {
            self.deadline
        }
    }

    /// A termination signal arrived: the first is passed to the hook and its process group.
    pub(super) fn received(&mut self, hook: &str, pgid: Pid, sig: Signal) {
        if self.received.is_some() {
            return;
        }
        warn!(hook, "received {sig}: passing it to the hook's process group");
        signal_hook(pgid, sig);
        self.received = Some(sig);
        if !self.timed_out {
            self.kill_at = Some(Instant::now() + KILL_GRACE);
        }
    }

    /// The clock moved on: a timeout sends SIGTERM, an expired grace SIGKILL.
    pub(super) fn tick(&mut self, hook: &str, pgid: Pid, timeout: Option<Duration>) {
        let now = Instant::now();
        if !self.stopping() && self.deadline.is_some_and(|d| now >= d) {
            let secs = timeout.unwrap_or_default().as_secs_f64();
            warn!(hook, "timed out after {secs} s: sending SIGTERM to its process group");
            signal_hook(pgid, Signal::SIGTERM);
            self.timed_out = true;
            self.kill_at = Some(now + KILL_GRACE);
        } else if self.kill_at.is_some_and(|k| now >= k) {
            let grace = KILL_GRACE.as_secs();
            warn!(hook, "still running {grace} s after SIGTERM: sending SIGKILL to its process group");
            signal_hook(pgid, Signal::SIGKILL);
            self.kill_at = None;
        }
    }
}

/// The most looks for what a stopped hook left running: each look ends what it finds, and the
/// children those had come back to roothooks for the next look. Only a chain of processes that fork
/// and exit faster than /proc can be read outruns them all, and is named as still running.
const MAX_LOOKS: usize = 100;

/// End what a stopped hook left running outside its process group (setsid, GNU timeout, setpgid):
/// every process below roothooks that is not kept (see [`Kin`]), judged on one pass over /proc per
/// look. Each is named in the log. (The subreaper brought them back to roothooks once their parents
/// ended.) Looks again until a look finds nothing new. `group` is the hook's process group.
pub(super) fn end_escapees(hook: &str, group: Pid, before: &[Pid]) {
    let kin = Kin::new(group);
    let mut ended: Vec<Pid> = Vec::new();
    for _ in 0..MAX_LOOKS {
        let left = look(before, &ended, &kin);
        if left.is_empty() {
            return;
        }
        for Below { pid, name, group: its_group, .. } in left {
            // what is still in the hook's group was sent SIGKILL with it and may only not have died
            // yet: ended again, but no escapee
            if nix::sys::signal::kill(pid, Signal::SIGKILL).is_ok() && its_group != group {
                warn!(
                    hook,
                    pid = pid.as_raw(),
                    "ended {name} (pid {pid}), which it left running outside its process group"
                );
            }
            ended.push(pid);
        }
    }
    let still = look(before, &ended, &kin).len();
    if still > 0 {
        warn!(hook, "after {MAX_LOOKS} looks, what it started was still forking ({still} left at the last look)");
    }
}

/// What is kept while a stopped hook's escapees are ended: what was there before the hook started
/// (daemons earlier hooks left on purpose, as s3fs), and what belongs to it. A process belongs to a
/// kept one when it is its child, or shares its session or process group: a daemon's worker forked
/// through a double fork comes back to roothooks, not to the daemon, but keeps the daemon's session
/// and group (it cannot join a session it was not forked into, nor a group outside its session).
/// Roothooks' own session and group are shared by every root hook, and the stopped hook's own group
/// (for a user hook its session too) is the one being ended, so none of them keeps anything.
pub(super) struct Kin {
    /// groups (and, being a process's pid, sessions) that keep nothing: roothooks' own group and the
    /// stopped hook's
    pub(super) shared: [Pid; 2],
    /// roothooks' session, `None` if it could not be read: then no session keeps anything
    pub(super) session: Option<Pid>,
}

impl Kin {
    fn new(hook_group: Pid) -> Kin {
        let session = crate::system::process::session().ok();
        Kin { shared: [crate::system::process::process_group(), hook_group], session }
    }

    pub(super) fn belongs(&self, below: &Below, kept: &[Below]) -> bool {
        let session_keeps =
            self.session.is_some_and(|ours| below.session != ours) && !self.shared.contains(&below.session);
        let group_keeps = !self.shared.contains(&below.group);
        kept.iter().any(|k| {
            k.pid == below.parent
                || (session_keeps && k.session == below.session)
                || (group_keeps && k.group == below.group)
        })
    }
}

/// One look: the processes below roothooks that are neither in `before` nor belong to what is kept
/// ([`Kin`]), and are not `ended` already, from one pass over /proc.
fn look(before: &[Pid], ended: &[Pid], kin: &Kin) -> Vec<Below> {
    // what the last look ended, if it has died (a look skips zombies in any case)
    reap(Pid::from_raw(-1), false);
    let mut kept: Vec<Below> = Vec::new();
    let mut left = crate::system::process::descendants(&[crate::system::process::pid()]);
    // a parent comes before its children, but a worker that came back to roothooks may come before
    // the daemon whose session it shares: pass again until nothing more is kept
    loop {
        let had = kept.len();
        let mut rest = Vec::new();
        for below in left {
            if before.contains(&below.pid) || kin.belongs(&below, &kept) {
                kept.push(below);
            } else {
                rest.push(below);
            }
        }
        left = rest;
        if kept.len() == had {
            break;
        }
    }
    left.retain(|below| !ended.contains(&below.pid));
    left
}

/// Signal a hook's process group, and the hook itself: a hook that moved itself to another group
/// (roothooks' own, say) is still reached.
pub(super) fn signal_hook(hook: Pid, sig: Signal) {
    let _ = killpg(hook, sig);
    let _ = nix::sys::signal::kill(hook, sig);
}
