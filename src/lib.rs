//! roothooks: run an operator's setup hooks as root, then drop every privilege and exec the user's server.
//!
//! The data path is the layout: arguments (`cli`) → a resolved plan (`identity` over `userdb`, `hooks`,
//! `plan`) → hooks run as root (`runner`) → built-in provisioning (`provision`) → privileges dropped and
//! verified (`privilege`, over the kernel layer `system`) → exec (`exec`), or, as PID 1 or on a
//! terminal, the command started beside a resident, equally dropped roothooks (`supervise`, sharing
//! `children` with the hook runner). `trust` judges every path
//! root relies on and creates every file root makes for the user; `own_program` says when a user could
//! replace the program root itself runs from. `log` and `outputs` are what the
//! operator and the user get to read. This file is the pipeline; each step is a function of its own.
//!
//! No panic is reachable from input: root reads files and variables a user may have shaped, and a
//! panic mid-start leaves the server unstarted and the account locks held. So outside tests nothing
//! here unwraps, expects, indexes or slices (lints below, `clippy.toml` for tests); the parsers of what
//! root reads are fed arbitrary bytes by property tests (`tests/parsers.rs`).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::string_slice,
    clippy::panic,
    clippy::todo,
    clippy::unimplemented,
    clippy::unreachable
)]
// The limits issue 16 set: no function longer than clippy's 100 lines, and no truncating cast
// without a checked conversion, or an allow whose comment proves the range.
#![deny(clippy::too_many_lines, clippy::cast_possible_truncation)]

pub mod children;
pub mod cli;
pub mod error;
pub mod exec;
pub mod gate;
pub mod hooks;
pub mod identity;
pub mod log;
pub mod outputs;
pub mod own_program;
pub mod phases;
pub mod plan;
pub mod privilege;
pub mod provision;
pub mod runner;
pub mod seccomp;
pub mod sourcing;
pub mod supervise;
pub mod system;
pub mod trust;
pub mod userdb;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::File;
use std::os::fd::RawFd;
use std::path::PathBuf;

use clap::Parser;
use tracing::{error, info, warn};

use crate::cli::Args;
use crate::error::{Error, Result, EXIT_USAGE};
use crate::phases::HookRun;
use crate::plan::{Command, CommandLine, Names, Plan, Privilege, Shown};
use crate::privilege::DropSpec;
use crate::provision::env::command_env;
use crate::system::{Credentials, Kernel, Started};
use crate::userdb::UserDb;

/// The whole program; `main.rs` only calls this. Returns the exit status.
pub fn main() -> u8 {
    // Taken before anything is opened, so only what we were handed is passed on to the command.
    let inherited_fds = match system::prepare_process() {
        Ok(fds) => fds,
        Err(e) => {
            eprintln!("roothooks: error: cannot set up standard descriptors and signals: {e}");
            return 1;
        }
    };
    let start_env = StartEnv::read();
    let env = |name: &str| start_env.var_os(name);
    let argv: Vec<OsString> = std::env::args_os().collect();
    // the usual start without building clap's command; anything else (help, errors) is clap's
    let parsed = cli::fast::parse(&argv, &env).map(Ok);
    let args = match parsed.unwrap_or_else(|| Args::try_parse_from(&argv)) {
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
    log::init(args.log_format, args.log_level);
    let code = match run(&args, &env, &inherited_fds) {
        Ok(code) => code,
        Err(e) => {
            error!("{e}");
            e.exit_code()
        }
    };
    log::write_through();
    code
}

/// The `ROOTHOOKS_*` settings in the environment, read once at the start; any other name is looked
/// up in the environment when asked for. An empty setting counts as unset, as an empty `NB_*` one
/// does: a chart or a unit that renders `ROOTHOOKS_SECCOMP_ALLOW=` means "none", not a bad value; it
/// is removed from the environment too (every copy of the name), so clap, if it reads the arguments
/// instead, and the command see the same. Done before the arguments are read, while this is the
/// only thread.
struct StartEnv(Vec<(String, OsString)>);

const SETTINGS_PREFIX: &str = "ROOTHOOKS_";

impl StartEnv {
    fn read() -> StartEnv {
        let mut set = system::env_with_prefix(SETTINGS_PREFIX);
        let empty: BTreeSet<String> = set.iter().filter(|(_, v)| v.is_empty()).map(|(k, _)| k.clone()).collect();
        for name in &empty {
            std::env::remove_var(name);
        }
        set.retain(|(name, _)| !empty.contains(name));
        StartEnv(set)
    }

    /// As `std::env::var_os(name)` would answer, without a scan of the environment for a setting.
    fn var_os(&self, name: &str) -> Option<OsString> {
        if name.starts_with(SETTINGS_PREFIX) {
            // the first of a name given twice, as getenv finds it
            self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
        } else {
            std::env::var_os(name)
        }
    }
}

/// The command, ready to be exec'd as the user: its environment, and the verified state it starts with.
struct Prepared<'a> {
    command: &'a CommandLine,
    env: Vec<(OsString, OsString)>,
    creds: Credentials,
    /// the command's own pseudo-terminal, when it gets one
    relay: Option<supervise::relay::Relay>,
}

