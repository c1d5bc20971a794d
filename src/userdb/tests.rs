use super::*;

/// The first account glibc's getpwnam or getpwuid would answer with, by walking every entry.
fn walk(text: &str, wanted: impl Fn(&Account) -> bool) -> Option<Account> {
    passwd_entries(text).find(|a| !nis(&a.name) && wanted(a))
}

#[test]
fn an_account_is_found_as_the_full_walk_finds_it() {
    let text = "# c\n\nbad:x:1:oops:::\n:x:2:2:::\nroot:x:0:0:root:/root:/bin/sh\n  two:x:2:2::/h:/s\nbad:x:3:3:::\n\
                again:x:2:9:::\n#six:x:6:6:::\nzeros:x:0010:1:::\r\nplus:x:+11:1::/p:/s\r\nlast:x:12:12:::";
    for uid in 0..14 {
        let uid = Uid::from_raw(uid);
        let walk = walk(text, |a| a.uid == uid);
        assert_eq!(find_account(text, &uid.to_string(), |_, u| u == uid), walk, "uid {uid}");
    }
    for name in ["root", "two", "bad", "again", "", "none", "six", "zeros", "plus", "last", "x"] {
        let walk = walk(text, |a| a.name == name);
        assert_eq!(find_account(text, name, |n, _| n == name), walk, "{name}");
    }
    assert_eq!(find_account(text, "1", |_, u| u.as_raw() == 1), None, "a line whose gid is not a number is no entry");
    // glibc's getpwuid(2) answers with the line whose name is empty, the first with uid 2
    assert_eq!(find_account(text, "2", |_, u| u.as_raw() == 2).unwrap().name, "");
    assert_eq!(find_account(text, "10", |_, u| u.as_raw() == 10).unwrap().name, "zeros");
    // glibc cuts a line at its \n alone: the \r before it ends the shell, as in its pw_shell
    assert_eq!(find_account(text, "11", |_, u| u.as_raw() == 11).unwrap().shell, Path::new("/s\r"));
}

#[test]
fn lines_containing_gives_each_matching_line_once_as_glibc_cuts_them() {
    let text = "aa:aa\nb\r\n\nxaax\r\nlast aa";
    let want: Vec<&str> = text.split_terminator('\n').filter(|l| l.contains("aa")).collect();
    assert_eq!(want, ["aa:aa", "xaax\r", "last aa"]);
    assert_eq!(lines_containing(text, "aa").collect::<Vec<_>>(), want);
    assert_eq!(lines_containing(text, "").collect::<Vec<_>>(), text.split_terminator('\n').collect::<Vec<_>>());
    assert_eq!(lines_containing(text, "zz").count(), 0);
}

use proptest::prelude::*;

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 2000, failure_persistence: None, ..Default::default() })]

    /// The one-search lookup finds what the full walk finds, for any text and any name or uid
    /// (the lookups root makes on every start), and login.defs never panics.
    #[test]
    fn the_one_search_lookup_agrees_with_the_walk_on_any_text(
        pieces in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::sample::select(&["ab", "1", "10", "0", ":", "\n", "\r\n", "#", " ", "x", "+1", "UID_MIN"][..])
                    .prop_map(str::to_string),
                proptest::prelude::any::<String>(),
            ],
            0..50,
        ),
        name in proptest::sample::select(&["ab", "x", "", "1", "b"][..]),
        uid in 0u32..12,
    ) {
        let text = pieces.concat();
        prop_assert_eq!(find_account(&text, name, |n, _| n == name), walk(&text, |a| a.name == name));
        let uid = Uid::from_raw(uid);
        prop_assert_eq!(find_account(&text, &uid.to_string(), |_, u| u == uid), walk(&text, |a| a.uid == uid));
        let _ = login_defs_number(&text, "UID_MIN");
        let want: Vec<&str> = text.split_terminator('\n').filter(|l| l.contains(name)).collect();
        prop_assert_eq!(lines_containing(&text, name).collect::<Vec<_>>(), want);
    }
}

#[test]
fn uid_min_is_read_as_useradd_reads_it() {
    let defs = "# UID_MIN 5\nUID_MIN\t\t 500\nUID_MAX 60000\n";
    assert_eq!((login_defs_number(defs, "UID_MIN"), login_defs_number(defs, "UID_MAX")), (Some(500), Some(60000)));
    assert_eq!(login_defs_number("UID_MINX 7\n", "UID_MIN"), None);
    assert_eq!(login_defs_number("UID_MIN oops\n", "UID_MIN"), None);
}

#[test]
fn only_a_plain_files_configuration_is_read_directly() {
    assert!(files_only("passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"));
    assert!(files_only("# Debian\npasswd:   files  # local\ngroup:\tfiles\ninitgroups: files\n"));
    for conf in [
        "passwd: files systemd\ngroup: files systemd\n",
        "passwd: files\ngroup: files sss\n",
        "passwd: files\ngroup: files\ninitgroups: files ldap\n",
        "passwd: compat\ngroup: compat\n",
        "passwd: files\ngroup: files [SUCCESS=merge] ldap\n",
        "passwd: files\n",
        "passwd: files\ngroup: files\ngroup: ldap\n",
        "",
    ] {
        assert!(!files_only(conf), "{conf:?}");
    }
}

