//! roothooks: run an operator's setup hooks as root, then drop every privilege and exec the user's server.
//!
//! The data path is the layout: arguments (`cli`) → a resolved plan (`identity`, `plan`) → privileges
//! dropped and verified (`privilege`, over the kernel layer `system`) → exec (`exec`).

pub mod cli;
pub mod error;
pub mod exec;
pub mod identity;
pub mod log;
pub mod plan;
pub mod privilege;
pub mod system;

use std::collections::BTreeSet;
use std::os::fd::RawFd;
use std::process::ExitCode;

use clap::Parser;
use tracing::{error, info, warn};

use crate::cli::Args;
use crate::error::{Error, Result, EXIT_USAGE};
use crate::exec::CommandLine;
use crate::identity::{group_list_label, Request, StartedGroups};
use crate::plan::{Plan, Privilege};
use crate::privilege::DropSpec;
use crate::system::{Credentials, Kernel, Syscall};

/// The whole program; `main.rs` only calls this.
pub fn main() -> ExitCode {
    // Taken before anything is opened, so only what we were handed is passed on to the command.
    let inherited_fds = system::open_fds().unwrap_or_default();
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or_default().trim_start_matches("error: ");
            eprintln!("roothooks: error: {first} (see roothooks --help)");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    log::init(args.log_format);
    match run(&args, &inherited_fds) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// The groups of the account roothooks was started as, from the group database.
fn started_groups(started: &Credentials) -> StartedGroups {
    let own = nix::unistd::User::from_uid(started.uids[0])
        .ok()
        .flatten()
        .and_then(|account| system::account_groups(&account.name, account.gid).ok())
        .unwrap_or_default();
    StartedGroups { all: started.groups.clone(), own }
}

/// Build the plan from the arguments and the environment, changing nothing.
pub fn build_plan(args: &Args, started: &Credentials) -> Result<Plan> {
    let env = |name: &str| std::env::var(name).ok();
    let target = identity::resolve(&Request::new(args, &env), &started_groups(started))?;
    let Some((program, rest)) = args.command.split_first() else {
        return Err(Error::Usage(
            "no command given: put the command to run after --, e.g. roothooks --uid 1000 -- jupyterhub-singleuser"
                .into(),
        ));
    };
    let command = CommandLine { program: program.clone(), args: rest.to_vec() };
    let privilege =
        if started.uids[1].is_root() { Privilege::Root } else { Privilege::Unprivileged { uid: started.uids[1] } };
    Ok(Plan {
        privilege,
        resolved_command: exec::resolve(&command.program, std::env::var_os("PATH").as_deref()),
        target,
        command,
        allow_escalation: args.allow_privilege_escalation,
    })
}

fn run(args: &Args, inherited_fds: &BTreeSet<RawFd>) -> Result<()> {
    let mut kernel = Kernel;
    let started = kernel.credentials().map_err(|source| Error::Lookup { what: "own credentials", source })?;
    let [real, effective, ..] = started.uids;
    if real != effective {
        return Err(Error::Setuid { real: real.as_raw(), effective: effective.as_raw() });
    }
    let plan = build_plan(args, &started)?;
    if args.dry_run {
        print!("{plan}");
        return Ok(());
    }
    if plan.allow_escalation {
        privilege::warn_escalation_allowed();
    }
    let target = &plan.target;
    let env = match plan.privilege {
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
            privilege::verify(&mut kernel, &spec)?;
            info!(
                uid = target.uid.as_raw(),
                gid = target.gid.as_raw(),
                "dropped to uid {} gid {} groups {}; all capability sets empty{}",
                target.uid,
                target.gid,
                group_list_label(&target.groups),
                if plan.allow_escalation { "" } else { ", no_new_privs set" }
            );
            exec::command_env(target, std::env::vars_os())
        }
        Privilege::Unprivileged { uid } => {
            warn!(
                "started as uid {uid}, not root: running no hooks and not changing user (asked for uid {}); \
                 clearing ambient capabilities and setting no_new_privs",
                target.uid
            );
            privilege::drop_unprivileged(&mut kernel, plan.allow_escalation)?;
            privilege::verify_unprivileged(&mut kernel, plan.allow_escalation)?;
            std::env::vars_os().collect()
        }
    };
    Err(exec::exec(&plan.command, &env, inherited_fds))
}
