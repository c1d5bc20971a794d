//! The one gate between the environment and root's hooks: an allowlist, as sudo's `env_reset`.
//!
//! Any variable can make some tool load, run or write what the user chose (PYTHONPYCACHEPREFIX,
//! GIT_SSH_COMMAND, OPENSSL_CONF, LUA_INIT, ...), and in the images roothooks serves the environment
//! is often the user's to shape (repo2docker builds it from their repository; docker-stacks points
//! XDG_CACHE_HOME at their home). No list of dangerous names can keep up with every tool, so of
//! roothooks' own environment root's hooks get a fixed set ([`DEFAULT`]) plus what the operator names
//! (`--hook-env`, and the hooks' secrets, `--unset-env`); nothing else, whatever it is called. The
//! operator's other sources, the `--env-file`s and what root's own hooks export (sourced, or through
//! `$ROOTHOOKS_ENV`), are the operator's choice and pass by name.
//!
//! Whichever rule admitted it, every variable then passes the same two checks before a root hook
//! gets it ([`Gate::admit`]): its name is not one that steers an interpreter, the loader or a shell
//! ([`NEVER`]: an env file written for the server, `PYTHONUSERBASE=/home/jovyan/.local`, would
//! otherwise run the user's `.pth` files in a root Python hook), and its value names no file that
//! anyone but root could change ([`value_refusal`]), or, for a name on [`DEFAULT`], is of its form.
//! HOME, USER, LOGNAME and SHELL are root's, and PATH keeps only directories that pass the trust
//! rule. The command (run as the user) and the user's hooks are not root and get the environment as
//! it was.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::provision::env::{first_of_each, valid_name};
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

/// Names that make an interpreter, the dynamic loader, libc or a shell load or run what the value
/// names, or a tool run a program it is given: never passed to root, from any source, whoever named
/// them. Names ending in `*` are prefixes.
pub const NEVER: &[&str] = &[
    // the loader and libc: glibc's own list of what it drops for setuid programs (UNSECURE_ENVVARS)
    "LD_*",
    "GCONV_PATH",
    "GETCONF_DIR",
    "GLIBC_TUNABLES",
    "HOSTALIASES",
    "LOCALDOMAIN",
    "LOCPATH",
    "MALLOC_*",
    "NIS_PATH",
    "NLSPATH",
    "RESOLV_HOST_CONF",
    "RES_OPTIONS",
    "TMPDIR",
    "TZDIR",
    // shells: what they read or run at start, and how they split and trace
    "BASH_ENV",
    "ENV",
    "BASH_FUNC_*",
    "BASH_LOADABLES_PATH",
    "BASH_XTRACEFD",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    "IFS",
    "CDPATH",
    "GLOBIGNORE",
    "EXECIGNORE",
    "PROMPT_COMMAND",
    "INPUTRC",
    "ZDOTDIR",
    // interpreters
    "PYTHON*",
    "PERL*",
    "RUBY*",
    "GEM_*",
    "NODE_*",
    "NPM_CONFIG_*",
    // npm takes its settings from the environment in either case (its registry, its script shell)
    "npm_config_*",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    "LUA_*",
    "TCLLIBPATH",
    "R_PROFILE*",
    "R_ENVIRON*",
    "R_LIBS*",
    "JULIA_*",
    "PHPRC",
    "PHP_INI_SCAN_DIR",
    // tools that run a program or load a module they are told to
    "GIT_*",
    "OPENSSL_*",
    "PIP_*",
    "EDITOR",
    "VISUAL",
    "PAGER",
    "MANPAGER",
    "SYSTEMD_PAGER",
    "SYSTEMD_EDITOR",
    // less runs the command LESSOPEN and LESSCLOSE name on every file it opens
    "LESSOPEN",
    "LESSCLOSE",
    "BROWSER",
    "SSH_ASKPASS",
    "SUDO_ASKPASS",
];

/// Always root's in a hook, whatever anything else says.
const ROOTS: [&str; 4] = ["HOME", "USER", "LOGNAME", "SHELL"];

/// The hook interface: what roothooks itself tells root's hooks about the target and where to hand
/// variables over. A hook takes these as roothooks' word (it writes to `$ROOTHOOKS_ENV` as root), so
/// they come only from roothooks: never from its starting environment, which repo2docker builds
/// from the user's repository, nor from an env file, even when roothooks has no value to give (the
/// hand-off file could not be made).
pub const INTERFACE: [&str; 6] =
    ["ROOTHOOKS_UID", "ROOTHOOKS_GID", "ROOTHOOKS_USER", "ROOTHOOKS_HOME", "ROOTHOOKS_GROUPS", "ROOTHOOKS_ENV"];

/// What to run hooks with when every PATH entry was refused.
pub const SAFE_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// The most paths one value may name, wherever they start in its words: each is walked from `/`.
const MAX_PATHS: usize = 64;

