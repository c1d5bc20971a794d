//! docker-stacks' `*.sh` hooks, which its start.sh sources rather than runs: whatever they export
//! reaches the hooks after them and the server. roothooks gets the same without parsing any shell:
//! each is sourced by /bin/bash inside a small wrapper, which then writes, to descriptor 3, the
//! exported variables the hook added or changed (`NAME=value`) and those it unset (`NAME`), each
//! ended by a NUL byte. Those changes, in order, are [`Exports`].

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::Path;

/// The shell that sources: docker-stacks' images have it, and start.sh is a bash script.
pub const BASH: &str = "/bin/bash";

/// Sources `$1`, keeps its status, and reports what it changed in the exported environment.
///
/// What runs after `. "$1"` runs under whatever the hook left set, and it compares every exported
/// value, the hooks' secrets among them: with the hook's `set -x` (or a DEBUG trap) that comparison
/// was traced into the hook's stderr, which is relayed to the log and the user's copy. So:
/// - the whole wrapper is one `{ ...; }`, which bash reads whole before running any of it: an alias
///   the hook defines, or its `set -v` (which echoes what bash reads), never reaches the wrapper's text;
/// - right after `. "$1"`, with stdout and stderr on /dev/null (where the trace of the reset itself
///   goes, unless the hook moved it with BASH_XTRACEFD: then its three lines, which hold no value),
///   the status is kept and every option the rest relies on is reset: allexport (which would export
///   the wrapper's own variables), noclobber, errexit, keyword, nounset, verbose, xtrace, errtrace,
///   functrace, noglob, pipefail, extdebug (under which a failing DEBUG trap skips the next command),
///   nocasematch (which makes `ABC` equal `abc`), expand_aliases (bash reads `<(...)` only when it
///   runs it), and the DEBUG, ERR and RETURN traps;
/// - every command is a builtin called through `builtin` (a hook may define a function called
///   printf), and a function the hook called `builtin` is removed first;
/// - names are read with `mapfile`, one a line, so IFS is never used, nor changed: a hook may export
///   IFS, and it is reported as the hook left it;
/// - descriptor 3 is closed before the exit, so an EXIT trap of the hook cannot write past the end.
///
/// What still defeats it is the hook's own doing and fails closed, with no report (the exports are
/// lost, the hook failed): `exit`, `exec`, `set -n`, a builtin disabled with `enable -n`, a DEBUG trap
/// that fails under extdebug; and with `set -e` left on, a hook whose status is not 0 ends the shell
/// at `. "$1"`, as `set -e` asks; so does a bash older than 5.1 started in posix mode (POSIXLY_CORRECT),
/// which has no `<(...)`. The variables the shell keeps for itself (`_`, PWD, OLDPWD, SHLVL)
/// are not the hook's to hand over.
const WRAPPER: &str = r#"{
declare -A __roothooks_before=()
mapfile -t __roothooks_names < <(compgen -e)
for __roothooks_n in "${__roothooks_names[@]}"; do __roothooks_before[$__roothooks_n]=${!__roothooks_n}; done
. "$1"
{
    __roothooks_status=$?
    unset -f builtin
    builtin set +aCefkuvxET +o pipefail
    builtin shopt -u expand_aliases extdebug nocasematch
    builtin trap - DEBUG ERR RETURN
    builtin declare +x __roothooks_status
} >/dev/null 2>&1
builtin declare -A __roothooks_after
builtin mapfile -t __roothooks_names < <(builtin compgen -e)
for __roothooks_n in "${__roothooks_names[@]}"; do
    __roothooks_after[$__roothooks_n]=1
    case $__roothooks_n in _|PWD|OLDPWD|SHLVL) continue ;; esac
    if [[ ! -v "__roothooks_before[$__roothooks_n]" || "${__roothooks_before[$__roothooks_n]}" != "${!__roothooks_n}" ]]; then
        builtin printf '%s=%s\0' "$__roothooks_n" "${!__roothooks_n}" >&3
    fi
done
for __roothooks_n in "${!__roothooks_before[@]}"; do
    case $__roothooks_n in _|PWD|OLDPWD|SHLVL) continue ;; esac
    [[ -v "__roothooks_after[$__roothooks_n]" ]] || builtin printf '%s\0' "$__roothooks_n" >&3
done
builtin printf '=roothooks-end\0' >&3
builtin exec 3>&-
builtin exit "$__roothooks_status"
}"#;

/// The argument list that sources `hook` (`shown` is its name in bash's own messages, `$0`).
pub fn argv<'a>(shown: &'a Path, hook: &'a Path) -> [&'a OsStr; 7] {
    [
        OsStr::new(BASH),
        OsStr::new("--noprofile"),
        OsStr::new("--norc"),
        OsStr::new("-c"),
        OsStr::new(WRAPPER),
        shown.as_os_str(),
        hook.as_os_str(),
    ]
}

/// The record the wrapper writes last. It starts with `=`, so no variable can be mistaken for it; a
/// report without it was cut short: the hook exited, exec'd another program or closed descriptor 3.
pub const END: &[u8] = b"=roothooks-end";
/// The most one hook may export: bytes written to descriptor 3, and names.
pub const MAX_BYTES: usize = 1 << 20;
pub const MAX_NAMES: usize = 10_000;

/// Why what a sourced hook exported was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Lost {
    #[error("its exports were lost: the wrapper never reported them (the hook exited, exec'd or closed descriptor 3)")]
    NoReport,
    #[error("it exported more than {} bytes, the bound per hook; none of it was taken", MAX_BYTES)]
    TooBig,
    #[error("it exported {0} names, more than {MAX_NAMES}, the bound per hook; none was taken")]
    TooMany(usize),
    #[error("its exports could not be read: {0}")]
    Unreadable(String),
}

