//! Which hooks run: the executable regular files of one directory, in byte-wise order of their names,
//! and only those that no one but root could have changed.
//!
//! The trust rule is [`crate::trust`]'s: the hooks directory is walked from `/` as written, and must
//! itself be root's and writable by nobody else (so not /tmp); a hook that is a symlink is walked the
//! same way, and the file that runs must be root's and writable by nobody else. The file that runs is
//! the walked one, whose every directory only root can change.

use std::fmt;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::AtFlags;
use nix::sys::stat::{fstatat, SFlag};

use tracing::{info, warn};

use crate::trust::{self, Last};

/// Where the hooks directory came from; decides how loud a missing directory is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirOrigin {
    /// `--hooks-dir` or `ROOTHOOKS_HOOKS_DIR`
    Explicit,
    /// `$REPO_DIR/roothooks.d` or `/etc/roothooks.d`
    Default,
}

/// The directory's state as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirState {
    Listed,
    Missing,
    NotADirectory,
    Unreadable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Run,
    /// fails the trust rule but `--allow-untrusted-hooks` was given; warned about when it runs
    RunUntrusted {
        reason: String,
    },
    /// fails the trust rule: never run as root
    Untrusted {
        reason: String,
    },
    /// not run; `warn` when that is probably a mistake the operator wants to hear about
    Skip {
        reason: String,
        warn: bool,
    },
}

/// How a hook is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// executed as a program
    Exec,
    /// a `*.sh` file in docker-stacks style: sourced by /bin/bash, which hands what it exports to the
    /// hooks after it and to the command
    Source,
}

/// Who runs a directory's hooks, which decides the trust rule for its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// as root, before the drop: the directory and every file must be root's
    Root,
    /// as the user, after the drop: only the directory must be root's (a file the user could change
    /// gives them nothing they do not have)
    User,
}

impl Phase {
    /// Who runs the hooks, for messages.
    pub fn who(self) -> &'static str {
        match self {
            Phase::Root => "root",
            Phase::User => "the user",
        }
    }
}

/// How a directory's hooks are found and started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub phase: Phase,
    /// docker-stacks' run-hooks.sh: `*.sh` files are sourced, executable or not
    pub source_sh: bool,
    /// `--allow-untrusted-hooks`
    pub allow_untrusted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// the file name, used to tag its log lines
    pub name: String,
    /// the path in the hooks directory
    pub path: PathBuf,
    /// the file that runs: `path` with every symlink resolved
    pub resolved: PathBuf,
    pub decision: Decision,
    pub how: How,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookPlan {
    pub dir: PathBuf,
    pub origin: DirOrigin,
    pub state: DirState,
    pub phase: Phase,
    pub hooks: Vec<Hook>,
}

impl HookPlan {
    pub fn to_run(&self) -> impl Iterator<Item = &Hook> {
        self.hooks.iter().filter(|h| matches!(h.decision, Decision::Run | Decision::RunUntrusted { .. }))
    }

    /// What `--on-hook-failure abort` counts as a failure before any hook starts: a directory that was
    /// given but cannot be used, or a hook the trust rule refused.
    pub fn refusal(&self) -> Option<String> {
        let dir = self.dir.display();
        if self.origin == DirOrigin::Explicit {
            match &self.state {
                DirState::Listed => {}
                DirState::Missing => return Some(format!("hooks directory {dir} does not exist")),
                DirState::NotADirectory => return Some(format!("hooks directory {dir} is not a directory")),
                DirState::Unreadable(e) => return Some(format!("cannot read hooks directory {dir}: {e}")),
            }
        }
        self.hooks.iter().find_map(|h| match &h.decision {
            Decision::Untrusted { reason } => Some(format!("hook {} was refused: {reason}", h.path.display())),
            _ => None,
        })
    }
}

