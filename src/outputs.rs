//! Files root writes for the user to read: the copy of the hooks' log and the JSON report.
//!
//! Both usually live in a directory users can write to (/tmp), where a user can plant a symlink or a file
//! of their own at the path before we start. So the file is always created anew by
//! [`trust::create_fresh`]: the directory walked as written and judged, a symlink or special file at
//! the name refused, and an existing file removed only if it is the same user's stale copy. A file of
//! root's, or anyone else's, is never removed or handed over: pointed at `/etc/ld.so.preload`, the
//! report would otherwise give the user a file root's every process reads. The new file is given to the
//! target user, who must be able to read it.

use std::fs::File;
use std::io;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::hooks::{Decision, HookPlan};
use crate::runner::{HookOutcome, HookResult};
use crate::system::{Credentials, Gid, Uid};
use crate::trust::{self, Stale};

/// How an output file is opened: its path, its owner when running as root, and who runs roothooks.
pub type Opener<T> = fn(&Path, Option<(Uid, Gid)>, Uid) -> Result<T, trust::PathError>;

/// Create `path` for writing as a fresh file, mode 0640, given to `owner` when running as root
/// (else kept by `me`, who runs roothooks). Only a stale copy of that same user's is replaced.
pub fn create_fresh(path: &Path, owner: Option<(Uid, Gid)>, me: Uid) -> Result<File, trust::PathError> {
    let keeper = owner.map_or(me, |(uid, _)| uid);
    trust::create_fresh(path, owner, 0o640, Stale::OwnedBy(keeper))
}

/// The user's log copy: as [`create_fresh`], except that their copy from the last start is rewritten
/// in place ([`trust::reuse_or_create`]), with the length it had (0 for a new copy), of which what
/// lies after the new lines is cut off once they are written.
pub fn open_log_copy(path: &Path, owner: Option<(Uid, Gid)>, me: Uid) -> Result<(File, u64), trust::PathError> {
    trust::reuse_or_create(path, owner.map_or(me, |(uid, _)| uid), owner, 0o640)
}

fn hook_entry(plan: &HookPlan, results: &[HookResult]) -> Vec<Value> {
    plan.hooks
        .iter()
        .map(|hook| {
            // a map, not `Value` indexing: the report never panics on its own keys
            let mut entry = serde_json::Map::new();
            let mut set = |key: &str, value: Value| {
                entry.insert(key.to_string(), value);
            };
            set("name", json!(hook.name));
            set("path", json!(hook.path));
            set("resolved", json!(hook.resolved));
            match &hook.decision {
                Decision::Skip { reason, .. } => {
                    set("decision", json!("skip"));
                    set("reason", json!(reason));
                }
                Decision::Untrusted { reason } => {
                    set("decision", json!("skip"));
                    set("reason", json!(reason));
                    set("untrusted", json!(true));
                }
                Decision::Run | Decision::RunUntrusted { .. } => {
                    set("decision", json!("run"));
                    if let Decision::RunUntrusted { reason } = &hook.decision {
                        set("untrusted", json!(reason));
                    }
                    match results.iter().find(|r| r.name == hook.name) {
                        Some(r) => {
                            set("duration_s", json!(r.duration.as_secs_f64()));
                            set("outcome", json!(r.outcome.kind()));
                            match &r.outcome {
                                HookOutcome::Ok => set("exit_status", json!(0)),
                                HookOutcome::Exit(code) => set("exit_status", json!(code)),
                                HookOutcome::Signal(sig) => set("signal", json!(sig.as_str())),
                                HookOutcome::NotStarted { why, hint } => {
                                    set("error", json!(why));
                                    set("hint", json!(hint));
                                }
                                HookOutcome::ExportsLost(lost) => {
                                    set("exit_status", json!(0));
                                    set("error", json!(lost.to_string()));
                                }
                                HookOutcome::TimedOut(_) => {}
                            }
                        }
                        None => set("outcome", json!("not-reached")),
                    }
                }
            }
            Value::Object(entry)
        })
        .collect()
}

