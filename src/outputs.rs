//! Files root writes for the user to read: the copy of the hooks' log and the JSON report.
//!
//! Both usually live in a directory users can write to (/tmp), where a user can plant a symlink or a file
//! of their own at the path before we start. So the file is always created anew (`O_CREAT|O_EXCL` with
//! `O_NOFOLLOW`): whatever stood at the path is removed first if it was a plain file and refused if it was
//! anything else, and the directories above it must pass the same rule as hooks (root-owned, not
//! writable by others unless sticky), so no component of the path can be swapped under us. The file is
//! then given to the target user, who must be able to read it.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::libc;
use serde_json::{json, Value};

use crate::hooks::{Decision, HookPlan};
use crate::runner::{HookResult, Outcome};
use crate::system::{Credentials, Gid, Uid};

/// Create `path` for writing as a fresh file owned by `owner` (when running as root), mode 0640.
pub fn create_fresh(path: &Path, owner: Option<(Uid, Gid)>) -> Result<File, String> {
    create_fresh_in(path, owner, 0o640, true)
}

/// [`create_fresh`] with a chosen mode; `check_parents` false skips the trust rule for the directories
/// above (for a volume no user can reach yet), but never the rule for the file itself.
pub fn create_fresh_in(path: &Path, owner: Option<(Uid, Gid)>, mode: u32, check_parents: bool) -> Result<File, String> {
    let name = path.file_name().ok_or_else(|| format!("{} names no file", path.display()))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let parent = fs::canonicalize(parent).map_err(|e| format!("directory {}: {e}", parent.display()))?;
    if let Some(reason) = crate::hooks::untrusted_dir_chain(&parent).filter(|_| check_parents) {
        return Err(format!("{reason}; a user could redirect the file"));
    }
    let full: PathBuf = parent.join(name);
    match fs::symlink_metadata(&full) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(format!("{} is a symbolic link (planted?); remove it", full.display()))
        }
        Ok(meta) if !meta.is_file() => return Err(format!("{} exists and is not a regular file", full.display())),
        Ok(meta) => {
            if meta.uid() != 0 && owner.is_none_or(|(uid, _)| uid.as_raw() != meta.uid()) {
                tracing::warn!(
                    "replacing {} owned by uid {}, which roothooks did not write",
                    full.display(),
                    meta.uid()
                );
            }
            fs::remove_file(&full).map_err(|e| format!("cannot replace {}: {e}", full.display()))?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", full.display())),
    }
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&full)
        .map_err(|e| format!("cannot create {}: {e}", full.display()))?;
    if let Some((uid, gid)) = owner {
        nix::unistd::fchown(&file, Some(uid), Some(gid))
            .map_err(|e| format!("cannot chown {}: {e}", full.display()))?;
    }
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))
        .map_err(|e| format!("cannot chmod {}: {e}", full.display()))?;
    Ok(file)
}

fn hook_entry(plan: &HookPlan, results: &[HookResult]) -> Vec<Value> {
    plan.hooks
        .iter()
        .map(|hook| {
            let mut entry = json!({ "name": hook.name, "path": hook.path, "resolved": hook.resolved });
            match &hook.decision {
                Decision::Skip { reason, .. } => {
                    entry["decision"] = json!("skip");
                    entry["reason"] = json!(reason);
                }
                Decision::Run | Decision::RunUntrusted { .. } => {
                    entry["decision"] = json!("run");
                    if let Decision::RunUntrusted { reason } = &hook.decision {
                        entry["untrusted"] = json!(reason);
                    }
                    match results.iter().find(|r| r.name == hook.name) {
                        Some(r) => {
                            entry["duration_s"] = json!(r.duration.as_secs_f64());
                            entry["outcome"] = json!(r.outcome.kind());
                            match &r.outcome {
                                Outcome::Ok => entry["exit_status"] = json!(0),
                                Outcome::Exit(code) => entry["exit_status"] = json!(code),
                                Outcome::Signal(sig) => entry["signal"] = json!(sig.as_str()),
                                Outcome::NotStarted { why, hint } => {
                                    entry["error"] = json!(why);
                                    entry["hint"] = json!(hint);
                                }
                                Outcome::TimedOut(_) => {}
                            }
                        }
                        None => entry["outcome"] = json!("not-reached"),
                    }
                }
            }
            entry
        })
        .collect()
}

/// Everything a health check or a notebook extension needs to tell the user what happened at start.
pub struct Report<'a> {
    pub target: &'a crate::identity::Target,
    pub hooks: &'a HookPlan,
    pub results: &'a [HookResult],
    pub elapsed: Duration,
    pub command: Option<&'a crate::exec::CommandLine>,
    /// the verified state the command starts with; `None` under `--no-exec`
    pub final_state: Option<&'a Credentials>,
}

impl Report<'_> {
    pub fn to_json(&self) -> Value {
        let t = self.target;
        let failed = self.results.iter().filter(|r| !r.outcome.ok()).count();
        let skipped = self.hooks.hooks.iter().filter(|h| matches!(h.decision, Decision::Skip { .. })).count();
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
            "summary": {
                "ran": self.results.len(),
                "ok": self.results.len() - failed,
                "failed": failed,
                "skipped": skipped,
                "duration_s": self.elapsed.as_secs_f64(),
            },
            "command": self.command.map(|c| {
                std::iter::once(&c.program).chain(&c.args).map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>()
            }),
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
