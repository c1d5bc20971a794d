//! Every way roothooks can fail, and the exit status each one means.
//!
//! Errors surface in one place (`lib.rs`), printed once with their cause; the status follows the shell's
//! conventions so that a container's exit code tells an operator what went wrong.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Exit status of a bad command line or configuration: nothing was run.
pub const EXIT_USAGE: u8 = 2;
/// Exit status when the privilege drop, a hook under `--on-hook-failure abort`, or set-up failed.
pub const EXIT_FAILURE: u8 = 1;

#[derive(Debug, Error)]
pub enum Error {
    /// A bad value on the command line or in the environment; the message names it and the fix.
    #[error("{0}")]
    Usage(String),

    #[error("cannot read the {what} database: {source}")]
    Lookup {
        what: &'static str,
        #[source]
        source: io::Error,
    },

    #[error(
        "roothooks was started setuid, setgid or with file capabilities (the kernel's secure mode; real uid \
         {real}, effective uid {effective}); refusing to run (chmod u-s,g-s and setcap -r on the binary)"
    )]
    SecureMode { real: u32, effective: u32 },

    #[error("privilege drop failed: cannot {step}: {source}{hint}")]
    Drop {
        step: String,
        hint: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("privilege drop could not be verified, not starting the command: {0}")]
    Verify(String),

    #[error("command not found: {program} ({detail})")]
    NotFound { program: String, detail: String },

    #[error("cannot execute {program}: {source}")]
    NotExecutable {
        program: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{0}")]
    Setup(String),

    /// Under `--on-hook-failure abort`, the hooks could not run as asked before any started: a given
    /// directory that cannot be used, or a hook the trust rule refused.
    #[error("{0}, and --on-hook-failure is abort; not starting the command")]
    HooksRefused(String),

    /// A hook failed and `--on-hook-failure abort` was asked for.
    #[error("hook {hook} failed ({outcome}) and --on-hook-failure is abort; not starting the command")]
    HookAborted { hook: String, outcome: String },

    /// A termination signal arrived while the hooks ran.
    #[error("received {name} while running hooks; stopped them and not starting the command")]
    Signalled { name: &'static str, number: i32 },
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => EXIT_USAGE,
            Error::NotFound { .. } => 127,
            Error::NotExecutable { .. } => 126,
            Error::Signalled { number, .. } => u8::try_from(*number).map_or(u8::MAX, |n| 128u8.saturating_add(n)),
            _ => EXIT_FAILURE,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A system call that failed on a path, with what roothooks was doing: `cannot chown /tmp/x.log:
/// Operation not permitted`. Shared by the steps that work on files.
#[derive(Debug, Error)]
#[error("cannot {action} {}: {source}", path.display())]
pub struct IoAt {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl IoAt {
    /// A `map_err` for `action` on `path`, from an `io::Error` or an errno.
    pub fn on<E: Into<io::Error>>(action: &'static str, path: &std::path::Path) -> impl FnOnce(E) -> IoAt {
        let path = path.to_path_buf();
        move |e| IoAt { action, path, source: e.into() }
    }
}
