//! The last step: hand the process over to the command, in place.
//!
//! The command keeps our PID, so it receives the container's signals. It gets the environment
//! `provision::env` built for it; it inherits no descriptor
//! that roothooks opened itself, and starts with the default signal mask and dispositions.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::system;

/// The program and its arguments, as given after `--`: what this step execs. It lives here, not
/// in the plan, so that the steps after the drop (this one and the supervisor) never reach back
/// into the plan; the plan holds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub program: OsString,
    pub args: Vec<OsString>,
}

impl CommandLine {
    /// The whole command line, for the plan and the report.
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(&self.program).chain(&self.args).map(|a| a.to_string_lossy().into_owned()).collect()
    }
}

/// What a shell searches when PATH is unset.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

fn is_executable_file(path: &Path) -> bool {
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Where `program` would be found, the way execvp looks for it; for the plan, not for the exec.
pub fn resolve(program: &OsStr, path_var: Option<&OsStr>) -> Option<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(program));
    }
    let search = path_var.unwrap_or(OsStr::new(DEFAULT_PATH));
    std::env::split_paths(search).map(|dir| dir.join(program)).find(|p| is_executable_file(p))
}

fn path_of(env: &[(OsString, OsString)]) -> Option<&OsStr> {
    env.iter().rev().find(|(k, _)| k == "PATH").map(|(_, v)| v.as_os_str())
}

/// Replace this process with the command. Returns only if the exec failed.
///
/// PATH is searched here, as the user, rather than by execvp: root's PATH often names directories the
/// user cannot enter (/root/.local/bin), for which execvp reports "permission denied" although no such
/// command exists. A file that exists but cannot be executed is a 126; nothing found is a 127.
pub fn exec(command: &CommandLine, env: &[(OsString, OsString)], inherited_fds: &BTreeSet<RawFd>) -> Error {
    if let Err(e) = system::cloexec_all_but(inherited_fds) {
        return Error::Setup(format!("cannot mark roothooks' own descriptors close-on-exec: {e}"));
    }
    if let Err(e) = system::reset_signals() {
        return Error::Setup(format!("cannot reset signal dispositions and mask: {e}"));
    }
    let explicit = command.program.as_bytes().contains(&b'/');
    let candidates: Vec<PathBuf> = if explicit {
        vec![PathBuf::from(&command.program)]
    } else {
        let search = path_of(env).unwrap_or(OsStr::new(DEFAULT_PATH));
        std::env::split_paths(search).filter(|d| !d.as_os_str().is_empty()).map(|d| d.join(&command.program)).collect()
    };
    let mut unusable: Option<(PathBuf, io::Error)> = None;
    let vectors = match system::ExecVectors::new(&command.program, &command.args, env) {
        Ok(vectors) => vectors,
        Err(source) => return Error::NotExecutable { program: PathBuf::from(&command.program), source },
    };
    for candidate in candidates {
        let err = vectors.exec(&candidate);
        if unusable.is_some() {
            continue;
        }
        match candidate.symlink_metadata() {
            // There, but it would not run: the first such file is what the user hears about.
            Ok(_) => unusable = Some((candidate, err)),
            // An explicit path behind a directory this user cannot enter: say so, not "no such file".
            Err(e) if explicit && e.kind() == io::ErrorKind::PermissionDenied => {
                let why = format!("{e}: a directory on the way is closed to uid {}", nix::unistd::getuid());
                unusable = Some((candidate, io::Error::new(e.kind(), why)));
            }
            // Not there, or in a PATH directory this user cannot search: keep looking, like a shell.
            Err(_) => {}
        }
    }
    match unusable {
        Some((program, source)) => Error::NotExecutable { program, source },
        None => Error::NotFound {
            program: PathBuf::from(&command.program).display().to_string(),
            detail: if explicit {
                "no such file".into()
            } else {
                let path = path_of(env)
                    .map_or(format!("{DEFAULT_PATH}, PATH being unset"), |p| p.to_string_lossy().into_owned());
                format!("searched PATH={path}")
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_searches_path_like_execvp() {
        assert_eq!(resolve(OsStr::new("sh"), Some(OsStr::new("/nonexistent:/bin"))), Some(PathBuf::from("/bin/sh")));
        assert_eq!(resolve(OsStr::new("no-such-cmd-xyz"), Some(OsStr::new("/bin"))), None);
        assert_eq!(resolve(OsStr::new("./x"), None), Some(PathBuf::from("./x")));
    }
}
