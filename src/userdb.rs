//! The user and group databases: who an account is, and which groups it belongs to.
//!
//! Where `/etc/nsswitch.conf` names only `files` for passwd and group (and initgroups, if it has a
//! line), as in nearly every container image, roothooks reads `/etc/passwd` and `/etc/group` itself,
//! once each, and answers as glibc's files module would: the same lines, cut where glibc cuts them
//! (only at `\n`: a `\r` before it stays in the last field), the same blanks skipped (C's `isspace`,
//! never Unicode's), the same numbers, and getgrouplist's own reading of /etc/group, which takes
//! every line as it is, comments too. Going through glibc for the same two files
//! was a quarter of roothooks' own work before the exec in a files-only image (docs/performance.md
//! has the figures): the NSS set-up, nsswitch.conf parsed again, and two probes
//! for an nscd socket per lookup. Any other source
//! (sss, ldap, systemd, compat, merge actions) or no nsswitch.conf at all means NSS, so accounts that
//! only a directory service knows resolve as before.
//!
//! The static build (scripts/build-static.sh) always reads the files: a statically linked glibc can only
//! reach other NSS sources by loading the system's shared modules, which is undefined unless that glibc
//! is the very one it was linked with. So that build has no `Nss` variant at all, and links none of
//! glibc's NSS code (about 110 KiB of the static binary).

use std::cell::OnceCell;
use std::io;
use std::path::{Path, PathBuf};

use crate::system::{Gid, Uid};

/// Whether `name` is safe as an account name: what shadow-utils accepts by default (a lower-case
/// letter or `_`, then letters, digits, `_`, `-`, `.`, an optional final `$`; at most 32 bytes).
/// Above all it cannot carry a `:` or a newline into /etc/passwd.
pub fn valid_name(name: &str) -> bool {
    let body = name.strip_suffix('$').unwrap_or(name);
    let mut chars = body.chars();
    name.len() <= 32
        && chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'))
}

/// An entry of the user database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
    pub dir: PathBuf,
    pub shell: PathBuf,
}

/// Where lookups go.
#[derive(Debug)]
pub enum UserDb {
    /// passwd and group files read directly, each at most once
    Files {
        passwd: PathBuf,
        group: PathBuf,
        passwd_text: OnceCell<String>,
        group_text: OnceCell<String>,
        /// the static build, on a system whose nsswitch.conf names more sources than files
        others_ignored: bool,
    },
    /// glibc's getpwnam_r and friends, whatever nsswitch.conf configures (never in the static
    /// build, which then links none of glibc's NSS and dynamic loading)
    #[cfg(not(target_feature = "crt-static"))]
    Nss,
}

impl UserDb {
    /// The database this system is configured for, judged from `/etc/nsswitch.conf`.
    pub fn system() -> UserDb {
        let conf = std::fs::read_to_string("/etc/nsswitch.conf");
        let plain = conf.as_deref().is_ok_and(files_only);
        #[cfg(not(target_feature = "crt-static"))]
        if !plain {
            return UserDb::Nss;
        }
        UserDb::read(Path::new("/etc/passwd"), Path::new("/etc/group"), !plain && conf.is_ok())
    }

    /// Read these two files, whatever nsswitch.conf says.
    pub fn files(passwd: &Path, group: &Path) -> UserDb {
        UserDb::read(passwd, group, false)
    }

    fn read(passwd: &Path, group: &Path, others_ignored: bool) -> UserDb {
        UserDb::Files {
            passwd: passwd.into(),
            group: group.into(),
            passwd_text: OnceCell::new(),
            group_text: OnceCell::new(),
            others_ignored,
        }
    }

    /// The static build is ignoring sources that nsswitch.conf names besides files.
    pub fn others_ignored(&self) -> bool {
        matches!(self, UserDb::Files { others_ignored: true, .. })
    }

    /// Where answers come from, for `--dry-run`.
    pub fn source(&self) -> String {
        match self {
            UserDb::Files { passwd, group, others_ignored, .. } => format!(
                "{} and {}, read directly ({})",
                passwd.display(),
                group.display(),
                match (others_ignored, STATIC_BUILD) {
                    (true, _) =>
                        "static build: nsswitch.conf names other sources too, which only the dynamic build can use",
                    (false, true) => "static build",
                    (false, false) => "nsswitch.conf: files only",
                }
            ),
            #[cfg(not(target_feature = "crt-static"))]
            UserDb::Nss => "NSS, as /etc/nsswitch.conf configures it".into(),
        }
    }

