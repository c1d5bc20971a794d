//! The fast argument reader against clap: whatever it accepts, clap accepts with the same result.
//! One test sets the environment, so it is alone in this file's process.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsString;

use clap::{CommandFactory, Parser};
use roothooks::cli::{fast, Args};

/// Argument pieces, good and bad, for the lists the test puts together.
const PIECES: &[&[&str]] = &[
    &["--uid", "1000"],
    &["--uid=65534"],
    &["--uid", "-5"],
    &["--uid="],
    &["--gid", "100"],
    &["-g", "100"],
    &["-g100"],
    &["-u", "jovyan"],
    &["--user", "jovyan"],
    &["--user", "-x"],
    &["--user"],
    &["--groups", "a,b"],
    &["--groups", "c"],
    &["--groups", "a,,b"],
    &["--groups=a,"],
    &["--clear-groups"],
    &["--clear-groups=true"],
    &["--home", "/home/x"],
    &["--allow-root"],
    &["--allow-privilege-escalation"],
    &["--chown", "/srv/a"],
    &["--chown-tree", "/srv/b"],
    &["--rename-from", "jovyan"],
    &["--grant-sudo"],
    &["--ensure-account"],
    &["--nss-dir", "/nss"],
    &["--create-home"],
    &["--skel", "/etc/skel2"],
    &["--env-file", "/e1"],
    &["--unset-env", "A,B"],
    &["--rlimit", "nofile=1024"],
    &["--rlimit", "nofile=1024:4096"],
    &["--rlimit", "files=1"],
    &["--umask", "022"],
    &["--umask", "9"],
    &["--workdir", "/w"],
    &["--seccomp", "off"],
    &["--seccomp", "default"],
    &["--seccomp", "bogus"],
    &["--seccomp-allow", "userns,perf"],
    &["--seccomp-allow", "mount"],
    &["--init"],
    &["--init", "off"],
    &["--init=on"],
    &["--init", "--"],
    &["--init=1"],
    &["--init=yes"],
    &["--init", "no"],
    &["--init=0"],
    &["--init=TRUE"],
    &["--init=2"],
    &["--pty", "never"],
    &["--pty", "Never"],
    &["--pty", "true"],
    &["--pty=0"],
    &["--pty", "on"],
    &["--signals-to", "command"],
    &["--log-format", "json"],
    &["--log-format", "xml"],
    &["--hooks-dir", "/srv/hooks"],
    &["--hooks-dir=/srv/hooks2"],
    &["--user-hooks-dir", "/u"],
    &["--docker-stacks"],
    &["--hook-timeout", "5"],
    &["--hook-timeout", "0.0001"],
    &["--hook-timeout", "-1"],
    &["--hook-timeout", "0"],
    &["--on-hook-failure", "abort"],
    &["--hook-env", "A,B"],
    &["--allow-untrusted-hooks"],
    &["--log-file", "none"],
    &["--report", "/r.json"],
    &["--no-exec"],
    &["--dry-run"],
    &["-h"],
    &["--help"],
    &["-V"],
    &["--version"],
    &["--bogus"],
    &["--hooks"],
    &["-"],
    &["-x"],
];

/// How a list ends.
const TAILS: &[&[&str]] = &[
    &[],
    &["--"],
    &["--", "jupyterhub-singleuser", "--ip=0.0.0.0"],
    &["start.sh", "--uid", "5"],
    &["true"],
    &["--", "--uid"],
];