/// What sourced hooks set (`Some`) or unset (`None`), each name once, in the order of their last change.
/// Taking in a change costs the same however many came before it.
#[derive(Debug, Clone, Default)]
pub struct Exports {
    /// every change in order; `None` where a later change of the same name replaced it
    log: Vec<Option<(String, Option<String>)>>,
    index: HashMap<String, usize>,
}

impl PartialEq for Exports {
    fn eq(&self, other: &Self) -> bool {
        self.changes().eq(other.changes())
    }
}

impl Exports {
    /// One hook's report, as its wrapper wrote it. A record that is not a variable name (the hook wrote
    /// to descriptor 3 itself) is skipped.
    pub fn parse(written: &[u8]) -> Result<Exports, Lost> {
        if written.len() > MAX_BYTES {
            return Err(Lost::TooBig);
        }
        let mut records: Vec<&[u8]> = written.split(|b| *b == 0).filter(|r| !r.is_empty()).collect();
        if records.pop() != Some(END) {
            return Err(Lost::NoReport);
        }
        let mut exports = Exports::default();
        for record in records {
            let text = String::from_utf8_lossy(record);
            let (name, value) = match text.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (text.as_ref(), None),
            };
            if crate::provision::env::valid_name(name) {
                exports.push(name, value);
            }
        }
        match exports.index.len() {
            n if n > MAX_NAMES => Err(Lost::TooMany(n)),
            _ => Ok(exports),
        }
    }

    /// Record one change; it replaces an earlier change of the same name.
    pub fn push(&mut self, name: &str, value: Option<String>) {
        if let Some(old) = self.index.insert(name.to_string(), self.log.len()).and_then(|old| self.log.get_mut(old)) {
            *old = None;
        }
        self.log.push(Some((name.to_string(), value)));
    }

    /// Take in what a later hook changed.
    pub fn merge(&mut self, later: Exports) {
        for (name, value) in later.log.into_iter().flatten() {
            self.push(&name, value);
        }
    }

    /// Each name changed, with its value or `None` when unset, in the order of the last changes.
    pub fn changes(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.log.iter().flatten().map(|(n, v)| (n.as_str(), v.as_deref()))
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The names changed, for the log.
    pub fn names(&self) -> Vec<&str> {
        self.changes().map(|(n, _)| n).collect()
    }

    /// Apply the changes to an environment, in one pass over it.
    pub fn apply(&self, env: &mut Vec<(OsString, OsString)>) {
        env.retain(|(n, _)| !n.to_str().is_some_and(|n| self.index.contains_key(n)));
        for (name, value) in self.changes() {
            if let Some(value) = value {
                env.push((name.into(), value.into()));
            }
        }
    }

    /// The variables set, for the command's environment.
    pub fn set(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.changes().filter_map(|(n, v)| v.map(|v| (n.to_string(), v.to_string())))
    }

    /// The names set.
    pub fn set_names(&self) -> impl Iterator<Item = &str> {
        self.changes().filter(|(_, v)| v.is_some()).map(|(n, _)| n)
    }

    /// The names unset.
    pub fn unset(&self) -> impl Iterator<Item = &str> {
        self.changes().filter(|(_, v)| v.is_none()).map(|(n, _)| n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(e: &Exports) -> Vec<(&str, Option<&str>)> {
        e.changes().collect()
    }

    #[test]
    fn records_set_and_unset_and_the_last_change_wins() {
        let mut e = Exports::parse(b"A=1\0B=x=y\0C\0=roothooks-end\0").unwrap();
        assert_eq!(e.names(), ["A", "B", "C"]);
        e.merge(Exports::parse(b"A\0C=back\0not a name=1\0\0=roothooks-end\0").unwrap());
        assert_eq!(pairs(&e), [("B", Some("x=y")), ("A", None), ("C", Some("back"))]);
        let mut env: Vec<(OsString, OsString)> = vec![("A".into(), "old".into()), ("Z".into(), "z".into())];
        e.apply(&mut env);
        assert_eq!(env, [("Z", "z"), ("B", "x=y"), ("C", "back")].map(|(n, v)| (n.into(), v.into())));
    }

    #[test]
    fn a_report_cut_short_or_over_its_bounds_is_lost_whole() {
        assert_eq!(Exports::parse(b"A=1\0"), Err(Lost::NoReport));
        assert_eq!(Exports::parse(b""), Err(Lost::NoReport));
        // the end record must be the last one
        assert_eq!(Exports::parse(b"=roothooks-end\0A=1\0"), Err(Lost::NoReport));
        let big = vec![b'x'; MAX_BYTES + 1];
        assert_eq!(Exports::parse(&big), Err(Lost::TooBig));
        let mut many = Vec::new();
        for i in 0..=MAX_NAMES {
            many.extend_from_slice(format!("V{i}=1\0").as_bytes());
        }
        many.extend_from_slice(b"=roothooks-end\0");
        assert_eq!(Exports::parse(&many), Err(Lost::TooMany(MAX_NAMES + 1)));
        // the same name many times is one name
        let mut repeated = b"V=1\0".repeat(MAX_NAMES * 2);
        repeated.extend_from_slice(b"=roothooks-end\0");
        assert_eq!(Exports::parse(&repeated).unwrap().names(), ["V"]);
    }
}
