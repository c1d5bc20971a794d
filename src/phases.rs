//! The hook phases: root's before the drop (with the gate's environment and `$ROOTHOOKS_ENV`, then
//! the built-in provisioning) and the user's after it; each directory's run, its log lines, and what
//! the hooks handed over. `lib.rs` calls [`run_as_root`] (or [`skip_root_phase`]) and
//! [`run_user_hooks`]; the runner does the running.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::gate::{self, RootAccount};
use crate::hooks::{self, Hook, HookPlan};
use crate::plan::Plan;
use crate::provision::{self, HandOff};
use crate::runner::{self, FailurePolicy, HookResult, RootPhase, Runner, Settings};
use crate::sourcing::Exports;
use crate::userdb::UserDb;
use crate::{log, system};

/// What the hooks did: each result, what they handed over through `$ROOTHOOKS_ENV` or exported when
/// sourced, and how long.
#[derive(Debug, Default)]
pub struct HookRun {
    pub results: Vec<HookResult>,
    pub handed_over: Vec<(String, String)>,
    pub exports: Exports,
    pub elapsed: Duration,
}

/// Root's phase: the hooks, then the account and home. What the hooks did is kept even when they
/// stopped the start, for the report.
pub fn run_as_root(plan: &Plan, env_files: &[(String, String)]) -> (HookRun, Result<()>) {
    hooks::log_plan(&plan.hooks);
    let mut run = HookRun::default();
    let ran = run_hooks(plan, env_files, &mut run);
    if ran.is_ok() {
        provision::as_root(&plan.provision, &plan.target);
    }
    (run, ran)
}

/// Started without root: nothing of root's phase can run; say what is left out.
pub fn skip_root_phase(plan: &Plan, uid: nix::unistd::Uid) -> HookRun {
    let count = plan.hooks.to_run().count();
    if count > 0 {
        warn!("started as uid {uid}, not root: not running the {count} hook(s) in {}", plan.hooks.dir.display());
    }
    let p = &plan.provision;
    if (p.account.is_some() && p.own_entry.is_none()) || p.nss_dir.is_some() || p.create_home {
        warn!("started as uid {uid}, not root: not adding or changing an account, not creating a home");
    }
    if let Some(setting) = p.grant_sudo {
        warn!("started as uid {uid}, not root: {setting} cannot write a sudoers rule");
    }
    provision::own_entry(p);
    HookRun::default()
}

/// The environment root's hooks run with: what passes the gate (see `gate`), with one log line for
/// what the allowlist leaves out and one for each variable another rule holds back. `operator` are
/// the env files' variables, `own` roothooks' description of the target and `$ROOTHOOKS_ENV`.
fn hook_environment(plan: &Plan, operator: &[(String, String)], own: &[(String, String)]) -> Vec<(OsString, OsString)> {
    let root = match UserDb::system().user_by_uid(nix::unistd::Uid::from_raw(0)) {
        Ok(Some(a)) => RootAccount { home: a.dir, name: a.name, shell: a.shell },
        _ => RootAccount::default(),
    };
    let env = plan.gate.hook_env(std::env::vars_os(), &root, operator, own);
    let not_allowed = gate::not_allowed(&env.held);
    if !not_allowed.is_empty() {
        // the count on every start, the names only when asked for: they are the same on every start
        info!(
            "not passing {} variable(s) of the environment to root's hooks: they get an allowlist \
             (--hook-env NAME, or ROOTHOOKS_HOOK_ENV, passes one; --log-level debug names them; the command \
             still gets them all)",
            not_allowed.len()
        );
        tracing::debug!("not on root's hooks' allowlist: {}", log::capped_list(&not_allowed, 500));
    }
    for held in gate::judged(&env.held) {
        info!("not passing {} to root's hooks: {held}; the command still gets it", held.name());
    }
    if !env.path_dropped.is_empty() {
        info!("PATH for hooks leaves out {}", env.path_dropped.join(", "));
    }
    env.vars
}

