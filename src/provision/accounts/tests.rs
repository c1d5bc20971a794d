use super::*;

fn alice() -> NewAccount {
    NewAccount {
        name: "alice".into(),
        uid: Uid::from_raw(4000),
        gid: Gid::from_raw(4000),
        home: "/home/alice".into(),
        shell: "/bin/sh".into(),
    }
}

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\nbob:x:1000:1000::/home/bob:/bin/sh\n";
const GROUP: &str = "root:x:0:\nbob:x:1000:\n";

#[test]
fn an_entry_added_in_place_moves_a_namesake_aside_and_writes_once() {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    // no namesake, and a last line without its newline: one is put in before the new entry
    std::fs::write(&passwd, PASSWD.trim_end()).unwrap();
    assert_eq!(add_in_place(&passwd, &alice()).unwrap(), None);
    let text = std::fs::read_to_string(&passwd).unwrap();
    assert_eq!(text, format!("{PASSWD}alice:x:4000:4000:,,,:/home/alice:/bin/sh\n"));
    // the uid has its entry now: nothing is written again
    assert_eq!(add_in_place(&passwd, &alice()).unwrap(), None);
    assert_eq!(std::fs::read_to_string(&passwd).unwrap(), text);
    // a namesake of another uid (the image's jovyan) is renamed out of the way, reversed
    std::fs::write(&passwd, format!("{text}carol:x:1000:100::/home/carol:/bin/sh\n")).unwrap();
    let carol = NewAccount { name: "carol".into(), uid: Uid::from_raw(1010), gid: Gid::from_raw(0), ..alice() };
    assert_eq!(add_in_place(&passwd, &carol).unwrap().as_deref(), Some("lorac"));
    let text = std::fs::read_to_string(&passwd).unwrap();
    assert!(text.contains("\nlorac:x:1000:100::/home/carol:/bin/sh\n"), "{text}");
    assert!(text.ends_with("\ncarol:x:1010:0:,,,:/home/alice:/bin/sh\n"), "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("carol:")).count(), 1, "{text}");
    // a bad field writes nothing
    let bad = NewAccount { name: "Bad:Name".into(), uid: Uid::from_raw(1011), ..alice() };
    assert!(add_in_place(&passwd, &bad).is_err());
    assert_eq!(std::fs::read_to_string(&passwd).unwrap(), text);
}

#[test]
fn adds_both_entries() {
    let edit = plan_files(&alice(), PASSWD, GROUP).unwrap();
    assert_eq!(edit.passwd.unwrap(), format!("{PASSWD}alice:x:4000:4000::/home/alice:/bin/sh\n"));
    assert_eq!(edit.group.unwrap(), format!("{GROUP}alice:x:4000:\n"));
}

#[test]
fn existing_gid_keeps_its_group_and_a_missing_newline_is_mended() {
    let a = NewAccount { gid: Gid::from_raw(1000), ..alice() };
    let edit = plan_files(&a, PASSWD.trim_end(), GROUP).unwrap();
    assert_eq!(edit.group, None);
    assert!(edit.passwd.unwrap().ends_with("/bin/sh\nalice:x:4000:1000::/home/alice:/bin/sh\n"));
}

#[test]
fn the_same_account_is_already_there() {
    let passwd = format!("{PASSWD}alice:x:4000:4000::/home/alice:/bin/sh\n");
    let group = format!("{GROUP}alice:x:4000:\n");
    assert_eq!(plan_files(&alice(), &passwd, &group).unwrap(), Edit { passwd: None, group: None });
}

#[test]
fn entries_are_read_as_the_lookups_read_them() {
    // A leading blank and a zero-padded id are the same entry for glibc's files module, so the
    // account the lookup found is not added twice, and a line it skips is no clash.
    let passwd = format!("{PASSWD}  alice:x:04000:4000::/home/alice:/bin/sh\nbroken:x:4000\n");
    let group = format!("{GROUP} alice:x:04000:\n");
    assert_eq!(plan_files(&alice(), &passwd, &group).unwrap(), Edit { passwd: None, group: None });
}

#[test]
fn names_and_fields_that_could_inject_a_line_are_refused() {
    for bad in
        ["evil:x:0:0::/root:/bin/sh", "a\nroot2::0:0::/:/bin/sh", "Alice", "1abc", "a/b", "../x", "", &"a".repeat(33)]
    {
        let a = NewAccount { name: bad.to_string(), ..alice() };
        assert!(plan_files(&a, PASSWD, GROUP).unwrap_err().contains("not a valid account name"), "{bad:?}");
    }
    for good in ["alice", "_svc", "jo.doe-2", "machine$"] {
        assert!(valid_name(good), "{good}");
    }
    let a = NewAccount { home: "/home/x:0:0".into(), ..alice() };
    assert!(plan_files(&a, PASSWD, GROUP).unwrap_err().contains("home '/home/x:0:0' cannot go into /etc/passwd"));
    let a = NewAccount { shell: "/bin/sh\nroot2::0:0::/:/bin/sh".into(), ..alice() };
    assert!(plan_files(&a, PASSWD, GROUP).is_err());
}

fn renumber(uid: u32, gid: u32) -> Renumber {
    Renumber {
        name: "jovyan".into(),
        from_uid: Uid::from_raw(1000),
        from_gid: Gid::from_raw(100),
        uid: Uid::from_raw(uid),
        gid: Gid::from_raw(gid),
        rename: None,
        group_name: None,
    }
}

const STACKS_PASSWD: &str =
    "root:x:0:0:root:/root:/bin/bash\njovyan:x:1000:100:Jo Vyan:/home/jovyan:/bin/bash\nbob:x:1020:1020::/b:/bin/sh\n";
const STACKS_GROUP: &str = "root:x:0:\nusers:x:100:\nbob:x:1020:\n";

#[test]
fn renumbering_changes_only_the_numbers_of_the_first_entry_and_adds_a_group_for_a_new_gid() {
    let passwd = format!("{STACKS_PASSWD}jovyan:x:1001:100::/elsewhere:/bin/sh\n");
    let edit = plan_renumber(&renumber(1010, 1010), &passwd, STACKS_GROUP).unwrap();
    assert_eq!(
        edit.passwd.unwrap(),
        "root:x:0:0:root:/root:/bin/bash\njovyan:x:1010:1010:Jo Vyan:/home/jovyan:/bin/bash\n\
         bob:x:1020:1020::/b:/bin/sh\njovyan:x:1001:100::/elsewhere:/bin/sh\n"
    );
    assert_eq!(edit.group.unwrap(), format!("{STACKS_GROUP}jovyan:x:1010:\n"));
    // a gid that has a group keeps it; the uid alone changes
    let edit = plan_renumber(&renumber(1010, 100), STACKS_PASSWD, STACKS_GROUP).unwrap();
    assert!(edit.passwd.unwrap().contains("\njovyan:x:1010:100:Jo Vyan:"));
    assert_eq!(edit.group, None);
    // already renumbered (a restarted container): nothing to write
    let done = STACKS_PASSWD.replace("jovyan:x:1000:100", "jovyan:x:1010:100");
    assert_eq!(plan_renumber(&renumber(1010, 100), &done, STACKS_GROUP).unwrap(), Edit { passwd: None, group: None });
    // a line written with \r\n keeps its \r: for glibc it is the last byte of the shell
    let crlf = STACKS_PASSWD.replace("/bin/bash\n", "/bin/bash\r\n");
    let edit = plan_renumber(&renumber(1010, 100), &crlf, STACKS_GROUP).unwrap();
    assert!(edit.passwd.unwrap().contains("\njovyan:x:1010:100:Jo Vyan:/home/jovyan:/bin/bash\r\nbob:"));
}

#[test]
fn renaming_changes_the_login_and_home_and_nb_group_names_the_new_group() {
    let rename =
        crate::identity::Rename { to: "kitten".into(), home: "/home/kitten".into(), from_home: "/home/jovyan".into() };
    let change = Renumber { rename: Some(rename), group_name: Some("custom".into()), ..renumber(1000, 2000) };
    let edit = plan_renumber(&change, STACKS_PASSWD, STACKS_GROUP).unwrap();
    assert!(edit.passwd.unwrap().contains("\nkitten:x:1000:2000:Jo Vyan:/home/kitten:/bin/bash\n"));
    assert_eq!(edit.group.unwrap(), format!("{STACKS_GROUP}custom:x:2000:\n"));
    // the new name taken by another account, or NB_GROUP naming a group of another gid: nothing
    let taken = Renumber {
        rename: Some(crate::identity::Rename { to: "bob".into(), ..change.rename.clone().unwrap() }),
        ..change.clone()
    };
    assert!(plan_renumber(&taken, STACKS_PASSWD, STACKS_GROUP).unwrap_err().contains("account 'bob' already exists"));
    let users = Renumber { group_name: Some("users".into()), ..change };
    let err = plan_renumber(&users, STACKS_PASSWD, STACKS_GROUP).unwrap_err();
    assert!(err.contains("NB_GROUP 'users' is a group already, with gid 100, not 2000"), "{err}");
}

#[test]
fn renumbering_onto_another_accounts_uid_writes_nothing() {
    let err = plan_renumber(&renumber(1020, 100), STACKS_PASSWD, STACKS_GROUP).unwrap_err();
    assert!(err.contains("uid 1020 already belongs to account 'bob'"), "{err}");
    let err = plan_renumber(&renumber(1010, 100), "root:x:0:0::/:/bin/sh\n", STACKS_GROUP).unwrap_err();
    assert!(err.contains("'jovyan' is not in the passwd file"), "{err}");
}

#[test]
fn clashes_write_nothing() {
    let a = NewAccount { name: "bob".into(), ..alice() };
    assert!(plan_files(&a, PASSWD, GROUP).unwrap_err().contains("account 'bob' already exists with uid 1000"));
    let a = NewAccount { uid: Uid::from_raw(1000), ..alice() };
    assert!(plan_files(&a, PASSWD, GROUP).unwrap_err().contains("uid 1000 already belongs to account 'bob'"));
    let a = NewAccount { name: "carol".into(), uid: Uid::from_raw(4001), gid: Gid::from_raw(4001), ..alice() };
    let group = format!("{GROUP}carol:x:5000:\n");
    assert!(plan_files(&a, PASSWD, &group).unwrap_err().contains("group 'carol' already exists with gid 5000"));
}
