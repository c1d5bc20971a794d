//! Dropping every privilege, then proving it was dropped.
//!
//! The order matters: the bounding set can only be emptied while CAP_SETPCAP is still held, groups and
//! gids only while CAP_SETGID is, and the uid goes last. The inheritable set survives a change of uid, so
//! it is cleared explicitly afterwards. Then everything is read back from the kernel and compared with
//! what was asked for; any difference, or a successful attempt to become root again, stops the start.

use tracing::{debug, warn};

use crate::error::{Error, Result};
use crate::system::{Credentials, Gid, Syscall, Uid};

/// What the command must end up with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropSpec {
    pub uid: Uid,
    pub gid: Gid,
    pub groups: Vec<Gid>,
    /// `--allow-privilege-escalation`: leave no_new_privs off and the bounding set as it is
    pub allow_escalation: bool,
}

fn step<T>(what: impl FnOnce() -> String, hint: &'static str, r: std::io::Result<T>) -> Result<T> {
    r.map_err(|source| Error::Drop { step: what(), hint, source })
}

const NEEDS_SETUID: &str = " (roothooks runs as uid 0 but lacks CAP_SETUID/CAP_SETGID; add them to the container)";
const SETGROUPS_DENIED: &str = " (this user namespace denies setgroups: /proc/self/setgroups says 'deny', \
     so no supplementary groups can be set; start roothooks in a namespace whose setgroups is 'allow', \
     or without a user namespace)";
const NEEDS_SETPCAP: &str = " (roothooks runs as uid 0 but lacks CAP_SETPCAP; add it to the container's capabilities)";

/// Become the target for good. Only the real kernel can say whether this worked; see [`verify`].
pub fn drop_to(sys: &mut impl Syscall, spec: &DropSpec) -> Result<()> {
    step(|| "clear PR_SET_KEEPCAPS".into(), "", sys.clear_keep_caps())?;
    step(|| "clear the ambient capability set".into(), "", sys.clear_ambient())?;
    if !spec.allow_escalation {
        step(|| "empty the capability bounding set".into(), NEEDS_SETPCAP, sys.clear_bounding())?;
    }
    let set = sys.set_groups(&spec.groups);
    // asked only when it failed: a read of /proc that a start which works does not need
    let groups_hint = if set.is_err() && crate::system::setgroups_denied() { SETGROUPS_DENIED } else { NEEDS_SETUID };
    step(|| format!("set supplementary groups to {:?}", raw_gids(&spec.groups)), groups_hint, set)?;
    step(|| format!("change gid to {}", spec.gid), NEEDS_SETUID, sys.set_resgid(spec.gid))?;
    step(|| format!("change uid to {}", spec.uid), NEEDS_SETUID, sys.set_resuid(spec.uid))?;
    step(|| "clear the capability sets".into(), "", sys.clear_capabilities())?;
    if !spec.allow_escalation {
        step(|| "set no_new_privs".into(), "", sys.set_no_new_privs())?;
    }
    Ok(())
}

/// Started without root: clear what an unprivileged process can, keep uid, gid and groups.
pub fn drop_unprivileged(sys: &mut impl Syscall, allow_escalation: bool) -> Result<()> {
    step(|| "clear the ambient capability set".into(), "", sys.clear_ambient())?;
    if !allow_escalation {
        // Possible only with CAP_SETPCAP; without it there is nothing in permitted to regain anyway once
        // no_new_privs is set, so a refusal here is not a failure.
        if let Err(e) = sys.clear_bounding() {
            debug!(error = %e, "bounding set left as it is (no CAP_SETPCAP)");
        }
    }
    step(|| "clear the capability sets".into(), "", sys.clear_capabilities())?;
    if !allow_escalation {
        step(|| "set no_new_privs".into(), "", sys.set_no_new_privs())?;
    }
    Ok(())
}

fn raw_gids(groups: &[Gid]) -> Vec<u32> {
    groups.iter().map(|g| g.as_raw()).collect()
}