/// The pipeline: plan, root's phase (or what an unprivileged start does instead), the drop, one
/// report, the exec (or, as PID 1 or on a terminal, the command started beside a resident roothooks).
/// Returns roothooks' exit status when it does not exec.
fn run(args: &Args, env: &dyn Fn(&str) -> Option<OsString>, inherited_fds: &BTreeSet<RawFd>) -> Result<u8> {
    let started = system::started(inherited_fds).map_err(|source| Error::Lookup { what: "own credentials", source })?;
    if started.real != started.effective || started.secure_mode {
        return Err(Error::SecureMode { real: started.real.as_raw(), effective: started.effective.as_raw() });
    }
    let request = args.request(env)?;
    if request.rootless {
        warn!(
            "NB_USER=root NB_UID=0 NB_GID=0 (docker-stacks' rootless triplet): the command runs as uid 0 with \
             HOME=/home/root, as start.sh does; its capabilities are still dropped and no_new_privs set"
        );
    }
    let plan = plan::build(&args.options(env)?, &request, &started)?;
    if args.dry_run {
        warn_if_own_program_replaceable(&started);
        return print_plan(&plan).map(|()| 0);
    }
    system::enter_root_dir().map_err(|e| Error::Setup(format!("cannot change to the directory /: {e}")))?;
    if let Some((file, held)) = open_output(plan.log_file.as_ref(), "log file", &plan, outputs::open_log_copy) {
        log::attach_file(file, held);
    }
    warn_if_own_program_replaceable(&started);
    if plan.allow_escalation {
        privilege::warn_escalation_allowed();
    }
    // Read once, as root: the operator's variables, for root's hooks and the command alike.
    let env_files = provision::read_env_files(&plan.provision);
    let (hooks, ran) = match plan.privilege {
        Privilege::Root => phases::run_as_root(&plan, &env_files),
        Privilege::Unprivileged { uid } => (phases::skip_root_phase(&plan, uid), Ok(())),
    };
    // Opened while still root, written once the final state is known.
    let report = open_output(plan.report.as_ref(), "report", &plan, outputs::create_fresh);
    let mut prepared = ran.and_then(|()| prepare_command(&plan, &started, &hooks, env_files));
    if matches!(prepared, Ok(Some(_))) && (plan.supervision.stays() || phases::has_user_hooks(&plan)) {
        // Before anything of the user's runs beside roothooks (their hooks, the command under a
        // staying roothooks): no process of the same uid may read its memory or environment (the
        // secrets kept from the command). A drop from root does this by itself; a start that was
        // never root does not. An exec in place needs nothing: the command replaces roothooks.
        if let Err(e) = system::process::forbid_ptrace() {
            prepared = Err(Error::Verify(format!("cannot make roothooks undumpable before the user's hooks: {e}")));
        }
    }
    let (user_hooks, user_ran) = match &mut prepared {
        Ok(Some(prepared)) => phases::run_user_hooks(&plan, &mut prepared.env, inherited_fds),
        _ => (HookRun::default(), Ok(())),
    };
    if let Some(file) = report {
        let creds = prepared.as_ref().ok().and_then(|r| r.as_ref()).map(|r| &r.creds);
        write_report(&plan, &hooks, &user_hooks, creds, file);
    }
    user_ran?;
    match prepared? {
        Some(prepared) if plan.supervision.stays() => {
            supervise::run(&plan.supervision, prepared.command, &prepared.env, inherited_fds, prepared.relay)
        }
        Some(prepared) => {
            // the exec closes the log file: what waits for it goes now (here, not in exec::exec,
            // which the supervisor's vfork-style child also runs, sharing our memory)
            log::write_through();
            Err(exec::exec(prepared.command, &prepared.env, inherited_fds))
        }
        None => {
            info!("--no-exec: hooks done, not starting a command");
            Ok(0)
        }
    }
}

