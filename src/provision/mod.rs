//! Built-in provisioning: the root-only steps nearly every deployment otherwise writes as hand-made
//! hooks. They run after the hooks and before the drop: an account for an arbitrary uid, the home
//! directory, the environment the command gets, and the limits it runs under.
//!
//! Like hooks, a failing account or home step is logged and tolerated, so the server still starts; a
//! limit or working directory that cannot be applied is an error, since the operator asked for a
//! constraint and the command must not run without it.

pub mod accounts;
pub mod env;
pub mod handover;
pub mod home;
pub mod limits;
pub mod refusal;
pub mod sudo;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::identity::Target;
use crate::identity::{AccountEdit, Rename, Renumber};
use env::Unset;
use limits::Rlimit;

/// What to provision, resolved from the arguments.
#[derive(Debug, Clone, Default)]
pub struct Provision {
    /// the account to add for a uid that has none (`--ensure-account`), or to renumber (NB_UID, NB_GID)
    pub account: Option<AccountEdit>,
    /// write complete passwd and group files here instead of editing /etc
    pub nss_dir: Option<PathBuf>,
    pub create_home: bool,
    pub skel: PathBuf,
    pub env_files: Vec<PathBuf>,
    pub unset: Vec<Unset>,
    pub rlimits: Vec<Rlimit>,
    pub umask: Option<u32>,
    pub workdir: Option<PathBuf>,
    /// passwordless sudo for the user, and what asked for it (`--grant-sudo`, GRANT_SUDO)
    pub grant_sudo: Option<&'static str>,
    /// trees to hand to the user (CHOWN_HOME, CHOWN_EXTRA, `--chown`, `--chown-tree`), in order, each
    /// with the plan's verdict, which the start only carries out
    pub hand_over: Vec<refusal::Judged>,
    /// a non-root start whose uid has no account (OpenShift): the entry to write for it, in place,
    /// where /etc/passwd lets this uid write
    pub own_entry: Option<crate::identity::NewAccount>,
}

impl fmt::Display for Provision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = self.nss_dir.as_ref().map_or("/etc/passwd and /etc/group".into(), |d| format!("{}/", d.display()));
        if let Some(AccountEdit::Add(a)) = &self.account {
            writeln!(
                f,
                "  account:     add {}:{}:{} home {} shell {} to {place}",
                a.name,
                a.uid,
                a.gid,
                a.home.display(),
                a.shell.display()
            )?;
        } else if let Some(AccountEdit::Renumber(r)) = &self.account {
            let renamed = r.rename.as_ref().map_or(String::new(), |n| {
                format!(", rename to {}, move home {} to {}", n.to, n.from_home.display(), n.home.display())
            });
            writeln!(
                f,
                "  account:     change {} from uid {} gid {} to uid {} gid {}{renamed} in {place} (NB_USER, NB_UID, \
                 NB_GID)",
                r.name, r.from_uid, r.from_gid, r.uid, r.gid
            )?;
        } else if let Some(dir) = &self.nss_dir {
            writeln!(f, "  nss dir:     copy passwd and group to {}", dir.display())?;
        }
        if self.create_home {
            writeln!(f, "  home:        create if missing (0700, from {})", self.skel.display())?;
        }
        for file in &self.env_files {
            writeln!(f, "  env file:    {}", file.display())?;
        }
        if !self.unset.is_empty() {
            let names: Vec<&str> = self.unset.iter().map(|u| u.0.as_str()).collect();
            writeln!(f, "  unset env:   {}", names.join(", "))?;
        }
        for limit in &self.rlimits {
            writeln!(f, "  rlimit:      {limit}")?;
        }
        if let Some(mask) = self.umask {
            writeln!(f, "  umask:       {mask:03o}")?;
        }
        if let Some(dir) = &self.workdir {
            writeln!(f, "  workdir:     {}", dir.display())?;
        }
        for refusal::Judged { job, verdict } in &self.hand_over {
            let how = if job.recursive {
                "and everything in it (what root or a system account owns stays)"
            } else {
                "itself"
            };
            match verdict {
                refusal::Verdict::Ok => writeln!(f, "  hand over:   {} {how} ({})", job.path.display(), job.origin)?,
                refusal::Verdict::Refused(why) => {
                    writeln!(f, "  refused:     {} ({}): {why}", job.path.display(), job.origin)?
                }
            }
        }
        if let Some(setting) = self.grant_sudo {
            writeln!(f, "  sudo:        passwordless for the user, in {} ({setting})", sudo::SUDOERS_FILE)?;
        }
        Ok(())
    }
}

