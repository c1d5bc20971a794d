//! The resolved plan: who the command runs as, which hooks run, which command starts.
//!
//! A plain value built from the arguments and the environment before anything is changed, so that
//! `--dry-run` can print it and tests can inspect it. Printing it does no I/O: the names of groups
//! and where accounts come from are looked up for `--dry-run` only ([`Names`]).

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::warn;

use crate::error::{Error, Result};
pub use crate::exec::CommandLine;
use crate::gate::{self, Gate};
use crate::hooks::{self, DirOrigin, HookPlan, Phase, Style};
use crate::identity::{self, group_label, group_list_label, Account, Request, StartedGroups, Target};
use crate::provision::env::Unset;
use crate::provision::handover::{HandOver, Protected};
use crate::provision::limits::Rlimit;
use crate::provision::refusal::{self, Guarded, Judged, Verdict};
use crate::provision::Provision;
use crate::runner::FailurePolicy;
use crate::seccomp::{Group, Seccomp};
use crate::supervise::{InitSetting, PtySetting, SignalsTo, Supervision};
use crate::system::{Started, Uid};
use crate::userdb::UserDb;

/// What runs after the hooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Exec(CommandLine),
    /// `--no-exec`: exit after the hooks; a command given anyway is only shown
    NoExec(Option<CommandLine>),
}

impl Command {
    /// The command line, whether it is started or not.
    pub fn line(&self) -> Option<&CommandLine> {
        match self {
            Command::Exec(line) => Some(line),
            Command::NoExec(line) => line.as_ref(),
        }
    }
}

/// Everything the plan is built from besides the identity request: the arguments, as values.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub command: Vec<OsString>,
    pub no_exec: bool,
    pub hooks_dir: Option<PathBuf>,
    pub user_hooks_dir: Option<PathBuf>,
    pub docker_stacks: bool,
    pub allow_untrusted_hooks: bool,
    pub hook_timeout: Duration,
    pub on_hook_failure: Option<FailurePolicy>,
    pub log_file: Option<PathBuf>,
    pub report: Option<PathBuf>,
    pub nss_dir: Option<PathBuf>,
    pub create_home: bool,
    pub skel: PathBuf,
    pub env_files: Vec<PathBuf>,
    pub unset_env: Vec<String>,
    pub rlimits: Vec<Rlimit>,
    pub umask: Option<u32>,
    pub workdir: Option<PathBuf>,
    pub allow_escalation: bool,
    pub seccomp: Seccomp,
    /// `--hook-env`: what root's hooks get besides the default set
    pub hook_env: Vec<String>,
    /// `--grant-sudo` or GRANT_SUDO (what named it): passwordless sudo, escalation allowed
    pub grant_sudo: Option<&'static str>,
    /// `--chown`, `--chown-tree`, CHOWN_HOME and CHOWN_EXTRA
    pub chown: Chown,
    pub init: InitSetting,
    pub pty: PtySetting,
    pub signals_to: SignalsTo,
}

/// The trees to hand to the user: named paths, and the home (CHOWN_HOME: `Some(recursive)`), which
/// is known once the user is.
#[derive(Debug, Clone, Default)]
pub struct Chown {
    pub jobs: Vec<HandOver>,
    pub home: Option<bool>,
}

/// How roothooks was started, which decides what it can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Privilege {
    /// uid 0: runs hooks and drops to the target
    Root,
    /// anything else: no hooks, no change of user; only what an unprivileged process can clear
    Unprivileged { uid: Uid },
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub privilege: Privilege,
    pub target: Target,
    pub hooks: HookPlan,
    /// hooks run as the user after the drop, just before the exec (`--user-hooks-dir`, docker-stacks'
    /// before-notebook.d)
    pub user_hooks: Option<HookPlan>,
    /// `None` means no limit
    pub hook_timeout: Option<Duration>,
    pub on_hook_failure: FailurePolicy,
    /// the built-in steps between the hooks and the drop
    pub provision: Provision,
    /// `None` when turned off
    pub log_file: Option<PathBuf>,
    pub report: Option<PathBuf>,
    pub command: Command,
    pub allow_escalation: bool,
    /// the filter the command starts under
    pub seccomp: Seccomp,
    /// what of the environment root's hooks get
    pub gate: Gate,
    /// whether roothooks stays beside the command (init, pty) or execs in its place
    pub supervision: Supervision,
}

