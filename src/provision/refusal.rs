//! Which hand-overs (CHOWN_HOME, CHOWN_EXTRA, `--chown`, `--chown-tree`) the plan refuses, and why.
//!
//! Owning a directory lets its owner rename or replace whatever is in it, whoever owns that: the
//! owner of /etc can move /etc/shadow aside and put their own in its place, the owner of /var can do
//! the same to /var/lib. So a hand-over is refused when it would give the user a directory root
//! relies on, one that contains such a directory, or one inside a tree root relies on; also `/`,
//! the home of root or of a system account, and CHOWN_HOME of a home that is no home of the user's
//! own. Each is decided while the plan is built, from its inputs, so that `--dry-run` shows what the
//! start will do and the start only carries out the plan's verdict. What can only be known while
//! walking (a symlink on the way, planted before or during the start; a hard link; the inode that
//! was really opened) stays in the walk (`handover`).
//!
//! The rule over paths ([`Guarded::refusal`]) is pure: it compares the path, made absolute and
//! normalised lexically ([`normalise`]: `.` and repeated or trailing slashes dropped, `..` taking
//! the name before it away), with each guarded directory, component by component, so `/etc2` is not
//! inside `/etc`. Lexical `..` agrees with the kernel's only where no symlink is on the way; the walk
//! opens the path with no symlink allowed anywhere on it (`openat2`, RESOLVE_NO_SYMLINKS), so a path
//! that reaches /etc through a link is refused there, not handed over.

use std::path::{Component, Path, PathBuf};

use super::handover::{HandOver, Protected};
use crate::identity::Target;

/// How far a guarded directory's protection reaches below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// the directory and everything in it: /etc/ssl is as much root's as /etc
    Tree,
    /// the directory itself only: what is below it is anyone's (/tmp/x, /run/user/1000)
    Dir,
}

/// The trees root relies on, each with what it holds, guarded whole.
pub const SYSTEM_TREES: &[(&str, &str)] = &[
    ("/etc", "the system's configuration"),
    ("/usr", "the system's programs and libraries"),
    ("/bin", "the system's programs"),
    ("/sbin", "the system's programs"),
    ("/lib", "the system's libraries"),
    ("/lib32", "the system's libraries"),
    ("/lib64", "the system's libraries"),
    ("/libx32", "the system's libraries"),
    ("/boot", "the kernel and its boot files"),
    ("/root", "root's home"),
    ("/var/lib", "the system's state (package and service databases)"),
    ("/proc", "the kernel's process files"),
    ("/sys", "the kernel's device and setting files"),
    ("/dev", "the device files"),
];

/// Directories root relies on whose entries are anyone's: guarded themselves (and every directory
/// above them), not below.
pub const SHARED_DIRS: &[(&str, &str)] =
    &[("/tmp", "the shared temporary directory"), ("/run", "the runtime directory of root's services")];

/// A directory root relies on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// absolute and normalised
    pub dir: PathBuf,
    /// what it is, for the message: "the system's configuration", "a directory on root's hooks' PATH"
    pub what: String,
    pub reach: Reach,
}

/// Every directory a hand-over may not touch: the system's trees and shared directories, root's
/// hooks' PATH, the hooks directories, the skel and nss directories.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guarded(pub Vec<Guard>);

/// How a path stands to the guarded directory it touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Is,
    Contains,
    Inside,
}

/// Why the plan refuses a hand-over. The message names the path and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{} is the root directory; handing it over would give the user /etc to rename", .0.display())]
    RootDir(PathBuf),
    #[error("{} is the home of {account}, an account that is not a regular user's", .path.display())]
    SystemHome { path: PathBuf, account: String },
    #[error("uid {uid} has no account, so {} is not a home of its own", .home.display())]
    NoAccount { uid: u32, home: PathBuf },
    #[error("account {account}'s home is '{}', not a home of its own", .home.display())]
    NotItsOwn { account: String, home: PathBuf },
    #[error("account {account}'s home '{}' is not an absolute path; give it one in /etc/passwd", .home.display())]
    RelativeHome { account: String, home: PathBuf },
    #[error("{}", Guarded::message(.path, *.relation, .guard))]
    Guarded { path: PathBuf, relation: Relation, guard: Guard },
}

/// The plan's verdict on one hand-over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Refused(Refusal),
}

/// A hand-over as the plan decided it. The start hands over what says `Ok`, and for a refusal logs
/// its reason, the one `--dry-run` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    pub job: HandOver,
    pub verdict: Verdict,
}

