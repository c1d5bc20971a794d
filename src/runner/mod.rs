//! Running the hooks as root: one at a time, each in its own process group, output relayed line by
//! line as it comes, a timeout that takes the whole group down, and termination signals forwarded.
//!
//! One thread does it all. The termination signals and SIGCHLD are blocked and read from a signalfd,
//! polled beside the hook's stdout and stderr, so a timeout, a line of output, a child's exit and a
//! SIGTERM from the orchestrator are all just events of one loop, with no handler racing it.
//!
//! A hook has finished when its process exits, not when its output closes: a hook may leave a daemon
//! (a FUSE mount) behind that still holds the pipe, and that daemon must keep running.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, SigSet, Signal};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use tracing::{info, warn};

use crate::children::{reap, Listener};
use crate::error::{Error, Result};
use crate::gate::Gate;
use crate::hooks::{Hook, How};
use crate::provision::HandOff;
use crate::sourcing::{self, Exports, Lost};
use crate::system::Spawner;

mod output;
mod stop;

use output::{Output, Stream};
use stop::{end_escapees, Stop};

/// What a failing hook does to the rest of the start (`--on-hook-failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailurePolicy {
    /// log the failure and go on; the command still starts
    Continue,
    /// stop at the first failure; exit 1 without starting the command
    Abort,
}

/// How long a hook's process group has between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(2);
/// The longest line relayed as one log event; longer ones are cut into pieces of this size, so memory
/// stays bounded whatever a hook prints.
pub const MAX_LINE: usize = 64 * 1024;
/// Reads of one stream before the event loop looks at its clock and signals again.
const PUMP_READS: usize = 16;
/// After a hook exits, how long to wait for the rest of its output before giving the pipe up.
const DRAIN_IDLE: Duration = Duration::from_millis(50);
/// After a hook exits, how long output that keeps coming (from something it left running) is still
/// relayed: without a bound, a chatty daemon would hold the start forever.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(1);

const TERMINATION: [Signal; 4] = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGQUIT];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookOutcome {
    Ok,
    Exit(i32),
    Signal(Signal),
    /// killed after `--hook-timeout`
    TimedOut(Duration),
    /// could not be executed at all: the reason, and what that usually means
    NotStarted {
        why: String,
        hint: Option<&'static str>,
    },
    /// a sourced hook that exited 0, but whose exports could not be taken
    ExportsLost(Lost),
}

impl HookOutcome {
    pub fn ok(&self) -> bool {
        *self == HookOutcome::Ok
    }

    /// The outcome without its hint, for the one-line summary.
    pub fn brief(&self) -> String {
        match self {
            HookOutcome::NotStarted { why, .. } => format!("not started: {why}"),
            other => other.to_string(),
        }
    }

    /// The outcome's name in the report.
    pub fn kind(&self) -> &'static str {
        match self {
            HookOutcome::Ok => "ok",
            HookOutcome::Exit(_) => "exit",
            HookOutcome::Signal(_) => "signal",
            HookOutcome::TimedOut(_) => "timeout",
            HookOutcome::NotStarted { .. } => "not-started",
            HookOutcome::ExportsLost(_) => "exports-lost",
        }
    }
}

impl fmt::Display for HookOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookOutcome::Ok => write!(f, "ok"),
            HookOutcome::Exit(code) => write!(f, "exit {code}"),
            HookOutcome::Signal(sig) => write!(f, "killed by {sig}"),
            HookOutcome::TimedOut(after) => write!(f, "timed out after {} s", after.as_secs_f64()),
            HookOutcome::NotStarted { why, hint: None } => write!(f, "not started: {why}"),
            HookOutcome::NotStarted { why, hint: Some(hint) } => write!(f, "not started: {why} ({hint})"),
            HookOutcome::ExportsLost(lost) => write!(f, "{lost}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct HookResult {
    pub name: String,
    pub outcome: HookOutcome,
    pub duration: Duration,
}

/// Read what a sourced hook's wrapper wrote to descriptor 3, never more than the bound.
fn read_exports(mut file: File) -> io::Result<std::result::Result<Exports, Lost>> {
    use std::io::Seek;
    let mut written = Vec::new();
    file.rewind()?;
    file.take(sourcing::MAX_BYTES as u64 + 1).read_to_end(&mut written)?;
    Ok(Exports::parse(&written))
}

