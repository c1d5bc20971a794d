//! A script's `#!` line as the kernel reads it (fs/binfmt_script.c), and the forms of its argument
//! that roothooks understands well enough to judge.
//!
//! The kernel reads the first [`HEAD`] bytes of the file. The interpreter is the first word after
//! `#!` (spaces and tabs skipped); everything after it up to the end of the line, trailing spaces
//! and tabs cut off, is ONE argument, spaces and all: `#!/usr/bin/env python3 -E` runs `env` with
//! the single word `python3 -E`. A line longer than the buffer is cut at its end, unless that cuts
//! the interpreter's name, when the kernel refuses the file. A NUL ends a word.
//!
//! Of the argument, [`form`] positively understands a few shapes for the interpreters it knows
//! (shells, Python, Perl, env) and a narrow one for every other interpreter; anything else is a
//! [`NotUnderstood`], and the hook is refused.

use std::fmt;
use std::path::Path;

/// How much of a file the kernel reads to decide how to run it (BINPRM_BUF_SIZE).
pub const HEAD: usize = 256;

/// A `#!` line as the kernel reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// the file does not start with `#!`
    NotScript,
    /// a `#!` line the kernel refuses (ENOEXEC), or with no name at all (ENOENT): nothing runs
    Refused,
    Script {
        /// the program the kernel runs, as written (relative to the working directory when relative)
        interpreter: Vec<u8>,
        /// the one argument it passes before the script's path, if any
        argument: Option<Vec<u8>>,
    },
}

fn spacetab(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// The `#!` line of a file that starts with `head` (its first bytes; the kernel reads at most
/// [`HEAD`] of them, and sees zeros past the end of a shorter file).
pub fn parse(head: &[u8]) -> Line {
    let mut buf = [0u8; HEAD];
    buf.iter_mut().zip(head).for_each(|(b, h)| *b = *h);
    if !buf.starts_with(b"#!") {
        return Line::NotScript;
    }
    let at = |i: usize| buf.get(i).copied().unwrap_or(0);
    let last = HEAD - 1;
    // the first newline before the first NUL (strnchr stops at a NUL)
    let newline = buf.iter().take_while(|&&c| c != 0).position(|&c| c == b'\n');
    let mut end = match newline {
        Some(end) => end,
        None => {
            let Some(first) = (2..=last).find(|&i| !spacetab(at(i))) else { return Line::Refused };
            // no space, tab or NUL after the name: the name itself may be cut short
            if !(first..=last).any(|i| spacetab(at(i)) || at(i) == 0) {
                return Line::Refused;
            }
            last
        }
    };
    while end > 2 && spacetab(at(end - 1)) {
        end -= 1;
    }
    let Some(name) = (2..=end).find(|&i| !spacetab(at(i))) else { return Line::Refused };
    if name == end {
        return Line::Refused;
    }
    let sep = (name..=end).find(|&i| spacetab(at(i)) || at(i) == 0);
    let argument = match sep {
        Some(sep) if at(sep) != 0 => (sep..=end).find(|&i| !spacetab(at(i))),
        _ => None,
    };
    // the kernel ends both strings with a NUL at `end` (and the name at `sep`): each also ends at a
    // NUL of its own
    let word = |from: usize, to: usize| -> Vec<u8> {
        buf.get(from..to).unwrap_or_default().iter().copied().take_while(|&c| c != 0).collect()
    };
    let interpreter = word(name, sep.unwrap_or(end).min(end));
    if interpreter.is_empty() {
        // a NUL where the name would start: the kernel looks for "" and fails (ENOENT)
        return Line::Refused;
    }
    Line::Script { interpreter, argument: argument.map(|a| word(a, end)) }
}

/// What an interpreter is, as far as the meaning of its `#!` argument goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// sh, bash, dash, ash, ksh, mksh, zsh
    Shell,
    /// python, python3, python3.11, pypy3
    Python,
    /// perl, perl5.36.0
    Perl,
    /// env
    Env,
    /// any other program
    Other,
}

/// The kind of an interpreter by its name as written (`argv[0]`, which a multi-call program such as
/// busybox goes by) or else by the name of the file it resolves to.
pub fn kind(written: &Path, resolved: &Path) -> Kind {
    match kind_of(written) {
        Kind::Other => kind_of(resolved),
        kind => kind,
    }
}

