//! An account for a uid that has none (`--ensure-account`), so `whoami`, `id`, Python's
//! `pwd.getpwuid(os.getuid())` and Jupyter work for arbitrary uids.
//!
//! /etc/passwd and /etc/group are edited the way shadow-utils does it, so roothooks and `useradd` can
//! run at the same time: glibc's `lckpwdf()` first, then shadow's per-file `.lock` files; the new file
//! is written beside the old one with its owner and mode and renamed over it, so a reader sees either
//! the old or the new file, never half of one. Neither file ever becomes writable by anyone but root
//! (docker-stacks' group-writable /etc/passwd is a known way to become root). `--nss-dir` writes the
//! complete files somewhere else instead, for a main container to mount over its own.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::libc;
use tracing::info;

use crate::error::IoAt;
use crate::identity::{AccountEdit, NewAccount, Renumber};
use crate::system::{Gid, Holder, PasswdLock, Uid};
use crate::trust::{self, Stale};
use crate::userdb::{self, valid_name};

impl NewAccount {
    fn passwd_line(&self) -> String {
        format!("{}:x:{}:{}::{}:{}\n", self.name, self.uid, self.gid, self.home.display(), self.shell.display())
    }

    fn group_line(&self) -> String {
        format!("{}:x:{}:\n", self.name, self.gid)
    }
}

/// Why `account` cannot be written as a passwd line, if it cannot.
pub fn check_fields(account: &NewAccount) -> Result<(), String> {
    if !valid_name(&account.name) {
        return Err(format!(
            "'{}' is not a valid account name (a lower-case letter or _, then letters, digits, _ - .; at most 32); \
             nothing written",
            account.name.escape_debug()
        ));
    }
    for (what, path) in [("home", &account.home), ("shell", &account.shell)] {
        check_field(what, &path.to_string_lossy())?;
    }
    Ok(())
}

/// A path for a passwd field: absolute, and nothing that would end the field or the line.
fn check_field(what: &str, text: &str) -> Result<(), String> {
    if text.contains([':', '\n', '\r']) || !text.starts_with('/') {
        return Err(format!(
            "{what} '{}' cannot go into /etc/passwd (absolute, no ':' or newline); nothing written",
            text.escape_debug()
        ));
    }
    Ok(())
}

/// What [`plan_files`] found needs doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub passwd: Option<String>,
    pub group: Option<String>,
}

/// The new contents of passwd and group (`None` where nothing changes), or why nothing may be written.
/// The files are read by the same rules as the lookups that decided an account was missing.
pub fn plan_files(account: &NewAccount, passwd: &str, group: &str) -> Result<Edit, String> {
    check_fields(account)?;
    let (name, uid, gid) = (account.name.as_str(), account.uid, account.gid);
    let mut passwd_needed = true;
    for entry in userdb::passwd_entries(passwd) {
        match (entry.name == name, entry.uid == uid) {
            (true, true) => passwd_needed = false,
            (true, false) => {
                return Err(format!(
                    "account '{name}' already exists with uid {}, not {uid}; nothing written",
                    entry.uid
                ))
            }
            (false, true) => {
                return Err(format!(
                    "uid {uid} already belongs to account '{}', not '{name}'; nothing written",
                    entry.name
                ))
            }
            (false, false) => {}
        }
    }
    let mut group_needed = true;
    for entry in userdb::group_entries(group) {
        if entry.gid == gid {
            group_needed = false; // the gid has a group already, whatever its name
        } else if entry.name == name {
            return Err(format!("group '{name}' already exists with gid {}, not {gid}; nothing written", entry.gid));
        }
    }
    let append = |text: &str, line: String| {
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&line);
        out
    };
    Ok(Edit {
        passwd: passwd_needed.then(|| append(passwd, account.passwd_line())),
        group: group_needed.then(|| append(group, account.group_line())),
    })
}

/// The new contents of passwd and group for `edit`.
pub fn plan_edit(edit: &AccountEdit, passwd: &str, group: &str) -> Result<Edit, String> {
    match edit {
        AccountEdit::Add(account) => plan_files(account, passwd, group),
        AccountEdit::Renumber(change) => plan_renumber(change, passwd, group),
    }
}

