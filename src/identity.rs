//! Who the command will run as: the target uid, gid, supplementary groups, home and shell.
//!
//! Accounts come from the system's user and group databases ([`UserDb`]): /etc/passwd and /etc/group
//! in a container, NSS wherever nsswitch.conf names more (LDAP or sssd accounts on a systemd host). A
//! uid with no account is fine: arbitrary uids are normal on Kubernetes.

use std::fmt;
use std::ops::RangeInclusive;
#[cfg(test)]
use std::path::Path;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::system::{Gid, Uid};
use crate::userdb::{self, UserDb};

/// The uid used when nothing names one, as jupyterhub-roothooks and the Jupyter images do.
pub const DEFAULT_UID: u32 = 1000;

/// The shell an account that `--ensure-account` adds gets: bash where the image has it.
pub fn default_shell() -> PathBuf {
    let bash = std::path::Path::new("/bin/bash");
    if bash.exists() {
        bash.into()
    } else {
        PathBuf::from("/bin/sh")
    }
}

/// A setting's value together with where it came from, so an error can name both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced {
    pub value: String,
    /// the flag (`--uid`) or the environment variable (`NB_UID`)
    pub origin: String,
    pub from_env: bool,
}

impl fmt::Display for Sourced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.from_env {
            write!(f, "{}='{}' (from the environment)", self.origin, self.value)
        } else {
            write!(f, "{} '{}'", self.origin, self.value)
        }
    }
}

/// What the operator asked for, before any database lookup.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub user: Option<Sourced>,
    pub uid: Option<Sourced>,
    pub gid: Option<Sourced>,
    pub extra_groups: Vec<String>,
    pub clear_groups: bool,
    pub home: Option<PathBuf>,
    pub allow_root: bool,
    /// `--ensure-account` (or `--nss-dir`): a named user without an account is one to create
    pub ensure_account: bool,
    /// user, uid and gid came from NB_USER, NB_UID and NB_GID (docker-stacks' variables): a uid or gid
    /// that differs from NB_USER's account renumbers that account, as docker-stacks' start.sh does
    pub from_notebook_env: bool,
    /// `--docker-stacks` with NB_USER=root, NB_UID=0 and NB_GID=0 all set: the command stays root
    /// (capabilities still dropped), HOME=/home/root, as start.sh does for rootless containers
    pub rootless: bool,
    /// NB_GROUP: the name of the group made for a new NB_GID
    pub group_name: Option<Sourced>,
    /// the account an NB_USER that names no account renames (`--docker-stacks`: jovyan, as start.sh;
    /// `--rename-from`)
    pub rename_from: Option<String>,
}

/// The groups of the process roothooks was started as, split by where they came from.
#[derive(Debug, Clone, Default)]
pub struct StartedGroups {
    /// every supplementary group the process had
    pub all: Vec<Gid>,
    /// those the starting account has in the group database (root's own memberships)
    pub own: Vec<Gid>,
    /// started without root and with gid 0 (OpenShift): this uid, which keeps the gid it cannot leave
    pub stuck_in_gid_0: Option<Uid>,
}

/// An account that `--ensure-account` adds: the passwd and group entries to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
    pub home: PathBuf,
    pub shell: PathBuf,
}

/// An account whose uid or primary gid NB_UID or NB_GID changes, or that NB_USER renames: its
/// passwd entry gets the new numbers, name and home (and the new gid a group, if it has none), the
/// way docker-stacks' start.sh does it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renumber {
    /// the entry's name now
    pub name: String,
    pub from_uid: Uid,
    pub from_gid: Gid,
    pub uid: Uid,
    pub gid: Gid,
    /// NB_USER naming no account: the entry's new login name and home, and the home it had
    pub rename: Option<Rename>,
    /// NB_GROUP: the name of the group added for a gid that has none (default: the login name)
    pub group_name: Option<String>,
}

/// NB_USER renaming the image's account (docker-stacks' jovyan), as start.sh does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rename {
    pub to: String,
    pub home: PathBuf,
    pub from_home: PathBuf,
}

impl Renumber {
    /// The login name once the change is made.
    pub fn login(&self) -> &str {
        self.rename.as_ref().map_or(&self.name, |r| &r.to)
    }
}

