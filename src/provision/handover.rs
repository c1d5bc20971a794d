//! docker-stacks' CHOWN_HOME and CHOWN_EXTRA (`--chown`, `--chown-tree`): a tree handed to the user,
//! done by root through a tree the user can write, and so done by descriptors.
//!
//! `chown -R` as root in a tree the user controls gives the user any file they can hard-link or
//! symlink into it, and a directory swapped for a symlink mid-walk leads it anywhere. Here every
//! directory is opened relative to its parent with O_NOFOLLOW, every entry is changed through a
//! descriptor of the very inode that was judged (never by name after the check), and nothing owned by
//! root or by a system account is changed: a hard link to /etc/shadow, or whatever a symlink points
//! at, stays as it is, counted in the log. Nor is a file with more than one link that is not the
//! user's already: its other name may be in another account's home (uid 1001's file, hard-linked into
//! the user's), so it is left as it is and named in a warning. What else belongs to anyone else (the
//! image's old jovyan files, a host volume's uid 501 files) is handed over, as users of CHOWN_HOME
//! expect. Mounts inside the
//! tree are the operator's and are walked, as `chown -R` walks them.

use std::collections::HashSet;
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use nix::dir::Type;
use nix::errno::Errno;
use nix::fcntl::{openat, openat2, AtFlags, OFlag, OpenHow, ResolveFlag, AT_FDCWD};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};
use nix::unistd::{fchownat, Gid, Uid};

/// How often a long hand-over says how far it is.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// A path to hand over, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandOver {
    pub path: PathBuf,
    /// the whole tree (`-R`), or the directory itself
    pub recursive: bool,
    /// what asked for it, for the log: CHOWN_HOME, CHOWN_EXTRA, --chown, --chown-tree
    pub origin: &'static str,
}

/// What a hand-over did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// given to the user
    pub changed: u64,
    /// the user's already
    pub already: u64,
    /// root's or a system account's: left as they are
    pub left_alone: u64,
    /// could not be looked at or changed (gone meanwhile, a descriptor limit): the first reason
    pub failed: u64,
    pub first_failure: Option<String>,
    /// files with more than one link that were not the user's: left as they are, since the other
    /// link may be anywhere (another account's home); the first [`MAX_NAMED`] by path
    pub linked: u64,
    pub linked_paths: Vec<PathBuf>,
}

/// How many of the files left alone for their links are named in the log.
pub const MAX_NAMED: usize = 20;

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.changed += other.changed;
        self.already += other.already;
        self.left_alone += other.left_alone;
        self.failed += other.failed;
        self.first_failure = self.first_failure.take().or(other.first_failure);
        self.linked += other.linked;
        let room = MAX_NAMED.saturating_sub(self.linked_paths.len());
        self.linked_paths.extend(other.linked_paths.into_iter().take(room));
    }

    fn hard_linked(&mut self, path: PathBuf) {
        self.linked += 1;
        if self.linked_paths.len() < MAX_NAMED {
            self.linked_paths.push(path);
        }
    }

    fn fail(&mut self, path: &Path, what: &str, e: Errno) {
        self.failed += 1;
        if self.first_failure.is_none() {
            self.first_failure = Some(format!("cannot {what} {}: {}", path.display(), e.desc()));
        }
    }
}

/// Who may never be handed over: root, and every account of the image's passwd outside the regular
/// range (daemon, shadow's group owner, nobody). A uid with no account (a host volume's 501) is not
/// protected.
#[derive(Debug, Clone, Default)]
pub struct Protected {
    pub uids: HashSet<u32>,
    /// the home directories of those accounts (root's /root, daemon's /usr/sbin, www-data's
    /// /var/www), each with the account's name: never handed over themselves
    pub homes: Vec<(String, PathBuf)>,
}

impl Protected {
    /// From the passwd text and the regular range (UID_MIN..UID_MAX).
    pub fn from_passwd(passwd: &str, regular: &std::ops::RangeInclusive<u32>) -> Protected {
        let mut uids = HashSet::from([0]);
        let mut homes = Vec::new();
        for account in crate::userdb::passwd_entries(passwd) {
            let uid = account.uid.as_raw();
            if uid == 0 || !regular.contains(&uid) {
                uids.insert(uid);
                if account.dir.is_absolute() {
                    homes.push((account.name, account.dir));
                }
            }
        }
        Protected { uids, homes }
    }

