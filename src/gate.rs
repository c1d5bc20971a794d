//! The one gate between the environment and root's hooks: an allowlist, as sudo's `env_reset`.
//!
//! Any variable can make some tool load, run or write what the user chose (PYTHONPYCACHEPREFIX,
//! GIT_SSH_COMMAND, OPENSSL_CONF, LUA_INIT, ...), and in the images roothooks serves the environment
//! is often the user's to shape (repo2docker builds it from their repository; docker-stacks points
//! XDG_CACHE_HOME at their home). No list of dangerous names can keep up with every tool, so root's
//! hooks get a fixed set ([`DEFAULT`]), values checked where a value can name a file, plus what the
//! operator names (`--hook-env`) and the operator's `--env-file`; nothing else, whatever it is called.
//! HOME, USER, LOGNAME and SHELL are root's, and PATH keeps only directories that pass the trust
//! rule. The same gate stands between one root hook and the next: what a sourced hook exports reaches
//! the root hooks after it only through [`Gate::pass_exports`]. The command (run as the user) and the
//! user's hooks are not root and get the environment as it was.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::provision::env::valid_name;
use crate::sourcing::Exports;
use crate::trust::{self, Last};

/// What every root hook may get from roothooks' own environment, with how its value is checked.
/// Names ending in `*` are prefixes.
pub const DEFAULT: &[(&str, Check)] = &[
    // the hook interface and roothooks' own settings
    ("ROOTHOOKS_*", Check::Any),
    ("NB_USER", Check::AccountName),
    ("NB_GROUP", Check::AccountName),
    ("NB_UID", Check::Number),
    ("NB_GID", Check::Number),
    ("NB_UMASK", Check::Octal),
    ("JUPYTER_ENV_VARS_TO_UNSET", Check::NameList),
    ("REPO_DIR", Check::AbsolutePath),
    // whose server this is, as the hub names it: what a hook needs to pick a bucket or a directory
    ("JUPYTERHUB_USER", Check::Word),
    ("JUPYTERHUB_SERVER_NAME", Check::Word),
    // how text and time are shown
    ("TERM", Check::Terminal),
    ("TZ", Check::TimeZone),
    ("LANG", Check::Locale),
    ("LANGUAGE", Check::LocaleList),
    ("LC_*", Check::Locale),
];

/// Always root's in a hook, whatever anything else says.
const ROOTS: [&str; 4] = ["HOME", "USER", "LOGNAME", "SHELL"];

/// What to run hooks with when every PATH entry was refused.
pub const SAFE_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// How a value on the default list is checked before a root hook gets it. Each check refuses what
/// could name a file of the user's: glibc reads a locale or time zone with a `/` from that path, and
/// a hook uses the hub's user name in paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Any,
    /// an account or group name, as `--ensure-account` accepts
    AccountName,
    /// an id, as roothooks reads NB_UID
    Number,
    /// a umask, as roothooks reads NB_UMASK
    Octal,
    /// comma-separated variable names
    NameList,
    AbsolutePath,
    /// no `/`, no control character, not `.` or `..`
    Word,
    /// a terminfo name: letters, digits, `_ . + -`
    Terminal,
    /// a zone name (`Europe/Berlin`, `:UTC`) or a POSIX rule (`CET-1CEST`), never an absolute path or `..`
    TimeZone,
    /// a locale name (`C.UTF-8`, `de_DE@euro`), never a path
    Locale,
    /// locale names separated by `:`
    LocaleList,
}

impl Check {
    /// Why `value` may not reach a root hook, if it may not.
    fn refuse(self, value: &str) -> Option<&'static str> {
        let all = |ok: fn(char) -> bool| value.chars().all(ok);
        let locale =
            |v: &str| v.chars().all(|c| c.is_ascii_alphanumeric() || "_.@+-=;,".contains(c)) && !v.starts_with('.');
        let (ok, why) = match self {
            Check::Any => return None,
            Check::AccountName => (crate::userdb::valid_name(value), "not an account name"),
            // as roothooks itself reads NB_UID, NB_GID and NB_UMASK
            Check::Number => (value.parse::<u32>().is_ok(), "not a number"),
            Check::Octal => (crate::provision::limits::parse_umask(value).is_ok(), "not an octal mode"),
            Check::NameList => {
                (value.split(',').map(str::trim).all(|n| n.is_empty() || valid_name(n)), "not a list of variable names")
            }
            Check::AbsolutePath => {
                (value.starts_with('/') && !value.split('/').any(|c| c == ".."), "not an absolute path without '..'")
            }
            Check::Word => (
                !value.contains('/') && !value.chars().any(char::is_control) && value != "." && value != "..",
                "has a '/' or a control character",
            ),
            Check::Terminal => (all(|c| c.is_ascii_alphanumeric() || "_.+-".contains(c)), "not a terminal name"),
            Check::TimeZone => {
                let zone = value.strip_prefix(':').unwrap_or(value);
                let ok = !zone.starts_with('/')
                    && !zone.split('/').any(|c| c == ".." || c == ".")
                    && all(|c| c.is_ascii_alphanumeric() || "_+-/,.:<>".contains(c));
                (ok, "names a file, not a time zone")
            }
            Check::Locale => (locale(value), "names a file, not a locale"),
            Check::LocaleList => (value.split(':').all(locale), "names a file, not a locale"),
        };
        (!ok).then_some(why)
    }
}

