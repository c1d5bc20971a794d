//! The command's environment beyond identity: `NAME=value` files (`--env-file`, as systemd's
//! `EnvironmentFile=` reads them), what hooks hand over through `$ROOTHOOKS_ENV`, and what must not
//! reach the server (`--unset-env`, e.g. the storage credentials a mount hook needed). What root's
//! hooks get of it is decided in `gate`.

use std::ffi::OsString;
use std::fmt;

use crate::identity::Target;

/// A line that could not be used, with where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub why: String,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.why)
    }
}

/// Whether `name` can be an environment variable name a shell would accept.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parse `NAME=value` lines the way systemd's `EnvironmentFile=` does: blank lines and lines starting
/// with `#` or `;` are skipped; whitespace around the name and before the value is dropped; a value may
/// be quoted with `'…'` (literal) or `"…"` (where `\` escapes the next character); unquoted, trailing
/// whitespace is dropped and `\` escapes the next character; a `\` at the end of a line continues it.
pub fn parse(text: &str) -> (Vec<(String, String)>, Vec<BadLine>) {
    let mut vars = Vec::new();
    let mut bad = Vec::new();
    let mut lines = text.split('\n').enumerate().peekable();
    while let Some((index, raw)) = lines.next() {
        let number = index + 1;
        let mut line = raw.strip_suffix('\r').unwrap_or(raw).to_string();
        // join continuation lines (an odd number of trailing backslashes)
        while line.ends_with('\\') && (line.len() - line.trim_end_matches('\\').len()) % 2 == 1 {
            line.pop();
            match lines.next() {
                Some((_, next)) => line.push_str(next.strip_suffix('\r').unwrap_or(next)),
                None => break,
            }
        }
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let Some((name, value)) = trimmed.split_once('=') else {
            bad.push(BadLine { line: number, why: "no '=' (expected NAME=value)".into() });
            continue;
        };
        let name = name.trim_end();
        if !valid_name(name) {
            // not echoed: a malformed line may be a secret (`KEY: value=...`, a bare token)
            bad.push(BadLine { line: number, why: "what stands before '=' is not a variable name".into() });
            continue;
        }
        match unquote(value.trim_start()) {
            // no environment can carry it: the command's exec would fail, and the server not start
            Ok(value) if value.contains('\0') => {
                bad.push(BadLine {
                    line: number,
                    why: format!("{name}: a NUL byte, which no environment value can hold"),
                });
            }
            Ok(value) => vars.push((name.to_string(), value)),
            Err(why) => bad.push(BadLine { line: number, why: format!("{name}: {why}") }),
        }
    }
    (vars, bad)
}

fn unquote(value: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = value.chars();
    match value.chars().next() {
        Some(quote @ ('"' | '\'')) => {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(format!("unterminated {quote} quote")),
                    Some(c) if c == quote => break,
                    Some('\\') if quote == '"' => match chars.next() {
                        Some(c) => out.push(c),
                        None => return Err("unterminated \" quote".into()),
                    },
                    Some(c) => out.push(c),
                }
            }
            let rest: String = chars.collect();
            if !rest.trim().is_empty() {
                return Err("text after the closing quote".into());
            }
            Ok(out)
        }
        _ => {
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                } else {
                    out.push(c);
                }
            }
            Ok(out.trim_end().to_string())
        }
    }
}

/// A `--unset-env` pattern: a name, or a prefix ending in `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unset(pub String);

impl Unset {
    pub fn matches(&self, name: &str) -> bool {
        match self.0.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == self.0,
        }
    }
}

