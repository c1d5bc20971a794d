use super::*;

fn os_pairs(list: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    list.iter().map(|(k, v)| (k.into(), v.into())).collect()
}

fn get<'a>(env: &'a [(OsString, OsString)], name: &str) -> Option<&'a str> {
    env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.to_str().unwrap())
}

#[test]
fn only_the_default_set_and_what_the_operator_names_reach_root_hooks() {
    let base = os_pairs(&[
        ("HOME", "/home/jovyan"),
        ("USER", "jovyan"),
        ("SHELL", "/opt/conda/bin/bash"),
        ("BASH_ENV", "/home/jovyan/.bashrc"),
        ("LD_PRELOAD", "/home/jovyan/x.so"),
        ("PYTHONPYCACHEPREFIX", "/home/jovyan/.pyc"),
        ("GIT_SSH_COMMAND", "touch /pwned"),
        ("A_NAME_NO_TOOL_READS_YET", "x"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
        ("NB_UID", "1010"),
        ("LANG", "C.UTF-8"),
        ("LC_ALL", "../../home/jovyan/locale"),
        ("TZ", "/home/jovyan/zone"),
        ("JUPYTERHUB_USER", "alice"),
        ("PATH", "relative:/usr/bin:/no/such/dir:/usr/bin"),
        ("ROOTHOOKS_UID", "stale"),
    ]);
    let gate = Gate { allowed: vec!["AWS_*".into()], ..Gate::default() };
    let own = [("ROOTHOOKS_UID".to_string(), "1000".to_string())];
    let operator = [("FROM_ENV_FILE".to_string(), "1".to_string())];
    let env = gate.hook_env(base, &RootAccount::default(), &operator, &own);
    let v = &env.vars;
    assert_eq!((get(v, "HOME"), get(v, "USER"), get(v, "LOGNAME")), (Some("/root"), Some("root"), Some("root")));
    assert_eq!(get(v, "SHELL"), Some("/bin/sh"));
    assert_eq!((get(v, "AWS_SECRET_ACCESS_KEY"), get(v, "ROOTHOOKS_UID")), (Some("s"), Some("1000")));
    assert_eq!(
        (get(v, "NB_UID"), get(v, "LANG"), get(v, "JUPYTERHUB_USER")),
        (Some("1010"), Some("C.UTF-8"), Some("alice"))
    );
    assert_eq!(get(v, "FROM_ENV_FILE"), Some("1"));
    assert_eq!(get(v, "PATH"), Some("/usr/bin"));
    assert_eq!(v.iter().filter(|(k, _)| k == "ROOTHOOKS_UID").count(), 1);
    let names: Vec<&str> = v.iter().map(|(k, _)| k.to_str().unwrap()).collect();
    for name in
        ["BASH_ENV", "LD_PRELOAD", "PYTHONPYCACHEPREFIX", "GIT_SSH_COMMAND", "A_NAME_NO_TOOL_READS_YET", "LC_ALL", "TZ"]
    {
        assert!(!names.contains(&name), "{name} reached root's hooks");
    }
    assert_eq!(
        crate::log::capped_list(&not_allowed(&env.held), 40),
        "BASH_ENV, LD_PRELOAD, PYTHONPYCACHEPREFIX, GIT_SSH_COMMAND, A_NAME_NO_TOOL_READS_YET"
    );
    let judged: Vec<String> = judged(&env.held).map(|h| format!("{}: {h}", h.name())).collect();
    assert_eq!(judged, ["LC_ALL: its value names a file, not a locale", "TZ: its value names a file, not a time zone"]);
    assert_eq!(env.path_dropped.len(), 2, "{:?}", env.path_dropped);
    // nothing trusted left: a safe default, never an empty PATH (which would mean the cwd)
    assert_eq!(trusted_path(OsStr::new("rel:")).0, SAFE_PATH);
}

#[test]
fn values_that_could_name_a_file_are_refused() {
    let gate = Gate::default();
    let ok = |n: &str, v: &str| gate.admit(OsStr::new(n), OsStr::new(v), Origin::Start).is_ok();
    for (name, value) in [
        ("TZ", "Europe/Berlin"),
        ("TZ", ":UTC"),
        ("TZ", "CET-1CEST,M3.5.0,M10.5.0/3"),
        ("TZ", "<+03>-3"),
        ("LANG", "de_DE.UTF-8@euro"),
        ("LANGUAGE", "de:en_GB"),
        ("TERM", "xterm-256color"),
        ("NB_USER", "jovyan"),
        ("NB_UMASK", "022"),
        ("JUPYTER_ENV_VARS_TO_UNSET", "A, B_2"),
        ("REPO_DIR", "/usr/share"),
    ] {
        assert!(ok(name, value), "{name}={value}");
    }
    for (name, value) in [
        ("TZ", "/home/jovyan/tz"),
        ("TZ", ":/etc/../home/x"),
        ("TZ", "../../home/x"),
        ("LANG", "/home/jovyan/loc"),
        ("LANGUAGE", "de:../x"),
        ("LC_CTYPE", ".."),
        ("TERM", "../../home/jovyan/t"),
        ("NB_UID", "10; id"),
        ("NB_USER", "$(id)"),
        ("JUPYTERHUB_USER", "../etc"),
        ("JUPYTERHUB_USER", "a\nb"),
        ("REPO_DIR", "/home/../etc"),
    ] {
        assert!(!ok(name, value), "{name}={value} passed");
    }
}

#[test]
fn a_value_that_names_a_path_passes_only_when_that_path_is_roots() {
    for value in [
        "123",
        "/usr/bin",
        "/usr/share/no/such/dir",
        "https://hub:8081/hub/api",
        "s3://bucket/key/part",
        // a secret with slashes names nothing that exists: judged from `/`, which is root's
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "--config=/etc/hostname",
        "-I/usr/include",
        "-L/usr/lib:-I/usr/include",
        // the hook's own HOME, root's; a tilde inside a word expands nowhere
        "~",
        "/usr/share/doc/a~b",
        "backup~",
        // a path inside another only where a character no path list splits at comes before a `/`
        "/srv/tmp/roothooks-gate-test-no-such",
        "/usr/share/a|b",
        "/usr/lib/x(y)/z",
        "/usr/bin|/usr/sbin",
    ] {
        assert_eq!(value_refusal(value.as_bytes()), None, "{value}");
    }
    for value in [
        "a/../b",
        "..",
        "/usr/share/..",
        // /tmp: anyone may make what is not there yet
        "/tmp/roothooks-gate-test-no-such",
        "--config=/tmp/roothooks-gate-test-no-such",
        "file:///tmp/roothooks-gate-test-no-such",
        "/usr/bin:/tmp/roothooks-gate-test-no-such",
        // a path behind a flag or a sigil in the same token
        "-I/tmp/roothooks-gate-test-no-such",
        "-I/usr/include -L/tmp/roothooks-gate-test-no-such",
        "@/tmp/roothooks-gate-test-no-such",
        "~/tmp/roothooks-gate-test-no-such",
        // another account's home once expanded (Python's expanduser, conda, a shell's assignment)
        "~jovyan/.ipython",
        "~jovyan",
        "/usr/bin:~jovyan/bin",
        "--dir=~jovyan/.conda",
        "\"~jovyan/x\"",
        // a path joined to another by a character no path list splits at
        "/usr/bin|/tmp/roothooks-gate-test-no-such",
        "$(/tmp/roothooks-gate-test-no-such)",
        "/usr/lib/x(/tmp/roothooks-gate-test-no-such)",
        "-I/usr/include&&/tmp/roothooks-gate-test-no-such",
        // a file that is not a directory cannot hold what does not exist yet
        "/etc/hostname/x",
    ] {
        assert!(value_refusal(value.as_bytes()).is_some(), "{value} passed");
    }
    let many = "/usr/bin:".repeat(MAX_PATHS + 1);
    assert_eq!(value_refusal(many.as_bytes()).as_deref(), Some("names more than 64 paths"));
    // paths inside one word count alike: each is a walk from `/`
    let joined = "/usr/bin|".repeat(MAX_PATHS + 1);
    assert_eq!(value_refusal(joined.as_bytes()).as_deref(), Some("names more than 64 paths"));
    // never the value itself in the reason: it may be a secret
    let why = value_refusal(b"/tmp/secret-part/more").unwrap();
    assert!(!why.contains("secret-part"), "{why}");
}

#[test]
fn names_that_steer_an_interpreter_never_pass_whoever_chose_them() {
    let gate = Gate { allowed: vec!["P*".into()], secrets: vec!["LD_*".into(), "MY_KEY".into()] };
    for name in [
        "PYTHONUSERBASE",
        "PYTHONPATH",
        "LD_PRELOAD",
        "PERL5OPT",
        "BASH_ENV",
        "NODE_OPTIONS",
        "ENV",
        "LESSOPEN",
        "NPM_CONFIG_REGISTRY",
        "npm_config_registry",
        "npm_config_script_shell",
    ] {
        let held = gate.admit(OsStr::new(name), OsStr::new("x"), Origin::Operator);
        assert!(matches!(held, Err(Held::Steers { .. })), "{name}: {held:?}");
        // from the start's environment, also when a pattern of the operator's covers it
        let held = gate.admit(OsStr::new(name), OsStr::new("x"), Origin::Start);
        assert!(matches!(held, Err(Held::Steers { .. } | Held::NotAllowed(_))), "{name}: {held:?}");
    }
    let held = gate.admit(OsStr::new("PYTHONPATH"), OsStr::new("x"), Origin::Start);
    assert_eq!(held, Err(Held::Steers { name: "PYTHONPATH".into(), rule: "PYTHON*" }));
    // the operator's other names pass, checked by value
    let admit = |name: &str, value: &str| gate.admit(OsStr::new(name), OsStr::new(value), Origin::Operator);
    assert_eq!(admit("MY_VAR", "123"), Ok(()));
    assert_eq!(admit("PATHS_OF_MINE", "x"), Ok(()));
    assert!(matches!(admit("XDG_CACHE_HOME", "/tmp/x/.cache"), Err(Held::BadValue { .. })));
    // a built-in name keeps its form whoever admitted it
    assert!(matches!(admit("LC_ALL", "../../home/jovyan/loc"), Err(Held::BadValue { .. })));
    assert!(matches!(admit("JUPYTERHUB_USER", "../../etc"), Err(Held::BadValue { .. })));
    // a secret of the hooks' is let through from the start's environment
    assert_eq!(gate.admit(OsStr::new("MY_KEY"), OsStr::new("s"), Origin::Start), Ok(()));
    assert!(gate.admit(OsStr::new("MY_KEY2"), OsStr::new("s"), Origin::Start).is_err());
    for bad in ["PYTHON*", "PYTHONPATH", "LD_*", "LD_PRE*", "GIT_*", "ENV", "BASH_ENV", "LESSOPEN", "SYSTEMD_PAGER"] {
        let why = parse_pattern(bad).unwrap_err();
        assert!(why.contains("never reach root's hooks"), "{bad}: {why}");
    }
    for fine in ["P*", "E*", "ENVIRONMENT", "GI*", "JUPYTERHUB_*", "LC_*"] {
        assert_eq!(parse_pattern(fine), Ok(fine.to_string()));
    }
}

#[test]
fn operator_patterns_are_names_or_prefixes() {
    assert_eq!(parse_pattern("AWS_*"), Ok("AWS_*".into()));
    assert_eq!(parse_pattern(" GCS_KEY "), Ok("GCS_KEY".into()));
    assert!(parse_pattern("*").unwrap_err().contains("would pass every variable"));
    assert!(parse_pattern("A-B").unwrap_err().contains("not a variable name"));
    let gate = Gate { allowed: vec!["AWS_*".into(), "TOKEN".into()], ..Gate::default() };
    let admit = |name: &str| gate.admit(OsStr::new(name), OsStr::new("x"), Origin::Start);
    assert!(admit("AWS_REGION").is_ok());
    assert!(admit("TOKEN").is_ok());
    assert_eq!(admit("TOKEN2"), Err(Held::NotAllowed("TOKEN2".into())));
    assert_eq!(admit("MY_AWS_X"), Err(Held::NotAllowed("MY_AWS_X".into())));
}

#[test]
fn exports_pass_the_same_gate_on_their_way_to_the_next_root_hook() {
    let exports = Exports::parse(b"PATH=/opt/conda/bin:/usr/bin\0LD_PRELOAD=/x.so\0BASH_ENV=/x\0HOME=/home/jovyan\0GCS_KEY=k\0NB_UID=1010\0TERM=../x\0LANG\0=roothooks-end\0").unwrap();
    let mut env = os_pairs(&[("PATH", "/usr/bin"), ("HOME", "/root"), ("LANG", "C"), ("TERM", "xterm")]);
    let gate = Gate::default();
    let (held, _) = gate.pass_exports(&exports, &mut env);
    assert_eq!(get(&env, "PATH"), Some("/usr/bin"));
    assert_eq!((get(&env, "HOME"), get(&env, "TERM")), (Some("/root"), Some("xterm")));
    assert_eq!((get(&env, "GCS_KEY"), get(&env, "NB_UID")), (Some("k"), Some("1010")));
    assert_eq!((get(&env, "LD_PRELOAD"), get(&env, "BASH_ENV"), get(&env, "LANG")), (None, None, None));
    let names: Vec<&str> = held.iter().map(Held::name).collect();
    assert_eq!(names, ["LD_PRELOAD", "BASH_ENV", "HOME", "TERM"]);
    assert_eq!(held[3].to_string(), "its value is not a terminal name");
    // a hook that unsets PATH leaves the next one the safe default, never none (the cwd)
    let (held, _) = gate.pass_exports(&Exports::parse(b"PATH\0=roothooks-end\0").unwrap(), &mut env);
    assert!(held.is_empty());
    assert_eq!(get(&env, "PATH"), Some(SAFE_PATH));
}

#[test]
fn of_a_name_two_sources_give_the_later_source_wins_and_root_identity_is_never_given() {
    let operator = [("ROOTHOOKS_UID".to_string(), "from-env-file".to_string()), ("HOME".into(), "/home/jovyan".into())];
    let own = [("ROOTHOOKS_UID".to_string(), "1000".to_string())];
    let env = Gate::default().hook_env(Vec::new(), &RootAccount::default(), &operator, &own);
    assert_eq!(env.vars.iter().filter(|(k, _)| k == "ROOTHOOKS_UID").count(), 1);
    assert_eq!((get(&env.vars, "ROOTHOOKS_UID"), get(&env.vars, "HOME")), (Some("1000"), Some("/root")));
    assert_eq!(get(&env.vars, "PATH"), Some(SAFE_PATH), "no PATH at all: the safe default");
}

#[test]
fn the_hook_interface_comes_only_from_roothooks_even_when_it_has_no_value_to_give() {
    // repo2docker builds the starting environment from the user's repository; an env file is written
    // for the server: neither may say where root's hooks write, nor whom they serve
    let base = os_pairs(&[("ROOTHOOKS_ENV", "/etc/ld.so.preload"), ("ROOTHOOKS_HOME", "/etc"), ("ROOTHOOKS_S3", "b")]);
    let operator = [("ROOTHOOKS_ENV".to_string(), "/etc/profile".to_string())];
    let own = [("ROOTHOOKS_HOME".to_string(), "/home/jovyan".to_string())];
    let env = Gate::default().hook_env(base.clone(), &RootAccount::default(), &operator, &own);
    assert_eq!(get(&env.vars, "ROOTHOOKS_ENV"), None, "the hand-off file could not be made: none at all");
    assert_eq!(get(&env.vars, "ROOTHOOKS_HOME"), Some("/home/jovyan"));
    assert_eq!(get(&env.vars, "ROOTHOOKS_S3"), Some("b"), "the operator's own settings for hooks still pass");
    assert_eq!(env.held, vec![Held::Interface("ROOTHOOKS_ENV".into())], "said once, though given twice");
    // with roothooks' own value, that is the only one, and nothing is said
    let own = [("ROOTHOOKS_ENV".to_string(), "/run/roothooks-env.1.x/env".to_string())];
    let env = Gate::default().hook_env(base, &RootAccount::default(), &operator, &own);
    assert_eq!(env.vars.iter().filter(|(k, _)| k == "ROOTHOOKS_ENV").count(), 1);
    assert_eq!(get(&env.vars, "ROOTHOOKS_ENV"), Some("/run/roothooks-env.1.x/env"));
    assert!(env.held.iter().all(|h| h.name() != "ROOTHOOKS_ENV"), "{:?}", env.held);
}

#[test]
fn a_name_given_twice_in_roothooks_environment_reaches_root_hooks_once_with_its_first_value() {
    // `env -i SECRET=one SECRET=two roothooks ...`: getenv (a C or Python hook, roothooks itself)
    // reads the first, a shell the last; the hooks must get one value, the one roothooks read
    let base = os_pairs(&[
        ("SECRET", "one"),
        ("NB_USER", "jovyan"),
        ("PATH", "/usr/bin"),
        ("SECRET", "two"),
        ("NB_USER", "root"),
        ("PATH", "/bin"),
        ("LANG", "../../home/jovyan/loc"),
        ("LANG", "C.UTF-8"),
    ]);
    let gate = Gate { secrets: vec!["SECRET".into()], ..Gate::default() };
    let env = gate.hook_env(base, &RootAccount::default(), &[], &[]);
    let mut names: Vec<&OsString> = env.vars.iter().map(|(k, _)| k).collect();
    let count = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), count, "a name given twice: {:?}", env.vars);
    assert_eq!((get(&env.vars, "SECRET"), get(&env.vars, "NB_USER")), (Some("one"), Some("jovyan")));
    assert_eq!(get(&env.vars, "PATH"), Some("/usr/bin"));
    // the first is judged, and a later good one does not stand in for it
    assert_eq!(get(&env.vars, "LANG"), None);
    assert_eq!(judged(&env.held).map(|h| h.name()).collect::<Vec<_>>(), ["LANG"]);
}