/// A change to the account databases, made as root after the hooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountEdit {
    /// `--ensure-account`: a new passwd entry and group
    Add(NewAccount),
    /// NB_UID or NB_GID: new numbers in an existing passwd entry
    Renumber(Renumber),
}

/// Whose account the target is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    /// an entry of the user database
    Existing { name: String },
    /// a name that has no entry yet: `--ensure-account` adds it
    ToCreate(NewAccount),
    /// an entry whose uid or gid NB_UID or NB_GID changes
    Renumbered(Renumber),
    /// a uid without an account (arbitrary uids on Kubernetes)
    Uid,
}

/// The resolved identity of the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub uid: Uid,
    pub gid: Gid,
    pub account: Account,
    pub home: PathBuf,
    pub shell: Option<PathBuf>,
    /// the supplementary groups the command gets, primary group first
    pub groups: Vec<Gid>,
    /// groups roothooks was started with that the command keeps (orchestrator's fsGroup and such)
    pub inherited: Vec<Gid>,
    /// groups roothooks was started with that the command does not get, and why
    pub not_inherited: Vec<(Gid, &'static str)>,
    /// the account's own primary group, kept as a supplementary group when another gid replaces it
    pub former_primary: Option<Gid>,
}

impl Target {
    /// The account's name; `None` for a uid without an account.
    pub fn name(&self) -> Option<&str> {
        match &self.account {
            Account::Existing { name } => Some(name),
            Account::ToCreate(new) => Some(&new.name),
            Account::Renumbered(change) => Some(change.login()),
            Account::Uid => None,
        }
    }

    /// The name for USER and LOGNAME: the account's, else the uid in decimal.
    pub fn user_name(&self) -> String {
        self.name().map_or_else(|| self.uid.to_string(), str::to_string)
    }

    /// Where the command starts, given where roothooks was started: the same directory, or, when
    /// NB_USER renames the account and that was inside its old home, the same place in the new one (as
    /// start.sh does).
    pub fn start_dir(&self, started: Option<&std::path::Path>) -> Option<PathBuf> {
        let started = started?;
        if let Account::Renumbered(Renumber { rename: Some(r), .. }) = &self.account {
            if let Ok(rest) = started.strip_prefix(&r.from_home) {
                return Some(r.home.join(rest));
            }
        }
        Some(started.to_path_buf())
    }

    /// The change to the account databases the target needs, if any.
    pub fn account_edit(&self) -> Option<AccountEdit> {
        match &self.account {
            Account::ToCreate(new) => Some(AccountEdit::Add(new.clone())),
            Account::Renumbered(change) => Some(AccountEdit::Renumber(change.clone())),
            _ => None,
        }
    }
}

fn parse_id(sourced: &Sourced, what: &str) -> Result<u32> {
    match sourced.value.parse::<u32>() {
        Ok(id) if id != u32::MAX => Ok(id),
        _ => Err(Error::Usage(format!(
            "{sourced} is not a valid {what}: give a number from 0 to 4294967294, e.g. --{what} 1000"
        ))),
    }
}

fn user_by_name(db: &UserDb, sourced: &Sourced) -> Result<userdb::Account> {
    let found = db.user_by_name(&sourced.value).map_err(|source| Error::Lookup { what: "user", source })?;
    found.ok_or_else(|| {
        let hint = if sourced.value.parse::<u32>().is_ok() { "; for a number, use --uid" } else { "" };
        Error::Usage(format!("{sourced}: no such account in the user database; create it or give --uid instead{hint}"))
    })
}

/// A group by name or number; a number need not have an entry in the group database.
pub fn group_by_name_or_number(db: &UserDb, entry: &str) -> Result<Gid> {
    if let Ok(n) = entry.parse::<u32>() {
        if n == u32::MAX {
            return Err(Error::Usage(format!("--groups '{entry}' is not a valid gid")));
        }
        return Ok(Gid::from_raw(n));
    }
    let found = db.group_by_name(entry).map_err(|source| Error::Lookup { what: "group", source })?;
    found.ok_or_else(|| {
        Error::Usage(format!("--groups '{entry}': no such group in the group database; give its number instead"))
    })
}