    /// From this system's /etc/passwd and /etc/login.defs.
    pub fn system() -> Protected {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        Protected::from_passwd(&passwd, &crate::userdb::regular_uids())
    }

    fn owns(&self, st: &FileStat) -> bool {
        self.uids.contains(&st.st_uid)
    }
}

/// Why a hand-over did not start at all.
#[derive(Debug, thiserror::Error)]
pub enum HandOverError {
    #[error("{} has a symbolic link in it (planted?); give the real path", .0.display())]
    Symlink(PathBuf),
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("cannot open {}: {}", .0.display(), .1.desc())]
    Open(PathBuf, Errno),
    #[error("{} is the root directory; handing it over would give the user /etc to rename", .0.display())]
    Root(PathBuf),
    #[error("{} is the home of {}, an account that is not a regular user's", .0.display(), .1)]
    ProtectedHome(PathBuf, String),
}

/// Hand `job.path` to `to`: the directory itself, whoever owns it (a fresh volume arrives root's),
/// unless a symlink is on the way to it; with `recursive`, then everything below that `protected`
/// does not own, on as many threads as there are cores (at most 8). Only for a job the plan let
/// through (`refusal::Judged`). `progress` is called every [`PROGRESS_EVERY`] with the entries done
/// and those left alone so far.
pub fn hand_over(
    job: &HandOver,
    to: (Uid, Gid),
    protected: &Protected,
    mut progress: impl FnMut(u64, u64),
) -> Result<Tally, HandOverError> {
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let top = match openat2(AT_FDCWD, &job.path, how) {
        Ok(fd) => fd,
        Err(Errno::ELOOP) => return Err(HandOverError::Symlink(job.path.clone())),
        // O_NOFOLLOW with O_DIRECTORY says ENOTDIR for a symlink at the end of the path
        Err(Errno::ENOTDIR) if job.path.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) => {
            return Err(HandOverError::Symlink(job.path.clone()))
        }
        Err(Errno::ENOTDIR) => return Err(HandOverError::NotADirectory(job.path.clone())),
        Err(e) => return Err(HandOverError::Open(job.path.clone(), e)),
    };
    let mut tally = Tally::default();
    let st = fstat(&top).map_err(|e| HandOverError::Open(job.path.clone(), e))?;
    let same = |other: &FileStat| (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino);
    // The plan refused `/` and these homes by path and by the inode the path named then (see
    // `refusal::judge`); the directory opened is what counts, and only a mount made since (a hook's)
    // could make it one of them now, so it is looked at once more.
    if nix::sys::stat::stat("/").is_ok_and(|root| same(&root)) {
        return Err(HandOverError::Root(job.path.clone()));
    }
    if let Some((name, _)) = protected.homes.iter().find(|(_, home)| nix::sys::stat::stat(home).is_ok_and(|h| same(&h)))
    {
        return Err(HandOverError::ProtectedHome(job.path.clone(), name.clone()));
    }
    if (st.st_uid, st.st_gid) == (to.0.as_raw(), to.1.as_raw()) {
        tally.already += 1;
    } else {
        match nix::unistd::fchown(&top, Some(to.0), Some(to.1)) {
            Ok(()) => tally.changed += 1,
            Err(e) => tally.fail(&job.path, "change", e),
        }
    }
    if !job.recursive {
        return Ok(tally);
    }
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let shared = Shared {
        queue: Mutex::new(Queue { dirs: vec![(top, Place::top(&job.path))], busy: 0 }),
        changed: Condvar::new(),
        workers,
        entries: AtomicU64::new(0),
        left_alone: AtomicU64::new(0),
    };
    let tallies = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers).map(|_| scope.spawn(|| shared.work(to, protected))).collect();
        // this thread only reports, until the walk is over
        let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        while !queue.over() {
            let (next, waited) = shared.changed.wait_timeout(queue, PROGRESS_EVERY).unwrap_or_else(|e| e.into_inner());
            queue = next;
            if waited.timed_out() && !queue.over() {
                progress(shared.entries.load(Ordering::Relaxed), shared.left_alone.load(Ordering::Relaxed));
            }
        }
        drop(queue);
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect::<Vec<_>>()
    });
    for t in tallies {
        tally.merge(t);
    }
    Ok(tally)
}

