use super::*;
use clap::CommandFactory;

fn parse(args: &[&str]) -> Args {
    Args::try_parse_from(std::iter::once("roothooks").chain(args.iter().copied())).unwrap()
}

#[test]
fn definition_is_consistent() {
    Args::command().debug_assert();
}

#[test]
fn user_uid_gid_stay_strings_for_plan_to_check() {
    let a = parse(&["--user", "jovyan", "--uid", "abc", "-g", "100", "--", "id"]);
    assert_eq!(a.user.as_deref(), Some("jovyan".as_ref()));
    assert_eq!(a.uid.as_deref(), Some("abc".as_ref()));
    assert_eq!(a.gid.as_deref(), Some("100".as_ref()));
}

#[test]
fn groups_split_on_commas_and_repeat() {
    let a = parse(&["--groups", "users,2000", "--groups", "3000", "true"]);
    assert_eq!(a.groups, ["users", "2000", "3000"]);
}

#[test]
fn clear_groups_home_and_allow_flags() {
    let a = parse(&["--clear-groups", "--home", "/h", "--allow-root", "--allow-privilege-escalation", "x"]);
    assert!(a.clear_groups && a.allow_root && a.allow_privilege_escalation);
    assert_eq!(a.home, Some(PathBuf::from("/h")));
}

#[test]
fn command_keeps_its_own_flags() {
    let a = parse(&["--uid", "5", "--", "ls", "-l", "--uid", "7"]);
    assert_eq!(a.command, ["ls", "-l", "--uid", "7"]);
    let b = parse(&["--uid", "5", "ls", "-l"]);
    assert_eq!(b.command, ["ls", "-l"]);
}

#[test]
fn hook_flags() {
    let a = parse(&["--hooks-dir", "/srv/h", "--hook-timeout", "1.5", "--on-hook-failure", "abort", "x"]);
    assert_eq!(a.hooks_dir, Some(PathBuf::from("/srv/h")));
    assert_eq!(a.hook_timeout, Duration::from_millis(1500));
    assert_eq!(a.on_hook_failure, FailurePolicy::Abort);
    let b = parse(&["--no-exec", "--allow-untrusted-hooks", "--log-file", "none", "--report", "/tmp/r.json"]);
    assert!(b.no_exec && b.allow_untrusted_hooks && b.command.is_empty());
    assert_eq!(b.log_file, Some(PathBuf::from("none")));
    for bad in ["abc", "-1", "inf", "NaN"] {
        let err = Args::try_parse_from(["roothooks", "--hook-timeout", bad, "x"]).unwrap_err().to_string();
        assert!(err.contains("is not a number of seconds"), "{err}");
    }
    // too small to mean anything is not "no limit"
    for tiny in ["1e-300", "0.0001", "5e-324"] {
        let err = Args::try_parse_from(["roothooks", "--hook-timeout", tiny, "x"]).unwrap_err().to_string();
        assert!(err.contains("too short to be a timeout"), "{err}");
    }
    assert_eq!(parse(&["--hook-timeout", "0", "x"]).hook_timeout, Duration::ZERO);
    assert_eq!(parse(&["--hook-timeout", "0.001", "x"]).hook_timeout, Duration::from_millis(1));
    assert!(Args::try_parse_from(["roothooks", "--no-exec", "--dry-run"]).is_err());
}

fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
    move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| OsString::from(v))
}

#[test]
fn flags_win_over_environment_as_one_layer() {
    let env = env_of(&[("NB_USER", "jovyan"), ("NB_UID", "1000"), ("ROOTHOOKS_GID", "7")]);
    let r = parse(&["--uid", "4242", "x"]).request(&env).unwrap();
    assert_eq!(r.uid.as_ref().unwrap().value, "4242");
    assert!(r.user.is_none() && r.gid.is_none(), "environment must not mix into a flag layer");
}

#[test]
fn roothooks_variables_win_over_nb_variables() {
    let env = env_of(&[("NB_USER", "jovyan"), ("NB_UID", "1000"), ("ROOTHOOKS_UID", "4242")]);
    let r = parse(&["x"]).request(&env).unwrap();
    assert_eq!(r.uid.as_ref().unwrap().origin, "ROOTHOOKS_UID");
    assert!(r.user.is_none());
}

#[test]
fn nb_variables_are_the_last_layer_and_empty_values_do_not_count() {
    let env = env_of(&[("ROOTHOOKS_UID", ""), ("NB_UID", "4243"), ("NB_GID", "100")]);
    let r = parse(&["x"]).request(&env).unwrap();
    assert_eq!(r.uid.as_ref().unwrap().to_string(), "NB_UID='4243' (from the environment)");
    assert_eq!(r.gid.as_ref().unwrap().value, "100");
}

#[test]
fn values_that_are_not_utf8_are_named_not_skipped() {
    use std::os::unix::ffi::OsStringExt;
    let bad = || Some(OsString::from_vec(b"10\xff".to_vec()));
    let env = move |name: &str| if name == "NB_UID" { bad() } else { None };
    let msg = match parse(&["x"]).request(&env) {
        Err(Error::Usage(m)) => m,
        other => panic!("expected a usage error, got {other:?}"),
    };
    assert!(msg.contains("NB_UID='10\u{FFFD}' (from the environment) is not valid UTF-8"), "{msg}");
    let mut a = parse(&["x"]);
    a.user = bad();
    assert!(matches!(a.request(&env_of(&[])), Err(Error::Usage(m)) if m.contains("--user '10")));
}