/// The name a gid has in the group database, for logs and the plan.
pub fn group_label(db: &UserDb, gid: Gid) -> String {
    match db.group_name(gid) {
        Ok(Some(name)) => format!("{gid}({name})"),
        _ => gid.to_string(),
    }
}

pub fn group_list_label(db: &UserDb, groups: &[Gid]) -> String {
    if groups.is_empty() {
        return "none".into();
    }
    groups.iter().map(|g| group_label(db, *g)).collect::<Vec<_>>().join(",")
}

/// Resolve the request against the user and group databases, in named steps: which account, which
/// gid, refuse root, which supplementary groups, which home and shell.
pub fn resolve(db: &UserDb, req: &Request, started: &StartedGroups) -> Result<Target> {
    let uid = req.uid.as_ref().map(|s| parse_id(s, "uid")).transpose()?;
    let found = find_account(db, req, uid)?;
    let uid = match &found {
        Found::Entry(entry) | Found::Rename(entry, _) => uid.map_or(entry.uid, Uid::from_raw),
        Found::New(_) | Found::Uid => Uid::from_raw(uid.unwrap_or(DEFAULT_UID)),
    };
    let gid = match (req.gid.as_ref().map(|s| parse_id(s, "gid")).transpose()?, &found) {
        (Some(gid), _) => Gid::from_raw(gid),
        (None, Found::Entry(entry) | Found::Rename(entry, _)) => entry.gid,
        (None, _) => Gid::from_raw(uid.as_raw()),
    };
    // OpenShift's uid with gid 0, given an account by an earlier start: gid 0 is where it is anyway
    let stuck = started.stuck_in_gid_0 == Some(uid) && gid.as_raw() == 0 && !uid.is_root();
    if !stuck {
        refuse_root(req, uid, gid)?;
    }
    let entry = match &found {
        Found::Entry(entry) | Found::Rename(entry, _) => Some(entry),
        _ => None,
    };
    let renamed = matches!(found, Found::Rename(..));
    if let Some(entry) = entry.filter(|e| renamed || e.uid != uid || e.gid != gid).filter(|_| req.from_notebook_env) {
        refuse_system_account(req, entry, &userdb::regular_uids())?;
        refuse_taken_uid(db, req, entry, uid)?;
    }
    let group_name = match &req.group_name {
        Some(g) if !userdb::valid_name(&g.value) => {
            return Err(Error::Usage(format!(
                "{g} is not a valid group name (a lower-case letter or _, then letters, digits, _ - .; at most 32)"
            )))
        }
        g => g.as_ref().map(|g| g.value.clone()),
    };
    let groups = supplementary_groups(db, req, entry, gid, started)?;
    let home = req
        .home
        .clone()
        .or_else(|| match &found {
            Found::Entry(entry) => Some(entry.dir.clone()),
            Found::New(name) | Found::Rename(_, name) => Some(PathBuf::from(format!("/home/{name}"))),
            Found::Uid => None,
        })
        .filter(|h| !h.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("/"));
    let shell = match &found {
        Found::Entry(entry) | Found::Rename(entry, _) => {
            Some(entry.shell.clone()).filter(|s| !s.as_os_str().is_empty())
        }
        Found::New(_) => Some(default_shell()),
        Found::Uid => None,
    };
    let account = match found {
        Found::Entry(entry) if req.from_notebook_env && (entry.uid != uid || entry.gid != gid) => {
            Account::Renumbered(Renumber {
                name: entry.name,
                from_uid: entry.uid,
                from_gid: entry.gid,
                uid,
                gid,
                rename: None,
                group_name,
            })
        }
        Found::Rename(entry, to) => Account::Renumbered(Renumber {
            name: entry.name,
            from_uid: entry.uid,
            from_gid: entry.gid,
            uid,
            gid,
            rename: Some(Rename { to, home: home.clone(), from_home: entry.dir }),
            group_name,
        }),
        Found::Entry(entry) => Account::Existing { name: entry.name },
        Found::New(name) => Account::ToCreate(NewAccount {
            name,
            uid,
            gid,
            home: home.clone(),
            shell: shell.clone().unwrap_or_else(default_shell),
        }),
        Found::Uid => Account::Uid,
    };
    let Groups { all, inherited, not_inherited, former_primary } = groups;
    Ok(Target { uid, gid, account, home, shell, groups: all, inherited, not_inherited, former_primary })
}