impl fmt::Display for HookPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = match self.origin {
            DirOrigin::Explicit => "given",
            DirOrigin::Default => "default",
        };
        let label = match self.phase {
            Phase::Root => "hooks dir: ",
            Phase::User => "user hooks:",
        };
        let dir = self.dir.display();
        match &self.state {
            DirState::Listed => writeln!(f, "  {label}  {dir} ({origin})")?,
            DirState::Missing => writeln!(f, "  {label}  {dir} ({origin}): does not exist, no hooks")?,
            DirState::NotADirectory => writeln!(f, "  {label}  {dir} ({origin}): not a directory, no hooks")?,
            DirState::Unreadable(e) => writeln!(f, "  {label}  {dir} ({origin}): cannot read it ({e}), no hooks")?,
        }
        for hook in &self.hooks {
            let how = match hook.how {
                How::Exec => "",
                How::Source => " (sourced by /bin/bash)",
            };
            match &hook.decision {
                Decision::Run => writeln!(f, "    run   {}{how}", hook.name)?,
                Decision::RunUntrusted { reason } => {
                    writeln!(f, "    run   {} (UNTRUSTED, --allow-untrusted-hooks: {reason})", hook.name)?
                }
                Decision::Skip { reason, .. } => writeln!(f, "    skip  {}: {reason}", hook.name)?,
                Decision::Untrusted { reason } => {
                    writeln!(f, "    skip  {}: {reason}; not running it as {}", hook.name, self.phase.who())?
                }
            }
        }
        Ok(())
    }
}

/// Leftovers of editors and package managers: never hooks, even when executable.
fn leftover(name: &str) -> Option<&'static str> {
    const SUFFIXES: &[&str] = &[
        "~",
        ".dpkg-old",
        ".dpkg-new",
        ".dpkg-dist",
        ".dpkg-tmp",
        ".dpkg-bak",
        ".ucf-old",
        ".ucf-new",
        ".ucf-dist",
        ".rpmsave",
        ".rpmnew",
        ".rpmorig",
        ".swp",
        ".bak",
        ".orig",
        ".rej",
        ".tmp",
    ];
    if name.starts_with('#') && name.ends_with('#') {
        return Some("an editor's autosave file");
    }
    if SUFFIXES.iter().any(|s| name.ends_with(s)) || name.contains(".dpkg-") {
        return Some("an editor or package-manager leftover");
    }
    None
}

/// List and judge the hooks of `dir` (absolute). `style.allow_untrusted` runs what the trust rule
/// would refuse (`--allow-untrusted-hooks`); the reason still shows in the plan and the log.
pub fn discover(dir: &Path, origin: DirOrigin, style: Style) -> HookPlan {
    let mut plan =
        HookPlan { dir: dir.to_path_buf(), origin, state: DirState::Listed, phase: style.phase, hooks: Vec::new() };
    let walked = match trust::walk(dir, Last::Dir) {
        Ok(walked) if walked.is_dir() => walked,
        Ok(_) => {
            plan.state = DirState::NotADirectory;
            return plan;
        }
        Err(e) => {
            plan.state = match e.kind() {
                std::io::ErrorKind::NotFound => DirState::Missing,
                std::io::ErrorKind::NotADirectory => DirState::NotADirectory,
                _ => DirState::Unreadable(e.to_string()),
            };
            return plan;
        }
    };
    // Listed by the resolved path: when the walk found it trusted, only root can change what that
    // path names; when not, nothing in it runs unless --allow-untrusted-hooks says so.
    let mut judged = Judged::new();
    let walker = walkdir::WalkDir::new(&walked.path).min_depth(1).max_depth(1).follow_links(false).sort_by_file_name();
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                plan.state = DirState::Unreadable(e.to_string());
                plan.hooks.clear();
                return plan;
            }
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = dir.join(entry.file_name());
        let at = walked.path.join(entry.file_name());
        let (resolved, decision, how) = judge(&name, &path, at, &walked, style, &mut judged);
        plan.hooks.push(Hook { name, path, resolved, decision, how });
    }
    plan
}

fn skip(reason: impl Into<String>, warn: bool) -> Decision {
    Decision::Skip { reason: reason.into(), warn }
}