/// Started as root, say whether a user could replace the program root is running (see `own_program`).
fn warn_if_own_program_replaceable(started: &Started) {
    if started.effective.is_root() {
        if let Some(warning) = own_program::replaceable(system::exec_path(), started.cwd.as_deref()) {
            warn!("{warning}");
        }
    }
}

fn print_plan(plan: &Plan) -> Result<()> {
    let found_at = match &plan.command {
        Command::Exec(line) => exec::resolve(&line.program, std::env::var_os("PATH").as_deref()),
        Command::NoExec(_) => None,
    };
    let names = Names::look_up(plan, &UserDb::system(), found_at);
    let text = Shown { plan, names: &names }.to_string();
    // A reader that stopped early (`| head`) is not an error; a full disk is.
    match std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Setup(format!("cannot print the plan: {e}")))
        }
        _ => Ok(()),
    }
}

/// Everything between the hooks and the exec: the command's environment, limits, the drop and its
/// verification, then the working directory, umask and workdir as the user. `None` under `--no-exec`.
fn prepare_command<'a>(
    plan: &'a Plan,
    started: &Started,
    hooks: &HookRun,
    env_files: Vec<(String, String)>,
) -> Result<Option<Prepared<'a>>> {
    let Command::Exec(command) = &plan.command else { return Ok(None) };
    let mut added = env_files;
    added.extend(hooks.handed_over.iter().cloned());
    added.extend(hooks.exports.set());
    let mut unset = plan.provision.unset.clone();
    unset.extend(hooks.exports.unset().map(|name| provision::env::Unset(name.to_string())));
    provision::apply_rlimits(&plan.provision.rlimits)?;
    let relay = open_relay(plan)?;
    let (creds, identity) = match plan.privilege {
        Privilege::Root => (drop_as_root(plan)?, Some(&plan.target)),
        Privilege::Unprivileged { uid } => {
            let creds = keep_unprivileged(plan, uid)?;
            // Already the target: its HOME and names still replace whatever the runtime set (often
            // /root). Another uid keeps the environment it came with: the target's would be a lie.
            (creds, (uid == plan.target.uid).then_some(&plan.target))
        }
    };
    let env = command_env(std::env::vars_os(), &added, &unset, identity);
    let home = env.iter().rev().find(|(k, _)| k == "HOME").map(|(_, v)| PathBuf::from(v));
    provision::enter_start_dir(plan.target.start_dir(started.cwd.as_deref()).as_deref(), home.as_deref());
    provision::apply_after_drop(&plan.provision)?;
    Ok(Some(Prepared { command, env, creds, relay }))
}

/// The command's own pseudo-terminal, when it gets one: opened before the drop (as root, and given
/// to the user), before the user's hooks run. None to be had is an error: the command never shares
/// the starter's terminal unless `--pty never` says so.
fn open_relay(plan: &Plan) -> Result<Option<supervise::relay::Relay>> {
    let Some(why) = plan.supervision.pty else { return Ok(None) };
    let owner = matches!(plan.privilege, Privilege::Root).then_some(plan.target.uid);
    supervise::relay::Relay::open(owner).map(Some).map_err(|e| {
        Error::Setup(format!(
            "cannot open a pseudo-terminal for the command ({why}): {e}; not starting it on this terminal, \
             where what it leaves behind could read what is typed next (free a pseudo-terminal, or pass \
             --pty never to share this terminal on purpose)"
        ))
    })
}

