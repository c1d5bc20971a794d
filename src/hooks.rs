//! Which hooks run: the executable regular files of one directory, in byte-wise order of their names,
//! and only those that no one but root could have changed.
//!
//! The trust rule is the one sshd's StrictModes and sudo apply: the file and every directory above it are
//! owned by root and not writable by group or others; a root-owned sticky directory (/tmp) is fine as an
//! ancestor, since nobody can rename or replace what root put in it. Both the directory the hook is
//! listed in and the file it resolves to are checked, so a symlink cannot lead out of the rule.

use std::fmt;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

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
    /// not run; `warn` when that is probably a mistake the operator wants to hear about
    Skip {
        reason: String,
        warn: bool,
    },
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookPlan {
    pub dir: PathBuf,
    pub origin: DirOrigin,
    pub state: DirState,
    pub hooks: Vec<Hook>,
}

impl HookPlan {
    pub fn to_run(&self) -> impl Iterator<Item = &Hook> {
        self.hooks.iter().filter(|h| matches!(h.decision, Decision::Run | Decision::RunUntrusted { .. }))
    }
}

impl fmt::Display for HookPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = match self.origin {
            DirOrigin::Explicit => "given",
            DirOrigin::Default => "default",
        };
        match &self.state {
            DirState::Listed => writeln!(f, "  hooks dir:   {} ({origin})", self.dir.display())?,
            DirState::Missing => {
                writeln!(f, "  hooks dir:   {} ({origin}): does not exist, no hooks", self.dir.display())?
            }
            DirState::NotADirectory => {
                writeln!(f, "  hooks dir:   {} ({origin}): not a directory, no hooks", self.dir.display())?
            }
            DirState::Unreadable(e) => {
                writeln!(f, "  hooks dir:   {} ({origin}): cannot read it ({e}), no hooks", self.dir.display())?
            }
        }
        for hook in &self.hooks {
            match &hook.decision {
                Decision::Run => writeln!(f, "    run   {}", hook.name)?,
                Decision::RunUntrusted { reason } => {
                    writeln!(f, "    run   {} (UNTRUSTED, --allow-untrusted-hooks: {reason})", hook.name)?
                }
                Decision::Skip { reason, .. } => writeln!(f, "    skip  {}: {reason}", hook.name)?,
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

/// Why the directory `path` is not safe to trust, if it is not.
fn untrusted_dir(path: &Path) -> Option<String> {
    match fs::metadata(path) {
        Ok(meta) => untrusted_meta(path, &meta, false),
        Err(e) => Some(format!("cannot inspect {}: {e}", path.display())),
    }
}

/// Why `path`, with `meta`, is not safe to trust, if it is not. `is_file`: the hook itself, for which
/// a sticky bit is no excuse.
fn untrusted_meta(path: &Path, meta: &fs::Metadata, is_file: bool) -> Option<String> {
    let mode = meta.permissions().mode();
    let what = if is_file { "it" } else { "directory" };
    let shown = if is_file { String::new() } else { format!(" {}", path.display()) };
    if meta.uid() != 0 {
        return Some(format!("{what}{shown} is owned by uid {}, not root (chown root {})", meta.uid(), path.display()));
    }
    let sticky = !is_file && mode & 0o1000 != 0;
    if sticky {
        return None;
    }
    if mode & 0o020 != 0 {
        return Some(format!("{what}{shown} is writable by group {} (chmod g-w {})", meta.gid(), path.display()));
    }
    if mode & 0o002 != 0 {
        return Some(format!("{what}{shown} is writable by others (chmod o-w {})", path.display()));
    }
    None
}

/// The first reason, from `/` down, why the directory `dir` (already resolved) or one of its ancestors
/// could be changed by someone other than root.
pub fn untrusted_dir_chain(dir: &Path) -> Option<String> {
    let chain: Vec<&Path> = dir.ancestors().collect();
    chain.into_iter().rev().find_map(untrusted_dir)
}

/// The trust rule for one hook. `dir_verdict` is the hooks directory's chain, judged once for all.
fn trust(dir: &Path, dir_verdict: Option<&String>, resolved: &Path, meta: &fs::Metadata) -> Option<String> {
    if let Some(reason) = dir_verdict {
        return Some(reason.clone());
    }
    // A symlink may lead elsewhere: then that directory chain is judged too.
    let parent = resolved.parent().unwrap_or(Path::new("/"));
    let elsewhere = if parent == dir { None } else { untrusted_dir_chain(parent) };
    elsewhere.or_else(|| untrusted_meta(resolved, meta, true))
}

/// List and judge the hooks of `dir`. `allow_untrusted` runs what the trust rule would refuse
/// (`--allow-untrusted-hooks`); the reason still shows in the plan and the log.
pub fn discover(dir: &Path, origin: DirOrigin, allow_untrusted: bool) -> HookPlan {
    let mut plan = HookPlan { dir: dir.to_path_buf(), origin, state: DirState::Listed, hooks: Vec::new() };
    match fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            plan.state = DirState::Missing;
            return plan;
        }
        Err(e) => {
            plan.state = DirState::Unreadable(e.to_string());
            return plan;
        }
        Ok(m) if !m.is_dir() => {
            plan.state = DirState::NotADirectory;
            return plan;
        }
        Ok(_) => {}
    }
    let canonical_dir = match fs::canonicalize(dir) {
        Ok(d) => d,
        Err(e) => {
            plan.state = DirState::Unreadable(e.to_string());
            return plan;
        }
    };
    let dir_verdict = untrusted_dir_chain(&canonical_dir);
    let walker = walkdir::WalkDir::new(dir).min_depth(1).max_depth(1).follow_links(false).sort_by_file_name();
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
        let path = entry.path().to_path_buf();
        // Only a symlink needs resolving; anything else is where the listing found it.
        let resolved = if entry.path_is_symlink() {
            fs::canonicalize(&path).unwrap_or_else(|_| path.clone())
        } else {
            canonical_dir.join(entry.file_name())
        };
        let decision = judge(&name, &path, &resolved, &canonical_dir, dir_verdict.as_ref(), allow_untrusted);
        plan.hooks.push(Hook { name, path, resolved, decision });
    }
    plan
}

