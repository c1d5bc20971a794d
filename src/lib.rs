//! roothooks: run an operator's setup hooks as root, then drop every privilege and exec the user's server.
//!
//! The data path is the layout: arguments (`cli`) → a resolved plan (`identity` over `userdb`, `hooks`, `plan`) →
//! hooks run as root (`runner`) → built-in provisioning (`provision`) → privileges dropped and
//! verified (`privilege`, over the kernel layer `system`) → exec (`exec`). `trust` judges every path root relies on
//! and creates every file root makes for the user. `log` and `outputs` are what the operator and the user get to read.

pub mod cli;
pub mod error;
pub mod exec;
pub mod hooks;
pub mod identity;
pub mod log;
pub mod outputs;
pub mod plan;
pub mod privilege;
pub mod provision;
pub mod runner;
pub mod system;
pub mod trust;
pub mod userdb;

use std::collections::BTreeSet;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use tracing::{error, info, warn};

use crate::cli::Args;
use crate::error::{Error, Result, EXIT_USAGE};
use crate::hooks::{Decision, DirOrigin, DirState, Hook, HookPlan};
use crate::identity::StartedGroups;
use crate::plan::CommandLine;
use crate::plan::{Plan, Privilege};
use crate::privilege::DropSpec;
use crate::provision::accounts::NewAccount;
use crate::provision::env::Unset;
use crate::provision::{HandOff, Provision};
use crate::runner::{HookResult, Runner};
use crate::system::{Kernel, Started};
use crate::userdb::UserDb;

/// The whole program; `main.rs` only calls this. Returns the exit status.
pub fn main() -> u8 {
    if let Err(e) = system::prepare_process() {
        eprintln!("roothooks: error: cannot set up standard descriptors and signals: {e}");
        return 1;
    }
    // Taken before anything is opened, so only what we were handed is passed on to the command.
    let inherited_fds = system::open_fds().unwrap_or_default();
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or_default().trim_start_matches("error: ");
            eprintln!("roothooks: error: {first} (see roothooks --help)");
            return EXIT_USAGE;
        }
    };
    log::init(args.log_format);
    match run(&args, &inherited_fds) {
        Ok(()) => 0,
        Err(e) => {
            error!("{e}");
            e.exit_code()
        }
    }
}

/// The groups of the account roothooks was started as, from the group database. Looked up only when
/// there is something to tell apart: group 0 is never passed on anyway.
fn started_groups(db: &UserDb, started: &Started) -> StartedGroups {
    if started.groups.iter().all(|g| g.as_raw() == 0) {
        return StartedGroups { all: started.groups.clone(), own: Vec::new() };
    }
    let own = db
        .user_by_uid(started.real)
        .ok()
        .flatten()
        .and_then(|account| db.groups_of(&account.name, account.gid).ok())
        .unwrap_or_default();
    StartedGroups { all: started.groups.clone(), own }
}

/// The hooks directory when none is given: repo2docker's repository, else /etc.
pub fn default_hooks_dir(repo_dir: Option<&std::ffi::OsStr>) -> PathBuf {
    match repo_dir.filter(|d| !d.is_empty()) {
        Some(repo) => Path::new(repo).join("roothooks.d"),
        None => PathBuf::from("/etc/roothooks.d"),
    }
}

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