/// Everything in `creds` that differs from `spec`, in words.
pub fn differences(creds: &Credentials, spec: &DropSpec) -> Vec<String> {
    let mut wrong = Vec::new();
    if creds.uids.iter().any(|u| *u != spec.uid) {
        wrong.push(format!(
            "uids (real, effective, saved, fs) are {:?}, not all {}",
            creds.uids.map(|u| u.as_raw()),
            spec.uid
        ));
    }
    if creds.gids.iter().any(|g| *g != spec.gid) {
        wrong.push(format!(
            "gids (real, effective, saved, fs) are {:?}, not all {}",
            creds.gids.map(|g| g.as_raw()),
            spec.gid
        ));
    }
    let mut have = raw_gids(&creds.groups);
    let mut want = raw_gids(&spec.groups);
    have.sort_unstable();
    want.sort_unstable();
    if have != want {
        wrong.push(format!("supplementary groups are {have:?}, not {want:?}"));
    }
    // A root start can and must empty the bounding set.
    wrong.extend(capability_differences(creds, spec.allow_escalation, false));
    wrong
}

/// What must hold for any command roothooks starts, whoever it runs as. `bounding_may_remain`: the
/// caller started without root, so it could not empty the bounding set; that is accepted only when
/// nothing is permitted and no_new_privs is set, so nothing in it can ever be gained.
fn capability_differences(creds: &Credentials, allow_escalation: bool, bounding_may_remain: bool) -> Vec<String> {
    let mut wrong = Vec::new();
    let bounding_harmless = bounding_may_remain
        && !creds.uids.iter().any(|u| u.is_root())
        && creds.caps.permitted == 0
        && creds.no_new_privs;
    for (set, mask) in creds.caps.non_empty() {
        if set == "CapBnd" && (allow_escalation || bounding_harmless) {
            continue;
        }
        wrong.push(format!("{set} is {mask:016x}, not empty"));
    }
    if !allow_escalation && !creds.no_new_privs {
        wrong.push("no_new_privs is not set".into());
    }
    wrong
}

/// Read back the kernel's view and check it against `spec`, including that root cannot be regained.
pub fn verify(sys: &mut impl Syscall, spec: &DropSpec) -> Result<Credentials> {
    let creds = sys.credentials().map_err(|e| Error::Verify(format!("cannot read credentials: {e}")))?;
    let mut wrong = differences(&creds, spec);
    if !spec.uid.is_root() && spec.gid.as_raw() != 0 {
        let regained = sys.try_regain_root();
        if regained.uid || regained.gid {
            wrong.push("setuid(0) or setgid(0) succeeded".into());
        }
    }
    if wrong.is_empty() {
        Ok(creds)
    } else {
        Err(Error::Verify(wrong.join("; ")))
    }
}

/// The unprivileged counterpart of [`verify`].
///
/// A start that is already non-root with gid 0 (OpenShift's arbitrary uid, `docker run --user 1010`)
/// cannot leave gid 0 without CAP_SETGID, and `setgid(0)` succeeds for it without meaning anything:
/// there, what must hold is no capability, no_new_privs, and that `setuid(0)` fails.
pub fn verify_unprivileged(sys: &mut impl Syscall, allow_escalation: bool) -> Result<Credentials> {
    let creds = sys.credentials().map_err(|e| Error::Verify(format!("cannot read credentials: {e}")))?;
    let mut wrong = capability_differences(&creds, allow_escalation, true);
    if !creds.uids.iter().any(|u| u.is_root()) {
        let already_gid_0 = creds.gids.iter().all(|g| g.as_raw() == 0);
        let regained = sys.try_regain_root();
        if regained.uid || (regained.gid && !already_gid_0) {
            wrong.push("setuid(0) or setgid(0) succeeded".into());
        }
    }
    if wrong.is_empty() {
        Ok(creds)
    } else {
        Err(Error::Verify(wrong.join("; ")))
    }
}

/// Leave root's session keyring for a new, empty one of the user's, and check that root's is no longer
/// reachable. The session keyring survives setuid and exec, and its keys grant their possessor rights
/// whatever the uid: a key root added (a mount's credentials) would otherwise be the user's to read.
/// Where keyrings cannot be reached at all (no kernel support, a runtime's seccomp profile), nothing is
/// inherited either.
pub fn leave_session_keyring() -> Result<()> {
    use crate::system::{join_new_session_keyring, session_keyring};
    let joined = join_new_session_keyring();
    match session_keyring() {
        Err(e) => {
            debug!(error = %e, "no session keyring reachable");
            Ok(())
        }
        // the session keyring now is the new, anonymous one the kernel just made
        Ok(now) if joined.as_ref().is_ok_and(|&new| new == now) => {
            debug!(keyring = now, "joined a new, empty session keyring");
            Ok(())
        }
        Ok(now) => Err(Error::Verify(format!(
            "the command would keep root's session keyring: {}",
            match joined {
                Err(e) => format!("cannot join a new one: {e}"),
                Ok(new) => format!("joined keyring {new}, but the session keyring is still {now}"),
            }
        ))),
    }
}