    pub fn user_by_uid(&self, uid: Uid) -> io::Result<Option<Account>> {
        match self {
            UserDb::Files { passwd, passwd_text, .. } => {
                Ok(find_account(read_once(passwd, passwd_text)?, &uid.to_string(), |_, u| u == uid))
            }
            #[cfg(not(target_feature = "crt-static"))]
            UserDb::Nss => Ok(nix::unistd::User::from_uid(uid)?.map(Account::from)),
        }
    }

    pub fn user_by_name(&self, name: &str) -> io::Result<Option<Account>> {
        match self {
            UserDb::Files { passwd, passwd_text, .. } => {
                Ok(find_account(read_once(passwd, passwd_text)?, name, |n, _| n == name))
            }
            #[cfg(not(target_feature = "crt-static"))]
            UserDb::Nss => Ok(nix::unistd::User::from_name(name)?.map(Account::from)),
        }
    }

    pub fn group_by_name(&self, name: &str) -> io::Result<Option<Gid>> {
        match self {
            UserDb::Files { group, group_text, .. } => {
                Ok(group_entries(read_once(group, group_text)?).find(|g| !nis(g.name) && g.name == name).map(|g| g.gid))
            }
            #[cfg(not(target_feature = "crt-static"))]
            UserDb::Nss => Ok(nix::unistd::Group::from_name(name)?.map(|g| g.gid)),
        }
    }

    pub fn group_name(&self, gid: Gid) -> io::Result<Option<String>> {
        match self {
            UserDb::Files { group, group_text, .. } => {
                let found = group_entries(read_once(group, group_text)?).find(|g| !nis(g.name) && g.gid == gid);
                Ok(found.map(|g| g.name.to_string()))
            }
            #[cfg(not(target_feature = "crt-static"))]
            UserDb::Nss => Ok(nix::unistd::Group::from_gid(gid)?.map(|g| g.name)),
        }
    }

    /// The account's groups as getgrouplist(3) gives them: `gid` first, then every group that lists
    /// `name` as a member. glibc's files module reads /etc/group for it on its own
    /// (`_nss_files_initgroups_dyn`): every line is parsed as it is, so blanks before a line, a
    /// comment's `#` and a `+`/`-` name do not keep a line from counting, as they do for a lookup.
    pub fn groups_of(&self, name: &str, gid: Gid) -> io::Result<Vec<Gid>> {
        match self {
            UserDb::Files { group, group_text, .. } => {
                let mut groups = vec![gid];
                // a line without the name anywhere cannot list it as a member: no need to parse it
                let lines = lines_containing(read_once(group, group_text)?, name);
                for g in lines.filter_map(|line| parse_group(c_string(line))) {
                    if g.gid != gid && g.members().any(|m| m == name) {
                        groups.push(g.gid);
                    }
                }
                Ok(groups)
            }
            #[cfg(not(target_feature = "crt-static"))]
            UserDb::Nss => {
                let name = std::ffi::CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                crate::system::group_list(&name, gid)
            }
        }
    }
}

#[cfg(not(target_feature = "crt-static"))]
impl From<nix::unistd::User> for Account {
    fn from(u: nix::unistd::User) -> Account {
        Account { name: u.name, uid: u.uid, gid: u.gid, dir: u.dir, shell: u.shell }
    }
}

/// The range of regular accounts' uids: UID_MIN and UID_MAX from /etc/login.defs, as useradd reads
/// them, else 1000 and 60000. Root, system accounts and nobody (65534) are outside it.
pub fn regular_uids() -> std::ops::RangeInclusive<u32> {
    let defs = std::fs::read_to_string("/etc/login.defs").unwrap_or_default();
    login_defs_number(&defs, "UID_MIN").unwrap_or(1000)..=login_defs_number(&defs, "UID_MAX").unwrap_or(60000)
}

/// The value of `key` in a login.defs text: its last `KEY N` line, as shadow-utils reads it.
fn login_defs_number(text: &str, key: &str) -> Option<u32> {
    text.lines().rev().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some(key)).then(|| words.next()?.parse().ok()).flatten()
    })
}

/// Built with `+crt-static`: glibc's NSS modules are out of reach (see the module's comment).
pub const STATIC_BUILD: bool = cfg!(target_feature = "crt-static");