/// A name or, ending in `*`, a prefix: an entry of [`DEFAULT`] or of `--hook-env`.
fn matches(pattern: &str, name: &[u8]) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix.as_bytes()),
        None => name == pattern.as_bytes(),
    }
}

/// Check a `--hook-env` pattern: a variable name, or a prefix of one followed by `*`.
pub fn parse_pattern(text: &str) -> Result<String, String> {
    let text = text.trim();
    let stem = text.strip_suffix('*').unwrap_or(text);
    if stem.is_empty() {
        return Err(format!(
            "'{text}' would pass every variable to root's hooks; name them, or a prefix such as 'AWS_*'"
        ));
    }
    if !valid_name(stem) {
        return Err(format!("'{text}' is not a variable name, or a prefix of one followed by '*' (e.g. AWS_*)"));
    }
    Ok(text.to_string())
}

/// Why a variable did not reach root's hooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// not on the default list nor named by the operator
    NotAllowed(String),
    /// on the default list, with a value that could name a file
    BadValue { name: String, why: &'static str },
}

/// The operator's additions to [`DEFAULT`]: `--hook-env` patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gate {
    pub allowed: Vec<String>,
}

/// The environment root's hooks start with, and what the gate left out.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HookEnv {
    pub vars: Vec<(OsString, OsString)>,
    pub held: Vec<Held>,
    /// PATH entries left out, each with why
    pub path_dropped: Vec<String>,
}

/// Root's account, as hooks see it in HOME, USER, LOGNAME and SHELL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootAccount {
    pub home: PathBuf,
    pub name: String,
    pub shell: PathBuf,
}

impl Default for RootAccount {
    /// What nearly every image's passwd says.
    fn default() -> Self {
        RootAccount { home: "/root".into(), name: "root".into(), shell: "/bin/sh".into() }
    }
}

impl fmt::Display for Gate {
    /// What root's hooks get, as `--dry-run` shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = DEFAULT.iter().map(|(name, _)| *name).collect();
        write!(f, "root's HOME and trusted PATH, the env files, {}", names.join(", "))?;
        if !self.allowed.is_empty() {
            write!(f, "; --hook-env: {}", self.allowed.join(", "))?;
        }
        Ok(())
    }
}

impl Gate {
    /// Whether `name=value` may reach a root hook (PATH and root's identity aside, which are never
    /// taken as they are).
    pub fn admit(&self, name: &OsStr, value: &OsStr) -> Result<(), Held> {
        let bytes = name.as_bytes();
        let shown = || name.to_string_lossy().into_owned();
        if self.allowed.iter().any(|p| matches(p, bytes)) {
            return Ok(());
        }
        let Some((_, check)) = DEFAULT.iter().find(|(p, _)| matches(p, bytes)) else {
            return Err(Held::NotAllowed(shown()));
        };
        match value.to_str().map(|v| check.refuse(v)) {
            Some(None) => Ok(()),
            Some(Some(why)) => Err(Held::BadValue { name: shown(), why }),
            None => Err(Held::BadValue { name: shown(), why: "not UTF-8" }),
        }
    }

