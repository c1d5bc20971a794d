//! docker-stacks' `*.sh` hooks, which its start.sh sources rather than runs: whatever they export
//! reaches the hooks after them and the server. roothooks gets the same without parsing any shell:
//! each is sourced by /bin/bash inside a small wrapper, which then writes, to descriptor 3, the
//! exported variables the hook added or changed (`NAME=value`) and those it unset (`NAME`), each
//! ended by a NUL byte. Those changes, in order, are [`Exports`].

use std::ffi::{OsStr, OsString};
use std::path::Path;

/// The shell that sources: docker-stacks' images have it, and start.sh is a bash script.
pub const BASH: &str = "/bin/bash";

/// Sources `$1`, keeps its status, and reports what it changed in the exported environment. Runs
/// under the hook's own settings, so it restores what it relies on first: IFS, no `set -e`/`-u`, and
/// builtins (a hook may define a function called printf). The variables the shell keeps for itself
/// (`_`, PWD, OLDPWD, SHLVL) are not the hook's to hand over.
const WRAPPER: &str = r#"declare -A __roothooks_before=()
for __roothooks_n in $(compgen -e); do __roothooks_before[$__roothooks_n]=${!__roothooks_n}; done
. "$1"
__roothooks_status=$?
builtin set +eu
IFS=$' \t\n'
declare -A __roothooks_after=()
for __roothooks_n in $(builtin compgen -e); do
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
builtin exit "$__roothooks_status""#;

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

/// What sourced hooks set (`Some`) or unset (`None`), each name once, in the order of their last change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exports {
    pub changes: Vec<(String, Option<String>)>,
}

impl Exports {
    /// Take in what one hook's wrapper wrote; returns the names it changed. A record that is not a
    /// variable name (the hook wrote to descriptor 3 itself) is skipped.
    pub fn record(&mut self, written: &[u8]) -> Vec<String> {
        let mut names = Vec::new();
        for record in written.split(|b| *b == 0).filter(|r| !r.is_empty()) {
            let text = String::from_utf8_lossy(record);
            let (name, value) = match text.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (text.as_ref(), None),
            };
            if !crate::provision::env::valid_name(name) {
                continue;
            }
            self.changes.retain(|(n, _)| n != name);
            self.changes.push((name.to_string(), value));
            names.push(name.to_string());
        }
        names
    }

    /// Apply the changes to an environment.
    pub fn apply(&self, env: &mut Vec<(OsString, OsString)>) {
        for (name, value) in &self.changes {
            env.retain(|(n, _)| n != name.as_str());
            if let Some(value) = value {
                env.push((name.into(), value.into()));
            }
        }
    }

    /// The variables set, for the command's environment.
    pub fn set(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.changes.iter().filter_map(|(n, v)| v.clone().map(|v| (n.clone(), v)))
    }

    /// The names unset.
    pub fn unset(&self) -> impl Iterator<Item = &str> {
        self.changes.iter().filter(|(_, v)| v.is_none()).map(|(n, _)| n.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_set_and_unset_and_the_last_change_wins() {
        let mut e = Exports::default();
        assert_eq!(e.record(b"A=1\0B=x=y\0C\0"), ["A", "B", "C"]);
        assert_eq!(e.record(b"A\0C=back\0not a name=1\0\0"), ["A", "C"]);
        let expected = [("B", Some("x=y")), ("A", None), ("C", Some("back"))];
        let got: Vec<(&str, Option<&str>)> = e.changes.iter().map(|(n, v)| (n.as_str(), v.as_deref())).collect();
        assert_eq!(got, expected);
        let mut env: Vec<(OsString, OsString)> = vec![("A".into(), "old".into()), ("Z".into(), "z".into())];
        e.apply(&mut env);
        assert_eq!(env, [("Z", "z"), ("B", "x=y"), ("C", "back")].map(|(n, v)| (n.into(), v.into())));
    }
}