/// True when every database that decides an account and its groups is served by `files` alone.
pub fn files_only(conf: &str) -> bool {
    let mut seen = [0usize; 3];
    for line in conf.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let Some((db, services)) = line.split_once(':') else { continue };
        let slot = match db.trim() {
            "passwd" => 0,
            "group" => 1,
            "initgroups" => 2,
            _ => continue,
        };
        if services.split_whitespace().ne(["files"]) {
            return false;
        }
        if let Some(count) = seen.get_mut(slot) {
            *count += 1;
        }
    }
    // initgroups falls back to group when absent; passwd and group must be stated, once
    seen[0] == 1 && seen[1] == 1 && seen[2] <= 1
}

/// A missing file is an empty database, as for glibc; any other read error is an error.
fn read_once<'a>(path: &Path, cell: &'a OnceCell<String>) -> io::Result<&'a str> {
    if let Some(text) = cell.get() {
        return Ok(text);
    }
    let text = match std::fs::read(path) {
        // valid UTF-8 (nearly always) is taken as it is, without the lossy conversion's copy
        Ok(bytes) => String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))),
    };
    Ok(cell.get_or_init(|| text))
}

/// The accounts in a passwd file's text, in order, as glibc's getpwent reads them (a `+` or `-`
/// entry of nss_compat's among them, which lookups skip).
pub fn passwd_entries(text: &str) -> impl Iterator<Item = Account> + '_ {
    entries(text).filter_map(parse_account)
}

/// The first account in a passwd file's text whose name and uid `wanted` accepts, as getpwnam and
/// getpwuid find it (a `+`/`-` entry never), but looking only at the lines that contain `needle`:
/// text every wanted line contains (the name, or the uid's digits, which any spelling of the uid
/// field that parses to it contains: `0100`, ` +100` and `-0` hold `100` and `0`).
fn find_account(text: &str, needle: &str, wanted: impl Fn(&str, Uid) -> bool) -> Option<Account> {
    lines_containing(text, needle).filter_map(entry_line).find_map(|line| {
        let mut f = line.split(':');
        let name = f.next().filter(|n| !nis(n))?;
        let uid = c_id(f.nth(1)?)?;
        if wanted(name, Uid::from_raw(uid)) {
            parse_account(line)
        } else {
            None
        }
    })
}

/// The numbers of the lines of a passwd (`group: false`) or group file's text that are neither
/// blank, a comment, nor an entry glibc would read: they are skipped, and an edit of the file says
/// so. Only the files an edit reads whole are looked at this way; a lookup never scans for them.
pub fn malformed_lines(text: &str, group: bool) -> Vec<usize> {
    (1..)
        .zip(text.split_terminator('\n'))
        .filter_map(|(number, line)| Some((number, entry_line(line)?)))
        .filter(|(_, line)| if group { parse_group(line).is_none() } else { parse_account(line).is_none() })
        .map(|(number, _)| number)
        .collect()
}

/// The groups in a group file's text, in order, as glibc's getgrent reads them (a `+` or `-` entry
/// among them, which lookups skip).
pub fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    entries(text).filter_map(parse_group)
}

/// Each line of `text` that contains `needle`, once, in order, cut at `\n` as glibc cuts them (a
/// `\r` before it stays): found with one search of the whole text instead of one per line, which for
/// a small database is most of the lookup. An empty needle is in every line.
fn lines_containing<'a>(text: &'a str, needle: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let mut past = 0; // where the next line not yet given starts
    text.match_indices(needle).filter_map(move |(at, _)| {
        if at < past {
            return None; // in the line just given
        }
        if at == text.len() && (text.is_empty() || text.ends_with('\n')) {
            return None; // an empty needle after the last line: no line there
        }
        // `at` is where a match starts, and a line starts and ends beside a '\n': all char boundaries
        let start = text.get(..at)?.rfind('\n').map_or(0, |i| i + 1);
        let end = text.get(at..)?.find('\n').map_or(text.len(), |i| at + i);
        past = end + 1;
        text.get(start..end)
    })
}

/// The blanks glibc skips before a line and before a member name: `isspace` in the C locale, where
/// NSS parses. Never Unicode's wider set: `\u{a0}atk` is not the member `atk` for glibc.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// A line as C reads it: up to its first NUL byte.
fn c_string(line: &str) -> &str {
    line.split('\0').next().unwrap_or_default()
}