/// What the hooks run with: the environment, what stands between one root hook and the next
/// (`None` for the user's hooks), the timeout and the failure policy.
pub struct Settings<'a> {
    pub env: &'a [(std::ffi::OsString, std::ffi::OsString)],
    pub root: Option<RootPhase<'a>>,
    /// the user's hooks: each in a session of its own, with these inherited descriptors closed
    pub isolate: Option<Vec<std::os::fd::RawFd>>,
    pub timeout: Option<Duration>,
    pub policy: FailurePolicy,
}

/// Between one root hook and the next: the gate, and the `$ROOTHOOKS_ENV` file whose new lines
/// reach the hooks after the one that wrote them (through the gate), as a sourced hook's exports do.
#[derive(Clone, Copy)]
pub struct RootPhase<'a> {
    pub gate: &'a Gate,
    pub handoff: Option<&'a HandOff>,
}

/// What of `$ROOTHOOKS_ENV` the hooks after the one that wrote it have not been given yet, as
/// changes: the lines that are new or changed since `seen`. Lines that cannot be used are said once,
/// when the file is taken for the command.
fn handed_since(handoff: &HandOff, seen: &mut Vec<(String, String)>) -> Exports {
    let (now, _bad) = handoff.read();
    let mut changes = Exports::default();
    for (name, value) in &now {
        if seen.iter().rev().find(|(k, _)| k == name).is_none_or(|(_, v)| v != value) {
            changes.push(name, Some(value.clone()));
        }
    }
    *seen = now;
    changes
}

/// What [`Runner::wait`] found ready.
#[derive(Debug, Default, Clone, Copy)]
struct Ready {
    signals: bool,
    stdout: bool,
    stderr: bool,
}

/// What the signalfd held: whether the hook was among the children reaped, and the termination
/// signals that arrived.
#[derive(Debug, Default)]
struct Signals {
    hook_status: Option<WaitStatus>,
    termination: Vec<Signal>,
}

/// Owns the blocked signal mask and the signalfd for as long as hooks run.
pub struct Runner {
    signals: Listener,
    buf: Vec<u8>,
    /// termination signals read while something else was waited for, still to be acted on
    pending: Vec<Signal>,
}

impl Runner {
    /// Block the termination signals and SIGCHLD and start listening for them.
    ///
    /// While hooks run roothooks is the child subreaper, so that what a hook starts outside its
    /// process group (setsid, GNU timeout, a double fork) comes back to roothooks when its parent
    /// ends, and a hook that times out can be ended whole. (As PID 1 that is so anyway.)
    pub fn new() -> io::Result<Runner> {
        let mask: SigSet = TERMINATION.into_iter().chain([Signal::SIGCHLD]).collect();
        let listener = Listener::new(&mask)?;
        crate::system::process::become_subreaper()?;
        Ok(Runner { signals: listener, buf: vec![0; MAX_LINE], pending: Vec::new() })
    }

    /// Run `hooks` in order. Stops early with an error for a termination signal, or for a failure under
    /// [`FailurePolicy::Abort`]. What sourced hooks export goes into `exports`, and into the
    /// environment of the hooks after them: through the gate, when there is one.
    pub fn run_all(
        &mut self,
        hooks: &[&Hook],
        settings: &Settings<'_>,
        results: &mut Vec<HookResult>,
        exports: &mut Exports,
    ) -> Result<()> {
        let prepare = |e: io::Error| Error::Setup(format!("cannot prepare to start hooks: {e}"));
        let mut env = settings.env.to_vec();
        let mut spawner = Spawner::new(&env).map_err(prepare)?;
        if let Some(close) = &settings.isolate {
            spawner.isolate(close.clone());
        }
        let mut handed: Vec<(String, String)> = Vec::new();
        for hook in hooks {
            // A termination signal that arrived between hooks stops us before the next one starts.
            self.check_pending()?;
            let (result, received, exported) = self.run_one(hook, &mut spawner, settings.timeout)?;
            let mut changed = false;
            if let Some(exported) = exported.filter(|e| !e.is_empty()) {
                // what it exported is the environment of the hooks after it
                pass_on(&hook.name, &exported, settings.root.map(|r| r.gate), &mut env);
                exports.merge(exported);
                changed = true;
            }
            if let Some(RootPhase { gate, handoff: Some(handoff) }) = settings.root {
                let written = handed_since(handoff, &mut handed);
                if !written.is_empty() {
                    through_gate(&hook.name, ("wrote", " to $ROOTHOOKS_ENV,"), gate, &written, &mut env);
                    changed = true;
                }
            }
            if changed {
                spawner.set_env(&env).map_err(prepare)?;
            }
            let failed = (!result.outcome.ok() && settings.policy == FailurePolicy::Abort)
                .then(|| Error::HookAborted { hook: result.name.clone(), outcome: result.outcome.to_string() });
            results.push(result);
            if let Some(sig) = received {
                return Err(Error::Signalled { name: sig.as_str(), number: sig as i32 });
            }
            if let Some(failed) = failed {
                return Err(failed);
            }
        }
        self.check_pending()
    }