/// Build the plan from the arguments and the environment, changing nothing.
pub fn build_plan(args: &Args, started: &Started) -> Result<Plan> {
    let env = |name: &str| std::env::var_os(name);
    let cwd = started.cwd.as_deref();
    let abs = |path: &PathBuf| absolute(path, cwd);
    let db = UserDb::system();
    if db.others_ignored() {
        warn!(
            "/etc/nsswitch.conf names sources besides files; this static build reads only /etc/passwd and \
             /etc/group (use the dynamically linked build for LDAP, sssd or systemd accounts)"
        );
    }
    let target = identity::resolve(&db, &args.request(&env)?, &started_groups(&db, started))?;
    let command = match args.command.split_first() {
        Some((program, rest)) => Some(CommandLine { program: program.clone(), args: rest.to_vec() }),
        None if args.no_exec => None,
        None => return Err(Error::Usage(
            "no command given: put the command to run after --, e.g. roothooks --uid 1000 -- jupyterhub-singleuser \
                 (or pass --no-exec to only run the hooks)"
                .into(),
        )),
    };
    let privilege =
        if started.effective.is_root() { Privilege::Root } else { Privilege::Unprivileged { uid: started.effective } };
    let (dir, origin) = match &args.hooks_dir {
        Some(dir) => (abs(dir)?, DirOrigin::Explicit),
        None => (abs(&default_hooks_dir(std::env::var_os("REPO_DIR").as_deref()))?, DirOrigin::Default),
    };
    let log_file = match &args.log_file {
        Some(path) if path.as_os_str() == "none" => None,
        Some(path) => Some(abs(path)?),
        None => Some(PathBuf::from(format!("/tmp/roothooks-{}.log", target.uid))),
    };
    let account = target.new_account.then(|| NewAccount {
        name: target.name.clone().expect("a new account has a name"),
        uid: target.uid,
        gid: target.gid,
        home: target.home.clone(),
        shell: target.shell.clone().unwrap_or_else(identity::default_shell),
    });
    let provision = Provision {
        account,
        nss_dir: args.nss_dir.as_ref().map(abs).transpose()?,
        create_home: args.create_home,
        skel: abs(&args.skel)?,
        env_files: args.env_file.iter().map(abs).collect::<Result<_>>()?,
        unset: args.unset_env.iter().filter(|u| !u.is_empty()).map(|u| Unset(u.clone())).collect(),
        rlimits: args.rlimit.clone(),
        umask: args.umask,
        workdir: args.workdir.clone(),
    };
    Ok(Plan {
        privilege,
        provision,
        hooks: hooks::discover(&dir, origin, args.allow_untrusted_hooks),
        hook_timeout: Some(args.hook_timeout).filter(|t| !t.is_zero()),
        on_hook_failure: args.on_hook_failure,
        log_file,
        report: args.report.as_ref().map(abs).transpose()?,
        resolved_command: command.as_ref().and_then(|c| exec::resolve(&c.program, std::env::var_os("PATH").as_deref())),
        command,
        no_exec: args.no_exec,
        target,
        allow_escalation: args.allow_privilege_escalation,
    })
}

/// Say what the plan found about the hooks: the directory's state and every skipped file.
fn log_hook_plan(plan: &HookPlan) {
    let dir = plan.dir.display();
    match (&plan.state, &plan.origin) {
        (DirState::Listed, _) => {}
        (DirState::Missing, DirOrigin::Default) => info!("no hooks directory at {dir} (the default); no hooks to run"),
        (DirState::Missing, DirOrigin::Explicit) => warn!("hooks directory {dir} does not exist; no hooks to run"),
        (DirState::NotADirectory, _) => warn!("hooks directory {dir} is not a directory; no hooks to run"),
        (DirState::Unreadable(e), _) => warn!("cannot read hooks directory {dir}: {e}; no hooks to run"),
    }
    for hook in &plan.hooks {
        match &hook.decision {
            Decision::Skip { reason, warn: true } => {
                warn!(hook = hook.name, "skipping {}: {reason}", hook.path.display())
            }
            Decision::Skip { reason, warn: false } => {
                info!(hook = hook.name, "skipping {}: {reason}", hook.path.display())
            }
            Decision::Untrusted { reason } => {
                warn!(hook = hook.name, "skipping {}: {reason}; not running it as root", hook.path.display())
            }
            Decision::RunUntrusted { reason } => warn!(
                hook = hook.name,
                "running UNTRUSTED hook {} as root (--allow-untrusted-hooks): {reason}",
                hook.path.display()
            ),
            Decision::Run => {}
        }
    }
}