impl Plan {
    /// The environment hooks get on top of the container's, describing the target.
    pub fn hook_env(&self) -> Vec<(String, String)> {
        let t = &self.target;
        // the names of the hook interface, which only roothooks sets (the last, `$ROOTHOOKS_ENV`, when
        // the hand-off file is made)
        let [uid, gid, user, home, groups, _] = crate::gate::INTERFACE;
        vec![
            (uid.into(), t.uid.to_string()),
            (gid.into(), t.gid.to_string()),
            (user.into(), t.user_name()),
            (home.into(), t.home.display().to_string()),
            (groups.into(), t.groups.iter().map(|g| g.to_string()).collect::<Vec<_>>().join(",")),
        ]
    }
}

/// The groups of the account roothooks was started as, from the group database. Looked up only when
/// there is something to tell apart: group 0 is never passed on anyway.
fn started_groups(db: &UserDb, started: &Started) -> StartedGroups {
    let stuck_in_gid_0 = (!started.effective.is_root() && started.gid.as_raw() == 0).then_some(started.effective);
    if started.groups.iter().all(|g| g.as_raw() == 0) {
        return StartedGroups { all: started.groups.clone(), own: Vec::new(), stuck_in_gid_0 };
    }
    let own = db
        .user_by_uid(started.real)
        .ok()
        .flatten()
        .and_then(|account| db.groups_of(&account.name, account.gid).ok())
        .unwrap_or_default();
    StartedGroups { all: started.groups.clone(), own, stuck_in_gid_0 }
}

/// The hooks directory when none is given: repo2docker's repository, else /etc.
pub fn default_hooks_dir(repo_dir: Option<&std::ffi::OsStr>) -> PathBuf {
    match repo_dir.filter(|d| !d.is_empty()) {
        Some(repo) => Path::new(repo).join("roothooks.d"),
        None => PathBuf::from("/etc/roothooks.d"),
    }
}

/// docker-stacks' hook directories: run as root before the start, and just before the server.
pub const DOCKER_STACKS_ROOT_HOOKS: &str = "/usr/local/bin/start-notebook.d";
pub const DOCKER_STACKS_USER_HOOKS: &str = "/usr/local/bin/before-notebook.d";

/// `path` as an absolute path: root leaves its working directory for `/` before it touches anything,
/// so a relative path the operator gave is taken from where roothooks was started.
fn absolute(path: &Path, cwd: Option<&Path>) -> Result<PathBuf> {
    match cwd {
        _ if path.is_absolute() => Ok(path.to_path_buf()),
        Some(cwd) => Ok(cwd.join(path)),
        None => Err(Error::Usage(format!(
            "{} is a relative path, but the directory roothooks was started in has no name (deleted?); give an \
             absolute path",
            path.display()
        ))),
    }
}

/// A non-root start (OpenShift) whose uid has no account, under `--docker-stacks` or
/// `--ensure-account`: the entry start.sh would add for it, named as the request names the user
/// (NB_USER), with that account's home and shell.
fn own_entry(db: &UserDb, options: &Options, request: &Request, started: &Started) -> Option<identity::NewAccount> {
    let uid = started.effective;
    if uid.is_root() || !(options.docker_stacks || request.ensure_account) {
        return None;
    }
    if !matches!(db.user_by_uid(uid), Ok(None)) {
        return None;
    }
    let name = request.user.as_ref()?.value.clone();
    let named = db.user_by_name(&name).ok().flatten();
    Some(identity::NewAccount {
        home: named.as_ref().map_or_else(|| PathBuf::from(format!("/home/{name}")), |a| a.dir.clone()),
        shell: named.map_or_else(identity::default_shell, |a| a.shell),
        name,
        uid,
        gid: started.gid,
    })
}