/// Say loudly what `--allow-privilege-escalation` leaves open.
pub fn warn_escalation_allowed() {
    warn!(
        "--allow-privilege-escalation: no_new_privs is NOT set and the bounding set is kept; any setuid-root \
         binary in the image (sudo, su, fusermount) can give root back to the command"
    );
}

#[cfg(test)]
pub(crate) mod fake {
    use super::*;
    use crate::system::CapSets;
    use std::io;

    /// Records calls and simulates just enough of the kernel for the drop to be checked.
    #[derive(Debug, Default)]
    pub struct Recorder {
        pub calls: Vec<String>,
        pub creds: Option<Credentials>,
        pub fail_on: Option<&'static str>,
        pub regain_root: bool,
    }

    impl Recorder {
        pub fn root() -> Self {
            let full = CapSets {
                effective: u64::MAX >> 23,
                permitted: u64::MAX >> 23,
                bounding: u64::MAX >> 23,
                ..Default::default()
            };
            Recorder {
                creds: Some(Credentials {
                    uids: [Uid::from_raw(0); 4],
                    gids: [Gid::from_raw(0); 4],
                    groups: vec![Gid::from_raw(0)],
                    caps: full,
                    no_new_privs: false,
                    seccomp_filters: Some(0),
                }),
                ..Default::default()
            }
        }

        fn call(&mut self, name: &'static str) -> io::Result<&mut Credentials> {
            self.calls.push(name.to_string());
            if self.fail_on == Some(name) {
                return Err(io::Error::from_raw_os_error(nix::libc::EPERM));
            }
            Ok(self.creds.as_mut().expect("credentials set"))
        }
    }

