//! After the drop: the command started beside a resident roothooks, where exec'ing in place is wrong.
//!
//! Normally roothooks execs the command in its own place. Two starts need a process that stays:
//! - **PID 1** of a container (init): orphans come to PID 1, and something must reap them; PID 1
//!   cannot be killed from inside, so a `kill -KILL` of the server would not end the container.
//! - **someone's terminal** (pty): a process the command leaves behind could take the starter's
//!   terminal (tcsetpgrp) and read what root types next at its shell; the command gets a new
//!   pseudo-terminal, relayed, and nothing of it holds the starter's terminal once it exits.
//!
//! The supervisor is the process roothooks already is, forked after the drop, the filter and the
//! user's hooks: it holds exactly what the command holds (same uid and groups, no capability,
//! no_new_privs, the filter) and is not dumpable, so the user gains nothing by reaching it. It sleeps
//! in the kernel until a signal or the terminal wakes it; signals are passed on to the command's
//! process group (as `tini -g`), and it exits with the command's status.

pub mod relay;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt;
use std::os::fd::{AsFd, RawFd};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use tracing::{debug, error, info};

use crate::children::{self, Listener};
use crate::error::{Error, Result};
use crate::exec::CommandLine;
use crate::system::process;
use crate::system::tty;
use relay::Relay;

/// `--init`: whether roothooks stays as the command's init. Besides its own words it takes the
/// boolean words images write for a switch (`ROOTHOOKS_INIT=1`), which used to stop the start with a
/// usage error; in lower case, as every other word roothooks reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum InitSetting {
    /// on when roothooks is PID 1 (a container's entrypoint)
    #[default]
    Auto,
    /// always; not PID 1, it becomes the child subreaper (also 1, true, yes)
    #[value(aliases = ["1", "true", "yes"])]
    On,
    /// never: exec the command in roothooks' place (also 0, false, no)
    #[value(aliases = ["0", "false", "no"])]
    Off,
}

/// `--pty`: whether the command gets a pseudo-terminal of its own; the same boolean words as
/// [`InitSetting`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PtySetting {
    /// when roothooks runs on a terminal and is not PID 1 (someone's shell started it)
    #[default]
    Auto,
    /// always, on the standard descriptors that are terminals (all three when none is) (also 1, true,
    /// yes)
    #[value(aliases = ["1", "true", "yes"])]
    Always,
    /// never: the command gets roothooks' own descriptors (also 0, false, no)
    #[value(aliases = ["0", "false", "no"])]
    Never,
}

/// `--signals-to`: who gets the signals the supervisor receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SignalsTo {
    /// the command's process group: the command and what it started (tini -g)
    #[default]
    Group,
    /// the command alone (tini without -g)
    Command,
}

/// What the plan resolved: whether a supervisor stays beside the command, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supervision {
    /// why roothooks stays as init (`None`: it does not)
    pub init: Option<&'static str>,
    /// why the command gets a pseudo-terminal (`None`: it does not)
    pub pty: Option<&'static str>,
    pub signals_to: SignalsTo,
    /// roothooks is PID 1: orphans come to it without asking
    pub pid1: bool,
}

impl Supervision {
    /// Decide from the settings and how roothooks was started.
    pub fn resolve(init: InitSetting, pty: PtySetting, signals_to: SignalsTo, pid1: bool, terminal: bool) -> Self {
        let init = match init {
            InitSetting::On => Some("--init"),
            InitSetting::Auto if pid1 => Some("roothooks is PID 1"),
            InitSetting::Auto | InitSetting::Off => None,
        };
        let pty = match pty {
            PtySetting::Always => Some("--pty always"),
            PtySetting::Auto if terminal && !pid1 => Some("roothooks is on a terminal"),
            PtySetting::Auto | PtySetting::Never => None,
        };
        Supervision { init, pty, signals_to, pid1 }
    }

    /// The mode's name, as the log and the report give it: exec, init, pty or init+pty.
    pub fn mode(&self) -> &'static str {
        match (self.init, self.pty) {
            (None, None) => "exec",
            (Some(_), None) => "init",
            (None, Some(_)) => "pty",
            (Some(_), Some(_)) => "init+pty",
        }
    }

    /// Why it stays, if it does: one reason per mode.
    pub fn reasons(&self) -> Vec<&'static str> {
        [self.init, self.pty].into_iter().flatten().collect()
    }

    /// Whether roothooks stays resident at all.
    pub fn stays(&self) -> bool {
        self.init.is_some() || self.pty.is_some()
    }
}