/// `$ROOTHOOKS_ENV`: a file in a directory only root can enter, where hooks append `NAME=value` lines
/// for the command's environment.
///
/// The directory is removed when the hooks are done, also when a signal stops them; a roothooks killed
/// outright (SIGKILL, OOM) cannot. So each start holds an exclusive `flock` on its directory for as
/// long as it lives (the kernel drops it with the process, in whatever pid namespace), and first
/// removes every `roothooks-env.*` directory whose lock it can take: those whose roothooks is gone.
pub struct HandOff {
    dir: PathBuf,
    pub file: PathBuf,
    _alive: nix::fcntl::Flock<fs::File>,
}

const HANDOFF_PREFIX: &str = "roothooks-env.";

/// Where `$ROOTHOOKS_ENV`'s directory may be made, in order.
const HANDOFF_BASES: [&str; 2] = ["/run", "/tmp"];

impl HandOff {
    /// In `/run`, else (missing, read-only or full, as in a pod with a read-only root filesystem and
    /// an emptyDir on `/tmp`) in `/tmp`; only in one the trust rule lets root create in, so that no
    /// user can rename root's directory away and put one of theirs at its name.
    pub fn create() -> std::io::Result<HandOff> {
        let mut failed = Vec::new();
        for base in HANDOFF_BASES.map(Path::new) {
            let made = match crate::trust::walk(base, crate::trust::Last::CreateIn) {
                Ok(walked) => match walked.untrusted {
                    None if walked.is_dir() => HandOff::create_in(base),
                    None => Err(std::io::Error::other("not a directory")),
                    Some(why) => Err(std::io::Error::other(why)),
                },
                Err(e) => Err(e),
            };
            match made {
                Ok(handoff) => return Ok(handoff),
                Err(e) => failed.push(format!("{}: {e}", base.display())),
            }
        }
        Err(std::io::Error::other(failed.join("; ")))
    }

