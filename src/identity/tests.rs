use super::*;

/// A user database of its own, so the tests do not depend on the host's accounts.
fn fixture() -> (tempfile::TempDir, UserDb) {
    let dir = tempfile::tempdir().unwrap();
    let passwd = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
                  alice:x:4100:4100::/home/alice:/bin/zsh\nop:x:4250:0::/home/op:/bin/sh\n";
    let group = "root:x:0:\nadm:x:4:root\nusers:x:100:alice\nalice:x:4100:\nnogroup:x:65534:\n";
    std::fs::write(dir.path().join("passwd"), passwd).unwrap();
    std::fs::write(dir.path().join("group"), group).unwrap();
    let db = UserDb::files(&dir.path().join("passwd"), &dir.path().join("group"));
    (dir, db)
}

fn flag(origin: &str, value: &str) -> Option<Sourced> {
    Some(Sourced { value: value.into(), origin: origin.into(), from_env: false })
}

fn by_uid(uid: &str) -> Request {
    Request { uid: flag("--uid", uid), ..Request::default() }
}

fn by_user(user: &str) -> Request {
    Request { user: flag("--user", user), ..Request::default() }
}

fn resolved(req: &Request) -> Result<Target> {
    let (_dir, db) = fixture();
    resolve(&db, req, &StartedGroups::default())
}

fn usage_message(result: Result<Target>) -> String {
    match result {
        Err(Error::Usage(m)) => m,
        other => panic!("expected a usage error, got {other:?}"),
    }
}

#[test]
fn bad_uids_name_the_value_and_the_fix() {
    for bad in ["abc", "-5", "4294967295", "1.5", ""] {
        let msg = usage_message(resolved(&by_uid(bad)));
        assert!(msg.contains(&format!("--uid '{bad}'")), "{msg}");
        assert!(msg.contains("e.g. --uid 1000"), "{msg}");
    }
}

#[test]
fn default_is_uid_1000() {
    assert_eq!(resolved(&Request::default()).unwrap().uid.as_raw(), DEFAULT_UID);
}

#[test]
fn uid_without_account_gets_gid_from_uid_and_home_slash() {
    let t = resolved(&by_uid("3999999")).unwrap();
    assert_eq!((t.uid.as_raw(), t.gid.as_raw()), (3_999_999, 3_999_999));
    assert_eq!(t.name(), None);
    assert_eq!(t.user_name(), "3999999");
    assert_eq!(t.home, PathBuf::from("/"));
    assert_eq!(t.groups, vec![Gid::from_raw(3_999_999)]);
}

#[test]
fn account_supplies_gid_groups_home_and_shell() {
    let t = resolved(&by_user("alice")).unwrap();
    assert_eq!((t.uid.as_raw(), t.gid.as_raw()), (4100, 4100));
    assert_eq!(t.groups, vec![Gid::from_raw(4100), Gid::from_raw(100)]);
    assert_eq!((t.home.as_path(), t.shell.as_deref()), (Path::new("/home/alice"), Some(Path::new("/bin/zsh"))));
    assert_eq!(t.name(), Some("alice"));
    // by uid, the same account
    assert_eq!(resolved(&by_uid("4100")).unwrap().name(), Some("alice"));
}

#[test]
fn unknown_user_and_conflicts_are_usage_errors() {
    assert!(usage_message(resolved(&by_user("no-such-user-xyz"))).contains("no such account"));
    let msg = usage_message(resolved(&Request { uid: flag("--uid", "4000"), ..by_user("alice") }));
    assert!(msg.contains("--user 'alice' is uid 4100 but --uid '4000'"), "{msg}");
}

#[test]
fn ensure_account_plans_a_new_account_or_names_the_clash() {
    let new = |user: &str, uid: &str| Request { ensure_account: true, uid: flag("--uid", uid), ..by_user(user) };
    let t = resolved(&new("rh-new-user", "3999998")).unwrap();
    let Some(AccountEdit::Add(added)) = t.account_edit() else { panic!("an account to add: {t:?}") };
    assert_eq!((added.name.as_str(), added.uid.as_raw(), added.gid.as_raw()), ("rh-new-user", 3_999_998, 3_999_998));
    assert_eq!(added.home, PathBuf::from("/home/rh-new-user"));
    assert_eq!(t.home, PathBuf::from("/home/rh-new-user"));
    assert!(
        usage_message(resolved(&new("rh-new-user", "65534"))).contains("uid 65534 already belongs to account 'nobody'")
    );
    assert!(usage_message(resolved(&new("x:0:0::/:/bin/sh", "3999998"))).contains("is not a valid account name"));
    let nameless = Request { ensure_account: true, ..by_uid("3999998") };
    assert!(usage_message(resolved(&nameless)).contains("give --user NAME"));
    // an existing account is simply used
    let existing = resolved(&Request { ensure_account: true, ..by_user("alice") }).unwrap();
    assert_eq!(existing.account, Account::Existing { name: "alice".into() });
}

fn notebook_env(user: &str, uid: Option<&str>, gid: Option<&str>) -> Request {
    let var = |origin: &str, value: &str| Some(Sourced { value: value.into(), origin: origin.into(), from_env: true });
    Request {
        user: var("NB_USER", user),
        uid: uid.and_then(|u| var("NB_UID", u)),
        gid: gid.and_then(|g| var("NB_GID", g)),
        from_notebook_env: true,
        ..Request::default()
    }
}