/// NB_UID, NB_GID and NB_USER: the account's passwd entry (the first, the one lookups find) with the
/// new uid and gid (and, renamed, the new login name and home) and every other field as it was; a
/// group named NB_GROUP, else after the account, for a gid that has none, as docker-stacks' start.sh
/// adds one (unless that name is a group already).
pub fn plan_renumber(change: &Renumber, passwd: &str, group: &str) -> Result<Edit, String> {
    let name = change.name.as_str();
    let login = change.login();
    let home = change.rename.as_ref().map(|r| r.home.to_string_lossy().into_owned());
    if let Some(home) = &home {
        check_field("home", home)?;
    }
    let mut found = false;
    let mut changed = false;
    let mut out = String::with_capacity(passwd.len() + 8);
    for (number, line) in (1..).zip(passwd.split_inclusive('\n')) {
        let entry = userdb::passwd_entries(line).next();
        match entry {
            Some(entry) if entry.name == name && !found => {
                found = true;
                // the text the entry was read from: a \r at its end is the shell's, as for glibc
                let body = userdb::entry_line(line.strip_suffix('\n').unwrap_or(line)).unwrap_or_default();
                // glibc reads a line with fields missing at its end; an edit writes all seven, and
                // would have to make up those it lacks: the operator's to fix, said where
                let all: Vec<&str> = body.split(':').collect();
                let [_, password, _, _, gecos, old_home, shell, rest @ ..] = all.as_slice() else {
                    return Err(format!(
                        "passwd line {number}: account '{name}' has {} of the 7 fields \
                         (name:password:uid:gid:gecos:home:shell); not changing it (complete the line)",
                        all.len()
                    ));
                };
                let (uid, gid) = (change.uid.to_string(), change.gid.to_string());
                let home = home.as_deref().unwrap_or(old_home);
                let mut fields = vec![login, password, &uid, &gid, gecos, home, shell];
                fields.extend(rest.iter().copied());
                let new = fields.join(":");
                if new != body {
                    out.push_str(&new);
                    out.push('\n');
                    changed = true;
                    continue;
                }
            }
            Some(entry) if entry.name == login && login != name => {
                return Err(format!(
                    "account '{login}' already exists; '{name}' is not renamed to it; nothing written"
                ));
            }
            Some(entry) if entry.uid == change.uid && entry.name != name => {
                return Err(format!(
                    "uid {} already belongs to account '{}', not '{name}'; nothing written",
                    change.uid, entry.name
                ));
            }
            _ => {}
        }
        out.push_str(line);
    }
    if !found {
        return Err(format!("account '{name}' is not in the passwd file; nothing written"));
    }
    let entries: Vec<_> = userdb::group_entries(group).collect();
    let group_name = change.group_name.as_deref().unwrap_or(login);
    if let Some(other) = entries.iter().find(|g| g.name == group_name && g.gid != change.gid) {
        if change.group_name.is_some() {
            return Err(format!(
                "NB_GROUP '{group_name}' is a group already, with gid {}, not {}; nothing written",
                other.gid, change.gid
            ));
        }
    }
    let group_needed = !entries.iter().any(|g| g.gid == change.gid) && !entries.iter().any(|g| g.name == group_name);
    let group_text = group_needed.then(|| {
        let mut text = group.to_string();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!("{group_name}:x:{}:\n", change.gid));
        text
    });
    Ok(Edit { passwd: changed.then_some(out), group: group_text })
}

/// The name start.sh gives the image's entry that a non-root start's new entry takes the name of.
fn moved_aside(name: &str) -> String {
    name.chars().rev().collect()
}

/// A non-root start (OpenShift): add `entry` to the passwd file at `path` in place, as this uid,
/// which may write the file but not create one beside it. An entry of the same name (the image's
/// jovyan) is renamed out of the way, reversed (`nayvoj`), as start.sh does. Returns that new name,
/// if one was renamed. Under a flock on the file itself; nothing is written if the uid has an
/// entry by then.
pub fn add_in_place(path: &Path, entry: &NewAccount) -> Result<Option<String>, AccountError> {
    check_fields(entry).map_err(AccountError::Refused)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(io_error("open for writing", path))?;
    let locked = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| io_error("lock", path)(e.into()))?;
    let mut text = String::new();
    (&*locked).read_to_string(&mut text).map_err(io_error("read", path))?;
    if userdb::passwd_entries(&text).any(|a| a.uid == entry.uid) {
        return Ok(None);
    }
    let mut moved = None;
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        match line.strip_prefix(&format!("{}:", entry.name)) {
            Some(rest) if moved.is_none() => {
                let aside = moved_aside(&entry.name);
                out.push_str(&format!("{aside}:{rest}"));
                moved = Some(aside);
            }
            _ => out.push_str(line),
        }
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!(
        "{}:x:{}:{}:,,,:{}:{}\n",
        entry.name,
        entry.uid,
        entry.gid,
        entry.home.display(),
        entry.shell.display()
    ));
    // the new text is the old one, the same length up to the added line: written from the start,
    // a reader sees either the old file or the old file with more at its end
    nix::sys::uio::pwrite(&*locked, out.as_bytes(), 0).map_err(|e| io_error("write", path)(e.into()))?;
    Ok(moved)
}