#[test]
fn seccomp_flags() {
    use crate::seccomp::Group;
    assert_eq!(parse(&["x"]).options(&|_| None).unwrap().seccomp, Seccomp::On { allowed: vec![] });
    let a = parse(&["--seccomp-allow", "userns,io_uring", "--seccomp-allow", "userns", "x"]);
    assert_eq!(a.options(&|_| None).unwrap().seccomp, Seccomp::On { allowed: vec![Group::Userns, Group::IoUring] });
    assert_eq!(parse(&["--seccomp", "off", "x"]).options(&|_| None).unwrap().seccomp, Seccomp::Off);
    let err = Args::try_parse_from(["roothooks", "--seccomp-allow", "mount", "x"]).unwrap_err().to_string();
    assert!(err.contains("invalid value 'mount'"), "{err}");
}

#[test]
fn docker_stacks_variables_map_to_umask_and_unset_env() {
    let env = env_of(&[("NB_UMASK", "002"), ("JUPYTER_ENV_VARS_TO_UNSET", "AWS_SECRET, TOKEN")]);
    let o = parse(&["--unset-env", "X", "x"]).options(&env).unwrap();
    assert_eq!(
        (o.umask, o.unset_env.as_slice()),
        (Some(0o2), ["X", "AWS_SECRET", "TOKEN"].map(String::from).as_slice())
    );
    // a flag (or ROOTHOOKS_UMASK, which clap reads into it) wins over NB_UMASK
    assert_eq!(parse(&["--umask", "077", "x"]).options(&env).unwrap().umask, Some(0o77));
    let bad = env_of(&[("NB_UMASK", "999")]);
    let msg = match parse(&["x"]).options(&bad) {
        Err(Error::Usage(m)) => m,
        other => panic!("{:?}", other.map(|o| o.umask)),
    };
    assert!(msg.contains("NB_UMASK='999' (from the environment) is not an octal mode"), "{msg}");
    let a = parse(&["--docker-stacks", "--user-hooks-dir", "/srv/u", "x"]);
    let o = a.options(&|_| None).unwrap();
    assert!(o.docker_stacks && o.user_hooks_dir == Some(PathBuf::from("/srv/u")));
}

#[test]
fn provisioning_flags() {
    let a = parse(&[
        "--ensure-account",
        "--nss-dir",
        "/nss",
        "--create-home",
        "--env-file",
        "/a",
        "--env-file",
        "/b",
        "--unset-env",
        "AWS_*,TOKEN",
        "--unset-env",
        "X",
        "--rlimit",
        "nofile=10:20",
        "--umask",
        "077",
        "--workdir",
        "/w",
        "x",
    ]);
    assert!(a.ensure_account && a.create_home);
    assert_eq!(a.nss_dir, Some(PathBuf::from("/nss")));
    assert_eq!(a.env_file, [PathBuf::from("/a"), PathBuf::from("/b")]);
    assert_eq!(a.unset_env, ["AWS_*", "TOKEN", "X"]);
    assert_eq!((a.rlimit[0].name, a.rlimit[0].soft, a.rlimit[0].hard), ("nofile", Some(10), Some(20)));
    assert_eq!(a.umask, Some(0o77));
    assert_eq!(a.workdir, Some(PathBuf::from("/w")));
    let err = Args::try_parse_from(["roothooks", "--rlimit", "files=1", "x"]).unwrap_err().to_string();
    assert!(err.contains("unknown limit 'files'"), "{err}");
    let err = Args::try_parse_from(["roothooks", "--umask", "9", "x"]).unwrap_err().to_string();
    assert!(err.contains("not an octal mode"), "{err}");
}

#[test]
fn hook_env_repeats_and_splits_on_commas() {
    let a = parse(&["--hook-env", "AWS_*,GCS_KEY", "--hook-env", "TOKEN", "x"]);
    assert_eq!(a.options(&|_| None).unwrap().hook_env, ["AWS_*", "GCS_KEY", "TOKEN"]);
    assert!(parse(&["x"]).options(&|_| None).unwrap().hook_env.is_empty());
}

#[test]
fn log_format_and_dry_run() {
    let a = parse(&["--log-format", "json", "--dry-run", "x"]);
    assert_eq!(a.log_format, LogFormat::Json);
    assert!(a.dry_run);
    assert!(Args::try_parse_from(["roothooks", "--log-format", "xml", "x"]).is_err());
}

#[test]
fn init_and_pty_take_the_boolean_words_images_write_and_refuse_others() {
    use crate::supervise::{InitSetting, PtySetting};
    for (words, init, pty) in [
        (["1", "true", "yes"], InitSetting::On, PtySetting::Always),
        (["0", "false", "no"], InitSetting::Off, PtySetting::Never),
    ] {
        for word in words {
            let a = parse(&["--init", word, "--pty", word, "--", "x"]);
            assert_eq!((a.init, a.pty), (init, pty), "{word}");
            assert_eq!(parse(&[&format!("--init={word}"), "x"]).init, init, "{word}");
        }
    }
    for bad in ["TRUE", "Yes", "2", "y", "always", "maybe"] {
        let e = Args::try_parse_from(["roothooks", &format!("--init={bad}"), "x"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::InvalidValue, "{bad}");
        assert!(e.to_string().contains(&format!("'{bad}'")), "{bad}: {e}");
    }
    assert!(Args::try_parse_from(["roothooks", "--pty", "on", "x"]).is_err(), "on is --init's word, not --pty's");
}