fn kind_of(path: &Path) -> Kind {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return Kind::Other };
    let versioned =
        |stem: &str| name.strip_prefix(stem).is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.'));
    match name {
        "sh" | "bash" | "dash" | "ash" | "ksh" | "ksh93" | "mksh" | "zsh" => Kind::Shell,
        "env" => Kind::Env,
        _ if versioned("python") || versioned("pypy") => Kind::Python,
        _ if versioned("perl") => Kind::Perl,
        _ => Kind::Other,
    }
}

/// The shapes of a `#!` argument roothooks understands, for the interpreter it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form<'a> {
    /// `-`, `--`, or options that name no file
    Options,
    /// the short options of a program roothooks does not model, without the `-`: each rest of the
    /// bundle could be a file name taken from the working directory (`-fx` is `-f x`)
    Bundle(&'a [u8]),
    /// env's `NAME=value`
    Assignment { name: &'a [u8], value: &'a [u8] },
    /// a program or file the interpreter runs or reads: judged as a hook is
    Operand(&'a [u8]),
}

/// Why a `#!` argument is not one roothooks understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotUnderstood {
    /// empty, or with a space, tab or control character: one word to the interpreter, not several
    Word,
    /// an option of env that changes what runs or where, or one roothooks does not know
    EnvOption(String),
    /// a shell option that reads startup files (`-l`, `-i`, `--login`, `--rcfile`)
    StartupFiles(String),
    /// an option that takes a value roothooks does not judge (python's `-mfoo`, perl's `-I`)
    Value(String),
    /// an option this interpreter does not have, or a shape no interpreter takes (`-x=/y`)
    Option(String),
}

impl fmt::Display for NotUnderstood {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotUnderstood::Word => {
                write!(f, "the kernel passes it as one argument, spaces and all, a form roothooks does not judge")
            }
            NotUnderstood::EnvOption(option) => write!(
                f,
                "env's option {option}, which roothooks does not judge (only -i, -0, -v and their long names are \
                 understood; -S/--split-string and -C/--chdir change what runs or where)"
            ),
            NotUnderstood::StartupFiles(option) => {
                write!(f, "the option {option} makes the shell read startup files, which roothooks does not judge")
            }
            NotUnderstood::Value(option) => {
                write!(f, "the option {option} takes a value (a module, a directory, code) roothooks does not judge")
            }
            NotUnderstood::Option(option) => write!(f, "{option} is not an option roothooks understands for it"),
        }
    }
}

/// Python's options that take no value, and those whose value is the next word (then the script's
/// path, which is already judged, when the option ends the argument).
const PYTHON_FLAGS: &[u8] = b"bBdEhiIOPqRsSuvVx";
const PYTHON_VALUED: &[u8] = b"cmWX";
/// Perl's options that name no file, module or directory (`-I`, `-M`, `-m`, `-d`, `-x` do; `-e`
/// is code).
const PERL_FLAGS: &[u8] = b"acflnpstTuUwWX0123456789";
/// env's options that change neither what runs nor where.
const ENV_FLAGS: &[u8] = b"i0v";
const ENV_LONG: &[&str] = &["ignore-environment", "null", "debug"];
const SHELL_LONG: &[&str] = &["noprofile", "norc", "posix", "noediting", "verbose", "restricted"];
const SHELL_STARTUP_LONG: &[&str] = &["login", "rcfile", "init-file"];