/// Decide about the entry `name` of the walked hooks directory, found at `at`; returns the file that
/// would run (a symlink's target, walked by the trust rule) with the decision and how it would start.
fn judge(
    name: &str,
    path: &Path,
    at: PathBuf,
    dir: &trust::Walked,
    style: Style,
    judged: &mut Judged,
) -> (PathBuf, Decision, How) {
    let exec = |(resolved, decision)| (resolved, decision, How::Exec);
    if name.starts_with('.') {
        return exec((at, skip("hidden file", false)));
    }
    if let Some(what) = leftover(name) {
        return exec((at, skip(what, false)));
    }
    let stat = match fstatat(&dir.fd, Path::new(name), AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(e) => return exec((at, skip(format!("cannot inspect it: {}", e.desc()), true))),
    };
    let (resolved, stat, verdict) = if stat.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFLNK.bits() {
        match trust::walk(&at, Last::File) {
            Ok(w) => (w.path, w.stat, w.untrusted),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let target = fs::read_link(&at).unwrap_or_default();
                return exec((at, skip(format!("broken symlink to {}", target.display()), true)));
            }
            Err(e) => return exec((at, skip(format!("cannot inspect it: {e}"), true))),
        }
    } else {
        let verdict = trust::judge_file(&at, &stat);
        (at, stat, verdict)
    };
    let kind = stat.st_mode & SFlag::S_IFMT.bits();
    if kind == SFlag::S_IFDIR.bits() {
        return exec((resolved, skip("a directory (hooks are not searched recursively)", false)));
    }
    if kind != SFlag::S_IFREG.bits() {
        return exec((resolved, skip("not a regular file", true)));
    }
    // docker-stacks' run-hooks.sh sources every *.sh file, executable or not
    let how =
        if style.source_sh && Path::new(name).extension().is_some_and(|e| e == "sh") { How::Source } else { How::Exec };
    if how == How::Exec && stat.st_mode & 0o111 == 0 {
        let why = format!("not executable (chmod +x {} to run it, or rename it to start with '.')", path.display());
        return (resolved, skip(why, true), how);
    }
    // As the user, only the directory counts: a file the user could change runs with no more than
    // what they have anyway.
    let verdict = match style.phase {
        Phase::Root => dir.untrusted.clone().or(verdict).or_else(|| interpreter_verdict(&resolved, how, judged)),
        Phase::User => dir.untrusted.clone(),
    };
    let decision = match verdict {
        None => Decision::Run,
        Some(reason) if style.allow_untrusted => Decision::RunUntrusted { reason },
        Some(reason) => Decision::Untrusted { reason },
    };
    (resolved, decision, how)
}

/// How many `#!` interpreters the kernel follows, one script naming the next (BINPRM_MAX_RECURSION).
const MAX_INTERPRETERS: usize = 4;

/// Why the program that would really run a root hook may not be relied on, if it may not: the trust
/// rule applied to its interpreter too (bash for a sourced hook; for a script, its `#!` program, and
/// that one's if it is a script itself; for `#!/usr/bin/env` with a path, that path). A root-owned
/// hook with `#!/opt/conda/bin/python3` ran the user's python as root. Only the first line of a file
/// that already passed the rule is read.
fn interpreter_verdict(hook: &Path, how: How, judged: &mut Judged) -> Option<String> {
    let programs = match how {
        How::Source => vec![PathBuf::from(crate::sourcing::BASH)],
        How::Exec => match interpreters(hook) {
            Ok(programs) => programs,
            Err(why) => return Some(why),
        },
    };
    programs.iter().find_map(|program| program_verdict(program, judged, 1))
}

/// The interpreters judged so far in one listing, with their verdicts: a hundred `#!/bin/sh` hooks
/// walk /bin/sh once.
pub type Judged = std::collections::HashMap<PathBuf, Option<String>>;