/// The directories waiting for a worker, and how many workers are inside one.
struct Queue {
    dirs: Vec<(OwnedFd, Arc<Place>)>,
    busy: usize,
}

impl Queue {
    fn over(&self) -> bool {
        self.dirs.is_empty() && self.busy == 0
    }
}

/// What the workers share: the queue, and counters for the progress line.
struct Shared {
    queue: Mutex<Queue>,
    changed: Condvar,
    workers: usize,
    entries: AtomicU64,
    left_alone: AtomicU64,
}

impl Shared {
    /// A directory to walk; `None` once every directory is done.
    fn take(&self) -> Option<(OwnedFd, Arc<Place>)> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(dir) = queue.dirs.pop() {
                queue.busy += 1;
                return Some(dir);
            }
            if queue.busy == 0 {
                self.changed.notify_all();
                return None;
            }
            queue = self.changed.wait(queue).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Give a directory to an idle worker, if the queue is short; otherwise it is `dir` back, for
    /// the caller to walk itself (so the open descriptors stay few, whatever the tree's width).
    fn offer(&self, dir: (OwnedFd, Arc<Place>)) -> Option<(OwnedFd, Arc<Place>)> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.dirs.len() >= self.workers {
            return Some(dir);
        }
        queue.dirs.push(dir);
        self.changed.notify_one();
        None
    }

    fn done(&self) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.busy -= 1;
        if queue.over() {
            self.changed.notify_all();
        }
    }

    /// One worker: directories from the queue, each walked depth first.
    fn work(&self, to: (Uid, Gid), protected: &Protected) -> Tally {
        let mut walk = Walk { to, protected, tally: Tally::default(), eager: false };
        while let Some((fd, path)) = self.take() {
            let mut stack = vec![Level::read(fd, path, &mut walk.tally)];
            while let Some(level) = stack.last_mut() {
                let Some((name, dtype)) = level.names.pop() else {
                    stack.pop();
                    continue;
                };
                let before = walk.tally.left_alone;
                let sub = walk.entry(level, &name, dtype).map(|fd| (fd, Place::child(&level.place, &name)));
                if let Some((fd, place)) = sub.and_then(|sub| self.offer(sub)) {
                    stack.push(Level::read(fd, place, &mut walk.tally));
                }
                self.entries.fetch_add(1, Ordering::Relaxed);
                self.left_alone.fetch_add(walk.tally.left_alone - before, Ordering::Relaxed);
            }
            self.done();
        }
        walk.tally
    }
}

/// One directory being walked: its descriptor, its place in the tree, and the names in it still to
/// do. Nothing in it grows with the depth: a whole path is made from the places only for a message,
/// so 9,000 nested directories cost 9,000 levels of this size, not the square of their depth.
struct Level {
    dir: OwnedFd,
    place: Arc<Place>,
    names: Vec<(CString, Option<Type>)>,
}

/// A directory's place in the tree: its own name (the walk's top: its whole path) and its parent's
/// place, shared by every directory in it and by the queue.
struct Place {
    name: OsString,
    parent: Option<Arc<Place>>,
}

impl Place {
    fn top(path: &Path) -> Arc<Place> {
        Arc::new(Place { name: path.as_os_str().to_os_string(), parent: None })
    }

    fn child(parent: &Arc<Place>, name: &CString) -> Arc<Place> {
        Arc::new(Place { name: OsStr::from_bytes(name.to_bytes()).to_os_string(), parent: Some(parent.clone()) })
    }

    /// The whole path, from the top's.
    fn path(&self) -> PathBuf {
        let mut names = vec![self.name.as_os_str()];
        let mut at = self.parent.as_deref();
        while let Some(place) = at {
            names.push(place.name.as_os_str());
            at = place.parent.as_deref();
        }
        names.iter().rev().map(Path::new).collect()
    }
}

impl Drop for Place {
    /// A long chain let go at once is dropped in a loop, not by as many nested drops as it is deep.
    fn drop(&mut self) {
        let mut parent = self.parent.take();
        while let Some(place) = parent {
            parent = Arc::try_unwrap(place).ok().and_then(|mut place| place.parent.take());
        }
    }
}

