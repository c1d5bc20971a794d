//! The user and group databases: who an account is, and which groups it belongs to.
//!
//! Where `/etc/nsswitch.conf` names only `files` for passwd and group (and initgroups, if it has a
//! line), as in nearly every container image, roothooks reads `/etc/passwd` and `/etc/group` itself,
//! once each, and answers as glibc's files module would. Going through glibc for the same two files
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
                Ok(group_entries(read_once(group, group_text)?).find(|g| g.name == name).map(|g| g.gid))
            }
            #[cfg(not(target_feature = "crt-static"))]
            UserDb::Nss => Ok(nix::unistd::Group::from_name(name)?.map(|g| g.gid)),
        }
    }

    pub fn group_name(&self, gid: Gid) -> io::Result<Option<String>> {
        match self {
            UserDb::Files { group, group_text, .. } => {
                Ok(group_entries(read_once(group, group_text)?).find(|g| g.gid == gid).map(|g| g.name.to_string()))
            }
            #[cfg(not(target_feature = "crt-static"))]
            UserDb::Nss => Ok(nix::unistd::Group::from_gid(gid)?.map(|g| g.name)),
        }
    }

    /// The account's groups as getgrouplist(3) gives them: `gid` first, then every group that lists
    /// `name` as a member.
    pub fn groups_of(&self, name: &str, gid: Gid) -> io::Result<Vec<Gid>> {
        match self {
            UserDb::Files { group, group_text, .. } => {
                let mut groups = vec![gid];
                // a line without the name anywhere cannot list it as a member: no need to parse it
                let lines = lines_containing(read_once(group, group_text)?, name);
                for g in lines.flat_map(group_entries) {
                    // glibc skips blanks before each member name
                    if g.gid != gid && g.members.split(',').any(|m| m.trim_start() == name) {
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

/// The accounts in a passwd file's text, in order, as glibc's files module reads them.
pub fn passwd_entries(text: &str) -> impl Iterator<Item = Account> + '_ {
    entries(text).filter_map(parse_account)
}

/// The first account in a passwd file's text whose name and uid `wanted` accepts, as
/// [`passwd_entries`] would find it, but looking only at the lines that contain `needle`: text
/// every wanted line contains (the name, or the uid's digits, which any spelling of the uid field
/// that parses to it contains: `0100` and `+100` hold `100`).
fn find_account(text: &str, needle: &str, wanted: impl Fn(&str, Uid) -> bool) -> Option<Account> {
    lines_containing(text, needle).flat_map(entries).find_map(|line| {
        let mut f = line.split(':');
        let name = f.next().filter(|n| !n.is_empty())?;
        let uid = f.nth(1)?.parse().ok()?;
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
        .zip(text.lines())
        .filter(|(_, line)| {
            let line = line.trim_start();
            !line.is_empty()
                && !line.starts_with('#')
                && if group { parse_group(line).is_none() } else { parse_account(line).is_none() }
        })
        .map(|(number, _)| number)
        .collect()
}

/// The groups in a group file's text, in order, as glibc's files module reads them.
pub fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    entries(text).filter_map(parse_group)
}

/// Each line of `text` that contains `needle`, once, in order, as `lines()` gives it (without the
/// line's `\n` or `\r\n`): found with one search of the whole text instead of one per line, which for
/// a small database is most of the lookup. An empty needle is in every line.
fn lines_containing<'a>(text: &'a str, needle: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let mut past = 0; // where the next line not yet given starts
    text.match_indices(needle).filter_map(move |(at, _)| {
        if at < past {
            return None; // in the line just given
        }
        if at == text.len() && (text.is_empty() || text.ends_with('\n')) {
            return None; // an empty needle after the last line: no line there, as for `lines()`
        }
        // `at` is where a match starts, and a line starts and ends beside a '\n': all char boundaries
        let start = text.get(..at)?.rfind('\n').map_or(0, |i| i + 1);
        let end = text.get(at..)?.find('\n').map_or(text.len(), |i| at + i);
        past = end + 1;
        let line = text.get(start..end)?;
        Some(line.strip_suffix('\r').unwrap_or(line))
    })
}

/// The entry lines of a files database: leading blanks, empty lines and comments skipped, as glibc does.
fn entries(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim_start).filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// `name:password:uid:gid:gecos:dir:shell`; a line without a numeric uid and gid is not an entry.
fn parse_account(line: &str) -> Option<Account> {
    let mut f = line.split(':');
    let name = f.next().filter(|n| !n.is_empty())?;
    let _password = f.next()?;
    let uid = f.next()?.parse().ok()?;
    let gid = f.next()?.parse().ok()?;
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

/// `name:password:gid:member,member`
fn parse_group(line: &str) -> Option<GroupEntry<'_>> {
    let mut f = line.splitn(4, ':');
    let name = f.next().filter(|n| !n.is_empty())?;
    let _password = f.next()?;
    let gid = f.next()?.parse().ok()?;
    Some(GroupEntry { name, gid: Gid::from_raw(gid), members: f.next().unwrap_or_default() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_found_as_the_full_walk_finds_it() {
        let text =
            "# c\n\nbad:x:1:oops:::\n:x:2:2:::\nroot:x:0:0:root:/root:/bin/sh\n  two:x:2:2::/h:/s\nbad:x:3:3:::\n\
                    again:x:2:9:::\n#six:x:6:6:::\nzeros:x:0010:1:::\r\nplus:x:+11:1::/p:/s\r\nlast:x:12:12:::";
        for uid in 0..14 {
            let uid = Uid::from_raw(uid);
            let walk = passwd_entries(text).find(|a| a.uid == uid);
            assert_eq!(find_account(text, &uid.to_string(), |_, u| u == uid), walk, "uid {uid}");
        }
        for name in ["root", "two", "bad", "again", "", "none", "six", "zeros", "plus", "last", "x"] {
            let walk = passwd_entries(text).find(|a| a.name == name);
            assert_eq!(find_account(text, name, |n, _| n == name), walk, "{name}");
        }
        assert_eq!(
            find_account(text, "1", |_, u| u.as_raw() == 1),
            None,
            "a line whose gid is not a number is no entry"
        );
        assert_eq!(find_account(text, "2", |_, u| u.as_raw() == 2).unwrap().name, "two");
        assert_eq!(find_account(text, "10", |_, u| u.as_raw() == 10).unwrap().name, "zeros");
        assert_eq!(find_account(text, "11", |_, u| u.as_raw() == 11).unwrap().shell, Path::new("/s"), "no \\r left");
    }

    #[test]
    fn lines_containing_gives_each_matching_line_once_as_lines_does() {
        let text = "aa:aa\nb\r\n\nxaax\r\nlast aa";
        let want: Vec<&str> = text.lines().filter(|l| l.contains("aa")).collect();
        assert_eq!(lines_containing(text, "aa").collect::<Vec<_>>(), want);
        assert_eq!(lines_containing(text, "").collect::<Vec<_>>(), text.lines().collect::<Vec<_>>());
        assert_eq!(lines_containing(text, "zz").count(), 0);
    }

    use proptest::prelude::*;

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 2000, failure_persistence: None, ..Default::default() })]

        /// The one-search lookup finds what the full walk finds, for any text and any name or uid
        /// (the lookups root makes on every start), and login.defs never panics.
        #[test]
        fn the_one_search_lookup_agrees_with_the_walk_on_any_text(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(&["ab", "1", "10", "0", ":", "\n", "\r\n", "#", " ", "x", "+1", "UID_MIN"][..])
                        .prop_map(str::to_string),
                    proptest::prelude::any::<String>(),
                ],
                0..50,
            ),
            name in proptest::sample::select(&["ab", "x", "", "1", "b"][..]),
            uid in 0u32..12,
        ) {
            let text = pieces.concat();
            let walk = passwd_entries(&text).find(|a| a.name == name);
            prop_assert_eq!(find_account(&text, name, |n, _| n == name), walk);
            let uid = Uid::from_raw(uid);
            let walk = passwd_entries(&text).find(|a| a.uid == uid);
            prop_assert_eq!(find_account(&text, &uid.to_string(), |_, u| u == uid), walk);
            let _ = login_defs_number(&text, "UID_MIN");
            let want: Vec<&str> = text.lines().filter(|l| l.contains(name)).collect();
            prop_assert_eq!(lines_containing(&text, name).collect::<Vec<_>>(), want);
        }
    }

    #[test]
    fn uid_min_is_read_as_useradd_reads_it() {
        let defs = "# UID_MIN 5\nUID_MIN\t\t 500\nUID_MAX 60000\n";
        assert_eq!((login_defs_number(defs, "UID_MIN"), login_defs_number(defs, "UID_MAX")), (Some(500), Some(60000)));
        assert_eq!(login_defs_number("UID_MINX 7\n", "UID_MIN"), None);
        assert_eq!(login_defs_number("UID_MIN oops\n", "UID_MIN"), None);
    }

    #[test]
    fn only_a_plain_files_configuration_is_read_directly() {
        assert!(files_only("passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"));
        assert!(files_only("# Debian\npasswd:   files  # local\ngroup:\tfiles\ninitgroups: files\n"));
        for conf in [
            "passwd: files systemd\ngroup: files systemd\n",
            "passwd: files\ngroup: files sss\n",
            "passwd: files\ngroup: files\ninitgroups: files ldap\n",
            "passwd: compat\ngroup: compat\n",
            "passwd: files\ngroup: files [SUCCESS=merge] ldap\n",
            "passwd: files\n",
            "passwd: files\ngroup: files\ngroup: ldap\n",
            "",
        ] {
            assert!(!files_only(conf), "{conf:?}");
        }
    }

    fn db(passwd: &str, group: &str) -> (tempfile::TempDir, UserDb) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("passwd"), passwd).unwrap();
        std::fs::write(dir.path().join("group"), group).unwrap();
        let db = UserDb::files(&dir.path().join("passwd"), &dir.path().join("group"));
        (dir, db)
    }

    #[test]
    fn files_answer_as_glibc_does() {
        let (_dir, db) = db(
            "root:x:0:0:root:/root:/bin/bash\n# a comment\n\nbroken:x:abc:1::/:\n  jovyan:x:1000:100:J:/home/jovyan:/bin/bash\ndup:x:1000:1::/dup:\n",
            "root:x:0:\nusers:x:100:\nsudo:x:27:alice, jovyan\ndocker:x:999:jovyanx\nfuse:x:998:jovyan\nshort:x:997\n",
        );
        let j = db.user_by_uid(Uid::from_raw(1000)).unwrap().unwrap();
        assert_eq!(
            j,
            Account {
                name: "jovyan".into(),
                uid: Uid::from_raw(1000),
                gid: Gid::from_raw(100),
                dir: "/home/jovyan".into(),
                shell: "/bin/bash".into()
            }
        );
        assert_eq!(db.user_by_name("jovyan").unwrap(), Some(j));
        assert_eq!(db.user_by_name("broken").unwrap(), None);
        assert_eq!(db.user_by_uid(Uid::from_raw(4242)).unwrap(), None);
        assert_eq!(db.group_by_name("fuse").unwrap(), Some(Gid::from_raw(998)));
        assert_eq!(db.group_name(Gid::from_raw(100)).unwrap().as_deref(), Some("users"));
        assert_eq!(db.group_name(Gid::from_raw(997)).unwrap().as_deref(), Some("short"));
        assert_eq!(db.group_name(Gid::from_raw(4242)).unwrap(), None);
        let groups: Vec<u32> = db.groups_of("jovyan", Gid::from_raw(100)).unwrap().iter().map(|g| g.as_raw()).collect();
        assert_eq!(groups, [100, 27, 998]);
    }

    #[test]
    fn a_missing_group_file_is_an_empty_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = UserDb::files(&dir.path().join("passwd"), &dir.path().join("group"));
        assert_eq!(db.user_by_uid(Uid::from_raw(0)).unwrap(), None);
        assert_eq!(db.groups_of("x", Gid::from_raw(5)).unwrap(), [Gid::from_raw(5)]);
    }
}
