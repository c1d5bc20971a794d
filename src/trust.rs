//! Which paths root may rely on, judged as written: the one place the trust rule lives.
//!
//! Root reads hooks, skel files and env files, and creates logs, reports, homes and passwd copies, in
//! trees that users may be able to write to. A path is therefore never resolved first and judged
//! afterwards: it is walked from `/`, one component at a time, each opened with `O_PATH|O_NOFOLLOW`
//! relative to the directory before it, and judged as it is met:
//!
//! - every directory passed through must be owned by root and not writable by group or others, or be
//!   a root-owned sticky directory (`/tmp`), in which nobody can rename or replace what root put there;
//! - a symlink is followed only from a directory that passes that rule, and not at all if it sits in a
//!   sticky directory and is not root's (systemd-tmpfiles' "unsafe path transition"); its target is
//!   walked by the same rule;
//! - the object at the end is judged by what root does with it ([`Last`]).
//!
//! This is the rule of sshd's StrictModes and sudo, applied to each step of the way rather than to
//! where the way ends. The walk itself never writes, never opens anything for reading, and goes on
//! past a refused step (with `O_PATH`, looking is harmless), so that `--allow-untrusted-hooks` and the
//! plan can still say where a path leads; callers refuse whatever has a reason.
//!
//! [`create_fresh`] is the one way root creates a file for the user: by descriptor, in a directory
//! the walk judged, never through what already stands at the name.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, OFlag, AT_FDCWD};
use nix::sys::stat::{fchmod, fstat, fstatat, FileStat, Mode, SFlag};
use nix::unistd::{fchown, unlinkat, UnlinkatFlags};

use crate::error::IoAt;
use crate::system::{Gid, Uid};

/// Symlinks followed in one walk before giving up, as the kernel's limit.
const MAX_LINKS: usize = 40;

/// How the object a path ends in is judged, by what root does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Last {
    /// a directory whose contents root trusts (hooks, skel, PATH): owned by root, not writable by
    /// group or others, sticky or not
    Dir,
    /// a directory root creates something in, by descriptor and with `O_EXCL`: as [`Last::Dir`], or a
    /// root-owned sticky directory such as /tmp
    CreateIn,
    /// a program root runs: owned by root, not writable by group or others
    File,
    /// only the way there is judged: a file root reads on the user's behalf
    Reached,
}

/// Where a walk ended.
#[derive(Debug)]
pub struct Walked {
    /// the path with every symlink, `.` and `..` resolved: only real directories, as walked
    pub path: PathBuf,
    /// the object itself, opened with `O_PATH` (usable as the directory of `*at` calls)
    pub fd: OwnedFd,
    pub stat: FileStat,
    /// the first reason, from `/` on, why someone other than root could have steered the way or
    /// changed the object; `None` when root may rely on it
    pub untrusted: Option<String>,
    /// who that reason says could: set whenever `untrusted` is
    pub changer: Option<Changer>,
}

/// Who other than root could change or steer what the rule refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changer {
    /// the owner of the file, directory or symlink
    Uid(u32),
    /// the members of a group that may write it
    Group(u32),
    /// any user: it is writable by others
    Anyone,
}

impl std::fmt::Display for Changer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Changer::Uid(uid) => write!(f, "uid {uid}"),
            Changer::Group(gid) => write!(f, "group {gid}"),
            Changer::Anyone => write!(f, "any user"),
        }
    }
}

impl Walked {
    pub fn is_dir(&self) -> bool {
        kind(&self.stat) == SFlag::S_IFDIR
    }

    pub fn is_file(&self) -> bool {
        kind(&self.stat) == SFlag::S_IFREG
    }
}

/// What kind of file a stat is of (regular, directory, symlink, ...).
pub(crate) fn kind(stat: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits())
}

const STICKY: u32 = 0o1000;