/// shadow-utils' lock on one file: `FILE.lock` holding the holder's pid, made with link() so it is
/// atomic even on NFS. A lock is stale when its holder is gone, or is this very process: in a container
/// a killed start's successor is often the same pid (1), and this process has not taken it yet.
struct FileLock {
    path: PathBuf,
}

impl FileLock {
    /// Take the lock on `file` if no live process holds it; `Err(holder)` when one does. A stale lock
    /// is removed, with a log line, and the lock taken.
    fn try_acquire(file: &Path) -> io::Result<Result<FileLock, Holder>> {
        let lock = PathBuf::from(format!("{}.lock", file.display()));
        let pid = std::process::id();
        let temp = PathBuf::from(format!("{}.{pid}", file.display()));
        loop {
            let _ = fs::remove_file(&temp);
            let mut made = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&temp)?;
            made.write_all(format!("{pid}\0").as_bytes())?;
            drop(made);
            let linked = fs::hard_link(&temp, &lock);
            let _ = fs::remove_file(&temp);
            match linked {
                Ok(()) => return Ok(Ok(FileLock { path: lock })),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let holder = lock_holder(&lock)?;
                    let stale = match holder {
                        None => "names no pid".to_string(),
                        Some(p) if p == pid as i32 => format!("names pid {p}, this very start"),
                        Some(p) if nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_err() => {
                            format!("names pid {p}, which is not running")
                        }
                        Some(_) => return Ok(Err(holder)),
                    };
                    info!("removing the stale lock {} (it {stale}: left by a start that was killed)", lock.display());
                    fs::remove_file(&lock)?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// The pid a `.lock` file names; the file must be a regular file of root's (never read through a link).
fn lock_holder(lock: &Path) -> io::Result<Option<i32>> {
    let mut text = String::new();
    let mut file = OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(lock)?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.uid() != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is not a regular file of root's; remove it by hand if no useradd is running", lock.display()),
        ));
    }
    std::io::Read::take(&mut file, 64).read_to_string(&mut text)?;
    Ok(text.trim_end_matches('\0').trim().parse().ok())
}

/// Replace `path` with `content`: a new file beside it with the old one's owner and mode, renamed over.
fn replace(path: &Path, content: &str) -> io::Result<()> {
    let meta = fs::metadata(path)?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{name}.roothooks.{}", std::process::id()));
    let _ = fs::remove_file(&temp);
    let write = || -> io::Result<()> {
        let mut file: File =
            OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(&temp)?;
        file.write_all(content.as_bytes())?;
        nix::unistd::fchown(&file, Some(Uid::from_raw(meta.uid())), Some(Gid::from_raw(meta.gid())))?;
        // never wider than it was, and never writable by group or others
        file.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7755))?;
        file.sync_all()?;
        fs::rename(&temp, path)
    };
    let result = write();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map_err(|e| {
        if e.raw_os_error() == Some(libc::EBUSY) {
            io::Error::new(
                e.kind(),
                format!("{} is a mount point (bind-mounted?) and cannot be replaced", path.display()),
            )
        } else {
            e
        }
    })
}

/// What ensuring the account did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountChange {
    Added { passwd: bool, group: bool },
    AlreadyThere,
    Written { dir: PathBuf },
}