    /// Run one hook to its end; returns its result and the termination signal that stopped it, if one
    /// did.
    fn run_one(
        &mut self,
        hook: &Hook,
        spawner: &mut Spawner,
        timeout: Option<Duration>,
    ) -> Result<(HookResult, Option<Signal>, Option<Exports>)> {
        let name = hook.name.as_str();
        // what was already here (daemons earlier hooks left, as s3fs's) is not this hook's: one read
        // of the kernel's list of roothooks' children, or (without one) a look through /proc. Read
        // before the spawn: once the hook runs, what it leaves comes back to roothooks, maybe before
        // roothooks runs again (on a loaded machine, a quick double fork's escapee did, and was kept)
        let before: Vec<Pid> = crate::system::process::children().unwrap_or_else(|| {
            crate::system::process::descendants(&[crate::system::process::pid()]).into_iter().map(|b| b.pid).collect()
        });
        let start = Instant::now();
        let (spawned, written) = match hook.how {
            How::Exec => (spawner.spawn(&hook.resolved, &[hook.path.as_os_str()], None), None),
            How::Source => match crate::system::anonymous_file(c"roothooks-exports") {
                Ok(file) => {
                    let argv = sourcing::argv(&hook.path, &hook.resolved);
                    (spawner.spawn(std::path::Path::new(sourcing::BASH), &argv, Some(file.as_fd())), Some(file))
                }
                Err(e) => (Err(e), None),
            },
        };
        let child = match spawned {
            Ok(child) => child,
            Err(e) => return Ok((report(name, not_started(&e), start.elapsed()), None, None)),
        };
        let pgid = child.pid;
        let mut output =
            Output { stdout: Stream::new("stdout", child.stdout), stderr: Stream::new("stderr", child.stderr) };
        let mut stop = Stop::new(timeout.map(|t| start + t));
        let status = loop {
            let wait = stop.wake().map(|w| w.saturating_duration_since(Instant::now()));
            let ready = self.wait(&output.fds(), wait)?;
            output.pump(&ready, name, &mut self.buf);
            let signals = if ready.signals { self.read_signals(Some(pgid))? } else { Signals::default() };
            for sig in signals.termination {
                stop.received(name, pgid, sig);
            }
            if let Some(status) = signals.hook_status {
                break status;
            }
            stop.tick(name, pgid, timeout);
        };
        if stop.stopping() {
            // Whatever of the group outlived its leader gets the rest of the grace, then goes too:
            // nothing of a stopped hook stays.
            self.stop_group(name, pgid, stop.kill_at, &mut output)?;
            end_escapees(name, pgid, &before);
        }
        self.drain(name, &mut output)?;
        let exported = match written.map(read_exports).transpose() {
            Ok(read) => read,
            Err(e) => Some(Err(Lost::Unreadable(e.to_string()))),
        };
        let (exported, lost) = match exported {
            Some(Ok(exports)) => (Some(exports), None),
            Some(Err(lost)) => (None, Some(lost)),
            None => (None, None),
        };
        let outcome = match status {
            _ if stop.timed_out => HookOutcome::TimedOut(timeout.unwrap_or_default()),
            WaitStatus::Exited(_, 0) => HookOutcome::Ok,
            WaitStatus::Exited(_, code) => HookOutcome::Exit(code),
            WaitStatus::Signaled(_, sig, _) => HookOutcome::Signal(sig),
            other => HookOutcome::NotStarted { why: format!("unexpected wait status {other:?}"), hint: None },
        };
        let outcome = match (outcome, lost) {
            (HookOutcome::Ok, Some(lost)) => HookOutcome::ExportsLost(lost),
            (failed, Some(lost)) => {
                // failed already; say what else went
                warn!(hook = name, "{lost}");
                failed
            }
            (outcome, None) => outcome,
        };
        Ok((report(name, outcome, start.elapsed()), stop.received, exported))
    }