/// `vars` with one value per name: the first, which is the one getenv(3) returns, and so the one
/// roothooks itself reads (its settings, NB_UID, ...). An environment can hold a name twice
/// (`env -i A=1 A=2 ...`, any execve); passed on as it came, a hook that asks getenv (C, Python)
/// would read the first and a shell the last, and the gate, which judges each entry, would pass both.
pub fn first_of_each(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Vec<(OsString, OsString)> {
    let mut seen = std::collections::HashSet::new();
    vars.into_iter().filter(|(name, _)| seen.insert(name.clone())).collect()
}

/// `base` with HOME, USER, LOGNAME and SHELL describing `target`; the last step of
/// [`command_env`], which builds the command's whole environment.
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

/// The command's environment: the one roothooks got (the first value of a name given twice, see
/// [`first_of_each`]), then the env files, then what hooks handed over, less `--unset-env`, with the
/// identity variables last (when `target` is given). One value per name.
pub fn command_env(
    base: impl IntoIterator<Item = (OsString, OsString)>,
    added: &[(String, String)],
    unset: &[Unset],
    target: Option<&Target>,
) -> Vec<(OsString, OsString)> {
    // one pass over the environment however many variables hooks added: the last value of each wins
    let mut last = std::collections::HashMap::new();
    for (i, (name, _)) in added.iter().enumerate() {
        last.insert(name.as_str(), i);
    }
    let mut vars: Vec<(OsString, OsString)> = first_of_each(base);
    vars.retain(|(k, _)| !k.to_str().is_some_and(|k| last.contains_key(k)));
    vars.extend(
        added
            .iter()
            .enumerate()
            .filter(|(i, (n, _))| last.get(n.as_str()) == Some(i))
            .map(|(_, (n, v))| (n.into(), v.into())),
    );
    vars.retain(|(k, _)| !k.to_str().is_some_and(|k| unset.iter().any(|u| u.matches(k))));
    match target {
        Some(target) => with_identity(target, vars),
        None => vars,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Account;
    use crate::system::{Gid, Uid};

    fn ok(text: &str) -> Vec<(String, String)> {
        let (vars, bad) = parse(text);
        assert!(bad.is_empty(), "{bad:?}");
        vars
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn plain_comments_blank_lines_and_whitespace() {
        let text = "# comment\n; also\n\n  A=1\nB = two words  \nC=\nD=x=y\r\n";
        assert_eq!(ok(text), pairs(&[("A", "1"), ("B", "two words"), ("C", ""), ("D", "x=y")]));
    }

    #[test]
    fn quotes_and_escapes() {
        let text = "A=\"quoted # not a comment\"\nB='single $HOME \\n'\nC=\"esc \\\" \\\\ done\"\nD=un\\ quoted\n";
        assert_eq!(
            ok(text),
            pairs(&[
                ("A", "quoted # not a comment"),
                ("B", "single $HOME \\n"),
                ("C", "esc \" \\ done"),
                ("D", "un quoted")
            ])
        );
    }

    #[test]
    fn continuation_lines() {
        assert_eq!(ok("A=one \\\ntwo\nB=x\\\\\nC=3\n"), pairs(&[("A", "one two"), ("B", "x\\"), ("C", "3")]));
    }

    #[test]
    fn bad_lines_are_reported_and_the_rest_kept() {
        let (vars, bad) = parse("GOOD=1\nno equals\n9BAD=x\nBAD-NAME=y\nQ=\"open\nR='a' b\nN=a\0b\nLAST=2\n");
        assert_eq!(vars, pairs(&[("GOOD", "1"), ("LAST", "2")]));
        let lines: Vec<usize> = bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7]);
        // what is wrong, never the line's own text (a malformed line may be a secret)
        assert_eq!(bad[1].why, "what stands before '=' is not a variable name");
        assert!(bad.iter().all(|b| !b.why.contains("9BAD") && !b.why.contains("open") && !b.why.contains("'a'")));
        assert!(bad[3].why.contains("unterminated"));
        assert!(bad[5].why.contains("N: a NUL byte"), "{}", bad[5].why);
    }

    fn target(name: Option<&str>, shell: Option<&str>) -> Target {
        Target {
            uid: Uid::from_raw(4000),
            gid: Gid::from_raw(4000),
            account: name.map_or(Account::Uid, |n| Account::Existing { name: n.into() }),
            home: "/home/x".into(),
            shell: shell.map(Into::into),
            groups: vec![],
            inherited: vec![],
            not_inherited: vec![],
            former_primary: None,
        }
    }

    fn os_pairs(list: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        list.iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    #[test]
    fn identity_variables_describe_the_target_and_the_rest_passes_through() {
        let base =
            os_pairs(&[("HOME", "/root"), ("USER", "root"), ("JUPYTERHUB_API_TOKEN", "t"), ("SHELL", "/bin/bash")]);
        let env = with_identity(&target(Some("alice"), Some("/bin/zsh")), base);
        assert_eq!(
            env,
            os_pairs(&[
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
        let env = with_identity(&target(None, None), os_pairs(&[("SHELL", "/bin/bash"), ("LOGNAME", "root")]));
        assert_eq!(env, os_pairs(&[("HOME", "/home/x"), ("USER", "4000"), ("LOGNAME", "4000")]));
    }

    #[test]
    fn a_name_given_twice_reaches_the_command_once_with_its_first_value() {
        let base = os_pairs(&[("SECRET", "one"), ("A", "a"), ("SECRET", "two"), ("HOME", "/r"), ("HOME", "/x")]);
        let env = command_env(base, &pairs(&[("B", "b"), ("B", "later")]), &[], Some(&target(Some("alice"), None)));
        assert_eq!(
            env,
            os_pairs(&[
                ("SECRET", "one"),
                ("A", "a"),
                ("B", "later"),
                ("HOME", "/home/x"),
                ("USER", "alice"),
                ("LOGNAME", "alice")
            ])
        );
        // and once when a hook replaces it, or gone when it is unset
        let twice = || os_pairs(&[("SECRET", "one"), ("SECRET", "two")]);
        assert_eq!(command_env(twice(), &pairs(&[("SECRET", "new")]), &[], None), os_pairs(&[("SECRET", "new")]));
        assert_eq!(command_env(twice(), &[], &[Unset("SECRET".into())], None), os_pairs(&[]));
    }

    #[test]
    fn unset_patterns() {
        assert!(Unset("AWS_*".into()).matches("AWS_SECRET_ACCESS_KEY"));
        assert!(!Unset("AWS_*".into()).matches("MY_AWS_X"));
        assert!(Unset("TOKEN".into()).matches("TOKEN"));
        assert!(!Unset("TOKEN".into()).matches("TOKEN2"));
    }
}