/// How a value on the default list is checked before a root hook gets it. Each check refuses what
/// could name a file of the user's: glibc reads a locale or time zone with a `/` from that path, and
/// a hook uses the hub's user name in paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// any value that [`value_refusal`] passes
    Any,
    /// an account or group name, as `--ensure-account` accepts
    AccountName,
    /// an id, as roothooks reads NB_UID
    Number,
    /// a umask, as roothooks reads NB_UMASK
    Octal,
    /// comma-separated variable names
    NameList,
    /// an absolute path without `..` that [`value_refusal`] passes
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
    fn refuse(self, value: &str) -> Option<String> {
        let all = |ok: fn(char) -> bool| value.chars().all(ok);
        let locale =
            |v: &str| v.chars().all(|c| c.is_ascii_alphanumeric() || "_.@+-=;,".contains(c)) && !v.starts_with('.');
        let (ok, why) = match self {
            Check::Any => return value_refusal(value.as_bytes()),
            Check::AccountName => (crate::userdb::valid_name(value), "is not an account name"),
            // as roothooks itself reads NB_UID, NB_GID and NB_UMASK
            Check::Number => (value.parse::<u32>().is_ok(), "is not a number"),
            Check::Octal => (crate::provision::limits::parse_umask(value).is_ok(), "is not an octal mode"),
            Check::NameList => (
                value.split(',').map(str::trim).all(|n| n.is_empty() || valid_name(n)),
                "is not a list of variable names",
            ),
            Check::AbsolutePath if !value.starts_with('/') || value.split('/').any(|c| c == "..") => {
                (false, "is not an absolute path without '..'")
            }
            Check::AbsolutePath => return value_refusal(value.as_bytes()),
            Check::Word => (
                !value.contains('/') && !value.chars().any(char::is_control) && value != "." && value != "..",
                "has a '/' or a control character",
            ),
            Check::Terminal => (all(|c| c.is_ascii_alphanumeric() || "_.+-".contains(c)), "is not a terminal name"),
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
        (!ok).then(|| why.to_string())
    }
}

/// Why a value may name a file that someone other than root could change, if it may: every path in
/// it (what stands between `:`, `=`, `,`, `;`, white space and quotes and has a `/`; a relative one
/// is taken from `/`, where hooks run, and again from its first `/`, for `-I/x` or `@/x`, and from
/// each `/` after a character such as `|` or `(`, for `/usr/bin|/x`; `file:///x` and `https://host/x`
/// parse the same way) is walked from `/` and judged by [`trust::judge_named`]; a
/// `..` component, and a `~NAME` (an account's home once expanded), are refused outright. A value
/// without a `/` names no file. Only the directory that failed is named, never the value, which may
/// be a secret.
pub fn value_refusal(value: &[u8]) -> Option<String> {
    if !value.contains(&b'/') && !value.windows(2).any(|w| w == b"..") && !value.contains(&b'~') {
        return None;
    }
    let paths = value
        .split(|b| b":=,; \t\n\r\"'".contains(b))
        .filter(|token| token.contains(&b'/') || *token == b".." || token.first() == Some(&b'~'));
    let mut walked = 0;
    for token in paths {
        if token.split(|b| *b == b'/').any(|c| c == b"..") {
            return Some("has a '..' path component".into());
        }
        // `~NAME` is NAME's home wherever it is expanded (Python's expanduser, conda, a shell's
        // assignment); `~` and `~/` are the hook's HOME, root's, and judged below as written
        if let [b'~', next, ..] = token {
            if *next != b'/' {
                return Some("names an account's home ('~NAME')".into());
            }
        }
        // a path may follow a flag or a sigil in the same token (`-I/home/jovyan/include`,
        // `@/home/jovyan/data`), or another path and a character no path list splits at
        // (`/usr/bin|/home/jovyan/x`, `$(/home/jovyan/x)`): judged from the token's start, from its
        // first `/`, and from every `/` after such a character
        let first = token.iter().position(|b| *b == b'/');
        let starts = (0..token.len()).filter(|&at| {
            at == 0
                || (Some(at) == first)
                || (token.get(at) == Some(&b'/')
                    && token.get(at - 1).is_some_and(|b| b"|&(){}[]<>!?*$#`\\".contains(b)))
        });
        for candidate in starts.filter_map(|at| token.get(at..)) {
            walked += 1;
            if walked > MAX_PATHS {
                return Some(format!("names more than {MAX_PATHS} paths"));
            }
            let path = Path::new("/").join(OsStr::from_bytes(candidate));
            if let Some(why) = trust::judge_named(&path) {
                return Some(format!("names a path a user could change: {why}"));
            }
        }
    }
    None
}

