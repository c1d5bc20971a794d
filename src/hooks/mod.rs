//! Which hooks run: the executable regular files of one directory, in byte-wise order of their names,
//! and only those that no one but root could have changed.
//!
//! The trust rule is [`crate::trust`]'s: the hooks directory is walked from `/` as written, and must
//! itself be root's and writable by nobody else (so not /tmp); a hook that is a symlink is walked the
//! same way, and the file that runs must be root's and writable by nobody else. The file that runs is
//! the walked one, whose every directory only root can change.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use nix::fcntl::AtFlags;
use nix::sys::stat::{fstatat, SFlag};

use tracing::{info, warn};

use crate::trust::{self, Last};

pub mod binfmt;
pub mod elf;
pub mod judge;
pub mod ldcache;
pub mod loader;
pub mod script;

use judge::Judge;

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
/// `search`: every directory a root hook's PATH may hold, where `#!/usr/bin/env NAME` finds NAME.
pub fn discover(dir: &Path, origin: DirOrigin, style: Style, search: &[PathBuf]) -> HookPlan {
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
    let mut judged = Judge::new(search.to_vec());
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
    judged: &mut Judge,
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
        Phase::Root => {
            dir.untrusted.clone().or(verdict).or_else(|| judged.hook(&resolved, how).err().map(|r| r.to_string()))
        }
        Phase::User => dir.untrusted.clone(),
    };
    let decision = match verdict {
        None => Decision::Run,
        Some(reason) if style.allow_untrusted => Decision::RunUntrusted { reason },
        Some(reason) => Decision::Untrusted { reason },
    };
    (resolved, decision, how)
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
        let plan = discover(Path::new("/nonexistent/roothooks.d"), DirOrigin::Default, style, &[]);
        assert_eq!(plan.state, DirState::Missing);
        assert!(plan.hooks.is_empty());
        let plan = discover(Path::new("/etc/hostname"), DirOrigin::Explicit, style, &[]);
        assert_eq!(plan.state, DirState::NotADirectory);
        let plan = discover(Path::new("/etc/hostname/x"), DirOrigin::Explicit, style, &[]);
        assert_eq!(plan.state, DirState::NotADirectory);
    }
}