/// Root's hooks: with root's environment (see [`hook_environment`]) and `$ROOTHOOKS_ENV`.
fn run_hooks(plan: &Plan, env_files: &[(String, String)], run: &mut HookRun) -> Result<()> {
    if plan.hooks.to_run().next().is_none() {
        // nothing to run, so no hand-off directory; the abort policy may still refuse the plan
        return run_dir(plan, &plan.hooks, &[], None, None, run);
    }
    let mut own = plan.hook_env();
    let handoff = match HandOff::create() {
        Ok(handoff) => {
            own.push(("ROOTHOOKS_ENV".into(), handoff.file.display().to_string()));
            Some(handoff)
        }
        Err(e) => {
            warn!("cannot create the $ROOTHOOKS_ENV file: {e}; hooks cannot pass variables to the command");
            None
        }
    };
    let root = RootPhase { gate: &plan.gate, handoff: handoff.as_ref() };
    let ran = run_dir(plan, &plan.hooks, &hook_environment(plan, env_files, &own), Some(root), None, run);
    if let Some(handoff) = handoff {
        run.handed_over = handoff.take();
    }
    ran
}

/// The user's hooks (`--user-hooks-dir`, docker-stacks' before-notebook.d): after the drop, with the
/// command's environment, umask and directory; what they export goes into the command's environment.
///
/// Like the command, each runs in a session of its own, without the starter's controlling terminal,
/// and without the inherited descriptors above 2 that are terminals: a hook's leftover process could
/// otherwise take the terminal once roothooks is gone and read what root types next.
pub fn run_user_hooks(
    plan: &Plan,
    env: &mut Vec<(OsString, OsString)>,
    inherited: &BTreeSet<RawFd>,
) -> (HookRun, Result<()>) {
    let mut run = HookRun::default();
    let Some(hooks) = &plan.user_hooks else { return (run, Ok(())) };
    hooks::log_plan(hooks);
    let terminals = inherited.iter().copied().filter(|&fd| fd > 2 && system::tty::is_terminal(fd)).collect();
    let ran = run_dir(plan, hooks, env, None, Some(terminals), &mut run);
    run.exports.apply(env);
    (run, ran)
}

/// Whether there are user hooks to run.
pub fn has_user_hooks(plan: &Plan) -> bool {
    plan.user_hooks.as_ref().is_some_and(|hooks| hooks.to_run().next().is_some())
}

/// Run the hooks of `hooks` that the plan says to run into `run`, logging the start, each result and
/// a summary; for root's hooks, `root` has the gate between one hook's exports and the next hook.
fn run_dir(
    plan: &Plan,
    hooks: &HookPlan,
    env: &[(OsString, OsString)],
    root: Option<RootPhase<'_>>,
    isolate: Option<Vec<RawFd>>,
    run: &mut HookRun,
) -> Result<()> {
    let start = Instant::now();
    if plan.on_hook_failure == FailurePolicy::Abort {
        if let Some(why) = hooks.refusal() {
            return Err(Error::HooksRefused(why));
        }
    }
    let to_run: Vec<&Hook> = hooks.to_run().collect();
    if to_run.is_empty() {
        return Ok(());
    }
    let noun = if to_run.len() == 1 { "hook" } else { "hooks" };
    info!("running {} {noun} from {} as {}", to_run.len(), hooks.dir.display(), hooks.phase.who());
    let mut runner =
        Runner::new().map_err(|e| Error::Setup(format!("cannot set up signal handling for hooks: {e}")))?;
    let settings = Settings { env, root, isolate, timeout: plan.hook_timeout, policy: plan.on_hook_failure };
    log::write_through();
    let ran = runner.run_all(&to_run, &settings, &mut run.results, &mut run.exports);
    let finished = runner.finish();
    run.elapsed = start.elapsed();
    let line = runner::summary(&run.results, run.elapsed);
    if run.results.iter().all(|r| r.outcome.ok()) {
        info!("{line}");
    } else {
        warn!("{line}");
    }
    ran.and(finished)
}