impl fmt::Display for Supervision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whom = match self.signals_to {
            SignalsTo::Group => "the command's process group",
            SignalsTo::Command => "the command alone",
        };
        match (self.init, self.pty) {
            (None, None) => write!(f, "exec: the command takes roothooks' place (same PID)"),
            (Some(why), None) => write!(f, "init ({why}): stays, reaps every orphan, passes signals to {whom}"),
            (None, Some(why)) => {
                write!(f, "pty ({why}): stays, relays a new pseudo-terminal, passes signals to {whom}")
            }
            (Some(init), Some(pty)) => write!(
                f,
                "init+pty ({init}; {pty}): stays, reaps every orphan, relays a new pseudo-terminal, passes \
                 signals to {whom}"
            ),
        }
    }
}

/// The signals the supervisor takes: all it can, but those only a fault of its own raises, those
/// about its own use of the terminal (SIGTTIN, SIGTTOU: blocked, so its reads and writes fail rather
/// than stop it), and SIGPIPE, which it ignores (a closed reader of the relay is not news for the
/// command).
fn taken() -> SigSet {
    let mut set = SigSet::all();
    for own in [
        Signal::SIGFPE,
        Signal::SIGILL,
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGABRT,
        Signal::SIGTRAP,
        Signal::SIGSYS,
        Signal::SIGPIPE,
    ] {
        set.remove(own);
    }
    set
}

/// Start the command beside a resident roothooks and return the command's exit status when it ends.
/// Returns only in roothooks; the command's process execs the command or exits.
pub fn run(
    sup: &Supervision,
    command: &CommandLine,
    env: &[(OsString, OsString)],
    inherited_fds: &BTreeSet<RawFd>,
    mut relay: Option<Relay>,
) -> Result<u8> {
    // from here on the log copy gets each line as it comes: the command runs beside us
    crate::log::write_through();
    let setup = |what: &str, e: std::io::Error| Error::Setup(format!("cannot {what}: {e}"));
    let mut listener = Listener::new(&taken()).map_err(|e| setup("take the signals to pass on", e))?;
    if sup.init.is_some() && !sup.pid1 {
        process::become_subreaper().map_err(|e| setup("become the child subreaper (--init)", e))?;
    }
    // Without a pty, a terminal whose foreground is ours goes to the command's group (^C reaches it).
    let foreground = match relay {
        None => (0..3).find(|&fd| tty::foreground(fd) == Some(process::process_group())),
        Some(_) => None,
    };
    // (roothooks was made undumpable before the user's hooks, and so before the command starts)
    let child = process::spawn_sharing(|| start_command(relay.as_ref(), foreground, command, env, inherited_fds))
        .map_err(|e| setup("start the command", e))?;
    if let Err(e) = process::release_code() {
        debug!("cannot release the start-up code's mappings: {e}");
    }
    info!(
        pid = child.as_raw(),
        mode = sup.mode(),
        "started the command as pid {child}; roothooks stays beside it: {sup}"
    );
    if let Some(relay) = &mut relay {
        relay.begin();
    }
    let status = supervise(&mut listener, child, relay.as_mut(), sup.signals_to)?;
    if let Some(relay) = relay {
        relay.finish();
    }
    if let Some(fd) = foreground {
        let _ = tty::set_foreground(fd, process::process_group());
    }
    let code = children::exit_status(status).unwrap_or(1);
    match status {
        WaitStatus::Signaled(_, sig, _) => {
            info!("the command was killed by {sig}; exiting with {code}");
        }
        _ => info!("the command exited with status {code}"),
    }
    Ok(code)
}

