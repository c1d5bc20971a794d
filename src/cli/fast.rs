//! The usual start's arguments, read without building clap's command.
//!
//! clap builds its whole command (39 arguments, their help texts, value parsers and environment
//! names) on every start before it reads a single argument: about 0.15 ms of a 1.6 ms start, the
//! largest part of roothooks' own work (`callgrind`: 295,000 of 560,000 instructions). This reader
//! takes what a deployment passes (long options with a value or `=value`, `-u`/`-g`, flags, the
//! `ROOTHOOKS_*` environment, `--` and the command) and fills the same [`Args`]. It gives up, and
//! clap reads the arguments instead, on anything else: `--help`, `--version`, an unknown or repeated
//! option, a value that does not parse or is empty or starts with `-`, a short option with its value
//! attached, a bare `--init` before a word, an environment value it is not sure clap reads the same
//! way. So every error message and all help still come from clap, and what is accepted here is
//! accepted there with the same result: `tests/cli_fast.rs` compares the two on thousands of
//! argument lists and environments.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

use super::{parse_timeout, Args};
use crate::provision::limits::{parse_umask, Rlimit};

/// How an option takes its value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Takes {
    /// a flag: no value
    Nothing,
    /// one value
    One,
    /// one value, repeatable
    Many,
    /// one value, repeatable and comma separated
    Split,
}

/// Every option of [`Args`]: its long name, its environment variable, and how it takes a value.
const OPTIONS: &[(&str, Option<&str>, Takes)] = &[
    ("user", None, Takes::One),
    ("uid", None, Takes::One),
    ("gid", None, Takes::One),
    ("groups", None, Takes::Split),
    ("clear-groups", None, Takes::Nothing),
    ("home", None, Takes::One),
    ("allow-root", None, Takes::Nothing),
    ("allow-privilege-escalation", None, Takes::Nothing),
    ("chown", None, Takes::Many),
    ("chown-tree", None, Takes::Many),
    ("rename-from", None, Takes::One),
    ("grant-sudo", Some("ROOTHOOKS_GRANT_SUDO"), Takes::Nothing),
    ("ensure-account", Some("ROOTHOOKS_ENSURE_ACCOUNT"), Takes::Nothing),
    ("nss-dir", Some("ROOTHOOKS_NSS_DIR"), Takes::One),
    ("create-home", Some("ROOTHOOKS_CREATE_HOME"), Takes::Nothing),
    ("skel", None, Takes::One),
    ("env-file", None, Takes::Many),
    ("unset-env", Some("ROOTHOOKS_UNSET_ENV"), Takes::Split),
    ("rlimit", None, Takes::Many),
    ("umask", Some("ROOTHOOKS_UMASK"), Takes::One),
    ("workdir", None, Takes::One),
    ("seccomp", Some("ROOTHOOKS_SECCOMP"), Takes::One),
    ("seccomp-allow", Some("ROOTHOOKS_SECCOMP_ALLOW"), Takes::Split),
    ("init", Some("ROOTHOOKS_INIT"), Takes::One),
    ("pty", Some("ROOTHOOKS_PTY"), Takes::One),
    ("signals-to", Some("ROOTHOOKS_SIGNALS_TO"), Takes::One),
    ("log-format", Some("ROOTHOOKS_LOG_FORMAT"), Takes::One),
    ("log-level", Some("ROOTHOOKS_LOG_LEVEL"), Takes::One),
    ("hooks-dir", Some("ROOTHOOKS_HOOKS_DIR"), Takes::One),
    ("user-hooks-dir", Some("ROOTHOOKS_USER_HOOKS_DIR"), Takes::One),
    ("docker-stacks", Some("ROOTHOOKS_DOCKER_STACKS"), Takes::Nothing),
    ("hook-timeout", Some("ROOTHOOKS_HOOK_TIMEOUT"), Takes::One),
    ("on-hook-failure", Some("ROOTHOOKS_ON_HOOK_FAILURE"), Takes::One),
    ("hook-env", Some("ROOTHOOKS_HOOK_ENV"), Takes::Split),
    ("allow-untrusted-hooks", Some("ROOTHOOKS_ALLOW_UNTRUSTED_HOOKS"), Takes::Nothing),
    ("log-file", Some("ROOTHOOKS_LOG_FILE"), Takes::One),
    ("report", Some("ROOTHOOKS_REPORT"), Takes::One),
    ("no-exec", None, Takes::Nothing),
    ("dry-run", None, Takes::Nothing),
];