/// The rule itself: who other than root could change what `stat` describes, if anyone could. A
/// sticky directory (`sticky_ok`) passes when it is root's.
fn changer(stat: &FileStat, sticky_ok: bool) -> Option<Changer> {
    if stat.st_uid != 0 {
        return Some(Changer::Uid(stat.st_uid));
    }
    if sticky_ok && stat.st_mode & STICKY != 0 {
        return None;
    }
    if stat.st_mode & 0o020 != 0 {
        return Some(Changer::Group(stat.st_gid));
    }
    (stat.st_mode & 0o002 != 0).then_some(Changer::Anyone)
}

/// Why `path` may not be relied on, in words that name `what` (e.g. "directory /x", "it") and the
/// fix, and who could change it.
fn verdict(what: &str, path: &Path, stat: &FileStat, sticky_ok: bool) -> Option<(String, Changer)> {
    let p = path.display();
    let who = changer(stat, sticky_ok)?;
    let why = match who {
        Changer::Uid(uid) => format!("{what} is owned by uid {uid}, not root (chown root {p})"),
        Changer::Group(gid) => format!("{what} is writable by group {gid} (chmod g-w {p})"),
        Changer::Anyone => format!("{what} is writable by others (chmod o-w {p})"),
    };
    Some((why, who))
}

fn dir_verdict(path: &Path, stat: &FileStat, sticky_ok: bool) -> Option<(String, Changer)> {
    verdict(&format!("directory {}", path.display()), path, stat, sticky_ok)
}

/// Why the directory `path` may not be passed through, or (`sticky_ok` false) relied on, if it may
/// not.
pub fn judge_dir(path: &Path, stat: &FileStat, sticky_ok: bool) -> Option<String> {
    dir_verdict(path, stat, sticky_ok).map(|(why, _)| why)
}

/// Why the file `path` may not be run as root, if it may not.
pub fn judge_file(path: &Path, stat: &FileStat) -> Option<String> {
    verdict("it", path, stat, false).map(|(why, _)| why)
}

fn open_path(dir: impl AsFd, name: &Path) -> nix::Result<OwnedFd> {
    openat(dir, name, OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())
}

fn error_at(path: &Path, e: Errno) -> io::Error {
    let e = io::Error::from(e);
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// The components still to walk, last first, so a symlink's target can be put in front cheaply.
fn pending(path: &Path) -> Vec<OsString> {
    let mut parts: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    parts.reverse();
    parts
}

struct Level {
    fd: OwnedFd,
    path: PathBuf,
    stat: FileStat,
}

/// Walk the absolute `path` from `/` as written and judge it (see the module doc). An error means the
/// path does not lead anywhere (a missing component, a loop), with the component named.
pub fn walk(path: &Path, last: Last) -> io::Result<Walked> {
    if !path.is_absolute() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not an absolute path", path.display())));
    }
    let root = open_path(AT_FDCWD, Path::new("/")).map_err(|e| error_at(Path::new("/"), e))?;
    let stat = fstat(&root).map_err(|e| error_at(Path::new("/"), e))?;
    let mut levels = vec![Level { fd: root, path: PathBuf::from("/"), stat }];
    let mut todo = pending(path);
    let mut untrusted: Option<(String, Changer)> = None;
    let mut links = 0;
    while let Some(name) = todo.pop() {
        if name == ".." {
            if levels.len() > 1 {
                levels.pop();
            }
            continue;
        }
        // the root level is never popped, so there is always a parent
        let Some(parent) = levels.last() else { return Err(error_at(Path::new("/"), Errno::ENOENT)) };
        let here = parent.path.join(&name);
        if kind(&parent.stat) != SFlag::S_IFDIR {
            return Err(error_at(&here, Errno::ENOTDIR));
        }
        if untrusted.is_none() {
            untrusted = dir_verdict(&parent.path, &parent.stat, true);
        }
        let fd = open_path(&parent.fd, Path::new(&name)).map_err(|e| error_at(&here, e))?;
        let stat = fstat(&fd).map_err(|e| error_at(&here, e))?;
        if kind(&stat) != SFlag::S_IFLNK {
            levels.push(Level { fd, path: here, stat });
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            return Err(error_at(&here, Errno::ELOOP));
        }
        // A sticky directory passes only because nobody can replace root's entries in it; anyone can
        // add their own, so a symlink there leads somewhere only if root made it.
        if untrusted.is_none() && parent.stat.st_mode & STICKY != 0 && stat.st_uid != 0 {
            let why = format!(
                "{} is a symbolic link owned by uid {} in the sticky directory {}; not following it",
                here.display(),
                stat.st_uid,
                parent.path.display()
            );
            untrusted = Some((why, Changer::Uid(stat.st_uid)));
        }
        let target = readlinkat(&parent.fd, Path::new(&name)).map_err(|e| error_at(&here, e))?;
        let target = Path::new(&target);
        if target.is_absolute() {
            levels.truncate(1);
        }
        todo.extend(pending(target));
    }
    let Some(end) = levels.pop() else { return Err(error_at(path, Errno::ENOENT)) };
    let at_end = match last {
        Last::Dir if kind(&end.stat) == SFlag::S_IFDIR => dir_verdict(&end.path, &end.stat, false),
        Last::CreateIn if kind(&end.stat) == SFlag::S_IFDIR => dir_verdict(&end.path, &end.stat, true),
        Last::File if kind(&end.stat) == SFlag::S_IFREG => verdict("it", &end.path, &end.stat, false),
        _ => None,
    };
    let (untrusted, changer) = untrusted.or(at_end).unzip();
    Ok(Walked { path: end.path, fd: end.fd, stat: end.stat, untrusted, changer })
}