/// A name or, ending in `*`, a prefix: an entry of [`DEFAULT`], [`NEVER`] or of `--hook-env`.
fn matches(pattern: &str, name: &[u8]) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix.as_bytes()),
        None => name == pattern.as_bytes(),
    }
}

/// The entry of [`NEVER`] that `name` falls under, if any.
pub fn steers(name: &[u8]) -> Option<&'static str> {
    NEVER.iter().copied().find(|p| matches(p, name))
}

/// Check a `--hook-env` pattern: a variable name, or a prefix of one followed by `*`; one that could
/// only ever match names root never gets is an error, not a silent no-op.
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
    let only_never = NEVER.iter().find(|p| match p.strip_suffix('*') {
        Some(prefix) => stem.starts_with(prefix),
        None => !text.ends_with('*') && stem == **p,
    });
    if let Some(rule) = only_never {
        return Err(format!(
            "'{text}' names variables that steer an interpreter, the loader or a shell ({rule}), which never \
             reach root's hooks"
        ));
    }
    Ok(text.to_string())
}

/// Why a variable did not reach root's hooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// of roothooks' own environment, not on the default list nor named by the operator
    NotAllowed(String),
    /// on [`NEVER`], from whatever source
    Steers { name: String, rule: &'static str },
    /// HOME, USER, LOGNAME and SHELL, which stay root's
    Roots(String),
    /// a name of [`INTERFACE`] that roothooks had no value for, found elsewhere
    Interface(String),
    /// a value that could name a file of the user's, or is not of its name's form
    BadValue { name: String, why: String },
}

impl Held {
    pub fn name(&self) -> &str {
        match self {
            Held::NotAllowed(name) | Held::Roots(name) | Held::Interface(name) => name,
            Held::Steers { name, .. } | Held::BadValue { name, .. } => name,
        }
    }
}

impl fmt::Display for Held {
    /// The rule that held it back, for a log line that names the variable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Held::NotAllowed(_) => write!(f, "not on the allowlist (--hook-env NAME passes one)"),
            Held::Steers { rule, .. } => {
                write!(f, "it steers an interpreter, the loader or a shell ({rule}), which root's hooks never get")
            }
            Held::Roots(_) => write!(f, "HOME, USER, LOGNAME and SHELL stay root's"),
            Held::Interface(_) => write!(f, "only roothooks sets it for them, and it has no value to give"),
            Held::BadValue { why, .. } => write!(f, "its value {why}"),
        }
    }
}

/// Where a variable on its way to a root hook came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// roothooks' own environment: only what the allowlist, `--hook-env` or `--unset-env` names
    Start,
    /// what the operator chose: an `--env-file`, a root hook's exports or `$ROOTHOOKS_ENV`
    Operator,
}

/// The operator's additions to [`DEFAULT`]: `--hook-env` patterns, and the hooks' secrets
/// (`--unset-env`, docker-stacks' `JUPYTER_ENV_VARS_TO_UNSET`), which root's hooks get and the
/// command never does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gate {
    pub allowed: Vec<String>,
    pub secrets: Vec<String>,
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
        if !self.secrets.is_empty() {
            write!(f, "; --unset-env: {}", self.secrets.join(", "))?;
        }
        Ok(())
    }
}

impl Gate {
    /// Whether `name=value` from `origin` may reach a root hook (PATH and root's identity aside, which
    /// are never taken as they are): see the module doc.
    pub fn admit(&self, name: &OsStr, value: &OsStr, origin: Origin) -> Result<(), Held> {
        let bytes = name.as_bytes();
        let shown = || name.to_string_lossy().into_owned();
        let check = DEFAULT.iter().find(|(p, _)| matches(p, bytes)).map(|(_, check)| *check);
        let named = || self.allowed.iter().chain(&self.secrets).any(|p| matches(p, bytes));
        if origin == Origin::Start && check.is_none() && !named() {
            return Err(Held::NotAllowed(shown()));
        }
        if let Some(rule) = steers(bytes) {
            return Err(Held::Steers { name: shown(), rule });
        }
        let refusal = match value.to_str() {
            Some(value) => check.unwrap_or(Check::Any).refuse(value),
            None => Some("is not UTF-8".into()),
        };
        match refusal {
            None => Ok(()),
            Some(why) => Err(Held::BadValue { name: shown(), why }),
        }
    }

