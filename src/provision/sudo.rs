//! docker-stacks' GRANT_SUDO (`--grant-sudo`): passwordless sudo for the user, written the way root
//! writes every file: walked, never through a symlink, and in place at once (a new file renamed over
//! the old), so sudo never reads half a rule.

use std::io::Write;
use std::path::Path;

use nix::unistd::{Gid, Uid};

use crate::error::IoAt;
use crate::trust::{self, PathError, Stale};

/// Where the rule goes; sudo reads every file of /etc/sudoers.d (without a dot or ~ in its name).
pub const SUDOERS_FILE: &str = "/etc/sudoers.d/roothooks-grant-sudo";
/// The first line of the file, by which a later start knows the file is its own to replace.
const MARK: &[u8] = b"# written by roothooks: GRANT_SUDO / --grant-sudo\n";

/// What [`grant`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Granted {
    Written,
    /// the same rule is there already (a restart)
    AlreadyThere,
}

/// The rule for `user`: an account name (checked by the caller) or `#UID` for a uid without one.
fn rule(user: &str) -> String {
    format!("{}{user} ALL=(ALL) NOPASSWD:ALL\n", String::from_utf8_lossy(MARK))
}

/// Write the rule giving `user` passwordless sudo to `file`, root's 0440, replacing only a file an
/// earlier start wrote.
pub fn grant(file: &Path, user: &str) -> Result<Granted, PathError> {
    let wanted = rule(user);
    if let Ok(mut existing) = trust::open_for_reading(file) {
        let mut text = String::new();
        if std::io::Read::read_to_string(&mut existing, &mut text).is_ok() && text == wanted {
            return Ok(Granted::AlreadyThere);
        }
    }
    // sudo ignores names with a dot: the file being written is never read half-way
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = file.with_file_name(format!(".{name}.{}", std::process::id()));
    let root = Some((Uid::from_raw(0), Gid::from_raw(0)));
    let write = || -> Result<(), PathError> {
        let mut out = trust::create_fresh(&temp, root, 0o440, Stale::Marked(MARK))?;
        out.write_all(wanted.as_bytes()).and_then(|()| out.sync_all()).map_err(IoAt::on("write", &temp))?;
        // the final name may hold nothing but an earlier rule of ours: judged (and emptied) the way
        // create_fresh judges any name, then replaced in one step
        drop(trust::create_fresh(file, root, 0o440, Stale::Marked(MARK))?);
        Ok(std::fs::rename(&temp, file).map_err(IoAt::on("rename", &temp))?)
    };
    let written = write();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written.map(|()| Granted::Written)
}