/// Why a path that a value names (a variable on its way to a root hook) could lead to something
/// another user can change, if it could: the way there is judged as [`walk`] does; what stands at the
/// end must be root's (a directory or regular file, also not writable by group or others; a root-owned
/// sticky directory such as /tmp passes); and a path that does not exist yet is judged by the
/// directory it would be made in, which must not be anyone else's or writable by others.
pub fn judge_named(path: &Path) -> Option<String> {
    let mut at = path;
    loop {
        match walk(at, Last::Reached) {
            Ok(walked) if walked.untrusted.is_some() => return walked.untrusted,
            Ok(walked) if at != path => {
                return match walked.is_dir() {
                    true => judge_dir(&walked.path, &walked.stat, false),
                    false => Some(format!("{} is not a directory", walked.path.display())),
                }
            }
            Ok(walked) if walked.is_dir() => return judge_dir(&walked.path, &walked.stat, true),
            Ok(walked) if walked.is_file() => {
                return judge_file(&walked.path, &walked.stat).map(|why| format!("{}: {why}", walked.path.display()))
            }
            Ok(walked) if walked.stat.st_uid != 0 => {
                return Some(format!("{} is owned by uid {}, not root", walked.path.display(), walked.stat.st_uid))
            }
            Ok(_) => return None,
            Err(e) if e.kind() == io::ErrorKind::NotFound => match at.parent() {
                Some(parent) => at = parent,
                None => return Some(format!("it cannot be walked: {}", e.kind())),
            },
            // the error names the path, which is the value's text: only what went wrong is said
            Err(e) => return Some(format!("it cannot be walked: {}", e.kind())),
        }
    }
}