/// Why the interpreter `program` (the `depth`th of a chain) may not be relied on, if it may not: the
/// trust rule, then its own `#!` interpreters.
fn program_verdict(program: &Path, judged: &mut Judged, depth: usize) -> Option<String> {
    if depth > MAX_INTERPRETERS {
        return Some(format!("more than {MAX_INTERPRETERS} interpreters, one naming the next"));
    }
    if let Some(verdict) = judged.get(program) {
        return verdict.clone();
    }
    let verdict = match trust::walk(program, Last::File) {
        Err(e) => Some(format!("its interpreter {} cannot be used: {e}", program.display())),
        Ok(walked) => match walked.untrusted {
            Some(why) => Some(format!("its interpreter {}: {why}", program.display())),
            None => match interpreters(&walked.path) {
                Ok(next) => next.iter().find_map(|p| program_verdict(p, judged, depth + 1)),
                Err(why) => Some(why),
            },
        },
    };
    judged.insert(program.to_path_buf(), verdict.clone());
    verdict
}

/// The programs a script's `#!` line names (taken from `/`, where hooks run, when relative): the
/// interpreter, and for `/usr/bin/env` also every word of its arguments that is a path. None for a file
/// without `#!` (a binary, or a script the shell runs); `env` that searches PATH finds only trusted
/// directories, since PATH for hooks holds no other.
fn interpreters(file: &Path) -> Result<Vec<PathBuf>, String> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let unread = |e: std::io::Error| format!("cannot read the first line of {}: {e}", file.display());
    let mut opened = fs::File::open(file).map_err(unread)?;
    let read = opened.read(&mut head).map_err(unread)?;
    if head.get(..read).is_some_and(crate::elf::is_elf) {
        return elf_loads(file, &opened);
    }
    let Some(line) = head.get(..read).and_then(|h| h.strip_prefix(b"#!")) else { return Ok(Vec::new()) };
    let line = line.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut words = line.split(|&b| b == b' ' || b == b'\t').filter(|w| !w.is_empty());
    let Some(program) = words.next() else { return Ok(Vec::new()) };
    let from_root = |word: &[u8]| Path::new("/").join(std::ffi::OsStr::from_bytes(word));
    let mut programs = vec![from_root(program)];
    if program.rsplit(|&b| b == b'/').next() == Some(b"env") {
        // env's options (some take a word: `-u NAME`), NAME=value words, then the program and its
        // arguments, which -S splits the same way: every word that is a path, so that no option
        // taking a word can hide the program behind it (an argument judged too only refuses more)
        let assignment = |w: &[u8]| {
            w.iter().position(|&b| b == b'=').is_some_and(|eq| !w.get(..eq).unwrap_or_default().contains(&b'/'))
        };
        let words: Vec<&[u8]> = words.collect();
        // `env PATH=... python3` searches that PATH: each of its directories must be root's
        for dir in words.iter().filter_map(|w| w.strip_prefix(b"PATH=")).flat_map(|p| p.split(|&b| b == b':')) {
            if let Some(why) = trust::judge_named(&from_root(dir)) {
                return Err(format!("its #! line gives env a PATH a user could change: {why}"));
            }
        }
        programs.extend(
            words.into_iter().filter(|w| !w.starts_with(b"-") && !assignment(w) && w.contains(&b'/')).map(from_root),
        );
    }
    Ok(programs)
}