/// `path` with `.`, repeated and trailing slashes dropped and each `..` taking the name before it
/// away (never above `/`), without looking at the filesystem. For an absolute path; a relative one
/// is taken from `/`.
pub fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for part in path.components() {
        match part {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

impl Guarded {
    /// The system's trees and shared directories, and `more` (root's hooks' PATH, the hooks, skel
    /// and nss directories: each guarded with everything in it).
    pub fn new(more: impl IntoIterator<Item = (PathBuf, String)>) -> Guarded {
        let fixed = SYSTEM_TREES.iter().map(|g| (g, Reach::Tree)).chain(SHARED_DIRS.iter().map(|g| (g, Reach::Dir)));
        let mut guards: Vec<Guard> = fixed
            .map(|((dir, what), reach)| Guard { dir: PathBuf::from(dir), what: what.to_string(), reach })
            .collect();
        for (dir, what) in more {
            let dir = normalise(&dir);
            if !guards.iter().any(|g| g.dir == dir && g.reach == Reach::Tree) {
                guards.push(Guard { dir, what, reach: Reach::Tree });
            }
        }
        Guarded(guards)
    }

    /// Why handing `path` (absolute) over would give the user what root relies on: `/` itself; a
    /// guarded directory; one that contains a guarded directory; one inside a guarded tree. The
    /// first that applies, in that order (a directory's own role says more than the tree it is in).
    pub fn refusal(&self, path: &Path) -> Option<Refusal> {
        let path = normalise(path);
        if path == Path::new("/") {
            return Some(Refusal::RootDir(path));
        }
        let find = |relation: Relation| {
            self.0.iter().find(|g| match relation {
                Relation::Is => g.dir == path,
                Relation::Inside => g.reach == Reach::Tree && path.starts_with(&g.dir) && g.dir != path,
                Relation::Contains => g.dir.starts_with(&path) && g.dir != path,
            })
        };
        [Relation::Is, Relation::Inside, Relation::Contains].into_iter().find_map(|relation| {
            find(relation).map(|guard| Refusal::Guarded { path: path.clone(), relation, guard: guard.clone() })
        })
    }

    fn message(path: &Path, relation: Relation, guard: &Guard) -> String {
        let (path, dir, what) = (path.display(), guard.dir.display(), &guard.what);
        let stands = match relation {
            Relation::Is => format!("{path} is {what}"),
            Relation::Contains => format!("{path} contains {dir}, {what}"),
            Relation::Inside => format!("{path} lies inside {dir}, {what}"),
        };
        format!(
            "{stands}: whoever owns a directory can rename or replace what is in it, and root relies on what is \
             there; hand over a directory of the user's own outside it instead (e.g. /srv/data)"
        )
    }
}

/// Why CHOWN_HOME may not hand the target's home over, whatever the path: a uid without an account
/// (its home is `/`, or what `--home` says, which is nobody's own), an account whose home is empty
/// or `/`, or not an absolute path.
pub fn home_refusal(target: &Target) -> Option<Refusal> {
    let home = target.home.clone();
    match target.name() {
        None => Some(Refusal::NoAccount { uid: target.uid.as_raw(), home }),
        Some(name) if home.as_os_str().is_empty() || normalise(&home) == Path::new("/") => {
            Some(Refusal::NotItsOwn { account: name.to_string(), home })
        }
        Some(name) if !home.is_absolute() => Some(Refusal::RelativeHome { account: name.to_string(), home }),
        Some(_) => None,
    }
}

/// The verdict on handing `path` (absolute, normalised) over: `/` and the homes of root and the
/// system accounts by their path and by the inode the path names now (`//root/`, a second name of
/// /root, are /root), then the rule over paths. The inodes are looked at here, before any hook has
/// run; the walk looks again at the one it opened.
pub fn judge(path: &Path, guarded: &Guarded, accounts: &Protected) -> Verdict {
    let inode = |p: &Path| nix::sys::stat::stat(p).ok().map(|st| (st.st_dev, st.st_ino));
    let here = inode(path);
    let same = |other: &Path| normalise(other) == path || (here.is_some() && inode(other) == here);
    if same(Path::new("/")) {
        return Verdict::Refused(Refusal::RootDir(path.to_path_buf()));
    }
    if let Some((name, _)) = accounts.homes.iter().find(|(_, home)| same(home)) {
        return Verdict::Refused(Refusal::SystemHome { path: path.to_path_buf(), account: name.clone() });
    }
    guarded.refusal(path).map_or(Verdict::Ok, Verdict::Refused)
}

#[cfg(test)]
mod tests;