/// Why root will not read or create a file at a path.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// the path leads nowhere (a missing component, a loop)
    #[error("{0}")]
    Unreachable(#[source] io::Error),
    /// someone other than root could steer or change it: the rule's reason
    #[error("{reason}; a user could redirect {what}")]
    Untrusted { reason: String, what: &'static str },
    #[error("{} is not a regular file", .0.display())]
    NotRegular(PathBuf),
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("{} names no file", .0.display())]
    NoFileName(PathBuf),
    #[error("{} changed while it was opened", .0.display())]
    Changed(PathBuf),
    #[error("{} is a symbolic link (planted?); remove it", .0.display())]
    PlantedLink(PathBuf),
    #[error(
        "{} already exists (owned by uid {uid}) and roothooks did not write it; not replacing it (remove it or \
         choose another path)",
        path.display()
    )]
    NotOurs { path: PathBuf, uid: u32 },
    #[error(transparent)]
    Io(#[from] IoAt),
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(Errno) -> PathError {
    let at = IoAt::on(action, path);
    move |e| PathError::Io(at(e))
}

/// Open the regular file `path` for reading, as root, for the user's benefit: the way there must pass
/// the rule, and anything but a regular file (a FIFO, a device) is refused before it is opened.
pub fn open_for_reading(path: &Path) -> Result<File, PathError> {
    let walked = walk(path, Last::Reached).map_err(PathError::Unreachable)?;
    if let Some(reason) = walked.untrusted {
        return Err(PathError::Untrusted { reason, what: "it" });
    }
    if !walked.is_file() {
        return Err(PathError::NotRegular(walked.path));
    }
    // Every directory on the way is root's, so the name still means the object just judged; the
    // flags make sure of it all the same.
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let fd = openat(AT_FDCWD, &walked.path, flags, Mode::empty()).map_err(io_error("open", &walked.path))?;
    let now = fstat(&fd).map_err(io_error("inspect", &walked.path))?;
    if (now.st_dev, now.st_ino) != (walked.stat.st_dev, walked.stat.st_ino) {
        return Err(PathError::Changed(walked.path));
    }
    Ok(File::from(fd))
}

/// What already standing at a name [`create_fresh`] may remove. Anything else stays, and nothing is
/// written there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// a regular file of this uid: the user's copy from an earlier start
    OwnedBy(Uid),
    /// a regular root-owned file with one link that starts with these bytes: one roothooks wrote
    Marked(&'static [u8]),
}

impl Stale {
    fn allows(&self, dir: &OwnedFd, name: &Path, stat: &FileStat) -> bool {
        match *self {
            Stale::OwnedBy(uid) => stat.st_uid == uid.as_raw(),
            Stale::Marked(marker) => {
                let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
                let mut start = vec![0; marker.len()];
                stat.st_uid == 0
                    && stat.st_nlink == 1
                    && openat(dir, name, flags, Mode::empty())
                        .map(File::from)
                        .is_ok_and(|mut f| f.read_exact(&mut start).is_ok() && start == marker)
            }
        }
    }
}

/// Create `path` as a new file, mode `mode`, given to `owner` when there is one, and open it for
/// writing. The directory is walked first and must pass [`Last::CreateIn`]; a symlink or anything
/// but a regular file at the name is refused, and a regular file is removed only if `stale` allows
/// it. The file itself is made with `O_CREAT|O_EXCL|O_NOFOLLOW` in the directory's descriptor.
pub fn create_fresh(path: &Path, owner: Option<(Uid, Gid)>, mode: u32, stale: Stale) -> Result<File, PathError> {
    let (dir, name) = creatable(path)?;
    create_in(&dir, name, owner, mode, stale)
}

/// As [`create_fresh`] with [`Stale::OwnedBy`] `keeper`, except that `keeper`'s own copy from an
/// earlier start is rewritten in place ([`reopen_own`]). Returns the file and the length it had (0
/// when created): it is not truncated, the caller cuts it to what it writes.
pub fn reuse_or_create(
    path: &Path,
    keeper: Uid,
    owner: Option<(Uid, Gid)>,
    mode: u32,
) -> Result<(File, u64), PathError> {
    let (dir, name) = creatable(path)?;
    match reopen_own(&dir, name, keeper, owner, mode) {
        Some(reused) => Ok(reused),
        None => create_in(&dir, name, owner, mode, Stale::OwnedBy(keeper)).map(|file| (file, 0)),
    }
}

/// The directory a file at `path` is to be made in, walked and judged by [`Last::CreateIn`], and the
/// file's name in it.
fn creatable(path: &Path) -> Result<(Walked, &Path), PathError> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(PathError::NoFileName(path.to_path_buf()));
    };
    let dir = walk(parent, Last::CreateIn).map_err(PathError::Unreachable)?;
    if !dir.is_dir() {
        return Err(PathError::NotADirectory(dir.path));
    }
    if let Some(reason) = dir.untrusted {
        return Err(PathError::Untrusted { reason, what: "the file" });
    }
    Ok((dir, Path::new(name)))
}