/// Everything a health check or a notebook extension needs to tell the user what happened at start.
pub struct Report<'a> {
    pub target: &'a crate::identity::Target,
    pub hooks: &'a HookPlan,
    pub results: &'a [HookResult],
    /// the user's hooks (`--user-hooks-dir`) and what they did
    pub user_hooks: Option<(&'a HookPlan, &'a [HookResult])>,
    pub elapsed: Duration,
    pub command: Option<&'a crate::exec::CommandLine>,
    /// the verified state the command starts with; `None` under `--no-exec`
    pub final_state: Option<&'a Credentials>,
    pub seccomp: &'a crate::seccomp::Seccomp,
    pub supervision: &'a crate::supervise::Supervision,
}

impl Report<'_> {
    pub fn to_json(&self) -> Value {
        let t = self.target;
        let failed = self.results.iter().filter(|r| !r.outcome.ok()).count();
        let skipped = self
            .hooks
            .hooks
            .iter()
            .filter(|h| matches!(h.decision, Decision::Skip { .. } | Decision::Untrusted { .. }))
            .count();
        json!({
            "roothooks": env!("CARGO_PKG_VERSION"),
            "target": {
                "uid": t.uid.as_raw(),
                "gid": t.gid.as_raw(),
                "user": t.user_name(),
                "home": t.home,
                "groups": t.groups.iter().map(|g| g.as_raw()).collect::<Vec<_>>(),
            },
            "hooks_dir": self.hooks.dir,
            "hooks": hook_entry(self.hooks, self.results),
            "user_hooks_dir": self.user_hooks.map(|(plan, _)| &plan.dir),
            "user_hooks": self.user_hooks.map(|(plan, results)| hook_entry(plan, results)),
            "summary": {
                "ran": self.results.len(),
                "ok": self.results.len() - failed,
                "failed": failed,
                "skipped": skipped,
                "duration_s": self.elapsed.as_secs_f64(),
            },
            "command": self.command.map(crate::exec::CommandLine::argv),
            "seccomp": {
                "mode": if matches!(self.seccomp, crate::seccomp::Seccomp::Off) { "off" } else { "default" },
                "denied": self.seccomp.denied().iter().map(|g| g.name()).collect::<Vec<_>>(),
                "allowed": match self.seccomp {
                    crate::seccomp::Seccomp::On { allowed } => allowed.iter().map(|g| g.name()).collect::<Vec<_>>(),
                    crate::seccomp::Seccomp::Off => Vec::new(),
                },
            },
            "supervisor": {
                "mode": self.supervision.mode(),
                "why": self.supervision.reasons(),
                "signals_to": match self.supervision.signals_to {
                    crate::supervise::SignalsTo::Group => "group",
                    crate::supervise::SignalsTo::Command => "command",
                },
            },
            "final_state": self.final_state.map(|c| json!({
                "uids": c.uids.map(|u| u.as_raw()),
                "gids": c.gids.map(|g| g.as_raw()),
                "groups": c.groups.iter().map(|g| g.as_raw()).collect::<Vec<_>>(),
                "CapEff": format!("{:016x}", c.caps.effective),
                "CapPrm": format!("{:016x}", c.caps.permitted),
                "CapInh": format!("{:016x}", c.caps.inheritable),
                "CapAmb": format!("{:016x}", c.caps.ambient),
                "CapBnd": format!("{:016x}", c.caps.bounding),
                "no_new_privs": c.no_new_privs,
                "seccomp": crate::system::seccomp_state().0,
            })),
        })
    }

    pub fn write(&self, mut file: File) -> io::Result<()> {
        use std::io::Write;
        serde_json::to_writer_pretty(&mut file, &self.to_json())?;
        file.write_all(b"\n")?;
        file.sync_all()
    }
}
