//! The user's home directory (`--create-home`): made if missing, owned by the user, mode 0700, filled
//! from /etc/skel; an existing one is left exactly as it is.
//!
//! Root works here on trees users can write to (a shared NFS volume), so everything is done relative
//! to directory descriptors: the directory above the home is walked as written by [`crate::trust`] and
//! must pass its rule (or a user could swap a part of the way for a symlink), the home is made in
//! that directory's descriptor, and no symlink is followed, nothing chowned or written through one.
//! The skel, read as root, is walked and judged the same way, and so is every directory inside it. The
//! new home is built aside, inside a holding directory of root's (0700, under a name of its own beside
//! the home), filled, handed to the user, and only then moved into place: a copy that fails halfway
//! (a full volume) leaves no home behind, and the next start makes it whole. The holder is removed on
//! any error, and after the move.
//!
//! Nobody but root can reach the home while it is in the holder, not even the user it already
//! belongs to, so what is moved into place is the directory root built ([`move_dir`] relies on it
//! where the file system cannot rename without replacing).
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nix::fcntl::{openat, AtFlags, OFlag, AT_FDCWD};
use nix::sys::stat::{fchmod, fstatat, mkdirat, Mode, SFlag};
use nix::unistd::fchown;

use crate::error::IoAt;
use crate::system::{Gid, Uid};
use crate::trust::{self, Last};

/// What `--create-home` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HomeOutcome {
    Existing,
    /// made, with the skel entries that were refused (symlinks, special files)
    Created {
        refused: Vec<String>,
    },
}

fn open_dir(dir: impl AsFd, name: &Path) -> nix::Result<OwnedFd> {
    openat(dir, name, OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
}

/// Why a home was not created.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// the path, or what stands at it, rules it out
    #[error("{0}")]
    Refused(String),
    #[error("parent of the home: {0}")]
    Parent(#[source] io::Error),
    #[error(transparent)]
    Io(#[from] IoAt),
}

/// Create `home` for `uid:gid` from `skel`, or leave it be if it exists.
pub fn create(home: &Path, uid: Uid, gid: Gid, skel: &Path) -> Result<HomeOutcome, HomeError> {
    let refused = |why: String| Err(HomeError::Refused(why));
    let io = |action: &'static str| {
        let at = IoAt::on(action, home);
        move |e: nix::errno::Errno| HomeError::Io(at(e))
    };
    let (Some(parent), Some(name)) = (home.parent().filter(|_| home.is_absolute()), home.file_name()) else {
        return refused(format!("home '{}' is not an absolute path below /; give --home", home.display()));
    };
    let name = Path::new(name);
    let parent = trust::walk(parent, Last::CreateIn).map_err(HomeError::Parent)?;
    if let Some(reason) = &parent.untrusted {
        return refused(format!("{reason}; a user could redirect the home, not creating {}", home.display()));
    }
    match fstatat(&parent.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) if crate::trust::kind(&st) == SFlag::S_IFLNK => {
            return refused(format!("{} is a symbolic link (planted?); not creating a home through it", home.display()))
        }
        Ok(st) if crate::trust::kind(&st) == SFlag::S_IFDIR => return Ok(HomeOutcome::Existing),
        Ok(_) => return refused(format!("{} exists and is not a directory", home.display())),
        Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(io("inspect")(e)),
    }
    let mut aside = std::ffi::OsString::from(".");
    aside.push(name.as_os_str());
    aside.push(format!(".roothooks-new.{}", std::process::id()));
    let aside = Path::new(&aside);
    mkdirat(&parent.fd, aside, Mode::from_bits_truncate(0o700)).map_err(io("create"))?;
    let built = open_dir(&parent.fd, aside).map_err(io("open the new home")).and_then(|holder| {
        let new = Path::new("home");
        mkdirat(&holder, new, Mode::from_bits_truncate(0o700)).map_err(io("create"))?;
        let skipped = open_dir(&holder, new)
            .map_err(io("open the new home"))
            .and_then(|home_fd| fill(&home_fd, home, uid, gid, skel))?;
        move_dir(&holder, new.as_os_str(), &parent.fd, name.as_os_str(), Source::Fixed)
            .map_err(io("move into place"))?;
        Ok(skipped)
    });
    match built {
        Ok(skipped) => {
            // the holder is empty now; one left behind holds nothing and is nobody's home
            let _ = nix::unistd::unlinkat(&parent.fd, aside, nix::unistd::UnlinkatFlags::RemoveDir);
            Ok(HomeOutcome::Created { refused: skipped })
        }
        Err(e) => {
            // only root made and wrote what stands there, in a directory only root can change
            let _ = fs::remove_dir_all(parent.path.join(aside));
            Err(e)
        }
    }
}