impl Level {
    fn read(dir: OwnedFd, place: Arc<Place>, tally: &mut Tally) -> Level {
        let path = || place.path();
        let mut names = Vec::new();
        match dir
            .try_clone()
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))
            .and_then(nix::dir::Dir::from_fd)
        {
            Ok(mut listing) => {
                for entry in listing.iter() {
                    match entry {
                        Ok(e) if matches!(e.file_name().to_bytes(), b"." | b"..") => {}
                        Ok(e) => names.push((e.file_name().to_owned(), e.file_type())),
                        Err(e) => tally.fail(&path(), "list", e),
                    }
                }
            }
            Err(e) => tally.fail(&path(), "list", e),
        }
        Level { dir, place, names }
    }
}

struct Walk<'a> {
    to: (Uid, Gid),
    protected: &'a Protected,
    tally: Tally,
    /// the last entry needed a change: go straight to the descriptor
    eager: bool,
}

impl Walk<'_> {
    /// Judge and hand over one entry of `level` (`dtype`: what the directory listing says it is); a
    /// directory to walk into is returned, open.
    ///
    /// Two ways, by what the entries before it needed: after one that was already right (a restart),
    /// a look by name first, which is all an unchanged file costs; after one that changed (a fresh
    /// tree), straight to the descriptor. Either way the change itself is made only through a
    /// descriptor of the inode that was judged.
    fn entry(&mut self, level: &Level, name: &CString, dtype: Option<Type>) -> Option<OwnedFd> {
        let path = || level.place.path().join(OsStr::from_bytes(name.to_bytes()));
        let seen = if self.eager && dtype.is_some() {
            None
        } else {
            match fstatat(&level.dir, name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => Some(st),
                Err(e) => {
                    self.tally.fail(&path(), "inspect", e);
                    return None;
                }
            }
        };
        let is_dir =
            seen.as_ref().map_or(dtype == Some(Type::Directory), |st| crate::trust::kind(st) == SFlag::S_IFDIR);
        if let Some(seen) = seen.as_ref().filter(|st| !is_dir && self.unchanged(st)) {
            self.count_unchanged(seen);
            return None;
        }
        let flags = if is_dir {
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
        } else {
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
        };
        let fd = match openat(&level.dir, name.as_c_str(), flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(e) => {
                self.tally.fail(&path(), "open", e);
                return None;
            }
        };
        // From here on only the descriptor counts: the name may have been swapped since the look.
        let st = match fstat(&fd) {
            Ok(st) if seen.as_ref().is_none_or(|s| (s.st_dev, s.st_ino) == (st.st_dev, st.st_ino)) => st,
            Ok(_) => {
                self.tally.fail(&path(), "hand over (it was replaced meanwhile)", Errno::EAGAIN);
                return None;
            }
            Err(e) => {
                self.tally.fail(&path(), "inspect", e);
                return None;
            }
        };
        if self.unchanged(&st) {
            self.count_unchanged(&st);
            self.eager = false;
        } else if !is_dir && st.st_nlink > 1 && st.st_uid != self.to.0.as_raw() {
            // another name of this inode may be anywhere on this filesystem: a file of another
            // account's, hard-linked into the tree by the user
            self.tally.hard_linked(path());
        } else {
            match fchownat(&fd, "", Some(self.to.0), Some(self.to.1), AtFlags::AT_EMPTY_PATH) {
                Ok(()) => self.tally.changed += 1,
                Err(e) => self.tally.fail(&path(), "change", e),
            }
            self.eager = true;
        }
        (is_dir && crate::trust::kind(&st) == SFlag::S_IFDIR).then_some(fd)
    }

    /// Nothing to do: root's or a system account's, or the user's already.
    fn unchanged(&self, st: &FileStat) -> bool {
        self.protected.owns(st) || self.theirs(st)
    }

    fn theirs(&self, st: &FileStat) -> bool {
        (st.st_uid, st.st_gid) == (self.to.0.as_raw(), self.to.1.as_raw())
    }

    fn count_unchanged(&mut self, st: &FileStat) {
        if self.theirs(st) {
            self.tally.already += 1;
        } else {
            self.tally.left_alone += 1;
        }
    }
}