/// The directories root relies on besides the system's own (see `refusal`): every directory a root
/// hook's PATH may hold (`search`), the hooks directories, the skel and nss directories.
fn guarded(search: &[PathBuf], hooks: [Option<&Path>; 2], skel: &Path, nss_dir: Option<&Path>) -> Guarded {
    let on_path = search.iter().map(|dir| (dir.clone(), "a directory on root's hooks' PATH".to_string()));
    let [root_hooks, user_hooks] = hooks.map(|dir| dir.map(Path::to_path_buf));
    let named = [
        (root_hooks, "root's hooks directory"),
        (user_hooks, "the user's hooks directory"),
        (Some(skel.to_path_buf()), "the --skel directory new homes are copied from"),
        (nss_dir.map(Path::to_path_buf), "the --nss-dir directory root writes passwd and group to"),
    ];
    let named = named.into_iter().filter_map(|(dir, what)| Some((dir?, what.to_string())));
    Guarded::new(on_path.chain(named))
}

/// The hand-overs, the home's first (it is made or moved before), every path absolute and
/// normalised (what is judged is what the walk opens), each with the plan's verdict. `guarded` is
/// asked only when there is something to hand over.
fn hand_over_jobs(
    chown: &Chown,
    target: &identity::Target,
    cwd: Option<&Path>,
    guarded: impl FnOnce() -> Guarded,
) -> Result<Vec<Judged>> {
    let home = chown.home.map(|recursive| HandOver { path: target.home.clone(), recursive, origin: "CHOWN_HOME" });
    let jobs: Vec<HandOver> = home.into_iter().chain(chown.jobs.iter().cloned()).collect();
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let (guarded, accounts) = (guarded(), Protected::system());
    jobs.into_iter()
        .map(|job| {
            if let Some(why) = (job.origin == "CHOWN_HOME").then(|| refusal::home_refusal(target)).flatten() {
                return Ok(Judged { job, verdict: Verdict::Refused(why) });
            }
            let job = HandOver { path: refusal::normalise(&absolute(&job.path, cwd)?), ..job };
            Ok(Judged { verdict: refusal::judge(&job.path, &guarded, &accounts), job })
        })
        .collect()
}