/// What a lookup or a listing reads of a line (glibc's `__nss_readline`): the blanks before it
/// skipped; an empty line or a comment is no entry. `line` is cut at `\n` already.
pub fn entry_line(line: &str) -> Option<&str> {
    let line = c_string(line).trim_start_matches(is_c_space);
    (!line.is_empty() && !line.starts_with('#')).then_some(line)
}

/// The entry lines of a files database, as lookups and listings read them.
fn entries(text: &str) -> impl Iterator<Item = &str> {
    text.split_terminator('\n').filter_map(entry_line)
}

/// An nss_compat name (`+`, `+name`, `-name`): glibc's files module reads such a line, with its
/// numbers allowed to be empty, and its lookups then never answer with it.
fn nis(name: &str) -> bool {
    name.starts_with(['+', '-'])
}

/// A uid or gid field as glibc reads it (strtoul, base 10): blanks, a sign, digits, nothing else. A
/// value past 32 bits, or below 0 (`-0` is 0), makes the line no entry, as Debian's glibc 2.36 has
/// it (upstream's files-parse.c would hold it to 4294967295, the id no one may have; refusing the
/// line never gives more).
fn c_id(field: &str) -> Option<u32> {
    let field = field.trim_start_matches(is_c_space);
    let (negative, digits) = match field.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, field.strip_prefix('+').unwrap_or(field)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value = digits.parse::<u64>().ok().and_then(|v| u32::try_from(v).ok())?;
    (!negative || value == 0).then_some(value)
}

/// A uid or gid field of a `+`/`-` entry (glibc's INT_FIELD_MAYBE_NULL): empty is 0, but the line
/// may not end where the field starts (`last`: no `:` after it).
fn c_id_or_zero(field: Option<&str>, last: bool) -> Option<u32> {
    match field? {
        "" if last => None,
        "" => Some(0),
        field => c_id(field),
    }
}

/// `name:password:uid:gid:gecos:dir:shell`, glibc's way: the shell is the rest of the line (colons
/// and a `\r` included), missing fields after the gid are empty; a `+`/`-` name alone is an entry
/// with uid and gid 0; a line without a numeric uid and gid is not an entry.
fn parse_account(line: &str) -> Option<Account> {
    let mut f = line.splitn(7, ':').peekable();
    let name = f.next()?;
    let rest = line.get(name.len() + 1..).unwrap_or_default();
    let (uid, gid) = if nis(name) && rest.is_empty() {
        (0, 0)
    } else {
        let _password = f.next()?;
        if nis(name) {
            let uid = f.next();
            let gid = f.next();
            (c_id_or_zero(uid, gid.is_none())?, c_id_or_zero(gid, f.peek().is_none())?)
        } else {
            (c_id(f.next()?)?, c_id(f.next()?)?)
        }
    };
    let _gecos = f.next();
    let dir = f.next().unwrap_or_default();
    let shell = f.next().unwrap_or_default();
    Some(Account {
        name: name.into(),
        uid: Uid::from_raw(uid),
        gid: Gid::from_raw(gid),
        dir: dir.into(),
        shell: shell.into(),
    })
}

/// An entry of the group database, borrowed from the file's text.
pub struct GroupEntry<'a> {
    pub name: &'a str,
    pub gid: Gid,
    /// comma separated, as in the file
    pub members: &'a str,
}

impl<'a> GroupEntry<'a> {
    /// The member names as glibc lists them: blanks before each skipped, everything after it kept
    /// (a `\r`, a space), empty ones left out.
    pub fn members(&self) -> impl Iterator<Item = &'a str> {
        self.members.split(',').map(|m| m.trim_start_matches(is_c_space)).filter(|m| !m.is_empty())
    }
}

/// `name:password:gid:member,member`, glibc's way; a `+`/`-` name alone is an entry with gid 0.
fn parse_group(line: &str) -> Option<GroupEntry<'_>> {
    let mut f = line.splitn(4, ':').peekable();
    let name = f.next()?;
    if nis(name) && line.get(name.len() + 1..).unwrap_or_default().is_empty() {
        return Some(GroupEntry { name, gid: Gid::from_raw(0), members: "" });
    }
    let _password = f.next()?;
    let gid = match nis(name) {
        true => {
            let field = f.next();
            c_id_or_zero(field, f.peek().is_none())?
        }
        false => c_id(f.next()?)?,
    };
    Some(GroupEntry { name, gid: Gid::from_raw(gid), members: f.next().unwrap_or_default() })
}

#[cfg(test)]
mod tests;