/// Environment settings the clap arguments read (the NB_* and identity ones are read later, not by clap).
const SETTINGS: &[(&str, &str)] = &[
    ("ROOTHOOKS_GRANT_SUDO", "true"),
    ("ROOTHOOKS_GRANT_SUDO", "1"),
    ("ROOTHOOKS_ENSURE_ACCOUNT", "false"),
    ("ROOTHOOKS_ENSURE_ACCOUNT", "yes"),
    ("ROOTHOOKS_CREATE_HOME", "true"),
    ("ROOTHOOKS_CREATE_HOME", "on"),
    ("ROOTHOOKS_NSS_DIR", "/nss-env"),
    ("ROOTHOOKS_UNSET_ENV", "X,Y"),
    ("ROOTHOOKS_UNSET_ENV", "X,"),
    ("ROOTHOOKS_UMASK", "027"),
    ("ROOTHOOKS_UMASK", "999"),
    ("ROOTHOOKS_SECCOMP", "off"),
    ("ROOTHOOKS_SECCOMP", "loose"),
    ("ROOTHOOKS_SECCOMP_ALLOW", "userns"),
    ("ROOTHOOKS_SECCOMP_ALLOW", "perf,bpf"),
    ("ROOTHOOKS_INIT", "on"),
    ("ROOTHOOKS_INIT", "maybe"),
    ("ROOTHOOKS_INIT", "1"),
    ("ROOTHOOKS_INIT", "false"),
    ("ROOTHOOKS_INIT", "Yes"),
    ("ROOTHOOKS_PTY", "always"),
    ("ROOTHOOKS_PTY", "no"),
    ("ROOTHOOKS_PTY", "1"),
    ("ROOTHOOKS_SIGNALS_TO", "command"),
    ("ROOTHOOKS_LOG_FORMAT", "json"),
    ("ROOTHOOKS_HOOKS_DIR", "/env-hooks"),
    ("ROOTHOOKS_HOOKS_DIR", "-dash"),
    ("ROOTHOOKS_USER_HOOKS_DIR", "/env-user-hooks"),
    ("ROOTHOOKS_DOCKER_STACKS", "true"),
    ("ROOTHOOKS_DOCKER_STACKS", "TRUE"),
    ("ROOTHOOKS_HOOK_TIMEOUT", "7.5"),
    ("ROOTHOOKS_HOOK_TIMEOUT", "soon"),
    ("ROOTHOOKS_ON_HOOK_FAILURE", "abort"),
    ("ROOTHOOKS_HOOK_ENV", "A"),
    ("ROOTHOOKS_ALLOW_UNTRUSTED_HOOKS", "false"),
    ("ROOTHOOKS_LOG_FILE", "none"),
    ("ROOTHOOKS_REPORT", "/env-report.json"),
];

/// Arguments and environment settings of one start.
type Start<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);

/// A small deterministic generator, so that a failure names a case that comes back.
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn argv(words: &[&str]) -> Vec<OsString> {
    std::iter::once("roothooks").chain(words.iter().copied()).map(OsString::from).collect()
}

/// The fast reader's answer, if any, and that it is clap's.
fn agrees(words: &[&str], settings: &[(&str, &str)]) -> bool {
    for (name, _) in SETTINGS {
        std::env::remove_var(name);
    }
    for (name, value) in settings {
        std::env::set_var(name, value);
    }
    let argv = argv(words);
    let Some(fast) = fast::parse(&argv, &|name| std::env::var_os(name)) else { return false };
    let clap = Args::try_parse_from(&argv)
        .unwrap_or_else(|e| panic!("the fast reader took {words:?} with {settings:?}, which clap refuses: {e}"));
    assert_eq!(format!("{fast:?}"), format!("{clap:?}"), "{words:?} with {settings:?}");
    true
}