fn db(passwd: &str, group: &str) -> (tempfile::TempDir, UserDb) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("passwd"), passwd).unwrap();
    std::fs::write(dir.path().join("group"), group).unwrap();
    let db = UserDb::files(&dir.path().join("passwd"), &dir.path().join("group"));
    (dir, db)
}

#[test]
fn files_answer_as_glibc_does() {
    let (_dir, db) = db(
        "root:x:0:0:root:/root:/bin/bash\n# a comment\n\nbroken:x:abc:1::/:\n  jovyan:x:1000:100:J:/home/jovyan:/bin/bash\ndup:x:1000:1::/dup:\n",
        "root:x:0:\nusers:x:100:\nsudo:x:27:alice, jovyan\ndocker:x:999:jovyanx\nfuse:x:998:jovyan\nshort:x:997\n",
    );
    let j = db.user_by_uid(Uid::from_raw(1000)).unwrap().unwrap();
    assert_eq!(
        j,
        Account {
            name: "jovyan".into(),
            uid: Uid::from_raw(1000),
            gid: Gid::from_raw(100),
            dir: "/home/jovyan".into(),
            shell: "/bin/bash".into()
        }
    );
    assert_eq!(db.user_by_name("jovyan").unwrap(), Some(j));
    assert_eq!(db.user_by_name("broken").unwrap(), None);
    assert_eq!(db.user_by_uid(Uid::from_raw(4242)).unwrap(), None);
    assert_eq!(db.group_by_name("fuse").unwrap(), Some(Gid::from_raw(998)));
    assert_eq!(db.group_name(Gid::from_raw(100)).unwrap().as_deref(), Some("users"));
    assert_eq!(db.group_name(Gid::from_raw(997)).unwrap().as_deref(), Some("short"));
    assert_eq!(db.group_name(Gid::from_raw(4242)).unwrap(), None);
    let groups: Vec<u32> = db.groups_of("jovyan", Gid::from_raw(100)).unwrap().iter().map(|g| g.as_raw()).collect();
    assert_eq!(groups, [100, 27, 998]);
}

#[test]
fn lines_numbers_and_blanks_are_read_as_glibc_reads_them() {
    // each as glibc 2.36 answered it (getpwnam, getgrgid, getgrouplist in a mount namespace)
    let (_dir, db) = db(
        "+:x:1:1:::\nnis:x:+7:-0:g:/h:/bin/sh:x\n sp\x0b:x: 8:8::/d:/s\r\nbig:x:4294967296:1:::\nneg:x:-1:1:::\n",
        "cr:x:20:atk\r\n+nis:x::atk\n#off:x:21:atk\n-m:x:22:atk\nnbsp:x:23:\u{a0}atk\nok:x:24: \ratk,\n\
         gt:x:25 :atk\nnul:x:26:a\0tk,atk\nmax:x:4294967295:atk\n+short:x:\n",
    );
    let nis = db.user_by_name("nis").unwrap().unwrap();
    assert_eq!((nis.uid.as_raw(), nis.gid.as_raw(), nis.shell), (7, 0, "/bin/sh:x".into()), "the shell is the rest");
    let sp = db.user_by_uid(Uid::from_raw(8)).unwrap().unwrap();
    assert_eq!((sp.name.as_str(), sp.shell), ("sp\x0b", "/s\r".into()), "a blank is skipped before a line only");
    assert_eq!(db.user_by_uid(Uid::from_raw(1)).unwrap(), None, "a `+` entry answers no lookup");
    for name in ["big", "neg"] {
        assert_eq!(db.user_by_name(name).unwrap(), None, "{name}: a uid past 32 bits or below 0");
    }
    assert_eq!(db.group_name(Gid::from_raw(21)).unwrap(), None, "a comment answers no lookup");
    assert_eq!(db.group_name(Gid::from_raw(22)).unwrap(), None);
    assert_eq!(db.group_name(Gid::from_raw(u32::MAX)).unwrap().as_deref(), Some("max"));
    assert_eq!(db.group_by_name("+nis").unwrap(), None);
    let groups: Vec<u32> = db.groups_of("atk", Gid::from_raw(100)).unwrap().iter().map(|g| g.as_raw()).collect();
    // not 20 (`atk\r`), 23 (`\u{a0}atk`), 25 (no number), 26 (the line ends at the NUL); getgrouplist
    // reads every line as it is: a comment, a `-` entry and `+nis`'s gid 0 count
    assert_eq!(groups, [100, 0, 21, 22, 24, u32::MAX]);
}

#[test]
fn a_missing_group_file_is_an_empty_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = UserDb::files(&dir.path().join("passwd"), &dir.path().join("group"));
    assert_eq!(db.user_by_uid(Uid::from_raw(0)).unwrap(), None);
    assert_eq!(db.groups_of("x", Gid::from_raw(5)).unwrap(), [Gid::from_raw(5)]);
}
