//! Where accounts come from: /etc/passwd and /etc/group read directly in a files-only image, NSS
//! otherwise, files always in the static build. Each test runs roothooks in a private mount namespace
//! with its own nsswitch.conf, passwd and group bound over /etc's.
//!
//! These tests live apart because another test's useradd, renaming a new /etc/group into place,
//! silently detaches a bind mount on it in every other namespace: the tests here must not run beside
//! tests that add accounts.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

/// Run the roothooks binary `bin` with `args` in a private mount namespace whose nsswitch.conf says
/// `nsswitch` and whose /etc/passwd and /etc/group are `passwd` and `group`, as in a container image.
fn with_account_files(bin: &Path, nsswitch: &str, passwd: &str, group: &str, args: &[&str]) -> Output {
    let dir = scratch("rh-nss");
    for (name, text) in [("nsswitch.conf", nsswitch), ("passwd", passwd), ("group", group)] {
        std::fs::write(dir.path().join(name), text).unwrap();
        set_mode(&dir.path().join(name), 0o644);
    }
    let script = r#"mount --bind "$1/nsswitch.conf" /etc/nsswitch.conf && mount --bind "$1/passwd" /etc/passwd &&
        mount --bind "$1/group" /etc/group && shift && exec "$@""#;
    let mut wrapped = Command::new("unshare");
    wrapped.args(["--mount", "--propagation", "private", "sh", "-c", script, "sh"]).arg(dir.path()).arg(bin).args(args);
    without_settings(&mut wrapped).stdin(Stdio::null());
    run(&mut wrapped)
}

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n# a comment\n\nbroken:x:abc:1::/:\n  \
                      jovyan:x:3901:3900:J:/home/jovyan:/bin/sh\nshadowed:x:3901:1::/dup:\n";
// What glibc's files module makes of these lines: a blank before a member name or a line is skipped,
// one after a member name is part of it; a group line may end after its gid.
const GROUP: &str = "root:x:0:\nusers:x:3900:\nsudo:x:3927:alice, jovyan\ndocker:x:3999:jovyanx\n\
                     fuse:x:3998:jovyan\nshort:x:3997\n  lead:x:3996:jovyan\nsp:x:3995:jovyan \n";
const PROBE: &[&str] =
    &["--user", "jovyan", "--log-file", "none", "--", "sh", "-c", "cat /proc/self/status; id -G jovyan"];

#[test]
fn files_only_images_resolve_accounts_as_glibc_does() {
    if !need_root() {
        return;
    }
    let nsswitch = "passwd: files\ngroup: files\nshadow: files\n";
    let out = with_account_files(Path::new(BIN), nsswitch, PASSWD, GROUP, PROBE);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let status = proc_status(&text);
    assert_eq!(status["Uid"], four(3901));
    assert_eq!(status["Gid"], four(3900));
    // glibc's own answer, asked by the command in the same namespace
    let by_glibc: Vec<u32> = text.lines().last().unwrap().split(' ').map(|g| g.parse().unwrap()).collect();
    assert_eq!(groups(&status), sorted(&by_glibc));
    assert_eq!(groups(&status), [3900, 3927, 3996, 3998]);
    assert_unprivileged(&status);

    let plan =
        with_account_files(Path::new(BIN), nsswitch, PASSWD, GROUP, &["--dry-run", "--user", "jovyan", "--", "true"]);
    let plan = stdout(&plan);
    assert!(plan.contains("accounts:    /etc/passwd and /etc/group, read directly"), "{plan}");
    assert!(plan.contains("groups:      3900(users),3927(sudo),3998(fuse),3996(lead)"), "{plan}");
}

#[test]
fn other_sources_in_nsswitch_go_through_nss() {
    if !need_root() {
        return;
    }
    // `compat` reads the same files, so the answer must match; what differs is who reads them.
    let nsswitch = "passwd: compat\ngroup: compat\n";
    let out = with_account_files(Path::new(BIN), nsswitch, PASSWD, GROUP, PROBE);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(groups(&proc_status(&stdout(&out))), [3900, 3927, 3996, 3998]);
    let plan =
        with_account_files(Path::new(BIN), nsswitch, PASSWD, GROUP, &["--dry-run", "--user", "jovyan", "--", "true"]);
    assert!(stdout(&plan).contains("accounts:    NSS"), "{}", stdout(&plan));
}

fn static_build_present() -> bool {
    static_binary().exists() || skip("no target/static/roothooks; run scripts/build-static.sh")
}

#[test]
fn the_static_build_reads_the_account_files_whatever_nsswitch_names() {
    if !need_root() || !static_build_present() {
        return;
    }
    // No glibc NSS module is loaded by a static binary, even when nsswitch.conf asks for one.
    let passwd = "root:x:0:0::/root:/bin/sh\nmarie:x:4100:4100::/home/marie:/bin/sh\n";
    let group = "root:x:0:\nmarie:x:4100:\nphysics:x:5100:marie\n";
    let args = ["--user", "marie", "--log-file", "none", "--", "cat", "/proc/self/status"];
    let out = with_account_files(&static_binary(), "passwd: files ldap\ngroup: files ldap\n", passwd, group, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(groups(&proc_status(&stdout(&out))), [4100, 5100]);
    assert!(stderr(&out).contains("this static build reads only /etc/passwd and /etc/group"), "{}", stderr(&out));
}

#[test]
fn the_static_build_fits_in_its_budget_and_links_none_of_glibcs_nss() {
    if !static_build_present() {
        return;
    }
    // The size a busybox or scratch image pays for it: 2 MiB (issue 34), 2.5 MiB since it is built on
    // the crates made for each thing and carries its dependency list (issue 45). glibc marks each NSS
    // entry point it links statically with a warning naming the function; the static build has no
    // NSS path at all.
    let binary = std::fs::read(static_binary()).unwrap();
    assert!(binary.len() <= 5 * 512 * 1024, "target/static/roothooks is {} bytes", binary.len());
    for nss in ["getpwnam_r", "getpwuid_r", "getgrnam_r", "getgrgid_r", "getgrouplist"] {
        assert!(!binary.windows(nss.len()).any(|w| w == nss.as_bytes()), "{nss} is linked");
    }
}