/// What the ELF program `file` has loaded before its own code runs (see [`crate::elf`]): its dynamic
/// loader, to be judged as an interpreter is; its RPATH and RUNPATH directories, judged here as PATH's
/// are (`$ORIGIN` at the start of one is `file`'s own directory, as walked); and the libraries it
/// names by path, judged here as a hook is (their own RUNPATHs are not followed).
fn elf_loads(file: &Path, opened: &fs::File) -> Result<Vec<PathBuf>, String> {
    use std::os::unix::fs::FileExt;
    let shown = file.display();
    let loads = match crate::elf::loads(&|at, buf| opened.read_at(buf, at)) {
        Ok(loads) => loads,
        // the kernel refuses it too: its exec fails, and the log says so as for any such file
        Err(crate::elf::Unread::NotRunnable(_)) => return Ok(Vec::new()),
        Err(why) => return Err(format!("cannot read what {shown} loads: {why}")),
    };
    let from_root = |bytes: &[u8]| Path::new("/").join(std::ffi::OsStr::from_bytes(bytes));
    // one that is not there yet is judged by the directory it would be made in
    let judge = |path: &Path, last: Last| match trust::walk(path, last) {
        Ok(walked) => walked.untrusted,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => trust::judge_named(path),
        Err(e) => Some(e.to_string()),
    };
    let origin = file.parent().unwrap_or(Path::new("/")).as_os_str().as_bytes();
    for entry in &loads.search {
        let dir = match entry.strip_prefix(b"$ORIGIN").or_else(|| entry.strip_prefix(b"${ORIGIN}")) {
            Some(rest) => [origin, rest].concat(),
            None => entry.clone(),
        };
        // the loader's other tokens ($LIB, $PLATFORM, $ORIGIN further on) name directories roothooks
        // cannot know
        if dir.contains(&b'$') {
            return Err(format!("{shown} searches a library directory with a token roothooks cannot judge (RUNPATH)"));
        }
        let dir = from_root(&dir);
        if let Some(why) = judge(&dir, Last::Dir) {
            return Err(format!("{shown} loads libraries from {} first (RUNPATH): {why}", dir.display()));
        }
    }
    for library in loads.by_path.iter().map(|p| from_root(p)) {
        if let Some(why) = judge(&library, Last::File) {
            return Err(format!("{shown} loads the library {}: {why}", library.display()));
        }
    }
    Ok(loads.interpreter.iter().map(|p| from_root(p)).collect())
}

/// Say what the plan found about the hooks: the directory's state and every skipped file.
pub fn log_plan(plan: &HookPlan) {
    let dir = plan.dir.display();
    match (&plan.state, &plan.origin) {
        // an empty directory is named too: "were my hooks found?" needs an answer
        (DirState::Listed, _) if plan.hooks.is_empty() => info!("no hooks in {dir}"),
        (DirState::Listed, _) => {}
        (DirState::Missing, DirOrigin::Default) => info!("no hooks directory at {dir} (the default); no hooks to run"),
        (DirState::Missing, DirOrigin::Explicit) => warn!("hooks directory {dir} does not exist; no hooks to run"),
        (DirState::NotADirectory, _) => warn!("hooks directory {dir} is not a directory; no hooks to run"),
        (DirState::Unreadable(e), _) => warn!("cannot read hooks directory {dir}: {e}; no hooks to run"),
    }
    for hook in &plan.hooks {
        let path = hook.path.display();
        match &hook.decision {
            Decision::Skip { reason, warn: true } => warn!(hook = hook.name, "skipping {path}: {reason}"),
            Decision::Skip { reason, warn: false } => info!(hook = hook.name, "skipping {path}: {reason}"),
            Decision::Untrusted { reason } => {
                warn!(hook = hook.name, "skipping {path}: {reason}; not running it as {}", plan.phase.who());
            }
            Decision::RunUntrusted { reason } => {
                warn!(
                    hook = hook.name,
                    "running UNTRUSTED hook {path} as {} (--allow-untrusted-hooks): {reason}",
                    plan.phase.who()
                );
            }
            Decision::Run => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_are_recognised() {
        for name in ["10-a~", "10-a.dpkg-old", "10-a.dpkg-new", "10-a.rpmsave", "10-a.rpmnew", "#10-a#", "10-a.swp"] {
            assert!(leftover(name).is_some(), "{name}");
        }
        for name in ["10-mount", "20-home.sh", "30_fix-owner.py"] {
            assert!(leftover(name).is_none(), "{name}");
        }
    }

    #[test]
    fn missing_directory_is_a_state_not_an_error() {
        let style = Style { phase: Phase::Root, source_sh: false, allow_untrusted: false };
        let plan = discover(Path::new("/nonexistent/roothooks.d"), DirOrigin::Default, style);
        assert_eq!(plan.state, DirState::Missing);
        assert!(plan.hooks.is_empty());
        let plan = discover(Path::new("/etc/hostname"), DirOrigin::Explicit, style);
        assert_eq!(plan.state, DirState::NotADirectory);
        let plan = discover(Path::new("/etc/hostname/x"), DirOrigin::Explicit, style);
        assert_eq!(plan.state, DirState::NotADirectory);
    }
}