/// Run the hooks the plan says to run, logging the start, each result and a summary. What they hand
/// over through `$ROOTHOOKS_ENV` is added to `handed_over`.
fn run_hooks(plan: &Plan, results: &mut Vec<HookResult>, handed_over: &mut Vec<(String, String)>) -> Result<Duration> {
    let start = Instant::now();
    if plan.on_hook_failure == runner::FailurePolicy::Abort {
        if let Some(why) = plan.hooks.refusal() {
            return Err(Error::HooksRefused(why));
        }
    }
    let hooks: Vec<&Hook> = plan.hooks.to_run().collect();
    if hooks.is_empty() {
        return Ok(start.elapsed());
    }
    let noun = if hooks.len() == 1 { "hook" } else { "hooks" };
    info!("running {} {noun} from {} as root", hooks.len(), plan.hooks.dir.display());
    let mut extra = plan.hook_env();
    let handoff = match HandOff::create() {
        Ok(handoff) => {
            extra.push(("ROOTHOOKS_ENV".into(), handoff.file.display().to_string()));
            Some(handoff)
        }
        Err(e) => {
            warn!("cannot create the $ROOTHOOKS_ENV file: {e}; hooks cannot pass variables to the command");
            None
        }
    };
    let root = match UserDb::system().user_by_uid(nix::unistd::Uid::from_raw(0)) {
        Ok(Some(a)) => provision::env::RootAccount { home: a.dir, name: a.name, shell: a.shell },
        _ => provision::env::RootAccount::default(),
    };
    let env = provision::env::for_hooks(std::env::vars_os(), &root, &extra);
    if !env.withheld.is_empty() {
        info!(
            "not passing {} to hooks: they make shells or interpreters load files, and hooks run as root",
            env.withheld.join(", ")
        );
    }
    if !env.path_dropped.is_empty() {
        info!("PATH for hooks leaves out {}", env.path_dropped.join(", "));
    }
    let mut runner =
        Runner::new().map_err(|e| Error::Setup(format!("cannot set up signal handling for hooks: {e}")))?;
    let ran = runner.run_all(&hooks, &env.vars, plan.hook_timeout, plan.on_hook_failure, results);
    if let Some(handoff) = handoff {
        handed_over.extend(handoff.take());
    }
    let finished = runner.finish();
    let elapsed = start.elapsed();
    let line = runner::summary(results, elapsed);
    if results.iter().all(|r| r.outcome.ok()) {
        info!("{line}");
    } else {
        warn!("{line}");
    }
    ran.and(finished).map(|()| elapsed)
}

fn open_output(path: &Option<PathBuf>, what: &str, plan: &Plan) -> Option<std::fs::File> {
    let path = path.as_ref()?;
    let owner = matches!(plan.privilege, Privilege::Root).then_some((plan.target.uid, plan.target.gid));
    match outputs::create_fresh(path, owner, nix::unistd::geteuid()) {
        Ok(file) => Some(file),
        Err(e) => {
            warn!("not writing the {what} {}: {e}", path.display());
            None
        }
    }
}