/// NB_UID and NB_GID change NB_USER's account and give its groups to the new ids, so only a regular
/// account's: never root's (which would leave `root:x:1010:` in /etc/passwd and root's groups with
/// the command) nor a system account's, outside UID_MIN..UID_MAX (nobody is above it).
fn refuse_system_account(req: &Request, entry: &userdb::Account, regular: &RangeInclusive<u32>) -> Result<()> {
    let raw = entry.uid.as_raw();
    // root stays root's even where login.defs says UID_MIN 0
    if raw != 0 && regular.contains(&raw) {
        return Ok(());
    }
    let kind = if raw == 0 {
        "root's own account".to_string()
    } else {
        format!("a system account (outside UID_MIN..UID_MAX, {}..{})", regular.start(), regular.end())
    };
    let named = req.user.as_ref().map_or_else(|| "NB_USER".into(), ToString::to_string);
    Err(Error::Usage(format!(
        "{named} names '{}' (uid {raw}), {kind}; NB_USER, NB_UID and NB_GID change only regular accounts \
         and take their groups, so nothing is changed; name the image's notebook account (e.g. NB_USER=jovyan)",
        entry.name
    )))
}

/// NB_UID may give NB_USER's account a new uid, but not one that another account has.
fn refuse_taken_uid(db: &UserDb, req: &Request, entry: &userdb::Account, uid: Uid) -> Result<()> {
    if uid == entry.uid {
        return Ok(());
    }
    match db.user_by_uid(uid).map_err(|source| Error::Lookup { what: "user", source })? {
        Some(other) if other.name != entry.name => Err(Error::Usage(format!(
            "{} asks for uid {uid} for account '{}', but uid {uid} already belongs to account '{}'; give another \
             NB_UID",
            req.uid.as_ref().map_or_else(|| "NB_UID".into(), ToString::to_string),
            entry.name,
            other.name
        ))),
        _ => Ok(()),
    }
}

/// What the user database says about the requested user or uid.
enum Found {
    Entry(userdb::Account),
    /// NB_USER names no account: the image's account (jovyan) to take that name
    Rename(userdb::Account, String),
    /// a name without an entry, for `--ensure-account` to add
    New(String),
    Uid,
}

/// The account the request names: by `--user` (checked against a `--uid` given with it), else by uid;
/// with `--ensure-account`, a name that has no entry yet is one to add, if it is valid and its uid free.
fn find_account(db: &UserDb, req: &Request, uid: Option<u32>) -> Result<Found> {
    let by_uid = |uid: Uid| db.user_by_uid(uid).map_err(|source| Error::Lookup { what: "user", source });
    let Some(user) = &req.user else {
        let uid = Uid::from_raw(uid.unwrap_or(DEFAULT_UID));
        return match by_uid(uid)? {
            Some(entry) => Ok(Found::Entry(entry)),
            None if req.ensure_account => Err(Error::Usage(format!(
                "--ensure-account: uid {uid} has no account and no name was given for one; give --user NAME (or \
                 NB_USER)"
            ))),
            None => Ok(Found::Uid),
        };
    };
    match user_by_name(db, user) {
        Ok(entry) => match (uid, &req.uid) {
            // docker-stacks' way to change the uid: `-e NB_UID=1010` on an image whose NB_USER is uid 1000
            _ if req.from_notebook_env => Ok(Found::Entry(entry)),
            (Some(uid), Some(uid_source)) if entry.uid.as_raw() != uid => Err(Error::Usage(format!(
                "{user} is uid {} but {uid_source} asks for uid {uid}; give only one of them",
                entry.uid
            ))),
            _ => Ok(Found::Entry(entry)),
        },
        Err(Error::Usage(_)) if req.rename_from.is_some() && req.from_notebook_env => {
            let from = req.rename_from.as_deref().unwrap_or_default();
            let Some(entry) = db.user_by_name(from).map_err(|source| Error::Lookup { what: "user", source })? else {
                return Err(Error::Usage(format!(
                    "{user}: no such account, and no account '{from}' to rename to it; create it, or name an \
                     existing one"
                )));
            };
            if !userdb::valid_name(&user.value) {
                return Err(Error::Usage(format!(
                    "{user} is not a valid account name to rename '{from}' to (a lower-case letter or _, then \
                     letters, digits, _ - .; at most 32)"
                )));
            }
            Ok(Found::Rename(entry, user.value.clone()))
        }
        Err(Error::Usage(_)) if req.ensure_account => {
            let uid = Uid::from_raw(uid.unwrap_or(DEFAULT_UID));
            if let Some(other) = by_uid(uid)? {
                return Err(Error::Usage(format!(
                    "--ensure-account: uid {uid} already belongs to account '{}', not '{}'; nothing written (give \
                     another --uid, or --user {})",
                    other.name, user.value, other.name
                )));
            }
            if !userdb::valid_name(&user.value) {
                return Err(Error::Usage(format!(
                    "--ensure-account: {user} is not a valid account name (a lower-case letter or _, then letters, \
                     digits, _ - .; at most 32)"
                )));
            }
            Ok(Found::New(user.value.clone()))
        }
        Err(e) => Err(e),
    }
}