/// Whether the directory [`move_dir`] moves could be swapped for something else between the checks
/// and the rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// only root can rename or replace its entry (it lies in root's 0700 holder, or in a root-owned
    /// directory without the sticky bit): it is still the directory when it is renamed
    Fixed,
    /// its owner can rename it (their own entry in a sticky directory) and put a symlink in its place
    Swappable,
}

/// Give the directory `from` in `from_dir` the name `to` in `to_dir`, never replacing what stands
/// there (EEXIST then) and never following a symlink. `renameat2(RENAME_NOREPLACE)` does it in one
/// step; NFS, CephFS, 9p and many FUSE file systems refuse the flag with EINVAL (ENOSYS before Linux
/// 3.15). For a [`Source::Fixed`] directory the fallback is a plain rename, once the name is seen to
/// be free, and it is as safe: rename(2) acts on names and follows no symlink, and a directory
/// replaces only an empty directory (ENOTDIR for anything else, ENOTEMPTY or EEXIST for a directory
/// with entries), as each of those file systems' servers applies it too. So a user racing the check
/// (the parent may be a sticky /tmp, where anyone can add names) can at most have an empty directory
/// they put at the name in that moment replaced by the home: it held nothing, and nothing is written
/// through it. A [`Source::Swappable`] one could by then be its owner's symlink, and a plain rename of
/// a symlink replaces whatever non-directory stands at the name, anyone's: for it the EINVAL (or
/// ENOSYS) is returned, and the caller does something else.
fn move_dir(
    from_dir: &OwnedFd,
    from: &std::ffi::OsStr,
    to_dir: &OwnedFd,
    to: &std::ffi::OsStr,
    source: Source,
) -> nix::Result<()> {
    use nix::errno::Errno;
    let flags = nix::fcntl::RenameFlags::RENAME_NOREPLACE;
    match nix::fcntl::renameat2(from_dir, from, to_dir, to, flags) {
        Err(Errno::EINVAL | Errno::ENOSYS) if source == Source::Fixed => {}
        done => return done,
    }
    match fstatat(to_dir, to, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(_) => return Err(Errno::EEXIST),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    nix::fcntl::renameat(from_dir, from, to_dir, to).map_err(|e| match e {
        // something appeared at the name meanwhile: as RENAME_NOREPLACE would say
        Errno::ENOTDIR | Errno::ENOTEMPTY => Errno::EEXIST,
        e => e,
    })
}

/// Fill the new home, open as `home_fd`, from `skel`, then give it to `uid:gid`, mode 0700; returns
/// the skel entries refused.
fn fill(home_fd: &OwnedFd, home: &Path, uid: Uid, gid: Gid, skel: &Path) -> Result<Vec<String>, HomeError> {
    let io = |action: &'static str| {
        let at = IoAt::on(action, home);
        move |e: nix::errno::Errno| HomeError::Io(at(e))
    };
    let mut skipped = Vec::new();
    // Root reads the skel and gives copies to the user: a skel a user could change, or a path to it
    // a user could steer, could hand them anything root can read.
    match trust::walk(skel, Last::Dir) {
        Ok(w) if !w.is_dir() => {}
        Ok(w) if w.untrusted.is_some() => {
            let reason = w.untrusted.unwrap_or_default();
            skipped.push(format!("everything: {} is not trusted ({reason})", skel.display()));
        }
        Ok(w) => copy_tree(&w.path, home_fd, uid, gid, Path::new(""), &mut skipped)
            .map_err(|e| HomeError::Io(IoAt::on("fill from the skel", home)(e)))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => skipped.push(format!("everything: {e}")),
    }
    fchmod(home_fd, Mode::from_bits_truncate(0o700)).map_err(io("chmod"))?;
    fchown(home_fd, Some(uid), Some(gid)).map_err(io("chown"))?;
    Ok(skipped)
}