/// Build the plan from the options, the identity request and how roothooks was started, changing
/// nothing.
pub fn build(options: &Options, request: &Request, started: &Started) -> Result<Plan> {
    let cwd = started.cwd.as_deref();
    let abs = |path: &PathBuf| absolute(path, cwd);
    let db = UserDb::system();
    if db.others_ignored() {
        warn!(
            "/etc/nsswitch.conf names sources besides files; this static build reads only /etc/passwd and \
             /etc/group (use the dynamically linked build for LDAP, sssd or systemd accounts)"
        );
    }
    let target = identity::resolve(&db, request, &started_groups(&db, started))?;
    let line = options
        .command
        .split_first()
        .map(|(program, rest)| CommandLine { program: program.clone(), args: rest.to_vec() });
    let command = match line {
        _ if options.no_exec => Command::NoExec(line),
        Some(line) => Command::Exec(line),
        None => {
            return Err(Error::Usage(
                "no command given: put the command to run after --, e.g. roothooks --uid 1000 -- \
                 jupyterhub-singleuser (or pass --no-exec to only run the hooks)"
                    .into(),
            ))
        }
    };
    let privilege =
        if started.effective.is_root() { Privilege::Root } else { Privilege::Unprivileged { uid: started.effective } };
    let (dir, origin) = match &options.hooks_dir {
        Some(dir) => (abs(dir)?, DirOrigin::Explicit),
        None if options.docker_stacks => (PathBuf::from(DOCKER_STACKS_ROOT_HOOKS), DirOrigin::Default),
        None => (abs(&default_hooks_dir(std::env::var_os("REPO_DIR").as_deref()))?, DirOrigin::Default),
    };
    let user_dir = match &options.user_hooks_dir {
        Some(dir) => Some((abs(dir)?, DirOrigin::Explicit)),
        None if options.docker_stacks => Some((PathBuf::from(DOCKER_STACKS_USER_HOOKS), DirOrigin::Default)),
        None => None,
    };
    let style =
        |phase| Style { phase, source_sh: options.docker_stacks, allow_untrusted: options.allow_untrusted_hooks };
    let log_file = match &options.log_file {
        Some(path) if path.as_os_str() == "none" => None,
        Some(path) => Some(abs(path)?),
        None => Some(PathBuf::from(format!("/tmp/roothooks-{}.log", target.uid))),
    };
    let (nss_dir, skel) = (options.nss_dir.as_ref().map(abs).transpose()?, abs(&options.skel)?);
    let hooks_dirs = [Some(dir.as_path()), user_dir.as_ref().map(|(d, _)| d.as_path())];
    // every directory a root hook's PATH may hold: where `#!/usr/bin/env NAME` finds NAME, and
    // what no hand-over may give the user
    let search = gate::hook_search_dirs(std::env::var_os("PATH").as_deref());
    let hand_over =
        hand_over_jobs(&options.chown, &target, cwd, || guarded(&search, hooks_dirs, &skel, nss_dir.as_deref()))?;
    let provision = Provision {
        account: target.account_edit(),
        nss_dir,
        create_home: options.create_home,
        skel,
        env_files: options.env_files.iter().map(abs).collect::<Result<_>>()?,
        unset: options.unset_env.iter().filter(|u| !u.is_empty()).map(|u| Unset(u.clone())).collect(),
        rlimits: options.rlimits.clone(),
        umask: options.umask,
        workdir: options.workdir.clone(),
        grant_sudo: options.grant_sudo,
        hand_over,
        own_entry: own_entry(&db, options, request, started),
    };
    let allowed = options.hook_env.iter().filter(|p| !p.trim().is_empty()).map(|p| gate::parse_pattern(p));
    let gate = Gate {
        allowed: allowed
            .collect::<std::result::Result<_, _>>()
            .map_err(|why| Error::Usage(format!("--hook-env (or ROOTHOOKS_HOOK_ENV) {why}")))?,
        secrets: provision.unset.iter().map(|u| u.0.clone()).collect(),
    };
    Ok(Plan {
        privilege,
        provision,
        gate,
        hooks: hooks::discover(&dir, origin, style(Phase::Root), &search),
        user_hooks: user_dir.map(|(dir, origin)| hooks::discover(&dir, origin, style(Phase::User), &search)),
        hook_timeout: Some(options.hook_timeout).filter(|t| !t.is_zero()),
        on_hook_failure: options.on_hook_failure.unwrap_or(FailurePolicy::Continue),
        log_file,
        report: options.report.as_ref().map(abs).transpose()?,
        command,
        target,
        allow_escalation: options.allow_escalation || options.grant_sudo.is_some(),
        seccomp: options.seccomp.clone(),
        supervision: Supervision::resolve(
            options.init,
            options.pty,
            options.signals_to,
            started.pid1,
            started.on_terminal,
        ),
    })
}

/// What `--dry-run` shows besides the plan itself, looked up in the databases and PATH: the plan
/// stays a plain value, and a start that is not a dry run pays for none of it.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub accounts: String,
    pub gid: String,
    pub groups: String,
    pub inherited: String,
    pub not_kept: Vec<String>,
    /// where the command is found now, as root sees PATH; the exec searches again, as the user
    pub found_at: Option<PathBuf>,
}

impl Names {
    /// `found_at`: where the command is found on PATH now (the exec step knows how to search).
    pub fn look_up(plan: &Plan, db: &UserDb, found_at: Option<PathBuf>) -> Names {
        let t = &plan.target;
        Names {
            accounts: db.source(),
            gid: group_label(db, t.gid),
            groups: group_list_label(db, &t.groups),
            inherited: group_list_label(db, &t.inherited),
            not_kept: t.not_inherited.iter().map(|(gid, why)| format!("{}: {why}", group_label(db, *gid))).collect(),
            found_at,
        }
    }
}