#[test]
fn nb_uid_and_nb_gid_renumber_nb_users_account_like_docker_stacks() {
    let t = resolved(&notebook_env("alice", Some("4200"), Some("4300"))).unwrap();
    assert_eq!((t.uid.as_raw(), t.gid.as_raw()), (4200, 4300));
    let Account::Renumbered(r) = &t.account else { panic!("{t:?}") };
    assert_eq!((r.from_uid.as_raw(), r.from_gid.as_raw()), (4100, 4100));
    // HOME and shell stay the account's; the former primary group is kept beside the new one
    assert_eq!(t.home, PathBuf::from("/home/alice"));
    assert_eq!(t.former_primary, Some(Gid::from_raw(4100)));
    assert_eq!(t.groups, [4300, 4100, 100].map(Gid::from_raw));
    // NB_UID alone keeps the account's gid
    let t = resolved(&notebook_env("alice", Some("4200"), None)).unwrap();
    assert_eq!((t.uid.as_raw(), t.gid.as_raw(), t.former_primary), (4200, 4100, None));
    // the same numbers: nothing to change
    let t = resolved(&notebook_env("alice", Some("4100"), None)).unwrap();
    assert_eq!(t.account, Account::Existing { name: "alice".into() });
    // another account's uid is refused, naming both
    let msg = usage_message(resolved(&notebook_env("alice", Some("65534"), None)));
    assert!(msg.contains("uid 65534 already belongs to account 'nobody'"), "{msg}");
    assert!(msg.contains("NB_UID='65534' (from the environment)"), "{msg}");
    // NB_UID=0 is still root
    assert!(usage_message(resolved(&notebook_env("alice", Some("0"), None))).contains("--allow-root"));
}

#[test]
fn nb_variables_never_change_roots_or_a_system_account() {
    for (user, uid, gid, kind) in [
        ("root", Some("4200"), Some("4200"), "root's own account"),
        ("nobody", Some("4200"), None, "a system account (outside UID_MIN..UID_MAX"),
        ("alice", Some("4201"), None, ""),
    ] {
        let result = resolved(&notebook_env(user, uid, gid));
        if kind.is_empty() {
            assert!(result.is_ok(), "{result:?}");
            continue;
        }
        let msg = usage_message(result);
        assert!(msg.contains(&format!("NB_USER='{user}' (from the environment) names '{user}'")), "{msg}");
        assert!(msg.contains(kind), "{msg}");
    }
}

#[test]
fn flags_that_disagree_with_the_account_stay_an_error() {
    let msg = usage_message(resolved(&Request { uid: flag("--uid", "4200"), ..by_user("alice") }));
    assert!(msg.contains("give only one of them"), "{msg}");
}

#[test]
fn another_gid_keeps_the_former_primary_group_unless_groups_are_cleared() {
    let t = resolved(&Request { gid: flag("--gid", "100"), ..by_user("alice") }).unwrap();
    assert_eq!(t.groups, [100, 4100].map(Gid::from_raw));
    assert_eq!(t.account, Account::Existing { name: "alice".into() }, "a flag never edits the account");
    let t = resolved(&Request { gid: flag("--gid", "100"), clear_groups: true, ..by_user("alice") }).unwrap();
    assert_eq!((t.groups.as_slice(), t.former_primary), ([Gid::from_raw(100)].as_slice(), None));
}

#[test]
fn a_former_primary_group_0_is_never_kept() {
    // an account whose own primary group is root's: another gid must not bring group 0 back
    let t = resolved(&Request { gid: flag("--gid", "100"), ..by_user("op") }).unwrap();
    assert_eq!((t.former_primary, t.groups.as_slice()), (None, [Gid::from_raw(100)].as_slice()));
    let allowed = Request { gid: flag("--gid", "100"), allow_root: true, ..by_user("op") };
    assert_eq!(resolved(&allowed).unwrap().former_primary, Some(Gid::from_raw(0)));
}

#[test]
fn root_is_refused_unless_allowed() {
    assert!(usage_message(resolved(&by_uid("0"))).contains("--allow-root"));
    let msg = usage_message(resolved(&Request { gid: flag("--gid", "0"), ..by_uid("5000") }));
    assert!(msg.contains("gid 0"), "{msg}");
    let msg = usage_message(resolved(&Request { extra_groups: vec!["root".into()], ..by_uid("5000") }));
    assert!(msg.contains("group 0"), "{msg}");
    assert!(resolved(&Request { allow_root: true, ..by_uid("0") }).unwrap().uid.is_root());
}

#[test]
fn inherited_groups_are_kept_but_never_group_0_or_roots_own() {
    let g = Gid::from_raw;
    let (_dir, db) = fixture();
    let started = StartedGroups { all: vec![g(0), g(4), g(5000)], own: vec![g(0), g(4)], stuck_in_gid_0: None };
    let t = resolve(&db, &by_uid("4000"), &started).unwrap();
    assert_eq!(t.groups, vec![g(4000), g(5000)]);
    assert_eq!(t.inherited, vec![g(5000)]);
    assert_eq!(t.not_inherited.iter().map(|(g, _)| g.as_raw()).collect::<Vec<_>>(), [0, 4]);
}

#[test]
fn extra_groups_by_name_and_number_and_clear_groups() {
    let g = Gid::from_raw;
    let (_dir, db) = fixture();
    let started = StartedGroups { all: vec![g(5000)], own: vec![], stuck_in_gid_0: None };
    let extra = |list: &[&str]| list.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    let r = Request { extra_groups: extra(&["nogroup", "6000", "6000"]), ..by_uid("4000") };
    assert_eq!(resolve(&db, &r, &started).unwrap().groups, vec![g(4000), g(5000), g(65534), g(6000)]);
    let r = Request { extra_groups: extra(&["6000"]), clear_groups: true, ..by_uid("4000") };
    assert_eq!(resolve(&db, &r, &started).unwrap().groups, vec![g(4000), g(6000)]);
    let r = Request { extra_groups: extra(&["no-such-group-xyz"]), ..by_uid("4000") };
    assert!(usage_message(resolve(&db, &r, &started)).contains("no such group"));
}