/// Copy the directory `from` into the open directory `to`, entry by entry, owned by `uid:gid`.
fn copy_tree(from: &Path, to: &OwnedFd, uid: Uid, gid: Gid, rel: &Path, refused: &mut Vec<String>) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let shown = rel.join(&name).display().to_string();
        let meta = fs::symlink_metadata(entry.path())?;
        let mode = Mode::from_bits_truncate(meta.permissions().mode() & 0o777);
        if meta.file_type().is_symlink() {
            refused.push(format!("{shown} (a symbolic link)"));
        } else if meta.is_dir() {
            // the skel itself passed; a directory inside it that someone else could change does not
            if let Some(reason) =
                trust::judge_dir(&entry.path(), &fstatat(AT_FDCWD, &entry.path(), AtFlags::AT_SYMLINK_NOFOLLOW)?, false)
            {
                refused.push(format!("{shown} ({reason})"));
                continue;
            }
            mkdirat(to, name.as_os_str(), Mode::from_bits_truncate(0o700))?;
            let sub = open_dir(to, Path::new(&name))?;
            copy_tree(&entry.path(), &sub, uid, gid, &rel.join(&name), refused)?;
            fchmod(&sub, mode)?;
            fchown(&sub, Some(uid), Some(gid))?;
        } else if meta.is_file() {
            // O_NOFOLLOW on the source too: skel swapped for a symlink after the check is not read
            let mut source = File::from(openat(
                AT_FDCWD,
                &entry.path(),
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?);
            if source.metadata()?.ino() != meta.ino() {
                refused.push(format!("{shown} (changed while copying)"));
                continue;
            }
            let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let mut dest = File::from(openat(to, name.as_os_str(), flags, Mode::from_bits_truncate(0o600))?);
            io::copy(&mut source, &mut dest)?;
            fchmod(&dest, mode)?;
            fchown(&dest, Some(uid), Some(gid))?;
        } else {
            refused.push(format!("{shown} (not a regular file or directory)"));
        }
    }
    Ok(())
}

/// What [`move_home`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moved {
    /// renamed, with a link left at the old place so that paths into it (conda environments, kernel
    /// specs) still work
    Moved,
    /// not renamed, and the new name links to the old home instead: why, for the log
    Linked(&'static str),
    /// something already stands at the new place (a restart): left as it is
    Exists,
    /// there was no old home
    Missing,
}

/// Why [`move_home`] linked: the old home is a mount point (a volume), which cannot be renamed.
pub const MOUNT_POINT: &str = "is a mount point and cannot be renamed";
/// Why [`move_home`] linked: see [`move_dir`]'s [`Source::Swappable`].
pub const NO_SAFE_RENAME: &str = "lies in a sticky directory, where the user could swap it for a symlink while it \
                                  is renamed, on a file system that cannot rename without replacing \
                                  (RENAME_NOREPLACE), so it is not renamed";

/// NB_USER renaming the account: give the home at `from` the name `to`, as docker-stacks' start.sh
/// does (it copies, or links when the copy fails). Both directories above must pass the trust rule,
/// and the home is renamed in one step in their descriptors: nothing in it is read, followed or
/// copied, so what the user put there (a symlink to a root file, a hard link) stays exactly as it was.
/// The old home is the user's: where its directory is sticky they can rename it themselves, so on a
/// file system without RENAME_NOREPLACE it is linked, not renamed (see [`move_dir`]); a symlink made
/// with symlinkat replaces nothing.
pub fn move_home(from: &Path, to: &Path) -> Result<Moved, HomeError> {
    let place = |path: &Path| -> Result<(OwnedFd, std::ffi::OsString, bool), HomeError> {
        let (Some(parent), Some(name)) = (path.parent().filter(|_| path.is_absolute()), path.file_name()) else {
            return Err(HomeError::Refused(format!("home '{}' is not an absolute path below /", path.display())));
        };
        let dir = trust::walk(parent, Last::CreateIn).map_err(HomeError::Parent)?;
        if let Some(reason) = dir.untrusted {
            return Err(HomeError::Refused(format!("not moving the home into or out of it: {reason}")));
        }
        let sticky = dir.stat.st_mode & 0o1000 != 0;
        Ok((dir.fd, name.to_os_string(), sticky))
    };
    let (from_dir, from_name, from_sticky) = place(from)?;
    let (to_dir, to_name, _) = place(to)?;
    let exists = |dir: &OwnedFd, name: &std::ffi::OsStr| fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW);
    if exists(&to_dir, &to_name).is_ok() {
        return Ok(Moved::Exists);
    }
    match exists(&from_dir, &from_name) {
        Ok(st) if crate::trust::kind(&st) == SFlag::S_IFDIR => {}
        Ok(_) => return Err(HomeError::Refused(format!("{} is not a directory; not moving it", from.display()))),
        Err(_) => return Ok(Moved::Missing),
    }
    let source = if from_sticky { Source::Swappable } else { Source::Fixed };
    let link = |why| {
        nix::unistd::symlinkat(from, &to_dir, to_name.as_os_str()).map_err(IoAt::on("link", to))?;
        Ok(Moved::Linked(why))
    };
    match move_dir(&from_dir, &from_name, &to_dir, &to_name, source) {
        Ok(()) => {
            nix::unistd::symlinkat(to, &from_dir, from_name.as_os_str()).map_err(IoAt::on("link back", from))?;
            Ok(Moved::Moved)
        }
        Err(nix::errno::Errno::EBUSY | nix::errno::Errno::EXDEV) => link(MOUNT_POINT),
        Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOSYS) if source == Source::Swappable => {
            link(NO_SAFE_RENAME)
        }
        Err(e) => Err(HomeError::Io(IoAt::on("rename", from)(e))),
    }
}
