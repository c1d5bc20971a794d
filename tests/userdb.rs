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

// Lines glibc reads its own way, each with what getgrouplist (glibc 2.36) makes of it for `atk`: a
// line ends at its `\n` alone, so a `\r` before it is the last member's; blanks are C's isspace, so
// U+00A0 is part of a name; a number is strtoul's; getgrouplist parses every line as it is, comments
// and nss_compat's `-` names too.
const TRICKY_GROUP: &str = "root:x:0:\nusers:x:3900:\n\
    cr:x:3920:atk\r\n\
    crlast:x:3921:bob,atk\r\n\
    crfirst:x:3922:atk,bob\r\n\
    crlead:x:3923:\ratk\n\
    nbsp:x:3924:\u{a0}atk\n\
    vt:x:3925:\x0batk\n\
    #off:x:3926:atk\n\
    \x20 lead:x:3927:atk\n\
    gidsp:x: 3928:atk\n\
    gidtrail:x:3929 :atk\n\
    nul:x:3930:a\0tk,atk\n\
    big:x:4294967296:atk\n\
    neg:x:-3931:atk\n\
    -minus:x:3932:atk\n\
    trail:x:3933:atk \n";
const TRICKY_GRANTED: [u32; 8] = [3900, 3922, 3923, 3925, 3926, 3927, 3928, 3932];

#[test]
fn crlf_and_other_odd_lines_give_the_groups_and_shell_glibc_gives() {
    if !need_root() {
        return;
    }
    // the account's own line ends in \r\n too: glibc's pw_shell keeps the \r
    let passwd = "root:x:0:0:root:/root:/bin/sh\natk:x:3901:3900:A:/home/atk:/bin/sh\r\n";
    let nsswitch = "passwd: files\ngroup: files\n";
    let probe = "cat /proc/self/status; echo \"glibc groups: $(id -G atk)\"; printf 'shell: [%s]\\n' \"$SHELL\"; \
                 printf 'glibc shell: [%s]\\n' \"$(getent passwd atk | cut -d: -f7)\"";
    let args = ["--user", "atk", "--log-file", "none", "--", "sh", "-c", probe];
    let out = with_account_files(Path::new(BIN), nsswitch, passwd, TRICKY_GROUP, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let line = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).unwrap_or_else(|| panic!("no {key}: {text}"));
    let by_glibc: Vec<u32> = line("glibc groups: ").split(' ').map(|g| g.parse().unwrap()).collect();
    let status = proc_status(&text);
    assert_eq!(groups(&status), sorted(&by_glibc), "roothooks' groups are not glibc's getgrouplist's");
    assert_eq!(groups(&status), TRICKY_GRANTED);
    assert_eq!(line("shell: "), line("glibc shell: "));
    assert_eq!(line("shell: "), "[/bin/sh\r]");
    // and what it read was its own reading, not glibc's
    let plan = with_account_files(
        Path::new(BIN),
        nsswitch,
        passwd,
        TRICKY_GROUP,
        &["--dry-run", "--user", "atk", "--", "true"],
    );
    assert!(stdout(&plan).contains("accounts:    /etc/passwd and /etc/group, read directly"), "{}", stdout(&plan));
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