/// What the argument `arg` of a `#!` line is to an interpreter of `kind`.
pub fn form(kind: Kind, arg: &[u8]) -> Result<Form<'_>, NotUnderstood> {
    let shown = || String::from_utf8_lossy(arg).into_owned();
    if arg.is_empty() || arg.iter().any(|&c| c <= b' ' || c == 0x7f) {
        return Err(NotUnderstood::Word);
    }
    if arg == b"-" || arg == b"--" {
        return Ok(Form::Options);
    }
    if kind == Kind::Env && arg.starts_with(b"-") {
        // env's options, whatever their shape: only the few that change neither what runs nor where
        let long = arg.strip_prefix(b"--").and_then(|l| std::str::from_utf8(l).ok());
        let short = arg
            .get(1..)
            .filter(|b| !arg.starts_with(b"--") && !b.is_empty() && b.iter().all(|c| ENV_FLAGS.contains(c)));
        return match (long, short) {
            (Some(long), _) if ENV_LONG.contains(&long) => Ok(Form::Options),
            (None, Some(_)) => Ok(Form::Options),
            _ => Err(NotUnderstood::EnvOption(shown())),
        };
    }
    if let Some(long) = arg.strip_prefix(b"--") {
        let Some(long) =
            std::str::from_utf8(long).ok().filter(|l| l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        else {
            return Err(NotUnderstood::Option(shown()));
        };
        return match kind {
            Kind::Shell if SHELL_STARTUP_LONG.contains(&long) => Err(NotUnderstood::StartupFiles(shown())),
            Kind::Shell if SHELL_LONG.contains(&long) => Ok(Form::Options),
            // a long option names no file by itself; its value, if it takes one, is the script
            Kind::Other => Ok(Form::Options),
            Kind::Shell | Kind::Python | Kind::Perl | Kind::Env => Err(NotUnderstood::Option(shown())),
        };
    }
    let bundle = match (arg.first(), kind) {
        (Some(b'-'), _) | (Some(b'+'), Kind::Shell) => arg.get(1..).unwrap_or_default(),
        _ => return operand(kind, arg),
    };
    if !bundle.iter().all(u8::is_ascii_alphanumeric) {
        return Err(NotUnderstood::Option(shown()));
    }
    let has = |set: &[u8]| bundle.iter().all(|c| set.contains(c));
    match kind {
        Kind::Shell if bundle.iter().any(|c| b"li".contains(c)) => Err(NotUnderstood::StartupFiles(shown())),
        Kind::Shell if bundle.iter().all(u8::is_ascii_alphabetic) => Ok(Form::Options),
        Kind::Python => {
            // a valued option may only end the bundle: what follows it would be its value
            let valued = bundle.iter().position(|c| PYTHON_VALUED.contains(c));
            let (flags, rest) = bundle.split_at(valued.unwrap_or(bundle.len()));
            match (flags.iter().all(|c| PYTHON_FLAGS.contains(c)), rest.len()) {
                (true, 0 | 1) => Ok(Form::Options),
                (true, _) => Err(NotUnderstood::Value(shown())),
                (false, _) => Err(NotUnderstood::Option(shown())),
            }
        }
        Kind::Perl if has(PERL_FLAGS) => Ok(Form::Options),
        Kind::Perl => Err(NotUnderstood::Value(shown())),
        Kind::Other => Ok(Form::Bundle(bundle)),
        Kind::Shell | Kind::Env => Err(NotUnderstood::Option(shown())),
    }
}

