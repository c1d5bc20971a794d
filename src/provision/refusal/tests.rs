use std::path::{Path, PathBuf};

use super::*;

fn guarded() -> Guarded {
    Guarded::new([
        (PathBuf::from("/opt/tools/bin/"), "a directory on root's hooks' PATH".to_string()),
        (PathBuf::from("/srv/hooks.d"), "root's hooks directory".to_string()),
    ])
}

/// Whether `path` is refused, and if so how it stands to which guarded directory.
fn verdict(path: &str) -> Option<(Relation, PathBuf)> {
    match guarded().refusal(Path::new(path)) {
        None => None,
        Some(Refusal::Guarded { relation, guard, .. }) => Some((relation, guard.dir)),
        Some(Refusal::RootDir(_)) => Some((Relation::Contains, PathBuf::from("/"))),
        Some(other) => panic!("{path}: {other}"),
    }
}

#[test]
fn paths_are_normalised_without_looking_at_the_filesystem() {
    for (given, normal) in [
        ("/", "/"),
        ("//", "/"),
        ("/etc/", "/etc"),
        ("//etc//ssl/.", "/etc/ssl"),
        ("/home/jovyan/../../etc", "/etc"),
        ("/../../etc", "/etc"),
        ("/srv/./data/x/..", "/srv/data"),
        ("/srv/data/...", "/srv/data/..."),
    ] {
        assert_eq!(normalise(Path::new(given)), Path::new(normal), "{given}");
    }
}

#[test]
fn a_system_tree_is_guarded_with_everything_in_it_and_everything_above_it() {
    let is = |dir: &str| Some((Relation::Is, PathBuf::from(dir)));
    let inside = |dir: &str| Some((Relation::Inside, PathBuf::from(dir)));
    let contains = |dir: &str| Some((Relation::Contains, PathBuf::from(dir)));
    assert_eq!(verdict("/etc"), is("/etc"));
    assert_eq!(verdict("/etc/"), is("/etc"), "a trailing slash is the same directory");
    assert_eq!(verdict("/srv/../etc"), is("/etc"), "'..' is taken away before the comparison");
    assert_eq!(verdict("/etc/ssl/private"), inside("/etc"));
    assert_eq!(verdict("/usr/local"), inside("/usr"));
    assert_eq!(verdict("/var"), contains("/var/lib"));
    assert_eq!(verdict("/var/lib/docker"), inside("/var/lib"));
    for dir in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot", "/root", "/proc", "/sys", "/dev"] {
        assert_eq!(verdict(dir), is(dir), "{dir}");
    }
    assert_eq!(verdict("/"), Some((Relation::Contains, PathBuf::from("/"))), "/ is the root directory");
    assert_eq!(verdict("/home/../"), Some((Relation::Contains, PathBuf::from("/"))));
    // a name that only begins like a guarded one is not inside it
    for free in ["/etc2", "/usr-local", "/var/log", "/var/library", "/home/jovyan", "/srv/data", "/opt/conda"] {
        assert_eq!(verdict(free), None, "{free}");
    }
}

#[test]
fn tmp_and_run_are_guarded_themselves_but_not_what_is_in_them() {
    let is = |dir: &str| Some((Relation::Is, PathBuf::from(dir)));
    assert_eq!(verdict("/tmp"), is("/tmp"));
    assert_eq!(verdict("/tmp/"), is("/tmp"));
    assert_eq!(verdict("/run"), is("/run"));
    assert_eq!(verdict("/tmp/x"), None);
    assert_eq!(verdict("/run/user/1000"), None);
    assert_eq!(verdict("/tmp/x/../.."), Some((Relation::Contains, PathBuf::from("/"))));
}

#[test]
fn the_hooks_path_and_hooks_directories_are_guarded_with_their_trees_and_ancestors() {
    assert_eq!(verdict("/opt/tools/bin"), Some((Relation::Is, PathBuf::from("/opt/tools/bin"))));
    assert_eq!(verdict("/opt/tools/bin/sub"), Some((Relation::Inside, PathBuf::from("/opt/tools/bin"))));
    assert_eq!(verdict("/opt/tools"), Some((Relation::Contains, PathBuf::from("/opt/tools/bin"))));
    assert_eq!(verdict("/opt"), Some((Relation::Contains, PathBuf::from("/opt/tools/bin"))));
    assert_eq!(verdict("/opt/tools/lib"), None);
    assert_eq!(verdict("/srv"), Some((Relation::Contains, PathBuf::from("/srv/hooks.d"))));
    assert_eq!(verdict("/srv/hooks.d/10-x"), Some((Relation::Inside, PathBuf::from("/srv/hooks.d"))));
    assert_eq!(verdict("/srv/hooks.d.old"), None);
}