/// Why an account was not added, or `--nss-dir` not written.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// the entries would clash with others, or cannot go into the files as they are
    #[error("{0}")]
    Refused(String),
    #[error("cannot lock {what}: {source}")]
    Lock {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Io(#[from] IoAt),
    #[error(transparent)]
    Path(#[from] trust::PathError),
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> AccountError {
    let at = IoAt::on(action, path);
    move |e| AccountError::Io(at(e))
}

/// Say which lines of an account file being edited are no entries: skipped, as glibc skips them,
/// and kept as they are. Not their text: a hand-edited line may hold anything.
fn warn_malformed(path: &Path, text: &str, group: bool) {
    let lines = crate::userdb::malformed_lines(text, group);
    if let Some(first) = lines.first() {
        let more = if lines.len() > 1 { format!(" and {} more", lines.len() - 1) } else { String::new() };
        tracing::warn!(
            "{} line {first}{more}: not an entry (name:password:{}); skipped, as glibc skips it, and kept as it is",
            path.display(),
            if group { "gid:members" } else { "uid:gid:gecos:home:shell" }
        );
    }
}

fn read(path: &Path) -> Result<String, AccountError> {
    fs::read_to_string(path).map_err(io_error("read", path))
}

/// How long another editor of the account databases (useradd, another start) is waited for.
const PATIENCE: Duration = Duration::from_secs(15);

/// Why root may not edit (or rely on) the account file `path`, if it may not: the trust rule for a file
/// root relies on, looked at where it stands (a symlink is refused, never followed). Group 0 may write
/// it, as docker-stacks images allow for OpenShift: roothooks never hands group 0 to a command, and
/// what it writes is not group-writable.
fn judge_db_file(path: &Path) -> Option<String> {
    let p = path.display();
    let mut stat = match nix::sys::stat::lstat(path) {
        Ok(stat) => stat,
        Err(nix::errno::Errno::ENOENT) => return None,
        Err(e) => return Some(format!("cannot examine {p}: {e}")),
    };
    match stat.st_mode & libc::S_IFMT {
        libc::S_IFREG => {}
        libc::S_IFLNK => {
            let to = fs::read_link(path).map(|t| format!(" (to {})", t.display())).unwrap_or_default();
            return Some(format!("{p} is a symbolic link{to}, not the file itself"));
        }
        _ => return Some(format!("{p} is not a regular file")),
    }
    if stat.st_gid == 0 {
        stat.st_mode &= !0o020;
    }
    trust::judge_file(path, &stat).map(|why| format!("{p}: {why}"))
}

/// Refuse, writing nothing, when `etc` or a file the edit reads and replaces could have been changed
/// or redirected by someone other than root. The lock files are judged where they are opened, by
/// descriptor.
fn judge_files(etc: &Path) -> Result<(), AccountError> {
    let walked = trust::walk(etc, trust::Last::Dir).map_err(io_error("examine", etc))?;
    let why = walked.untrusted.or_else(|| ["passwd", "group"].iter().find_map(|name| judge_db_file(&etc.join(name))));
    match why {
        Some(why) => Err(AccountError::Refused(format!("{why}; not editing the account files, nothing written"))),
        None => Ok(()),
    }
}

/// Try `attempt` until it takes the lock `what` or [`PATIENCE`] runs out, saying once whom it waits
/// for: glibc's and shadow-utils' `.pwd.lock`, and shadow's `FILE.lock` files.
fn wait_for_lock<T>(
    what: &Path,
    mut attempt: impl FnMut() -> io::Result<Result<T, Holder>>,
) -> Result<T, AccountError> {
    let error = |source| AccountError::Lock { what: what.display().to_string(), source };
    let start = Instant::now();
    let mut said = false;
    loop {
        match attempt().map_err(error)? {
            Ok(lock) => return Ok(lock),
            Err(holder) if start.elapsed() < PATIENCE => {
                if !said {
                    let by = holder.map_or_else(String::new, |p| format!(" (held by pid {p}: useradd?)"));
                    info!("waiting for the lock on the account databases, {}{by}", what.display());
                    said = true;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(holder) => {
                let by = holder.map_or_else(|| "another process".into(), |p| format!("pid {p}"));
                let why = format!("held by {by} for {} s", PATIENCE.as_secs());
                return Err(error(io::Error::new(io::ErrorKind::WouldBlock, why)));
            }
        }
    }
}

/// Remove what killed starts left in `etc`: our temporary copies (`.passwd.roothooks.PID`), and the
/// files `FILE.PID` that a lock is linked from, when that pid is gone or is this process. Called with
/// every lock held, so nothing is half-way through using them.
fn remove_leftovers(etc: &Path) {
    let me = std::process::id().to_string();
    let Ok(entries) = fs::read_dir(etc) else { return };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = ["passwd", "group"].iter().any(|db| {
            if let Some(pid) = name.strip_prefix(&format!(".{db}.roothooks.")) {
                return !pid.is_empty();
            }
            name.strip_prefix(&format!("{db}."))
                .filter(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
                .is_some_and(|pid| {
                    pid == me
                        || pid
                            .parse()
                            .is_ok_and(|p: i32| nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_err())
                })
        });
        let regular = entry.file_type().is_ok_and(|t| t.is_file());
        if ours && regular && fs::remove_file(entry.path()).is_ok() {
            removed.push(name);
        }
    }
    if !removed.is_empty() {
        info!("removed {} left in {} by a start that was killed", removed.join(", "), etc.display());
    }
}

/// Make `edit` in `etc`/passwd and `etc`/group, under the same locks as shadow-utils.
pub fn ensure_in(etc: &Path, edit: &AccountEdit) -> Result<AccountChange, AccountError> {
    judge_files(etc)?;
    let pwd_lock = etc.join(".pwd.lock");
    let _db = wait_for_lock(&pwd_lock, || PasswdLock::try_acquire(&pwd_lock))?;
    let (passwd_path, group_path) = (etc.join("passwd"), etc.join("group"));
    let _group_lock = wait_for_lock(&etc.join("group.lock"), || FileLock::try_acquire(&group_path))?;
    let _passwd_lock = wait_for_lock(&etc.join("passwd.lock"), || FileLock::try_acquire(&passwd_path))?;
    remove_leftovers(etc);
    // judged again under the locks: what was read before them may have been replaced since
    judge_files(etc)?;
    let (passwd_text, group_text) = (read(&passwd_path)?, read(&group_path)?);
    warn_malformed(&passwd_path, &passwd_text, false);
    warn_malformed(&group_path, &group_text, true);
    let edit = plan_edit(edit, &passwd_text, &group_text).map_err(AccountError::Refused)?;
    if edit.passwd.is_none() && edit.group.is_none() {
        return Ok(AccountChange::AlreadyThere);
    }
    // the group first, so passwd never names a gid that has no group
    if let Some(group) = &edit.group {
        replace(&group_path, group).map_err(io_error("write", &group_path))?;
    }
    if let Some(passwd) = &edit.passwd {
        replace(&passwd_path, passwd).map_err(io_error("write", &passwd_path))?;
    }
    Ok(AccountChange::Added { passwd: edit.passwd.is_some(), group: edit.group.is_some() })
}

/// The first line of every file `--nss-dir` writes. glibc, musl, busybox and Go all skip `#` lines in
/// these files; roothooks replaces a file in the directory only if it starts with this line, so it
/// never removes one it did not write.
pub const NSS_MARKER: &[u8] = b"# written by roothooks --nss-dir";

/// Write complete `passwd` and `group` files (those of `etc` with the account's edit) into `dir`.
pub fn write_nss_dir(etc: &Path, dir: &Path, account: Option<&AccountEdit>) -> Result<AccountChange, AccountError> {
    judge_files(etc)?;
    let (passwd, group) = (read(&etc.join("passwd"))?, read(&etc.join("group"))?);
    let edit = match account {
        Some(account) => plan_edit(account, &passwd, &group).map_err(AccountError::Refused)?,
        None => Edit { passwd: None, group: None },
    };
    for (name, content) in [("passwd", edit.passwd.unwrap_or(passwd)), ("group", edit.group.unwrap_or(group))] {
        let path = dir.join(name);
        // Usually a volume shared with a container that has not started yet: the directory must pass
        // the trust rule all the same, and nothing planted in it is followed, written through or removed.
        let mut file = trust::create_fresh(&path, None, 0o644, Stale::Marked(NSS_MARKER))?;
        let head = format!(" from {}; replaced at each start\n", etc.join(name).display());
        [NSS_MARKER, head.as_bytes(), content.as_bytes()]
            .iter()
            .try_for_each(|part| file.write_all(part))
            .map_err(io_error("write", &path))?;
    }
    Ok(AccountChange::Written { dir: dir.to_path_buf() })
}

#[cfg(test)]
mod tests;