/// [`create_fresh`] in a directory [`creatable`] judged.
fn create_in(dir: &Walked, name: &Path, owner: Option<(Uid, Gid)>, mode: u32, stale: Stale) -> Result<File, PathError> {
    let full = dir.path.join(name);
    match fstatat(&dir.fd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) if kind(&st) == SFlag::S_IFLNK => return Err(PathError::PlantedLink(full)),
        Ok(st) if kind(&st) != SFlag::S_IFREG => return Err(PathError::NotRegular(full)),
        Ok(st) if !stale.allows(&dir.fd, name, &st) => return Err(PathError::NotOurs { path: full, uid: st.st_uid }),
        Ok(_) => unlinkat(&dir.fd, name, UnlinkatFlags::NoRemoveDir).map_err(io_error("replace", &full))?,
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(io_error("inspect", &full)(e)),
    }
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(&dir.fd, name, flags, Mode::from_bits_truncate(0o600)).map_err(io_error("create", &full))?;
    if let Some((uid, gid)) = owner {
        fchown(&fd, Some(uid), Some(gid)).map_err(io_error("chown", &full))?;
    }
    fchmod(&fd, Mode::from_bits_truncate(mode)).map_err(io_error("chmod", &full))?;
    Ok(File::from(fd))
}

/// `keeper`'s own copy `name` in `dir` from an earlier start, opened for writing in place (not
/// truncated) with its length, given to `owner` with `mode` if it has changed since; `None` when
/// there is no such file to reuse, and [`create_in`] decides. The file must be a regular file of
/// `keeper` with one link: judged on an `O_PATH` descriptor (`O_NOFOLLOW`: a symlink is judged as
/// itself), which is then reopened for writing through `/proc/self/fd`, so the inode judged is the
/// inode written and nothing else is ever opened for writing (not a FIFO, not a device).
///
/// Why: replacing the file (unlink, create, chown, chmod) is what the copy's cost is on ext4,
/// 0.08-0.3 ms of a start depending on how cold the file system's paths are; rewriting it in place
/// is a third of that.
fn reopen_own(dir: &Walked, name: &Path, keeper: Uid, owner: Option<(Uid, Gid)>, mode: u32) -> Option<(File, u64)> {
    let judged = openat(&dir.fd, name, OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty()).ok()?;
    let stat = fstat(&judged).ok()?;
    if kind(&stat) != SFlag::S_IFREG || stat.st_uid != keeper.as_raw() || stat.st_nlink != 1 {
        return None;
    }
    let reopen = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&judged));
    let flags = OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK;
    let file = File::from(openat(AT_FDCWD, Path::new(&reopen), flags, Mode::empty()).ok()?);
    let now = fstat(&file).ok()?;
    if (now.st_dev, now.st_ino) != (stat.st_dev, stat.st_ino) {
        return None; // not the inode judged (no /proc of ours): create anew instead
    }
    if let Some((uid, gid)) = owner {
        if (stat.st_uid, stat.st_gid) != (uid.as_raw(), gid.as_raw()) {
            fchown(&file, Some(uid), Some(gid)).ok()?;
        }
    }
    if stat.st_mode & 0o7777 != mode {
        fchmod(&file, Mode::from_bits_truncate(mode)).ok()?;
    }
    Some((file, u64::try_from(now.st_size).unwrap_or(u64::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn system_directories_pass_and_the_walk_resolves_dots_and_links() {
        let w = walk(Path::new("/usr/./bin/../bin"), Last::Dir).unwrap();
        assert_eq!(w.path, PathBuf::from("/usr/bin"));
        assert!(w.is_dir() && w.untrusted.is_none(), "{:?}", w.untrusted);
        assert!(walk(Path::new("relative"), Last::Dir).is_err());
        assert_eq!(walk(Path::new("/no/such/dir"), Last::Dir).unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    fn as_root(test: &str) -> bool {
        let root = nix::unistd::geteuid().is_root();
        if !root {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{test} needs root; CI must run it");
            eprintln!("SKIPPED {test}: needs root (the files must be root's for the rule to pass)");
        }
        root
    }

    #[test]
    fn a_sticky_directory_passes_on_the_way_but_not_as_the_directory_relied_on() {
        if !as_root("a_sticky_directory_passes_on_the_way_but_not_as_the_directory_relied_on") {
            return;
        }
        let top = tempfile::tempdir().unwrap();
        chmod(top.path(), 0o755);
        let sticky = top.path().join("tmp");
        std::fs::create_dir_all(sticky.join("root-owned")).unwrap();
        chmod(&sticky, 0o1777);
        let why = walk(&sticky, Last::Dir).unwrap().untrusted.unwrap();
        assert!(why.contains(&format!("directory {} is writable by group", sticky.display())), "{why}");
        assert_eq!(walk(&sticky, Last::CreateIn).unwrap().untrusted, None);
        assert_eq!(walk(&sticky.join("root-owned"), Last::Dir).unwrap().untrusted, None);
        // a symlink someone else put there is not followed, a root-owned one is
        symlink("root-owned", sticky.join("roots")).unwrap();
        assert_eq!(walk(&sticky.join("roots"), Last::Dir).unwrap().untrusted, None);
        symlink("root-owned", sticky.join("theirs")).unwrap();
        nix::unistd::fchownat(
            AT_FDCWD,
            &sticky.join("theirs"),
            Some(Uid::from_raw(4242)),
            None,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .unwrap();
        let why = walk(&sticky.join("theirs"), Last::Dir).unwrap().untrusted.unwrap();
        assert!(why.contains("is a symbolic link owned by uid 4242 in the sticky directory"), "{why}");
        assert_eq!(walk(&sticky.join("theirs"), Last::Dir).unwrap().changer, Some(Changer::Uid(4242)));
    }

    #[test]
    fn links_are_judged_where_they_stand_and_followed_by_the_same_rule() {
        if !as_root("links_are_judged_where_they_stand_and_followed_by_the_same_rule") {
            return;
        }
        let top = tempfile::tempdir().unwrap();
        chmod(top.path(), 0o755);
        let real = top.path().join("real");
        std::fs::create_dir(&real).unwrap();
        chmod(&real, 0o755);
        symlink("real", top.path().join("rel")).unwrap();
        symlink(&real, top.path().join("abs")).unwrap();
        for via in ["rel", "abs"] {
            let w = walk(&top.path().join(via), Last::Dir).unwrap();
            assert_eq!((w.path.as_path(), w.untrusted), (real.as_path(), None), "{via}");
        }
        // a link into a group-writable directory leads somewhere the rule refuses
        chmod(&real, 0o775);
        let w = walk(&top.path().join("rel/x/.."), Last::Dir);
        assert!(w.is_err(), "a missing component is an error");
        std::fs::create_dir(real.join("x")).unwrap();
        let walked = walk(&top.path().join("rel/x"), Last::Dir).unwrap();
        let why = walked.untrusted.unwrap();
        assert!(why.contains(&format!("directory {} is writable by group", real.display())), "{why}");
        assert_eq!(walked.changer, Some(Changer::Group(0)), "who the reason names");
        // a loop ends
        symlink("loop", top.path().join("loop")).unwrap();
        assert!(walk(&top.path().join("loop"), Last::Dir).is_err());
    }
}