#[test]
fn a_refusal_names_the_path_the_directory_and_the_fix() {
    let why = guarded().refusal(Path::new("/var/")).unwrap().to_string();
    assert!(why.starts_with("/var contains /var/lib, the system's state"), "{why}");
    assert!(why.contains("hand over a directory of the user's own outside it instead"), "{why}");
    let why = guarded().refusal(Path::new("/usr/local/bin/x")).unwrap().to_string();
    assert!(why.starts_with("/usr/local/bin/x lies inside /usr, the system's programs and libraries"), "{why}");
    let why = guarded().refusal(Path::new("/opt/tools/bin")).unwrap().to_string();
    assert!(why.starts_with("/opt/tools/bin is a directory on root's hooks' PATH"), "{why}");
}

#[test]
fn a_hand_over_of_slash_or_a_system_accounts_home_is_refused_by_path() {
    let accounts =
        Protected::from_passwd("root:x:0:0::/root/:/bin/sh\nwww:x:33:33::/srv/www:/bin/sh\n", &(1000..=60000));
    let refused = |path: &str| match judge(&normalise(Path::new(path)), &guarded(), &accounts) {
        Verdict::Ok => None,
        Verdict::Refused(why) => Some(why),
    };
    assert_eq!(refused("//"), Some(Refusal::RootDir(PathBuf::from("/"))));
    let home_of = |path: &str, account: &str| Some(Refusal::SystemHome { path: path.into(), account: account.into() });
    assert_eq!(refused("//root/"), home_of("/root", "root"), "root's home, however it is spelled");
    assert_eq!(refused("/srv/www/"), home_of("/srv/www", "www"));
    assert_eq!(refused("/srv/www/html"), None, "below a system account's home is not its home");
}

#[test]
fn chown_home_is_refused_for_a_uid_without_an_account_and_a_home_that_is_not_its_own() {
    use crate::identity::{Account, Target};
    use crate::system::{Gid, Uid};
    let target = |account: Account, home: &str| Target {
        uid: Uid::from_raw(1234),
        gid: Gid::from_raw(100),
        account,
        home: home.into(),
        shell: None,
        groups: Vec::new(),
        inherited: Vec::new(),
        not_inherited: Vec::new(),
        former_primary: None,
    };
    let web = || Account::Existing { name: "web".into() };
    let why = home_refusal(&target(Account::Uid, "/")).unwrap().to_string();
    assert_eq!(why, "uid 1234 has no account, so / is not a home of its own");
    assert!(home_refusal(&target(Account::Uid, "/home/x")).is_some(), "--home gives no account a home");
    for home in ["/", "//", "/home/..", ""] {
        let why = home_refusal(&target(web(), home)).unwrap().to_string();
        assert_eq!(why, format!("account web's home is '{home}', not a home of its own"));
    }
    assert!(home_refusal(&target(web(), "srv/web")).unwrap().to_string().contains("is not an absolute path"));
    assert_eq!(home_refusal(&target(web(), "/home/web")), None);
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 300, failure_persistence: None, ..Default::default() })]

    /// The lexical model against the kernel: on a tree without symlinks (all the walk ever opens),
    /// `normalise` names the directory the kernel resolves the path to.
    #[test]
    fn normalising_agrees_with_the_kernel_where_no_symlink_is_on_the_way(
        parts in proptest::collection::vec(proptest::sample::select(&["a", "b", "etc", ".", "..", ""][..]), 0..10)
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap().join("x1/x2/x3/x4");
        std::fs::create_dir_all(&base).unwrap();
        // every directory the path names on its way, made as it goes, never above the tempdir
        let mut at = base.clone();
        let mut depth = 4;
        let mut kept = Vec::new();
        for part in &parts {
            match *part {
                ".." if depth == 0 => continue,
                ".." => { depth -= 1; at.pop(); }
                "." | "" => {}
                name => { depth += 1; at.push(name); std::fs::create_dir_all(&at).unwrap(); }
            }
            kept.push(*part);
        }
        let given = format!("{}/{}", base.display(), kept.join("/"));
        let kernel = std::fs::canonicalize(&given).unwrap();
        proptest::prop_assert_eq!(normalise(Path::new(&given)), kernel, "{}", given);
    }
}
