//! The resolved plan: who the command runs as, which hooks run, which command starts.
//!
//! A plain value built from the arguments and the environment before anything is changed, so that
//! `--dry-run` can print it and tests can inspect it.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::hooks::HookPlan;
use crate::identity::{group_label, group_list_label, Target};
use crate::provision::Provision;
use crate::runner::FailurePolicy;
use crate::system::Uid;
use crate::userdb::UserDb;

/// The program and its arguments, as given after `--`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub program: OsString,
    pub args: Vec<OsString>,
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
    /// `None` means no limit
    pub hook_timeout: Option<Duration>,
    pub on_hook_failure: FailurePolicy,
    /// the built-in steps between the hooks and the drop
    pub provision: Provision,
    /// `None` when turned off
    pub log_file: Option<PathBuf>,
    pub report: Option<PathBuf>,
    /// `None` under `--no-exec` without a command
    pub command: Option<CommandLine>,
    /// `--no-exec`: run the hooks and exit
    pub no_exec: bool,
    /// where the command is found now, as root sees PATH (computed for `--dry-run` only); the exec
    /// searches again, as the user, after the hooks
    pub resolved_command: Option<PathBuf>,
    pub allow_escalation: bool,
}

impl Plan {
    /// The environment hooks get on top of the container's, describing the target.
    pub fn hook_env(&self) -> Vec<(String, String)> {
        let t = &self.target;
        vec![
            ("ROOTHOOKS_UID".into(), t.uid.to_string()),
            ("ROOTHOOKS_GID".into(), t.gid.to_string()),
            ("ROOTHOOKS_USER".into(), t.user_name()),
            ("ROOTHOOKS_HOME".into(), t.home.display().to_string()),
            ("ROOTHOOKS_GROUPS".into(), t.groups.iter().map(|g| g.to_string()).collect::<Vec<_>>().join(",")),
        ]
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.target;
        writeln!(f, "roothooks plan (dry run: nothing is executed)")?;
        match &self.privilege {
            Privilege::Root => writeln!(f, "  started as:  uid 0 (root): drops privileges before the command")?,
            Privilege::Unprivileged { uid } => {
                writeln!(f, "  started as:  uid {uid} (not root): no hooks, no change of user")?
            }
        }
        let name = match t.name.as_deref() {
            Some(n) if t.new_account => format!("({n}, account to be added)"),
            Some(n) => format!("({n})"),
            None => " (no account)".to_string(),
        };
        // names only for display: --dry-run is the one place that shows them
        let db = UserDb::system();
        writeln!(f, "  accounts:    {}", db.source())?;
        writeln!(f, "  user:        uid {}{name} gid {}", t.uid, group_label(&db, t.gid))?;
        writeln!(f, "  groups:      {}", group_list_label(&db, &t.groups))?;
        if !t.inherited.is_empty() {
            writeln!(
                f,
                "  inherited:   {} (kept from the groups roothooks was started with)",
                group_list_label(&db, &t.inherited)
            )?;
        }
        for (gid, why) in &t.not_inherited {
            writeln!(f, "  not kept:    {}: {why}", group_label(&db, *gid))?;
        }
        writeln!(f, "  HOME:        {}", t.home.display())?;
        writeln!(f, "  USER:        {}", t.user_name())?;
        if let Some(shell) = &t.shell {
            writeln!(f, "  SHELL:       {}", shell.display())?;
        }
        if self.allow_escalation {
            writeln!(
                f,
                "  escalation:  ALLOWED: no_new_privs not set, bounding set kept (--allow-privilege-escalation)"
            )?;
        } else {
            writeln!(f, "  privileges:  all capability sets emptied, no_new_privs set")?;
        }
        match self.privilege {
            Privilege::Root => write!(f, "{}", self.hooks)?,
            Privilege::Unprivileged { .. } => {
                writeln!(f, "  hooks dir:   {} (not run: not root)", self.hooks.dir.display())?
            }
        }
        write!(f, "{}", self.provision)?;
        let timeout = self.hook_timeout.map_or("none".into(), |t| format!("{} s", t.as_secs_f64()));
        writeln!(f, "  hook timeout: {timeout}; on failure: {:?}", self.on_hook_failure)?;
        let shown = |p: &Option<PathBuf>| p.as_ref().map_or("none".into(), |p| p.display().to_string());
        writeln!(f, "  log file:    {}", shown(&self.log_file))?;
        writeln!(f, "  report:      {}", shown(&self.report))?;
        let Some(command) = &self.command else {
            return writeln!(f, "  command:     none (--no-exec: exit after the hooks)");
        };
        let argv: Vec<_> =
            std::iter::once(&command.program).chain(&command.args).map(|a| a.to_string_lossy().into_owned()).collect();
        if self.no_exec {
            return writeln!(f, "  command:     {} (not started: --no-exec)", argv.join(" "));
        }
        writeln!(f, "  command:     {}", argv.join(" "))?;
        match &self.resolved_command {
            Some(path) => writeln!(f, "  found at:    {}", path.display()),
            None => writeln!(f, "  found at:    NOT FOUND in PATH (a hook may still install it)"),
        }
    }
}