    /// The leader of a stopped hook is gone; wait out the grace for the rest of its process group
    /// (relaying what it still says), then kill whatever is left.
    fn stop_group(&mut self, name: &str, pgid: Pid, kill_at: Option<Instant>, output: &mut Output) -> Result<()> {
        let group_alive = || killpg(pgid, None).is_ok();
        if let Some(kill_at) = kill_at {
            while group_alive() && Instant::now() < kill_at {
                let step = kill_at.saturating_duration_since(Instant::now()).min(DRAIN_IDLE);
                let ready = self.wait(&output.fds(), Some(step))?;
                output.pump(&ready, name, &mut self.buf);
                if ready.signals {
                    // a second termination signal during the grace still counts later
                    let signals = self.read_signals(None)?;
                    self.pending.extend(signals.termination);
                }
            }
        }
        if group_alive() {
            warn!(hook = name, "part of its process group outlived it: sending SIGKILL to its process group");
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        Ok(())
    }

    /// The one signalfd loop: read everything pending, reap every child that exited on SIGCHLD (as PID
    /// 1 that includes the orphans hooks leave; they must not stay zombies), and collect termination
    /// signals.
    fn read_signals(&mut self, hook: Option<Pid>) -> Result<Signals> {
        let mut signals = Signals::default();
        while let Some(signo) = self.signals.pending().map_err(signal_error)? {
            match Signal::try_from(signo) {
                Ok(Signal::SIGCHLD) => {
                    let status = reap(hook.unwrap_or(Pid::from_raw(-1)), false);
                    signals.hook_status = signals.hook_status.or(status);
                }
                Ok(sig) => signals.termination.push(sig),
                Err(_) => {}
            }
        }
        Ok(signals)
    }

    /// Wait until the signalfd or one of `pipes` is readable, or `timeout` passes.
    fn wait(&self, pipes: &[Option<BorrowedFd<'_>>; 2], timeout: Option<Duration>) -> Result<Ready> {
        let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
        let mut which = vec![0];
        for (i, pipe) in pipes.iter().enumerate() {
            if let Some(fd) = pipe {
                fds.push(PollFd::new(*fd, PollFlags::POLLIN));
                which.push(i + 1);
            }
        }
        // Round up, so a wake-up never comes a millisecond early and spins.
        let timeout = timeout.map_or(PollTimeout::NONE, |t| {
            PollTimeout::try_from(t + Duration::from_micros(999)).unwrap_or(PollTimeout::MAX)
        });
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(Error::Setup(format!("cannot wait for hook events: {e}"))),
        }
        let mut ready = Ready::default();
        for (fd, slot) in fds.iter().zip(which) {
            let set = fd.revents().is_some_and(|r| !r.is_empty());
            match slot {
                0 => ready.signals = set,
                1 => ready.stdout = set,
                _ => ready.stderr = set,
            }
        }
        Ok(ready)
    }

    /// The hook has exited; take what output is still coming, but do not wait on a daemon it left
    /// holding the pipe: not once it falls silent, and not beyond [`DRAIN_LIMIT`] if it never does.
    fn drain(&mut self, name: &str, output: &mut Output) -> Result<()> {
        let until = Instant::now() + DRAIN_LIMIT;
        loop {
            output.pump(&Ready { signals: false, stdout: true, stderr: true }, name, &mut self.buf);
            if output.closed() {
                return Ok(());
            }
            let left = until.saturating_duration_since(Instant::now());
            let ready =
                if left.is_zero() { Ready::default() } else { self.wait(&output.fds(), Some(left.min(DRAIN_IDLE)))? };
            if !ready.stdout && !ready.stderr {
                let how = if Instant::now() >= until {
                    format!("still writes to its output {} s after it exited", DRAIN_LIMIT.as_secs())
                } else {
                    "still holds its output open".to_string()
                };
                info!(
                    hook = name,
                    "{name}: exited, but something it started {how}; no longer relaying it (redirect a daemon's \
                     output, e.g. `mydaemon >/var/log/mydaemon.log 2>&1 &`)"
                );
                output.close(name);
                return Ok(());
            }
        }
    }

    /// Fail with the first termination signal that is waiting, reaping orphans on the way.
    fn check_pending(&mut self) -> Result<()> {
        let signals = self.read_signals(None)?;
        self.pending.extend(signals.termination);
        match self.pending.first() {
            Some(&sig) => Err(Error::Signalled { name: sig.as_str(), number: sig as i32 }),
            None => Ok(()),
        }
    }

    /// Stop listening: reap what is left, close the signalfd and give back the old mask.
    pub fn finish(mut self) -> Result<()> {
        let pending = self.check_pending();
        reap(Pid::from_raw(-1), false);
        if let Err(e) = crate::system::process::stop_being_subreaper() {
            warn!("cannot stop taking in orphans after the hooks: {e}");
        }
        self.signals.restore().map_err(signal_error)?;
        pending
    }
}

/// Let what one sourced hook exported into the environment of the hooks after it, and say so: through
/// the gate for root's hooks, as it is for the user's.
fn pass_on(
    hook: &str,
    exported: &Exports,
    gate: Option<&Gate>,
    env: &mut Vec<(std::ffi::OsString, std::ffi::OsString)>,
) {
    match gate {
        Some(gate) => through_gate(hook, ("exported", ""), gate, exported, env),
        None => {
            say_passed(hook, ("exported", ""), exported, &[], "the hooks after it and the command");
            exported.apply(env);
        }
    }
}

/// Let what one root hook exported or handed over into `env` through the gate, and say once of each
/// variable where it goes: one line for those the root hooks after it get too, one for each held back
/// with the rule that held it. `verb` is what the hook did and where (`("wrote", " to $ROOTHOOKS_ENV,")`).
fn through_gate(
    hook: &str,
    verb: (&str, &str),
    gate: &Gate,
    changes: &Exports,
    env: &mut Vec<(std::ffi::OsString, std::ffi::OsString)>,
) {
    let (held, dropped) = gate.pass_exports(changes, env);
    say_passed(hook, verb, changes, &held, "the root hooks after it, the user's hooks and the command");
    let (did, place) = verb;
    for h in &held {
        let name = h.name();
        info!(
            hook,
            "hook {hook}: {did} {name}{place} for the user's hooks and the command, not the root hooks after it: {h}"
        );
    }
    if !dropped.is_empty() {
        info!(hook, "hook {hook}: PATH for the root hooks after it leaves out {}", dropped.join(", "));
    }
}

/// One line for the variables of `changes` not `held`, those set and those unset, with who gets them.
fn say_passed(hook: &str, (did, place): (&str, &str), changes: &Exports, held: &[crate::gate::Held], whom: &str) {
    let passed = |name: &&str| !held.iter().any(|h| h.name() == *name);
    let set: Vec<&str> = changes.set_names().filter(passed).collect();
    let unset: Vec<&str> = changes.unset().filter(passed).collect();
    if !set.is_empty() {
        info!(hook, "hook {hook}: {did} {}{place} for {whom}", crate::log::capped_list(&set, 40));
    }
    if !unset.is_empty() {
        info!(hook, "hook {hook}: unset {} for {whom}", crate::log::capped_list(&unset, 40));
    }
}

/// The outcome of a hook that could not be executed at all, with what that usually means.
fn not_started(e: &io::Error) -> HookOutcome {
    let (why, hint) = match e.raw_os_error().map(Errno::from_raw) {
        Some(Errno::ENOEXEC) => {
            ("exec format error".to_string(), Some("no #! line, or not a program for this machine"))
        }
        Some(errno) => (errno.desc().to_lowercase(), None),
        None => (e.to_string(), None),
    };
    HookOutcome::NotStarted { why, hint }
}

/// Log a hook's result line and make its [`HookResult`].
fn report(name: &str, outcome: HookOutcome, duration: Duration) -> HookResult {
    let secs = duration.as_secs_f64();
    if outcome.ok() {
        info!(hook = name, outcome = %outcome, duration_s = secs, "hook {name}: ok in {secs:.2} s");
    } else {
        warn!(hook = name, outcome = %outcome, duration_s = secs, "hook {name} failed: {outcome} after {secs:.2} s");
    }
    HookResult { name: name.to_string(), outcome, duration }
}

/// A failure of the signal machinery the runner depends on (mask, signalfd).
fn signal_error(e: Errno) -> Error {
    Error::Setup(format!("signal handling failed: {e}"))
}

/// Run-time summary for the log: `3 hooks: 2 ok, 1 failed (20-mount: exit 3) in 1.4 s`.
pub fn summary(results: &[HookResult], elapsed: Duration) -> String {
    let failed: Vec<String> =
        results.iter().filter(|r| !r.outcome.ok()).map(|r| format!("{}: {}", r.name, r.outcome.brief())).collect();
    let ok = results.len() - failed.len();
    let noun = if results.len() == 1 { "hook" } else { "hooks" };
    let mut line = format!("{} {noun}: {ok} ok, {} failed", results.len(), failed.len());
    if !failed.is_empty() {
        line.push_str(&format!(" ({})", failed.join(", ")));
    }
    line.push_str(&format!(" in {:.1} s", elapsed.as_secs_f64()));
    line
}

#[cfg(test)]
mod tests;