/// uid 0 and gid 0 only with `--allow-root`.
fn refuse_root(req: &Request, uid: Uid, gid: Gid) -> Result<()> {
    if req.allow_root {
        return Ok(());
    }
    if uid.is_root() {
        return Err(Error::Usage(format!(
            "refusing to run the command as uid 0 ({}); name an unprivileged user, or pass --allow-root",
            req.user.as_ref().or(req.uid.as_ref()).map_or("the default".into(), ToString::to_string)
        )));
    }
    if gid.as_raw() == 0 {
        return Err(Error::Usage(format!(
            "refusing to run the command with gid 0 ({}); give --gid, or pass --allow-root",
            req.gid.as_ref().map_or("the account's primary group".into(), ToString::to_string)
        )));
    }
    Ok(())
}

/// The command's supplementary groups, with where they came from.
struct Groups {
    all: Vec<Gid>,
    inherited: Vec<Gid>,
    not_inherited: Vec<(Gid, &'static str)>,
    former_primary: Option<Gid>,
}

/// The primary gid, the account's groups (its own primary group among them when another gid replaces
/// it, as docker-stacks keeps `users`), the groups roothooks was started with (less group 0 and the
/// starting account's own), and `--groups`; or, with `--clear-groups`, the primary gid and `--groups`
/// only. Never group 0 without `--allow-root`; each gid once.
fn supplementary_groups(
    db: &UserDb,
    req: &Request,
    entry: Option<&userdb::Account>,
    gid: Gid,
    started: &StartedGroups,
) -> Result<Groups> {
    let mut extra = Vec::new();
    for name in &req.extra_groups {
        let g = group_by_name_or_number(db, name)?;
        if g.as_raw() == 0 && !req.allow_root {
            return Err(Error::Usage(format!("--groups '{name}' is group 0 (root); remove it, or pass --allow-root")));
        }
        extra.push(g);
    }
    let mut all = vec![gid];
    let mut inherited = Vec::new();
    let mut not_inherited = Vec::new();
    let mut former_primary = None;
    if req.clear_groups {
        not_inherited.extend(started.all.iter().map(|&g| (g, "--clear-groups")));
    } else {
        if let Some(entry) = entry {
            if entry.gid != gid && (entry.gid.as_raw() != 0 || req.allow_root) {
                former_primary = Some(entry.gid);
                all.push(entry.gid);
            }
            all.extend(db.groups_of(&entry.name, gid).map_err(|source| Error::Lookup { what: "group", source })?);
        }
        for &g in &started.all {
            if g.as_raw() == 0 && !req.allow_root {
                not_inherited.push((g, "group 0 is never handed to the command"));
            } else if started.own.contains(&g) {
                not_inherited.push((g, "a group of the account roothooks was started as, not of the orchestrator"));
            } else {
                inherited.push(g);
            }
        }
        all.extend(&inherited);
    }
    all.extend(extra);
    if !req.allow_root {
        all.retain(|g| g.as_raw() != 0);
    }
    let mut seen = std::collections::HashSet::new();
    all.retain(|g| seen.insert(*g));
    Ok(Groups { all, inherited, not_inherited, former_primary })
}

#[cfg(test)]
mod tests;