/// The plan with its [`Names`], as `--dry-run` prints it.
pub struct Shown<'a> {
    pub plan: &'a Plan,
    pub names: &'a Names,
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (plan, names) = (self.plan, self.names);
        let t = &plan.target;
        writeln!(f, "roothooks plan (dry run: nothing is executed)")?;
        match &plan.privilege {
            Privilege::Root => writeln!(f, "  started as:  uid 0 (root): drops privileges before the command")?,
            Privilege::Unprivileged { uid } => {
                writeln!(f, "  started as:  uid {uid} (not root): no hooks, no change of user")?
            }
        }
        let name = match &t.account {
            Account::Existing { name } => format!("({name})"),
            Account::ToCreate(new) => format!("({}, account to be added)", new.name),
            Account::Renumbered(r) => format!("({}, renumbered from uid {} gid {})", r.name, r.from_uid, r.from_gid),
            Account::Uid => " (no account)".to_string(),
        };
        writeln!(f, "  accounts:    {}", names.accounts)?;
        writeln!(f, "  user:        uid {}{name} gid {}", t.uid, names.gid)?;
        writeln!(f, "  groups:      {}", names.groups)?;
        if let Some(g) = t.former_primary {
            writeln!(f, "  kept group:  {g} (the account's own primary group, kept beside the new gid)")?;
        }
        if !t.inherited.is_empty() {
            writeln!(f, "  inherited:   {} (kept from the groups roothooks was started with)", names.inherited)?;
        }
        for line in &names.not_kept {
            writeln!(f, "  not kept:    {line}")?;
        }
        writeln!(f, "  HOME:        {}", t.home.display())?;
        writeln!(f, "  USER:        {}", t.user_name())?;
        if let Some(shell) = &t.shell {
            writeln!(f, "  SHELL:       {}", shell.display())?;
        }
        if plan.allow_escalation {
            writeln!(
                f,
                "  escalation:  ALLOWED: no_new_privs not set, bounding set kept (--allow-privilege-escalation)"
            )?;
        } else {
            writeln!(f, "  privileges:  all capability sets emptied, no_new_privs set")?;
        }
        match &plan.seccomp {
            Seccomp::Off => writeln!(f, "  seccomp:     OFF (--seccomp off): no system call filter for the command")?,
            on => {
                let names = |groups: Vec<Group>| groups.iter().map(|g| g.name()).collect::<Vec<_>>().join(", ");
                writeln!(f, "  seccomp:     denies {} (EPERM)", names(on.denied()))?;
                if let Seccomp::On { allowed } = on {
                    if !allowed.is_empty() {
                        writeln!(f, "  allowed:     {} (--seccomp-allow)", names(allowed.clone()))?;
                    }
                }
            }
        }
        match plan.privilege {
            Privilege::Root => write!(f, "{}", plan.hooks)?,
            Privilege::Unprivileged { .. } => {
                writeln!(f, "  hooks dir:   {} (not run: not root)", plan.hooks.dir.display())?
            }
        }
        if let Some(user_hooks) = &plan.user_hooks {
            write!(f, "{user_hooks}")?;
        }
        if plan.privilege == Privilege::Root {
            writeln!(f, "  hook env:    {}", plan.gate)?;
        }
        write!(f, "{}", plan.provision)?;
        let timeout = plan.hook_timeout.map_or("none".into(), |t| format!("{} s", t.as_secs_f64()));
        writeln!(f, "  hook timeout: {timeout}; on failure: {:?}", plan.on_hook_failure)?;
        let shown = |p: &Option<PathBuf>| p.as_ref().map_or("none".into(), |p| p.display().to_string());
        writeln!(f, "  log file:    {}", shown(&plan.log_file))?;
        writeln!(f, "  report:      {}", shown(&plan.report))?;
        let line = match &plan.command {
            Command::NoExec(None) => return writeln!(f, "  command:     none (--no-exec: exit after the hooks)"),
            Command::NoExec(Some(line)) => {
                return writeln!(f, "  command:     {} (not started: --no-exec)", line.argv().join(" "))
            }
            Command::Exec(line) => line,
        };
        writeln!(f, "  command:     {}", line.argv().join(" "))?;
        writeln!(f, "  supervisor:  {}", plan.supervision)?;
        match &names.found_at {
            Some(path) => writeln!(f, "  found at:    {}", path.display()),
            None => writeln!(f, "  found at:    NOT FOUND in PATH (a hook may still install it)"),
        }
    }
}