    /// The hooks' environment: what of `base` (roothooks' own) passes the gate, PATH with only
    /// directories that pass the trust rule, HOME, USER, LOGNAME and SHELL of root's account, then
    /// `given` (the operator's env files, then the `ROOTHOOKS_*` variables describing the target),
    /// which the operator chose and so pass as they are.
    pub fn hook_env(
        &self,
        base: impl IntoIterator<Item = (OsString, OsString)>,
        root: &RootAccount,
        given: &[(String, String)],
    ) -> HookEnv {
        let mut out = HookEnv::default();
        // of a name given twice (an env file and roothooks' own ROOTHOOKS_UID), the last wins
        let mut given_names: HashSet<&str> = HashSet::new();
        let mut given: Vec<&(String, String)> = given.iter().rev().filter(|(k, _)| given_names.insert(k)).collect();
        given.reverse();
        let mut path = None;
        for (name, value) in base {
            if name == "PATH" {
                path = Some(value);
            } else if ROOTS.iter().any(|r| name == *r) || name.to_str().is_some_and(|n| given_names.contains(n)) {
                // replaced below
            } else {
                match self.admit(&name, &value) {
                    Ok(()) => out.vars.push((name, value)),
                    Err(held) => out.held.push(held),
                }
            }
        }
        for (name, value) in given {
            if name == "PATH" {
                path = Some(value.into());
            } else if !ROOTS.contains(&name.as_str()) {
                out.vars.push((name.into(), value.into()));
            }
        }
        let (path, dropped) = trusted_path(path.as_deref().unwrap_or(OsStr::new(SAFE_PATH)));
        out.path_dropped = dropped;
        out.vars.push(("PATH".into(), path));
        out.vars.push(("HOME".into(), root.home.clone().into_os_string()));
        out.vars.push(("USER".into(), root.name.clone().into()));
        out.vars.push(("LOGNAME".into(), root.name.clone().into()));
        out.vars.push(("SHELL".into(), root.shell.clone().into_os_string()));
        out
    }

    /// What a sourced root hook exported, let into `env` (the next root hook's) through the gate: a
    /// new PATH judged entry by entry, root's identity kept, anything else only if [`Gate::admit`]
    /// lets it. Unsetting always passes (a hook may take a variable away), but PATH then falls back to
    /// [`SAFE_PATH`]. Returns what was held back and the PATH entries dropped.
    pub fn pass_exports(&self, exports: &Exports, env: &mut Vec<(OsString, OsString)>) -> (Vec<Held>, Vec<String>) {
        let mut held = Vec::new();
        let mut dropped = Vec::new();
        let mut changes = Exports::default();
        for (name, value) in exports.changes() {
            let os = OsStr::new(name);
            if ROOTS.contains(&name) {
                held.push(Held::NotAllowed(name.to_string()));
                continue;
            }
            let value = match (name, value) {
                ("PATH", value) => {
                    let (path, why) = trusted_path(OsStr::new(value.unwrap_or(SAFE_PATH)));
                    dropped.extend(why);
                    Some(path.to_string_lossy().into_owned())
                }
                (_, None) => None,
                (_, Some(value)) => match self.admit(os, OsStr::new(value)) {
                    Ok(()) => Some(value.to_string()),
                    Err(h) => {
                        // what a root hook already had of it stays as it was
                        held.push(h);
                        continue;
                    }
                },
            };
            changes.push(name, value);
        }
        changes.apply(env);
        (held, dropped)
    }
}

/// `path` with only the directories root may run programs from: absolute, existing, and passing the
/// trust rule as written. Docker-stacks images put the user's `/opt/conda/bin` first, where
/// `#!/usr/bin/env python3` would otherwise find the user's python.
pub fn trusted_path(path: &OsStr) -> (OsString, Vec<String>) {
    let mut kept: Vec<&[u8]> = Vec::new();
    let mut dropped = Vec::new();
    for entry in path.as_bytes().split(|b| *b == b':') {
        let dir = Path::new(OsStr::from_bytes(entry));
        let why = if !dir.is_absolute() {
            Some("not an absolute path".to_string())
        } else {
            match trust::walk(dir, Last::Dir) {
                Ok(w) if !w.is_dir() => Some("not a directory".into()),
                Ok(w) => w.untrusted,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("does not exist".into()),
                Err(e) => Some(e.to_string()),
            }
        };
        match why {
            None if !kept.contains(&entry) => kept.push(entry),
            None => {}
            Some(why) => dropped.push(format!("'{}' ({why})", dir.display())),
        }
    }
    if kept.is_empty() {
        return (SAFE_PATH.into(), dropped);
    }
    (OsStr::from_bytes(&kept.join(&b':')).to_owned(), dropped)
}

