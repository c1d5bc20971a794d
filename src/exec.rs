//! The last step: hand the process over to the command, in place.
//!
//! The command keeps our PID, so it receives the container's signals. It gets the environment as it came
//! in, with HOME, USER, LOGNAME and SHELL describing the target instead of root; it inherits no descriptor
//! that roothooks opened itself, and starts with the default signal mask and dispositions.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::identity::Target;
use crate::system;

/// The program and its arguments, as given after `--`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub program: OsString,
    pub args: Vec<OsString>,
}

/// `base` with HOME, USER, LOGNAME and SHELL describing `target`; the last step of
/// [`crate::provision::command_env`], which builds the command's whole environment.
pub fn with_identity(
    target: &Target,
    base: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    const IDENTITY: [&str; 4] = ["HOME", "USER", "LOGNAME", "SHELL"];
    let mut env: Vec<(OsString, OsString)> =
        base.into_iter().filter(|(k, _)| !IDENTITY.iter().any(|name| k == name)).collect();
    let name = OsString::from(target.user_name());
    env.push(("HOME".into(), target.home.clone().into_os_string()));
    env.push(("USER".into(), name.clone()));
    env.push(("LOGNAME".into(), name));
    if let Some(shell) = &target.shell {
        env.push(("SHELL".into(), shell.clone().into_os_string()));
    }
    env
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
    for candidate in candidates {
        let err = std::process::Command::new(&candidate)
            .arg0(&command.program)
            .args(&command.args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .exec();
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
    use crate::system::{Gid, Uid};

    fn target(name: Option<&str>, shell: Option<&str>) -> Target {
        Target {
            uid: Uid::from_raw(4000),
            gid: Gid::from_raw(4000),
            name: name.map(Into::into),
            home: "/home/x".into(),
            shell: shell.map(Into::into),
            groups: vec![],
            inherited: vec![],
            not_inherited: vec![],
            new_account: false,
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        list.iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    #[test]
    fn identity_variables_describe_the_target_and_the_rest_passes_through() {
        let base = pairs(&[("HOME", "/root"), ("USER", "root"), ("JUPYTERHUB_API_TOKEN", "t"), ("SHELL", "/bin/bash")]);
        let env = with_identity(&target(Some("alice"), Some("/bin/zsh")), base);
        assert_eq!(
            env,
            pairs(&[
                ("JUPYTERHUB_API_TOKEN", "t"),
                ("HOME", "/home/x"),
                ("USER", "alice"),
                ("LOGNAME", "alice"),
                ("SHELL", "/bin/zsh")
            ])
        );
    }

    #[test]
    fn uid_without_account_is_named_by_number_and_keeps_no_root_shell() {
        let env = with_identity(&target(None, None), pairs(&[("SHELL", "/bin/bash"), ("LOGNAME", "root")]));
        assert_eq!(env, pairs(&[("HOME", "/home/x"), ("USER", "4000"), ("LOGNAME", "4000")]));
    }

    #[test]
    fn resolve_searches_path_like_execvp() {
        assert_eq!(resolve(OsStr::new("sh"), Some(OsStr::new("/nonexistent:/bin"))), Some(PathBuf::from("/bin/sh")));
        assert_eq!(resolve(OsStr::new("no-such-cmd-xyz"), Some(OsStr::new("/bin"))), None);
        assert_eq!(resolve(OsStr::new("./x"), None), Some(PathBuf::from("./x")));
    }
}