/// Where option `long` is in [`OPTIONS`].
fn index(long: &str) -> Option<usize> {
    OPTIONS.iter().position(|(name, ..)| *name == long)
}

/// Each option's text from the command line, by its index in [`OPTIONS`], and the command after
/// them; `None` for anything this reader leaves to clap.
fn given(argv: &[OsString]) -> Option<(Vec<Vec<&str>>, &[OsString])> {
    let mut given: Vec<Vec<&str>> = vec![Vec::new(); OPTIONS.len()];
    let mut command: &[OsString] = &[];
    let mut i = 1;
    while i < argv.len() {
        let arg = argv.get(i)?.to_str()?;
        if arg == "--" {
            command = argv.get(i + 1..).unwrap_or_default();
            break;
        }
        if !arg.starts_with('-') {
            command = argv.get(i..).unwrap_or_default();
            break;
        }
        let (name, inline) = match arg.strip_prefix("--") {
            Some(long) => match long.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (long, None),
            },
            None => match arg {
                "-u" => ("user", None),
                "-g" => ("gid", None),
                _ => return None, // -h, -V, -u1000, a cluster
            },
        };
        let index = index(name)?;
        let takes = OPTIONS.get(index)?.2;
        if matches!(takes, Takes::Nothing | Takes::One) && !given.get(index)?.is_empty() {
            return None; // clap refuses an option given twice
        }
        let value = match (takes, inline) {
            (Takes::Nothing, Some(_)) => return None,
            (Takes::Nothing, None) => "",
            (_, Some(value)) => value,
            // --init alone means on, but before a word clap would take the word as its value
            (_, None) if name == "init" => match argv.get(i + 1).map(|a| a.to_str()) {
                None => "on",
                Some(Some(next)) if next.starts_with('-') => "on",
                _ => return None,
            },
            (_, None) => {
                i += 1;
                argv.get(i)?.to_str()?
            }
        };
        if takes != Takes::Nothing && (value.is_empty() || value.starts_with('-')) {
            return None;
        }
        given.get_mut(index)?.push(value);
        i += 1;
    }

    Some((given, command))
}