    /// The hooks' environment: what of `base` (roothooks' own) passes the gate, then what of
    /// `operator` (the env files) does, PATH with only directories that pass the trust rule, HOME,
    /// USER, LOGNAME and SHELL of root's account, then `own` (roothooks' description of the target,
    /// `$ROOTHOOKS_ENV`: names of [`INTERFACE`]), as it is. Of a name given twice, the later source
    /// wins; within `base`, its first value, the one roothooks read (see [`first_of_each`]); within
    /// an env file, its last line. An [`INTERFACE`] name only ever comes from `own`. One value per
    /// name.
    pub fn hook_env(
        &self,
        base: impl IntoIterator<Item = (OsString, OsString)>,
        root: &RootAccount,
        operator: &[(String, String)],
        own: &[(String, String)],
    ) -> HookEnv {
        let mut out = HookEnv::default();
        let later: HashSet<&str> = operator.iter().chain(own).map(|(k, _)| k.as_str()).collect();
        // the interface names found in `base` or `operator`: never taken from there
        let mut given: Vec<&'static str> = Vec::new();
        let mut interface = |name: &OsStr| {
            let found = INTERFACE.iter().find(|n| name == **n);
            given.extend(found);
            found.is_some()
        };
        let mut path = None;
        for (name, value) in first_of_each(base) {
            if name == "PATH" {
                path = Some(value);
            } else if interface(&name)
                || ROOTS.iter().any(|r| name == *r)
                || name.to_str().is_some_and(|n| later.contains(n))
            {
                // replaced below, or never taken
            } else {
                match self.admit(&name, &value, Origin::Start) {
                    Ok(()) => out.vars.push((name, value)),
                    Err(held) => out.held.push(held),
                }
            }
        }
        for (name, value) in last_of_each(operator) {
            if interface(OsStr::new(name)) {
                continue;
            }
            if name == "PATH" {
                path = Some(value.into());
            } else if ROOTS.contains(&name.as_str()) {
                out.held.push(Held::Roots(name.clone()));
            } else {
                match self.admit(OsStr::new(name), OsStr::new(value), Origin::Operator) {
                    Ok(()) => out.vars.push((name.into(), value.into())),
                    Err(held) => out.held.push(held),
                }
            }
        }
        // one given elsewhere that roothooks has no value for is said, once
        let unset = INTERFACE.iter().filter(|n| given.contains(n) && !own.iter().any(|(k, _)| k == *n));
        out.held.extend(unset.map(|n| Held::Interface(n.to_string())));
        for (name, value) in last_of_each(own) {
            if !ROOTS.contains(&name.as_str()) && name != "PATH" {
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

    /// What a root hook exported (sourced) or wrote to `$ROOTHOOKS_ENV`, let into `env` (the next
    /// root hook's) through the gate: a new PATH judged entry by entry, root's identity kept, anything
    /// else only if [`Gate::admit`] lets it. Unsetting always passes (a hook may take a variable
    /// away), but PATH then falls back to [`SAFE_PATH`]. Returns what was held back and the PATH
    /// entries dropped.
    pub fn pass_exports(&self, exports: &Exports, env: &mut Vec<(OsString, OsString)>) -> (Vec<Held>, Vec<String>) {
        let mut held = Vec::new();
        let mut dropped = Vec::new();
        let mut changes = Exports::default();
        for (name, value) in exports.changes() {
            let os = OsStr::new(name);
            if ROOTS.contains(&name) {
                held.push(Held::Roots(name.to_string()));
                continue;
            }
            let value = match (name, value) {
                ("PATH", value) => {
                    let (path, why) = trusted_path(OsStr::new(value.unwrap_or(SAFE_PATH)));
                    dropped.extend(why);
                    Some(path.to_string_lossy().into_owned())
                }
                (_, None) => None,
                (_, Some(value)) => match self.admit(os, OsStr::new(value), Origin::Operator) {
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

/// `vars` with only the last of each name, in the order of those last ones.
fn last_of_each(vars: &[(String, String)]) -> Vec<&(String, String)> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut last: Vec<&(String, String)> = vars.iter().rev().filter(|(k, _)| seen.insert(k)).collect();
    last.reverse();
    last
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

/// Every directory a root hook's PATH may hold: the trusted part of `start` (roothooks' own PATH),
/// then of [`SAFE_PATH`], which hooks get when none of it passes. Where `#!/usr/bin/env NAME` may
/// find NAME: each is judged.
pub fn hook_search_dirs(start: Option<&OsStr>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for path in [start.unwrap_or(OsStr::new(SAFE_PATH)), OsStr::new(SAFE_PATH)] {
        let (kept, _) = trusted_path(path);
        for dir in kept.as_bytes().split(|b| *b == b':').map(|d| PathBuf::from(OsStr::from_bytes(d))) {
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    dirs
}

/// The names of `held` that were not on the allowlist.
pub fn not_allowed(held: &[Held]) -> Vec<&str> {
    held.iter().filter(|h| matches!(h, Held::NotAllowed(_))).map(Held::name).collect()
}

/// Each of `held` that a rule other than the allowlist held back: the variable and the rule.
pub fn judged(held: &[Held]) -> impl Iterator<Item = &Held> {
    held.iter().filter(|h| !matches!(h, Held::NotAllowed(_)))
}

#[cfg(test)]
mod tests;