/// The names in `held`, for one log line: those not allowed (at most `limit`), then those with a bad
/// value and why.
pub fn describe(held: &[Held], limit: usize) -> String {
    let mut not_allowed: Vec<&str> = Vec::new();
    let mut bad: Vec<String> = Vec::new();
    for h in held {
        match h {
            Held::NotAllowed(name) => not_allowed.push(name),
            Held::BadValue { name, why } => bad.push(format!("{name} ({why})")),
        }
    }
    let mut parts = Vec::new();
    if !not_allowed.is_empty() {
        parts.push(crate::log::capped_list(&not_allowed, limit));
    }
    if !bad.is_empty() {
        parts.push(bad.join(", "));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os_pairs(list: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        list.iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    fn get<'a>(env: &'a [(OsString, OsString)], name: &str) -> Option<&'a str> {
        env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.to_str().unwrap())
    }

    #[test]
    fn only_the_default_set_and_what_the_operator_names_reach_root_hooks() {
        let base = os_pairs(&[
            ("HOME", "/home/jovyan"),
            ("USER", "jovyan"),
            ("SHELL", "/opt/conda/bin/bash"),
            ("BASH_ENV", "/home/jovyan/.bashrc"),
            ("LD_PRELOAD", "/home/jovyan/x.so"),
            ("PYTHONPYCACHEPREFIX", "/home/jovyan/.pyc"),
            ("GIT_SSH_COMMAND", "touch /pwned"),
            ("A_NAME_NO_TOOL_READS_YET", "x"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("NB_UID", "1010"),
            ("LANG", "C.UTF-8"),
            ("LC_ALL", "../../home/jovyan/locale"),
            ("TZ", "/home/jovyan/zone"),
            ("JUPYTERHUB_USER", "alice"),
            ("PATH", "relative:/usr/bin:/no/such/dir:/usr/bin"),
            ("ROOTHOOKS_UID", "stale"),
        ]);
        let gate = Gate { allowed: vec!["AWS_*".into()] };
        let given = [("ROOTHOOKS_UID".to_string(), "1000".to_string()), ("FROM_ENV_FILE".into(), "1".into())];
        let env = gate.hook_env(base, &RootAccount::default(), &given);
        let v = &env.vars;
        assert_eq!((get(v, "HOME"), get(v, "USER"), get(v, "LOGNAME")), (Some("/root"), Some("root"), Some("root")));
        assert_eq!(get(v, "SHELL"), Some("/bin/sh"));
        assert_eq!((get(v, "AWS_SECRET_ACCESS_KEY"), get(v, "ROOTHOOKS_UID")), (Some("s"), Some("1000")));
        assert_eq!(
            (get(v, "NB_UID"), get(v, "LANG"), get(v, "JUPYTERHUB_USER")),
            (Some("1010"), Some("C.UTF-8"), Some("alice"))
        );
        assert_eq!(get(v, "FROM_ENV_FILE"), Some("1"));
        assert_eq!(get(v, "PATH"), Some("/usr/bin"));
        assert_eq!(v.iter().filter(|(k, _)| k == "ROOTHOOKS_UID").count(), 1);
        let names: Vec<&str> = v.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        for name in [
            "BASH_ENV",
            "LD_PRELOAD",
            "PYTHONPYCACHEPREFIX",
            "GIT_SSH_COMMAND",
            "A_NAME_NO_TOOL_READS_YET",
            "LC_ALL",
            "TZ",
        ] {
            assert!(!names.contains(&name), "{name} reached root's hooks");
        }
        assert_eq!(
            describe(&env.held, 40),
            "BASH_ENV, LD_PRELOAD, PYTHONPYCACHEPREFIX, GIT_SSH_COMMAND, A_NAME_NO_TOOL_READS_YET; LC_ALL (names a \
             file, not a locale), TZ (names a file, not a time zone)"
        );
        assert_eq!(env.path_dropped.len(), 2, "{:?}", env.path_dropped);
        // nothing trusted left: a safe default, never an empty PATH (which would mean the cwd)
        assert_eq!(trusted_path(OsStr::new("rel:")).0, SAFE_PATH);
    }

    #[test]
    fn values_that_could_name_a_file_are_refused() {
        let gate = Gate::default();
        let ok = |n: &str, v: &str| gate.admit(OsStr::new(n), OsStr::new(v)).is_ok();
        for (name, value) in [
            ("TZ", "Europe/Berlin"),
            ("TZ", ":UTC"),
            ("TZ", "CET-1CEST,M3.5.0,M10.5.0/3"),
            ("TZ", "<+03>-3"),
            ("LANG", "de_DE.UTF-8@euro"),
            ("LANGUAGE", "de:en_GB"),
            ("TERM", "xterm-256color"),
            ("NB_USER", "jovyan"),
            ("NB_UMASK", "022"),
            ("JUPYTER_ENV_VARS_TO_UNSET", "A, B_2"),
            ("REPO_DIR", "/home/jovyan"),
        ] {
            assert!(ok(name, value), "{name}={value}");
        }
        for (name, value) in [
            ("TZ", "/home/jovyan/tz"),
            ("TZ", ":/etc/../home/x"),
            ("TZ", "../../home/x"),
            ("LANG", "/home/jovyan/loc"),
            ("LANGUAGE", "de:../x"),
            ("LC_CTYPE", ".."),
            ("TERM", "../../home/jovyan/t"),
            ("NB_UID", "10; id"),
            ("NB_USER", "$(id)"),
            ("JUPYTERHUB_USER", "../etc"),
            ("JUPYTERHUB_USER", "a\nb"),
            ("REPO_DIR", "/home/../etc"),
        ] {
            assert!(!ok(name, value), "{name}={value} passed");
        }
    }

    #[test]
    fn operator_patterns_are_names_or_prefixes() {
        assert_eq!(parse_pattern("AWS_*"), Ok("AWS_*".into()));
        assert_eq!(parse_pattern(" GCS_KEY "), Ok("GCS_KEY".into()));
        assert!(parse_pattern("*").unwrap_err().contains("would pass every variable"));
        assert!(parse_pattern("A-B").unwrap_err().contains("not a variable name"));
        let gate = Gate { allowed: vec!["AWS_*".into(), "TOKEN".into()] };
        assert!(gate.admit(OsStr::new("AWS_REGION"), OsStr::new("x")).is_ok());
        assert!(gate.admit(OsStr::new("TOKEN"), OsStr::new("x")).is_ok());
        assert_eq!(gate.admit(OsStr::new("TOKEN2"), OsStr::new("x")), Err(Held::NotAllowed("TOKEN2".into())));
        assert_eq!(gate.admit(OsStr::new("MY_AWS_X"), OsStr::new("x")), Err(Held::NotAllowed("MY_AWS_X".into())));
    }

    #[test]
    fn exports_pass_the_same_gate_on_their_way_to_the_next_root_hook() {
        let exports = Exports::parse(b"PATH=/opt/conda/bin:/usr/bin\0LD_PRELOAD=/x.so\0BASH_ENV=/x\0HOME=/home/jovyan\0GCS_KEY=k\0NB_UID=1010\0TERM=../x\0LANG\0=roothooks-end\0").unwrap();
        let mut env = os_pairs(&[("PATH", "/usr/bin"), ("HOME", "/root"), ("LANG", "C"), ("TERM", "xterm")]);
        let gate = Gate { allowed: vec!["GCS_*".into()] };
        let (held, _) = gate.pass_exports(&exports, &mut env);
        assert_eq!(get(&env, "PATH"), Some("/usr/bin"));
        assert_eq!((get(&env, "HOME"), get(&env, "TERM")), (Some("/root"), Some("xterm")));
        assert_eq!((get(&env, "GCS_KEY"), get(&env, "NB_UID")), (Some("k"), Some("1010")));
        assert_eq!((get(&env, "LD_PRELOAD"), get(&env, "BASH_ENV"), get(&env, "LANG")), (None, None, None));
        assert_eq!(describe(&held, 40), "LD_PRELOAD, BASH_ENV, HOME; TERM (not a terminal name)");
        // a hook that unsets PATH leaves the next one the safe default, never none (the cwd)
        let (held, _) = gate.pass_exports(&Exports::parse(b"PATH\0=roothooks-end\0").unwrap(), &mut env);
        assert!(held.is_empty());
        assert_eq!(get(&env, "PATH"), Some(SAFE_PATH));
    }

    #[test]
    fn of_a_name_given_twice_the_last_wins_and_root_identity_is_never_given() {
        let given = [
            ("ROOTHOOKS_UID".to_string(), "from-env-file".to_string()),
            ("HOME".into(), "/home/jovyan".into()),
            ("ROOTHOOKS_UID".into(), "1000".into()),
        ];
        let env = Gate::default().hook_env(Vec::new(), &RootAccount::default(), &given);
        assert_eq!(env.vars.iter().filter(|(k, _)| k == "ROOTHOOKS_UID").count(), 1);
        assert_eq!((get(&env.vars, "ROOTHOOKS_UID"), get(&env.vars, "HOME")), (Some("1000"), Some("/root")));
        assert_eq!(get(&env.vars, "PATH"), Some(SAFE_PATH), "no PATH at all: the safe default");
    }
}