/// `argv` (with the program's name first) and the environment, as [`Args`], or `None` where clap
/// must read them.
pub fn parse(argv: &[OsString], env: &dyn Fn(&str) -> Option<OsString>) -> Option<Args> {
    let (given, command) = given(argv)?;

    // Each option's values: from the command line, else from its environment variable.
    let env_values: Vec<Option<String>> = OPTIONS
        .iter()
        .zip(&given)
        .map(|((_, var, _), given)| match var {
            // an empty or non-UTF-8 value is clap's to judge
            Some(var) if given.is_empty() => match env(var) {
                None => Some(None),
                Some(value) => value.into_string().ok().filter(|v| !v.is_empty()).map(Some),
            },
            _ => Some(None),
        })
        .collect::<Option<_>>()?;
    let values = |name: &str| -> Option<Vec<&str>> {
        let index = index(name)?;
        let (takes, given, from_env) = (OPTIONS.get(index)?.2, given.get(index)?, env_values.get(index)?);
        let all: Vec<&str> = match (given.is_empty(), from_env) {
            (false, _) => given.clone(),
            (true, Some(value)) => vec![value.as_str()],
            (true, None) => Vec::new(),
        };
        if takes != Takes::Split {
            return Some(all);
        }
        let split: Vec<&str> = all.iter().flat_map(|v| v.split(',')).collect();
        // an empty piece ("a,,b", "a,") is clap's to judge
        (!split.iter().any(|v| v.is_empty())).then_some(split)
    };
    let one = |name: &str| -> Option<Option<&str>> {
        let all = values(name)?;
        Some(all.first().copied())
    };
    let flag = |name: &str| -> Option<bool> {
        let index = index(name)?;
        if !given.get(index)?.is_empty() {
            return Some(true);
        }
        match env_values.get(index)?.as_deref() {
            None => Some(false),
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => None, // yes, 1, on, ...: clap's to read
        }
    };
    let path = |name: &str| -> Option<Option<PathBuf>> { Some(one(name)?.map(PathBuf::from)) };
    let paths = |name: &str| -> Option<Vec<PathBuf>> { Some(values(name)?.into_iter().map(PathBuf::from).collect()) };
    let strings = |name: &str| -> Option<Vec<String>> { Some(values(name)?.into_iter().map(String::from).collect()) };
    let os = |name: &str| -> Option<Option<OsString>> { Some(one(name)?.map(OsString::from)) };
    fn choice<T: ValueEnum>(value: Option<&str>, default: &str) -> Option<T> {
        T::from_str(value.unwrap_or(default), false).ok()
    }

    let no_exec = flag("no-exec")?;
    let dry_run = flag("dry-run")?;
    if no_exec && dry_run {
        return None; // they conflict: clap says so
    }
    Some(Args {
        user: os("user")?,
        uid: os("uid")?,
        gid: os("gid")?,
        groups: strings("groups")?,
        clear_groups: flag("clear-groups")?,
        home: path("home")?,
        allow_root: flag("allow-root")?,
        allow_privilege_escalation: flag("allow-privilege-escalation")?,
        chown: paths("chown")?,
        chown_tree: paths("chown-tree")?,
        rename_from: one("rename-from")?.map(String::from),
        grant_sudo: flag("grant-sudo")?,
        ensure_account: flag("ensure-account")?,
        nss_dir: path("nss-dir")?,
        create_home: flag("create-home")?,
        skel: PathBuf::from(one("skel")?.unwrap_or("/etc/skel")),
        env_file: paths("env-file")?,
        unset_env: strings("unset-env")?,
        rlimit: values("rlimit")?.into_iter().map(str::parse::<Rlimit>).collect::<Result<_, _>>().ok()?,
        umask: one("umask")?.map(parse_umask).transpose().ok()?,
        workdir: path("workdir")?,
        seccomp: choice(one("seccomp")?, "default")?,
        seccomp_allow: values("seccomp-allow")?.into_iter().map(|v| choice(Some(v), "")).collect::<Option<_>>()?,
        init: choice(one("init")?, "auto")?,
        pty: choice(one("pty")?, "auto")?,
        signals_to: choice(one("signals-to")?, "group")?,
        log_format: choice(one("log-format")?, "text")?,
        log_level: choice(one("log-level")?, "info")?,
        hooks_dir: path("hooks-dir")?,
        user_hooks_dir: path("user-hooks-dir")?,
        docker_stacks: flag("docker-stacks")?,
        hook_timeout: one("hook-timeout")?.map_or(Ok(Duration::from_secs(60)), parse_timeout).ok()?,
        on_hook_failure: choice(one("on-hook-failure")?, "continue")?,
        hook_env: strings("hook-env")?,
        allow_untrusted_hooks: flag("allow-untrusted-hooks")?,
        log_file: path("log-file")?,
        report: path("report")?,
        no_exec,
        dry_run,
        command: command.to_vec(),
    })
}

/// The names of the options this reader knows, for the test that checks them against clap's.
pub fn names() -> impl Iterator<Item = (&'static str, Option<&'static str>)> {
    OPTIONS.iter().map(|(long, var, _)| (*long, *var))
}