#[test]
fn whatever_the_fast_reader_takes_clap_reads_the_same() {
    // what deployments pass: each must take the fast way
    let usual: &[Start] = &[
        (&["--uid", "65534", "--hooks-dir", "/tmp/empty", "--", "/usr/bin/true"], &[]),
        (&["--", "jupyterhub-singleuser"], &[("ROOTHOOKS_HOOKS_DIR", "/srv/hooks")]),
        (&["jupyterhub-singleuser", "--ip=0.0.0.0"], &[]),
        (&["--docker-stacks", "--", "start-notebook.py"], &[]),
        (&["--uid", "1000", "--gid", "100", "--hooks-dir", "/srv/roothooks.d", "--", "start.sh"], &[]),
        (&["--user", "jovyan", "--", "start.sh"], &[("ROOTHOOKS_SECCOMP_ALLOW", "userns")]),
        (&["--no-exec", "--uid", "1000", "--hooks-dir", "/srv/init.d"], &[]),
        (&["--init", "--", "sleep", "5"], &[]),
        (&["--log-file", "none", "--seccomp", "off", "--pty", "never", "--", "x"], &[]),
        // an image written for a switch
        (&["--", "jupyterhub-singleuser"], &[("ROOTHOOKS_INIT", "1"), ("ROOTHOOKS_PTY", "false")]),
        (&["--init=yes", "--pty=0", "--", "x"], &[]),
    ];
    for (words, settings) in usual {
        assert!(agrees(words, settings), "{words:?} with {settings:?} must take the fast way");
    }
    let mut rng = Lcg(0x5eed);
    let (mut taken, mut cases) = (0, 0);
    for _ in 0..20_000 {
        let mut words: Vec<&str> = Vec::new();
        for _ in 0..rng.below(5) {
            words.extend_from_slice(PIECES[rng.below(PIECES.len())]);
        }
        words.extend_from_slice(TAILS[rng.below(TAILS.len())]);
        let settings: Vec<(&str, &str)> = (0..rng.below(4)).map(|_| SETTINGS[rng.below(SETTINGS.len())]).collect();
        cases += 1;
        taken += usize::from(agrees(&words, &settings));
    }
    // both ways are exercised: most random lists hold something only clap may judge
    assert!(taken > 1000 && taken < cases, "{taken} of {cases} taken the fast way");
    eprintln!("{taken} of {cases} random argument lists taken the fast way, each as clap reads it");
}

#[test]
fn the_fast_reader_knows_every_option_and_its_environment_name() {
    let command = Args::command();
    let clap: BTreeSet<(String, Option<String>)> = command
        .get_arguments()
        .filter_map(|a| {
            let long = a.get_long()?;
            (!matches!(long, "help" | "version"))
                .then(|| (long.to_string(), a.get_env().map(|e| e.to_string_lossy().into_owned())))
        })
        .collect();
    let fast: BTreeSet<(String, Option<String>)> =
        fast::names().map(|(long, env)| (long.to_string(), env.map(String::from))).collect();
    assert_eq!(fast, clap);
}

/// The settings read at the start from the environment block itself: a name given twice counts
/// once, the first (as getenv finds it), and an empty copy unsets the name altogether (every copy,
/// for clap and for the command too), whatever the order. The block is handed to roothooks as it is,
/// duplicates included, by an execve of its own in the child.
#[test]
fn settings_come_from_the_environment_block_as_getenv_reads_it() {
    let plan = |env: &[&str]| -> String {
        let args = ["--dry-run", "--uid", "65534", "--", "true"].map(std::ffi::OsStr::new);
        let mut cmd = common::with_raw_env(env, common::BIN, &args);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{env:?}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = text.lines().find(|l| l.trim_start().starts_with("hooks dir:")).unwrap_or_default();
        line.trim().split(':').take(2).collect::<Vec<_>>().join(":")
    };
    let path = "PATH=/usr/bin:/bin";
    assert_eq!(
        plan(&[path, "ROOTHOOKS_HOOKS_DIR=/first", "ROOTHOOKS_HOOKS_DIR=/second"]),
        "hooks dir:   /first (given)"
    );
    let default = plan(&[path]);
    assert!(default.ends_with("(default)"), "{default}");
    assert_eq!(plan(&[path, "ROOTHOOKS_HOOKS_DIR=", "ROOTHOOKS_HOOKS_DIR=/second"]), default);
    assert_eq!(plan(&[path, "ROOTHOOKS_HOOKS_DIR=/first", "ROOTHOOKS_HOOKS_DIR="]), default);
    assert_eq!(plan(&[path, "ROOTHOOKS_HOOKS_DIRX=/x", "XROOTHOOKS_HOOKS_DIR=/y"]), default, "only the exact name");
}