/// Started as root: become the target for good, verify it, and leave root's session keyring.
fn drop_as_root(plan: &Plan) -> Result<Credentials> {
    let target = &plan.target;
    for (gid, why) in &target.not_inherited {
        info!(gid = gid.as_raw(), "not passing group {gid} to the command: {why}");
    }
    if let Some(gid) = target.former_primary {
        info!(
            gid = gid.as_raw(),
            "keeping group {gid}, the account's own primary group, as a supplementary group beside gid {} \
             (--clear-groups drops it)",
            target.gid
        );
    }
    let spec = DropSpec {
        uid: target.uid,
        gid: target.gid,
        groups: target.groups.clone(),
        allow_escalation: plan.allow_escalation,
    };
    let filter = plan.seccomp.program()?;
    let mut filtered = true;
    if plan.allow_escalation {
        // Without no_new_privs, installing a filter takes CAP_SYS_ADMIN: while root still holds it.
        filtered = seccomp::install_without_nnp(filter.as_ref())?;
    }
    privilege::drop_to(&mut Kernel, &spec)?;
    let creds = privilege::verify(&mut Kernel, &spec)?;
    privilege::leave_session_keyring()?;
    if !plan.allow_escalation {
        // with no_new_privs set, adding a filter is always allowed: nothing inherited can stand in
        seccomp::install(filter.as_ref(), creds.seccomp_filters)?;
    }
    info!(
        uid = target.uid.as_raw(),
        gid = target.gid.as_raw(),
        "dropped to uid {} gid {} groups {}; all capability sets empty{}",
        target.uid,
        target.gid,
        // numbers: a name is one more database lookup on every start
        target.groups.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        if plan.allow_escalation { "" } else { ", no_new_privs set" }
    );
    if filtered {
        log_seccomp(plan);
    } else {
        warn!(
            "no system call filter for the command: with privilege escalation allowed (no no_new_privs) \
             installing one takes CAP_SYS_ADMIN, which this container does not have (docker run's default); \
             the runtime's own filter, if any, still applies"
        );
    }
    Ok(creds)
}

/// Started without root: clear what an unprivileged process can and verify it; a gid 0 it cannot
/// leave (OpenShift) is kept and said so.
fn keep_unprivileged(plan: &Plan, uid: nix::unistd::Uid) -> Result<Credentials> {
    if uid == plan.target.uid {
        // The main container of the initContainer pattern: already the user, nothing to switch.
        info!("started as uid {uid}, the target user: clearing ambient capabilities and setting no_new_privs");
    } else {
        warn!(
            "started as uid {uid}, not root: cannot become uid {} as asked; running the command as uid {uid}, \
             clearing ambient capabilities and setting no_new_privs",
            plan.target.uid
        );
    }
    privilege::drop_unprivileged(&mut Kernel, plan.allow_escalation)?;
    let creds = privilege::verify_unprivileged(&mut Kernel, plan.allow_escalation)?;
    match seccomp::install(plan.seccomp.program()?.as_ref(), creds.seccomp_filters)? {
        seccomp::Installed::Ours => log_seccomp(plan),
        seccomp::Installed::Inherited(count) => warn!(
            "a system call filter is already in place ({count} inherited: a start inside another roothooks' \
             command, as under GRANT_SUDO); without no_new_privs this start cannot add its own, so the command \
             runs under the one in place"
        ),
    }
    if creds.gids.iter().all(|g| g.as_raw() == 0) {
        let and_group = if creds.groups.iter().any(|g| g.as_raw() == 0) { " and group 0" } else { "" };
        info!(
            "started as uid {uid} with gid 0 (OpenShift, docker run --user): gid 0{and_group} kept, since a \
             process without CAP_SETGID cannot leave them; no capability, no_new_privs and setuid(0) failing \
             verified"
        );
    }
    Ok(creds)
}

/// Say what the command's system call filter denies, or loudly that there is none.
fn log_seccomp(plan: &Plan) {
    let denied = plan.seccomp.denied();
    if denied.is_empty() {
        warn!("no system call filter for the command (--seccomp off, or every group allowed back)");
    } else {
        let names: Vec<&str> = denied.iter().map(|g| g.name()).collect();
        info!("system call filter installed: denies {}", names.join(", "));
    }
}

fn open_output<T>(path: Option<&PathBuf>, what: &str, plan: &Plan, open: outputs::Opener<T>) -> Option<T> {
    let path = path?;
    let owner = matches!(plan.privilege, Privilege::Root).then_some((plan.target.uid, plan.target.gid));
    match open(path, owner, nix::unistd::geteuid()) {
        Ok(file) => Some(file),
        Err(e) => {
            warn!("not writing the {what} {}: {e}", path.display());
            None
        }
    }
}

/// The one place the report is written: what the hooks did and, when the command is about to start,
/// the verified state it starts with.
fn write_report(plan: &Plan, hooks: &HookRun, user_hooks: &HookRun, final_state: Option<&Credentials>, file: File) {
    let report = outputs::Report {
        target: &plan.target,
        hooks: &plan.hooks,
        results: &hooks.results,
        user_hooks: plan.user_hooks.as_ref().map(|plan| (plan, user_hooks.results.as_slice())),
        elapsed: hooks.elapsed,
        command: plan.command.line(),
        final_state,
        seccomp: &plan.seccomp,
        supervision: &plan.supervision,
    };
    if let Err(e) = report.write(file) {
        warn!("cannot write the report: {e}");
    }
}
