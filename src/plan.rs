//! The resolved plan: who the command runs as, which hooks run, which command starts.
//!
//! A plain value built from the arguments and the environment before anything is changed, so that
//! `--dry-run` can print it and tests can inspect it.

use std::fmt;
use std::path::PathBuf;

use crate::exec::CommandLine;
use crate::identity::{group_label, group_list_label, Target};
use crate::system::Uid;

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
    pub command: CommandLine,
    /// where the command is found now, as root sees PATH; the exec searches again after the hooks
    pub resolved_command: Option<PathBuf>,
    pub allow_escalation: bool,
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
        let name = t.name.as_deref().map_or(" (no account)".to_string(), |n| format!("({n})"));
        writeln!(f, "  user:        uid {}{name} gid {}", t.uid, group_label(t.gid))?;
        writeln!(f, "  groups:      {}", group_list_label(&t.groups))?;
        if !t.inherited.is_empty() {
            writeln!(
                f,
                "  inherited:   {} (kept from the groups roothooks was started with)",
                group_list_label(&t.inherited)
            )?;
        }
        for (gid, why) in &t.not_inherited {
            writeln!(f, "  not kept:    {}: {why}", group_label(*gid))?;
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
        let argv: Vec<_> = std::iter::once(&self.command.program)
            .chain(&self.command.args)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        writeln!(f, "  command:     {}", argv.join(" "))?;
        match &self.resolved_command {
            Some(path) => writeln!(f, "  found at:    {}", path.display()),
            None => writeln!(f, "  found at:    NOT FOUND in PATH (a hook may still install it)"),
        }
    }
}