/// The command's process, before its exec: its terminal or process group, then the command. Never
/// returns; it shares roothooks' memory until the exec (see [`process::spawn_sharing`]).
fn start_command(
    relay: Option<&Relay>,
    foreground: Option<RawFd>,
    command: &CommandLine,
    env: &[(OsString, OsString)],
    inherited_fds: &BTreeSet<RawFd>,
) -> std::convert::Infallible {
    let mut passed = inherited_fds.clone();
    let prepared = match relay {
        Some(relay) => {
            // a descriptor of the starter's terminal passed beyond 0-2 would undo the relay
            passed.retain(|&fd| !tty::is_terminal(fd));
            relay.attach()
        }
        None => process::own_process_group(Pid::from_raw(0))
            .and_then(|()| foreground.map_or(Ok(()), |fd| tty::set_foreground(fd, process::pid()))),
    };
    if let Err(e) = prepared {
        error!("cannot give the command its terminal or process group: {e}");
        return process::exit_now(1);
    }
    let e = crate::exec::exec(command, env, &passed);
    error!("{e}");
    process::exit_now(e.exit_code().into())
}

/// Sleep until the command ends: reap, pass signals on, relay the terminal. Returns how it ended.
fn supervise(listener: &mut Listener, child: Pid, mut relay: Option<&mut Relay>, to: SignalsTo) -> Result<WaitStatus> {
    loop {
        let mut fds = vec![PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        let interest = relay.as_ref().map(|r| r.interest()).unwrap_or_default();
        fds.extend(interest.iter().map(|(fd, events)| PollFd::new(fd.as_fd(), *events)));
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(Error::Setup(format!("cannot wait for the command: {e}"))),
        }
        let revents: Vec<PollFlags> = fds.iter().map(|fd| fd.revents().unwrap_or(PollFlags::empty())).collect();
        drop(fds);
        if let Some(relay) = relay.as_deref_mut() {
            relay.pump(revents.get(1..).unwrap_or_default());
        }
        if revents.first().is_none_or(PollFlags::is_empty) {
            continue;
        }
        while let Some(signo) = listener.pending().map_err(|e| Error::Setup(format!("cannot read signals: {e}")))? {
            match Signal::try_from(signo) {
                Ok(Signal::SIGCHLD) => match children::reap(child, relay.is_some()) {
                    Some(WaitStatus::Stopped(..)) => {
                        if let Some(relay) = relay.as_deref_mut() {
                            relay.suspend(child);
                        }
                    }
                    Some(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => return Ok(status),
                    _ => {}
                },
                Ok(Signal::SIGTTIN | Signal::SIGTTOU) => {}
                Ok(Signal::SIGWINCH) if relay.is_some() => {
                    // the pty tells the command's foreground group itself
                    if let Some(relay) = relay.as_deref() {
                        relay.resize();
                    }
                }
                _ => forward(child, to, signo),
            }
        }
    }
}

/// Pass signal `signo` on, as `--signals-to` says.
fn forward(child: Pid, to: SignalsTo, signo: i32) {
    let name = children::signal_name(signo);
    let sent = match to {
        SignalsTo::Group => children::signal_group(child, signo),
        SignalsTo::Command => crate::system::send_signal(child, signo),
    };
    match sent {
        Ok(()) => debug!("passed {name} on to the command"),
        Err(e) => debug!("could not pass {name} on to the command: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_means_init_as_pid_1_and_a_pty_on_a_terminal_otherwise() {
        use InitSetting as I;
        use PtySetting as P;
        let mode = |init, pty, pid1, terminal| Supervision::resolve(init, pty, SignalsTo::Group, pid1, terminal).mode();
        assert_eq!(mode(I::Auto, P::Auto, true, false), "init");
        assert_eq!(mode(I::Auto, P::Auto, true, true), "init", "docker run -t: PID 1 relays nothing");
        assert_eq!(mode(I::Auto, P::Auto, false, true), "pty");
        assert_eq!(mode(I::Auto, P::Auto, false, false), "exec");
        assert_eq!(mode(I::On, P::Never, false, true), "init");
        assert_eq!(mode(I::Off, P::Auto, true, false), "exec");
        assert_eq!(mode(I::On, P::Always, false, false), "init+pty");
    }

    #[test]
    fn the_supervisor_leaves_its_own_faults_and_the_terminal_stops_alone() {
        let set = taken();
        for passed in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGUSR1, Signal::SIGWINCH] {
            assert!(set.contains(passed), "{passed}");
        }
        for own in [Signal::SIGSEGV, Signal::SIGPIPE, Signal::SIGSYS] {
            assert!(!set.contains(own), "{own}");
        }
    }
}