    impl Syscall for Recorder {
        fn clear_keep_caps(&mut self) -> io::Result<()> {
            self.call("clear_keep_caps").map(drop)
        }
        fn clear_ambient(&mut self) -> io::Result<()> {
            self.call("clear_ambient")?.caps.ambient = 0;
            Ok(())
        }
        fn clear_bounding(&mut self) -> io::Result<()> {
            self.call("clear_bounding")?.caps.bounding = 0;
            Ok(())
        }
        fn set_groups(&mut self, groups: &[Gid]) -> io::Result<()> {
            self.call("set_groups")?.groups = groups.to_vec();
            Ok(())
        }
        fn set_resgid(&mut self, gid: Gid) -> io::Result<()> {
            self.call("set_resgid")?.gids = [gid; 4];
            Ok(())
        }
        fn set_resuid(&mut self, uid: Uid) -> io::Result<()> {
            let c = self.call("set_resuid")?;
            c.uids = [uid; 4];
            // What the kernel does without keepcaps: permitted and effective go; inheritable stays.
            c.caps.permitted = 0;
            c.caps.effective = 0;
            Ok(())
        }
        fn clear_capabilities(&mut self) -> io::Result<()> {
            let c = self.call("clear_capabilities")?;
            (c.caps.effective, c.caps.permitted, c.caps.inheritable) = (0, 0, 0);
            Ok(())
        }
        fn set_no_new_privs(&mut self) -> io::Result<()> {
            self.call("set_no_new_privs")?.no_new_privs = true;
            Ok(())
        }
        fn credentials(&self) -> io::Result<Credentials> {
            Ok(self.creds.clone().expect("credentials set"))
        }
        fn try_regain_root(&mut self) -> crate::system::Regained {
            self.calls.push("try_regain_root".into());
            let gid = self.regain_root || self.creds.as_ref().is_some_and(|c| c.gids.iter().all(|g| g.as_raw() == 0));
            crate::system::Regained { uid: self.regain_root, gid }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::Recorder;
    use super::*;

    fn spec() -> DropSpec {
        DropSpec {
            uid: Uid::from_raw(4000),
            gid: Gid::from_raw(4000),
            groups: vec![Gid::from_raw(4000), Gid::from_raw(5000)],
            allow_escalation: false,
        }
    }

    #[test]
    fn drop_runs_in_the_only_safe_order() {
        let mut sys = Recorder::root();
        drop_to(&mut sys, &spec()).unwrap();
        assert_eq!(
            sys.calls,
            [
                "clear_keep_caps",
                "clear_ambient",
                "clear_bounding",
                "set_groups",
                "set_resgid",
                "set_resuid",
                "clear_capabilities",
                "set_no_new_privs"
            ]
        );
        verify(&mut sys, &spec()).unwrap();
        assert_eq!(sys.calls.last().unwrap(), "try_regain_root");
    }

    #[test]
    fn escalation_opt_out_skips_only_bounding_and_no_new_privs() {
        let mut sys = Recorder::root();
        let spec = DropSpec { allow_escalation: true, ..spec() };
        drop_to(&mut sys, &spec).unwrap();
        assert!(!sys.calls.iter().any(|c| c == "clear_bounding" || c == "set_no_new_privs"));
        verify(&mut sys, &spec).unwrap();
    }

    #[test]
    fn a_failing_step_stops_the_drop_and_names_the_step() {
        let mut sys = Recorder { fail_on: Some("set_resuid"), ..Recorder::root() };
        let err = drop_to(&mut sys, &spec()).unwrap_err();
        assert!(err.to_string().contains("cannot change uid to 4000"), "{err}");
        assert_eq!(sys.calls.last().unwrap(), "set_resuid");
    }

    #[test]
    fn verify_catches_every_leftover() {
        let mut sys = Recorder::root();
        drop_to(&mut sys, &spec()).unwrap();
        let c = sys.creds.as_mut().unwrap();
        c.caps.inheritable = 1 << 21;
        c.caps.bounding = 1;
        c.no_new_privs = false;
        c.groups.push(Gid::from_raw(0));
        c.uids[3] = Uid::from_raw(0);
        let msg = verify(&mut sys, &spec()).unwrap_err().to_string();
        for needle in ["CapInh", "CapBnd", "no_new_privs", "supplementary groups", "uids"] {
            assert!(msg.contains(needle), "{needle} missing from {msg}");
        }
    }

    #[test]
    fn a_root_drop_must_empty_the_bounding_set_even_when_nothing_else_is_left() {
        let mut sys = Recorder::root();
        drop_to(&mut sys, &spec()).unwrap();
        // everything else as it should be: uid not 0, nothing permitted, no_new_privs set
        sys.creds.as_mut().unwrap().caps.bounding = 1 << 21;
        let msg = verify(&mut sys, &spec()).unwrap_err().to_string();
        assert!(msg.contains("CapBnd is 0000000000200000, not empty"), "{msg}");
    }

    #[test]
    fn verify_fails_when_root_can_be_regained() {
        let mut sys = Recorder { regain_root: true, ..Recorder::root() };
        drop_to(&mut sys, &spec()).unwrap();
        assert!(verify(&mut sys, &spec()).unwrap_err().to_string().contains("setuid(0)"));
    }

    #[test]
    fn an_unprivileged_start_with_gid_0_keeps_it_but_nothing_else() {
        let mut sys = Recorder { fail_on: Some("clear_bounding"), ..Recorder::root() };
        sys.creds.as_mut().unwrap().uids = [Uid::from_raw(1010); 4];
        drop_unprivileged(&mut sys, false).unwrap();
        // setgid(0) "succeeds" for a process already at gid 0: that is not a way back
        verify_unprivileged(&mut sys, false).unwrap();
        // but a non-zero gid that can become 0, or a uid that can, is
        sys.creds.as_mut().unwrap().gids = [Gid::from_raw(1010); 4];
        sys.regain_root = true;
        assert!(verify_unprivileged(&mut sys, false).unwrap_err().to_string().contains("setuid(0)"));
    }

    #[test]
    fn unprivileged_drop_tolerates_a_refused_bounding_set() {
        let mut sys = Recorder { fail_on: Some("clear_bounding"), ..Recorder::root() };
        sys.creds.as_mut().unwrap().uids = [Uid::from_raw(4000); 4];
        drop_unprivileged(&mut sys, false).unwrap();
        assert_eq!(sys.calls, ["clear_ambient", "clear_bounding", "clear_capabilities", "set_no_new_privs"]);
        // bounding still full, but nothing permitted and no_new_privs set: accepted
        verify_unprivileged(&mut sys, false).unwrap();
    }
}