/// An argument that is not an option: env's assignment, or a file or program.
fn operand(kind: Kind, arg: &[u8]) -> Result<Form<'_>, NotUnderstood> {
    // env takes every word with a `=` before the program as an assignment
    match arg.iter().position(|&c| c == b'=') {
        Some(0) if kind == Kind::Env => Err(NotUnderstood::Option(String::from_utf8_lossy(arg).into_owned())),
        Some(eq) if kind == Kind::Env => {
            let (name, value) = arg.split_at(eq);
            Ok(Form::Assignment { name, value: value.get(1..).unwrap_or_default() })
        }
        _ => Ok(Form::Operand(arg)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(interpreter: &str, argument: Option<&str>) -> Line {
        Line::Script { interpreter: interpreter.into(), argument: argument.map(Into::into) }
    }

    #[test]
    fn the_line_is_read_as_the_kernel_reads_it() {
        assert_eq!(parse(b"#!/bin/sh\necho"), script("/bin/sh", None));
        assert_eq!(parse(b"#! \t/bin/sh  \t\n"), script("/bin/sh", None));
        // one argument, spaces and all, trailing ones cut
        assert_eq!(parse(b"#!/usr/bin/env python3 -E  \n"), script("/usr/bin/env", Some("python3 -E")));
        assert_eq!(parse(b"#!/bin/sh\t-e\n"), script("/bin/sh", Some("-e")));
        // a NUL ends a word; CR is kept
        assert_eq!(parse(b"#!/bin/sh\0 -x\n"), script("/bin/sh", None));
        assert_eq!(parse(b"#!/bin/sh -e\0x\n"), script("/bin/sh", Some("-e")));
        assert_eq!(parse(b"#!/bin/sh\r\n"), script("/bin/sh\r", None));
        // no newline in a short file: the zeros after it end the line
        assert_eq!(parse(b"#!/bin/sh -u"), script("/bin/sh", Some("-u")));
        assert_eq!(parse(b"#!"), Line::Refused);
        assert_eq!(parse(b"#!   \n"), Line::Refused);
        assert_eq!(parse(b"echo hi"), Line::NotScript);
        // a line past the buffer: the argument is cut at its end, the name must not be
        let mut long = b"#!/bin/sh ".to_vec();
        long.extend(vec![b'a'; 400]);
        let Line::Script { argument: Some(argument), .. } = parse(&long) else { panic!("{:?}", parse(&long)) };
        assert_eq!(argument.len(), HEAD - 1 - 10);
        let mut name = b"#!/".to_vec();
        name.extend(vec![b'b'; 400]);
        assert_eq!(parse(&name), Line::Refused);
    }

    #[test]
    fn arguments_pass_only_in_the_forms_understood() {
        fn ok(kind: Kind, arg: &str) -> Form<'_> {
            form(kind, arg.as_bytes()).unwrap_or_else(|e| panic!("{arg}: {e}"))
        }
        let no = |kind, arg: &str| form(kind, arg.as_bytes()).expect_err(arg);
        assert_eq!(ok(Kind::Shell, "-eux"), Form::Options);
        assert_eq!(ok(Kind::Shell, "+e"), Form::Options);
        assert_eq!(ok(Kind::Shell, "--norc"), Form::Options);
        assert!(matches!(no(Kind::Shell, "-l"), NotUnderstood::StartupFiles(_)));
        assert!(matches!(no(Kind::Shell, "-ei"), NotUnderstood::StartupFiles(_)));
        assert!(matches!(no(Kind::Shell, "--login"), NotUnderstood::StartupFiles(_)));
        assert_eq!(ok(Kind::Shell, "/home/u/x"), Form::Operand(b"/home/u/x"));
        assert_eq!(ok(Kind::Python, "-Es"), Form::Options);
        assert_eq!(ok(Kind::Python, "-Im"), Form::Options);
        assert!(matches!(no(Kind::Python, "-mfoo"), NotUnderstood::Value(_)));
        assert!(matches!(no(Kind::Python, "-Xdev"), NotUnderstood::Value(_)));
        assert!(matches!(no(Kind::Python, "-Xpycache_prefix"), NotUnderstood::Option(_)));
        assert_eq!(ok(Kind::Perl, "-wT"), Form::Options);
        assert!(matches!(no(Kind::Perl, "-Ilib"), NotUnderstood::Value(_)));
        assert!(matches!(no(Kind::Perl, "-MFoo"), NotUnderstood::Value(_)));
        assert_eq!(ok(Kind::Env, "python3"), Form::Operand(b"python3"));
        assert_eq!(ok(Kind::Env, "-i"), Form::Options);
        for arg in ["-S", "-S/home/u/x", "-C", "--chdir", "--split-string", "-u", "--ch"] {
            assert!(matches!(no(Kind::Env, arg), NotUnderstood::EnvOption(_) | NotUnderstood::Option(_)), "{arg}");
        }
        assert!(matches!(no(Kind::Env, "--split-string=/home/u/x"), NotUnderstood::EnvOption(_)));
        assert_eq!(ok(Kind::Env, "FOO=bar"), Form::Assignment { name: b"FOO", value: b"bar" });
        assert_eq!(ok(Kind::Other, "-f"), Form::Bundle(b"f"));
        assert_eq!(ok(Kind::Other, "--quiet"), Form::Options);
        assert_eq!(ok(Kind::Other, "/home/u/x"), Form::Operand(b"/home/u/x"));
        for arg in ["python3 -E", "", "-x=/y", "-I/x", "a\u{1b}b"] {
            assert!(form(Kind::Other, arg.as_bytes()).is_err(), "{arg:?}");
        }
        assert_eq!(kind(Path::new("/bin/sh"), Path::new("/usr/bin/dash")), Kind::Shell);
        assert_eq!(kind(Path::new("/usr/bin/python3"), Path::new("/usr/bin/python3.11")), Kind::Python);
        assert_eq!(kind(Path::new("/bin/sh"), Path::new("/bin/busybox")), Kind::Shell);
        assert_eq!(kind(Path::new("/usr/bin/nice"), Path::new("/usr/bin/nice")), Kind::Other);
    }
}