    fn create_in(base: &Path) -> std::io::Result<HandOff> {
        remove_stale_handoffs(base);
        let pid = std::process::id();
        let mut tries = 0;
        loop {
            let dir = nix::unistd::mkdtemp(&base.join(format!("{HANDOFF_PREFIX}{pid}.XXXXXX")))?; // mode 0700
                                                                                                  // Another start's clean-up may take it in the moment before it is locked: then again.
            let made = lock_dir(&dir).and_then(|alive| {
                let file = dir.join("env");
                fs::OpenOptions::new().write(true).create_new(true).open(&file)?;
                Ok(HandOff { dir: dir.clone(), file, _alive: alive })
            });
            match made {
                Ok(handoff) => return Ok(handoff),
                Err(e) => {
                    let _ = fs::remove_dir_all(&dir);
                    tries += 1;
                    if tries == 3 {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// What the hooks have written so far: the lines that can be used, and those that cannot.
    pub fn read(&self) -> (Vec<(String, String)>, Vec<env::BadLine>) {
        let text = fs::read(&self.file).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        env::parse(&text)
    }

    /// Read what the hooks wrote, log what could not be used, and remove the file.
    pub fn take(self) -> Vec<(String, String)> {
        let (vars, bad) = self.read();
        for line in bad {
            warn!("ignoring $ROOTHOOKS_ENV {line}");
        }
        if !vars.is_empty() {
            let names: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
            // each hook's own line has said so (runner::through_gate)
            tracing::debug!("hooks passed {} to the command's environment", names.join(", "));
        }
        vars
    }
}

impl Drop for HandOff {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// An exclusive lock on the directory `dir`, without waiting; `WouldBlock` when someone holds it.
fn lock_dir(dir: &Path) -> std::io::Result<nix::fcntl::Flock<fs::File>> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = nix::libc::O_DIRECTORY | nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC;
    let handle = fs::OpenOptions::new().read(true).custom_flags(flags).open(dir)?;
    nix::fcntl::Flock::lock(handle, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, e)| e.into())
}

/// Remove what killed starts left in `base`: root's own hand-off directories that nobody holds locked.
fn remove_stale_handoffs(base: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = fs::read_dir(base) else { return };
    for entry in entries.flatten() {
        if !entry.file_name().to_str().is_some_and(|n| n.starts_with(HANDOFF_PREFIX)) {
            continue;
        }
        let roots = entry.metadata().is_ok_and(|m| m.is_dir() && m.uid() == 0); // lstat: no symlink
        if let (true, Ok(_held)) = (roots, lock_dir(&entry.path())) {
            info!("removing {}, left by a roothooks that was killed", entry.path().display());
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// The account and the home: as root, after the hooks. Failures are logged and tolerated.
pub fn as_root(plan: &Provision, target: &Target) {
    if plan.account.is_some() || plan.nss_dir.is_some() || plan.create_home || !plan.hand_over.is_empty() {
        // work that may wait (useradd's lock) or take long (a tree to hand over): the log copy gets
        // each line as it comes from here on
        crate::log::write_through();
    }
    let etc = Path::new("/etc");
    let account_result = match (&plan.nss_dir, &plan.account) {
        (Some(dir), account) => Some(accounts::write_nss_dir(etc, dir, account.as_ref())),
        (None, Some(edit @ AccountEdit::Add(account))) => {
            // A hook (sssd, LDAP) may have provided it meanwhile.
            match crate::userdb::UserDb::system().user_by_uid(account.uid) {
                Ok(Some(existing)) => {
                    info!("uid {} has an account now ({}); not adding one", account.uid, existing.name);
                    None
                }
                _ => Some(accounts::ensure_in(etc, edit)),
            }
        }
        (None, Some(edit @ AccountEdit::Renumber(_))) => Some(accounts::ensure_in(etc, edit)),
        (None, None) => None,
    };
    let edited = matches!(account_result, Some(Ok(_)));
    match account_result {
        Some(Ok(accounts::AccountChange::Added { passwd, group })) => {
            let what = match (passwd, group) {
                (true, true) => "/etc/passwd and /etc/group",
                (true, false) => "/etc/passwd",
                _ => "/etc/group",
            };
            match &plan.account {
                None => {}
                Some(AccountEdit::Add(a)) => info!("added account {} (uid {}, gid {}) to {what}", a.name, a.uid, a.gid),
                Some(AccountEdit::Renumber(r)) => info!(
                    "changed account {}{} from uid {} gid {} to uid {} gid {} in {what} (NB_USER, NB_UID, NB_GID)",
                    r.name,
                    r.rename.as_ref().map_or(String::new(), |n| format!(" to {} (home {})", n.to, n.home.display())),
                    r.from_uid,
                    r.from_gid,
                    r.uid,
                    r.gid
                ),
            }
        }
        Some(Ok(accounts::AccountChange::AlreadyThere)) => info!("the account is already in /etc/passwd"),
        Some(Ok(accounts::AccountChange::Written { dir })) => info!("wrote passwd and group to {}", dir.display()),
        Some(Err(e)) => warn!("account not added: {e}"),
        None => {}
    }
    if let (true, None, Some(AccountEdit::Renumber(Renumber { rename: Some(rename), .. }))) =
        (edited, &plan.nss_dir, &plan.account)
    {
        move_home(rename);
    }
    if let Some(setting) = plan.grant_sudo {
        grant_sudo(setting, target);
    }
    if !plan.hand_over.is_empty() {
        // read again after the hooks and the account edit: the walk leaves alone what the system
        // accounts own now, one a hook added too
        let protected = handover::Protected::system();
        for judged in &plan.hand_over {
            hand_over(judged, target, &protected);
        }
    }
    if plan.create_home {
        match home::create(&target.home, target.uid, target.gid, &plan.skel) {
            Ok(home::HomeOutcome::Existing) => info!("home {} exists; left as it is", target.home.display()),
            Ok(home::HomeOutcome::Created { refused }) => {
                let skel = plan.skel.display();
                info!("created home {} for uid {} (0700, from {skel})", target.home.display(), target.uid);
                for entry in refused {
                    warn!("not copied from {skel}: {entry}");
                }
            }
            Err(e) => warn!("home not created: {e}"),
        }
    }
}

/// Started without root as a uid with no account (OpenShift's arbitrary uid, `docker run --user
/// 1010`): as start.sh does, an entry for it, named NB_USER, written into /etc/passwd in place when
/// this uid may write it (docker-stacks makes it group-writable by group 0); no file is created in
/// /etc. Otherwise a warning, and the start goes on.
pub fn own_entry(plan: &Provision) {
    let Some(entry) = &plan.own_entry else { return };
    match accounts::add_in_place(std::path::Path::new("/etc/passwd"), entry) {
        Ok(Some(moved)) => info!(
            "uid {} had no account: added {} (uid {}, gid {}, home {}) to /etc/passwd in place, and renamed the \
             image's {} to {moved}",
            entry.uid,
            entry.name,
            entry.uid,
            entry.gid,
            entry.home.display(),
            entry.name
        ),
        Ok(None) => info!(
            "uid {} had no account: added {} (uid {}, gid {}, home {}) to /etc/passwd in place",
            entry.uid,
            entry.name,
            entry.uid,
            entry.gid,
            entry.home.display()
        ),
        Err(e) => warn!(
            "uid {} has no account, and none is added: {e} (docker-stacks images let group 0 write /etc/passwd: \
             start with --user {}:0)",
            entry.uid, entry.uid
        ),
    }
}

/// NB_USER renamed the account: its home follows, as start.sh's does.
fn move_home(rename: &Rename) {
    let (from, to) = (rename.from_home.display(), rename.home.display());
    match home::move_home(&rename.from_home, &rename.home) {
        Ok(home::Moved::Moved) => info!("moved home {from} to {to} (NB_USER), leaving a link at {from}"),
        Ok(home::Moved::Linked(why)) => info!("home {from} {why}: {to} links to it (NB_USER)"),
        Ok(home::Moved::Exists) => info!("home {to} exists; {from} left as it is"),
        Ok(home::Moved::Missing) => info!("no home at {from} to move to {to}"),
        Err(e) => warn!("home not moved from {from} to {to}: {e}"),
    }
}

/// CHOWN_HOME, CHOWN_EXTRA: one tree handed to the user, with progress and a summary in the log; or,
/// when the plan refused it, that refusal, in the words `--dry-run` printed.
fn hand_over(judged: &refusal::Judged, target: &Target, protected: &handover::Protected) {
    let job = &judged.job;
    let (path, origin) = (job.path.display(), job.origin);
    if let refusal::Verdict::Refused(why) = &judged.verdict {
        warn!("not handing {path} over ({origin}): {why}");
        return;
    }
    let to = (target.uid, target.gid);
    let start = std::time::Instant::now();
    let said = |entries: u64, left_alone: u64| {
        info!(
            "handing {path} over to uid {} gid {} ({origin}): {entries} entries so far, {left_alone} left alone",
            to.0, to.1
        )
    };
    match handover::hand_over(job, to, protected, said) {
        Ok(t) => {
            let line = format!(
                "handed {path}{} over to uid {} gid {} ({origin}): {} changed, {} already theirs, {} left alone \
                 (root's or a system account's) in {:.1} s",
                if job.recursive { " and everything in it" } else { "" },
                to.0,
                to.1,
                t.changed,
                t.already,
                t.left_alone,
                start.elapsed().as_secs_f64()
            );
            match t.first_failure {
                None => info!("{line}"),
                Some(first) => warn!("{line}; {} could not be handed over, the first: {first}", t.failed),
            }
            if t.linked > 0 {
                let named: Vec<String> = t.linked_paths.iter().map(|p| p.display().to_string()).collect();
                let more = t.linked - named.len() as u64;
                warn!(
                    "left {} file(s) in {path} as they are ({origin}): each has more than one link and is not uid \
                     {}'s, so its other name may be another account's file: {}{}",
                    t.linked,
                    to.0,
                    named.join(", "),
                    if more > 0 { format!(" and {more} more") } else { String::new() }
                );
            }
        }
        Err(e) => warn!("not handing {path} over ({origin}): {e}"),
    }
}

/// GRANT_SUDO: the sudoers rule, and warnings that say what it gives away, or why it gives nothing.
fn grant_sudo(setting: &str, target: &Target) {
    // sudoers names a uid without an account as #UID; an account name was checked when it was read
    let user = target.name().map_or_else(|| format!("#{}", target.uid), str::to_string);
    if !["/usr/bin/sudo", "/bin/sudo", "/usr/local/bin/sudo"].iter().any(|p| Path::new(p).exists()) {
        warn!("{setting}: sudo is not installed in this image; no sudoers rule written, and nothing to use one");
        return;
    }
    match sudo::grant(Path::new(sudo::SUDOERS_FILE), &user) {
        Ok(sudo::Granted::Written) => warn!(
            "{setting}: {user} may run any command as root with sudo, without a password ({}); privilege \
             escalation is allowed for this start",
            sudo::SUDOERS_FILE
        ),
        Ok(sudo::Granted::AlreadyThere) => warn!(
            "{setting}: {user} may run any command as root with sudo, without a password ({} was already \
             there); privilege escalation is allowed for this start",
            sudo::SUDOERS_FILE
        ),
        Err(e) => warn!("{setting}: no sudoers rule written: {e}"),
    }
}

/// Read the `--env-file`s (as root: under systemd they are credentials only root can read). The way to
/// each is walked and judged first, and anything but a regular file is refused unopened, so a user's
/// symlink cannot make root read someone else's secrets into the command, nor a FIFO stall the start.
pub fn read_env_files(plan: &Provision) -> Vec<(String, String)> {
    let mut vars = Vec::new();
    for path in &plan.env_files {
        let mut bytes = Vec::new();
        let read = crate::trust::open_for_reading(path).map_err(|e| e.to_string()).and_then(|mut f| {
            std::io::Read::read_to_end(&mut f, &mut bytes).map_err(|e| format!("cannot read {}: {e}", path.display()))
        });
        match read.map(|_| bytes) {
            Ok(bytes) => {
                let (found, bad) = env::parse(&String::from_utf8_lossy(&bytes));
                for line in bad {
                    warn!("ignoring {} {line}", path.display());
                }
                vars.extend(found);
            }
            Err(e) => warn!("cannot read --env-file {}: {e}; its variables are not set", path.display()),
        }
    }
    vars
}

/// Apply `--rlimit`s; any that cannot be applied is an error naming it.
pub fn apply_rlimits(limits: &[Rlimit]) -> Result<()> {
    if limits.iter().any(|l| l.resource == nix::sys::resource::Resource::RLIMIT_FSIZE) {
        crate::system::ignore_file_size_limit()
            .map_err(|e| Error::Setup(format!("cannot ignore SIGXFSZ for roothooks' own writes: {e}")))?;
    }
    for limit in limits {
        let value = |v: Option<u64>| v.unwrap_or(nix::libc::RLIM_INFINITY);
        nix::sys::resource::setrlimit(limit.resource, value(limit.soft), value(limit.hard)).map_err(|e| {
            let hint = if e == nix::errno::Errno::EPERM {
                " (raising a hard limit needs CAP_SYS_RESOURCE, which this process lacks)"
            } else {
                ""
            };
            Error::Setup(format!("cannot apply --rlimit {limit}: {}{hint}; not starting the command", e.desc()))
        })?;
    }
    Ok(())
}

/// Enter again, as the user, the directory roothooks was started in (root left it for `/`), so the
/// user's own permissions decide whether the command may start there: a working directory inherited
/// under a directory the user cannot enter gives no access. Failing that, `home`, then `/`, each with a
/// warning.
pub fn enter_start_dir(start: Option<&Path>, home: Option<&Path>) {
    let uid = nix::unistd::getuid();
    let why = match start.map(|dir| (dir, std::env::set_current_dir(dir))) {
        Some((_, Ok(()))) => return,
        Some((dir, Err(e))) => format!("uid {uid} cannot enter {}, where roothooks was started ({e})", dir.display()),
        None => "the directory roothooks was started in has no name (deleted?)".to_string(),
    };
    match home.filter(|h| std::env::set_current_dir(h).is_ok()) {
        Some(home) => warn!("{why}: starting the command in its HOME, {}", home.display()),
        None => {
            let _ = std::env::set_current_dir("/");
            warn!("{why}, nor its HOME: starting the command in /");
        }
    }
}

/// `--umask` and `--workdir`, applied as the user, so the user's own permissions decide.
pub fn apply_after_drop(plan: &Provision) -> Result<()> {
    if let Some(mask) = plan.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    if let Some(dir) = &plan.workdir {
        std::env::set_current_dir(dir).map_err(|e| {
            Error::Setup(format!(
                "cannot enter --workdir {} as uid {}: {e}; not starting the command",
                dir.display(),
                nix::unistd::getuid()
            ))
        })?;
    }
    Ok(())
}