fn run(args: &Args, inherited_fds: &BTreeSet<RawFd>) -> Result<()> {
    let mut kernel = Kernel;
    let started = system::started().map_err(|source| Error::Lookup { what: "own credentials", source })?;
    let (real, effective) = (started.real, started.effective);
    if real != effective || started.secure_mode {
        return Err(Error::SecureMode { real: real.as_raw(), effective: effective.as_raw() });
    }
    let plan = build_plan(args, &started)?;
    if args.dry_run {
        // A reader that stopped early (`| head`) is not an error; a full disk is.
        return match std::io::Write::write_all(&mut std::io::stdout(), plan.to_string().as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(Error::Setup(format!("cannot print the plan: {e}")))
            }
            _ => Ok(()),
        };
    }
    system::enter_root_dir().map_err(|e| Error::Setup(format!("cannot change to the directory /: {e}")))?;
    if let Some(file) = open_output(&plan.log_file, "log file", &plan) {
        log::attach_file(file);
    }
    if plan.allow_escalation {
        privilege::warn_escalation_allowed();
    }
    let mut results = Vec::new();
    let mut handed_over = Vec::new();
    let elapsed = match plan.privilege {
        Privilege::Root => {
            log_hook_plan(&plan.hooks);
            let ran = run_hooks(&plan, &mut results, &mut handed_over);
            if ran.is_ok() {
                provision::as_root(&plan.provision, &plan.target);
            }
            ran
        }
        Privilege::Unprivileged { uid } => {
            let count = plan.hooks.to_run().count();
            if count > 0 {
                warn!(
                    "started as uid {uid}, not root: not running the {count} hook(s) in {}",
                    plan.hooks.dir.display()
                );
            }
            let p = &plan.provision;
            if p.account.is_some() || p.nss_dir.is_some() || p.create_home {
                warn!("started as uid {uid}, not root: not adding an account or creating a home");
            }
            Ok(Duration::ZERO)
        }
    };
    // The report is opened while still root, and written once the final state is known.
    let report_file = open_output(&plan.report, "report", &plan);
    let report = |elapsed, final_state| outputs::Report {
        target: &plan.target,
        hooks: &plan.hooks,
        results: &results,
        elapsed,
        command: plan.command.as_ref(),
        final_state,
    };
    let elapsed = match elapsed {
        Ok(elapsed) => elapsed,
        Err(e) => {
            if let Some(file) = report_file {
                write_report(&report(Duration::ZERO, None), file);
            }
            return Err(e);
        }
    };
    let Some(command) = plan.command.as_ref().filter(|_| !plan.no_exec) else {
        if let Some(file) = report_file {
            write_report(&report(elapsed, None), file);
        }
        info!("--no-exec: hooks done, not starting a command");
        return Ok(());
    };
    let target = &plan.target;
    let mut added = provision::read_env_files(&plan.provision);
    added.extend(handed_over);
    provision::apply_rlimits(&plan.provision.rlimits)?;
    let (env, final_state) = match plan.privilege {
        Privilege::Root => {
            for (gid, why) in &target.not_inherited {
                info!(gid = gid.as_raw(), "not passing group {gid} to the command: {why}");
            }
            let spec = DropSpec {
                uid: target.uid,
                gid: target.gid,
                groups: target.groups.clone(),
                allow_escalation: plan.allow_escalation,
            };
            privilege::drop_to(&mut kernel, &spec)?;
            let creds = privilege::verify(&mut kernel, &spec)?;
            privilege::leave_session_keyring()?;
            info!(
                uid = target.uid.as_raw(),
                gid = target.gid.as_raw(),
                "dropped to uid {} gid {} groups {}; all capability sets empty{}",
                target.uid,
                target.gid,
                // numbers: a name is one more database lookup on every start
                target.groups.iter().map(|g| g.to_string()).collect::<Vec<_>>().join(","),
                if plan.allow_escalation { "" } else { ", no_new_privs set" }
            );
            (provision::env::command_env(std::env::vars_os(), &added, &plan.provision.unset, Some(target)), creds)
        }
        Privilege::Unprivileged { uid } => {
            if uid == target.uid {
                // The main container of the initContainer pattern: already the user, nothing to switch.
                info!("started as uid {uid}, the target user: clearing ambient capabilities and setting no_new_privs");
            } else {
                warn!(
                    "started as uid {uid}, not root: cannot become uid {} as asked; running the command as uid \
                     {uid}, clearing ambient capabilities and setting no_new_privs",
                    target.uid
                );
            }
            privilege::drop_unprivileged(&mut kernel, plan.allow_escalation)?;
            let creds = privilege::verify_unprivileged(&mut kernel, plan.allow_escalation)?;
            if creds.gids.iter().all(|g| g.as_raw() == 0) {
                let and_group = if creds.groups.iter().any(|g| g.as_raw() == 0) { " and group 0" } else { "" };
                info!(
                    "started as uid {uid} with gid 0 (OpenShift, docker run --user): gid 0{and_group} kept, since a \
                     process without CAP_SETGID cannot leave them; no capability, no_new_privs and setuid(0) \
                     failing verified"
                );
            }
            // Already the target: its HOME and names still replace whatever the runtime set (often
            // /root). Another uid keeps the environment it came with: the target's would be a lie.
            let identity = (uid == target.uid).then_some(target);
            (provision::env::command_env(std::env::vars_os(), &added, &plan.provision.unset, identity), creds)
        }
    };
    let home = env.iter().rev().find(|(k, _)| k == "HOME").map(|(_, v)| PathBuf::from(v));
    provision::enter_start_dir(started.cwd.as_deref(), home.as_deref());
    provision::apply_after_drop(&plan.provision)?;
    if let Some(file) = report_file {
        write_report(&report(elapsed, Some(&final_state)), file);
    }
    Err(exec::exec(command, &env, inherited_fds))
}

fn write_report(report: &outputs::Report<'_>, file: std::fs::File) {
    if let Err(e) = report.write(file) {
        warn!("cannot write the report: {e}");
    }
}