fn skip(reason: impl Into<String>, warn: bool) -> Decision {
    Decision::Skip { reason: reason.into(), warn }
}

fn judge(
    name: &str,
    path: &Path,
    resolved: &Path,
    dir: &Path,
    dir_verdict: Option<&String>,
    allow_untrusted: bool,
) -> Decision {
    if name.starts_with('.') {
        return skip("hidden file", false);
    }
    if let Some(what) = leftover(name) {
        return skip(what, false);
    }
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return skip(format!("broken symlink to {}", resolved.display()), true)
        }
        Err(e) => return skip(format!("cannot inspect it: {e}"), true),
    };
    if meta.is_dir() {
        return skip("a directory (hooks are not searched recursively)", false);
    }
    if !meta.is_file() {
        return skip("not a regular file", true);
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return skip(
            format!("not executable (chmod +x {} to run it, or rename it to start with '.')", path.display()),
            true,
        );
    }
    match trust(dir, dir_verdict, resolved, &meta) {
        None => Decision::Run,
        Some(reason) if allow_untrusted => Decision::RunUntrusted { reason },
        Some(reason) => skip(format!("{reason}; not running it as root"), true),
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
    fn system_directories_are_trusted_and_tmp_is_trusted_as_an_ancestor_only() {
        assert_eq!(untrusted_dir_chain(Path::new("/usr/bin")), None);
        let tmp = fs::metadata("/tmp").unwrap();
        if tmp.uid() == 0 && tmp.permissions().mode() & 0o1002 == 0o1002 {
            assert_eq!(untrusted_dir(Path::new("/tmp")), None);
            assert!(untrusted_meta(Path::new("/tmp"), &tmp, true).unwrap().contains("writable by"));
        }
    }

    #[test]
    fn missing_directory_is_a_state_not_an_error() {
        let plan = discover(Path::new("/nonexistent/roothooks.d"), DirOrigin::Default, false);
        assert_eq!(plan.state, DirState::Missing);
        assert!(plan.hooks.is_empty());
        let plan = discover(Path::new("/etc/hostname"), DirOrigin::Explicit, false);
        assert_eq!(plan.state, DirState::NotADirectory);
    }
}
