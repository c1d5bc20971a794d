//! Every parser of what root reads, fed arbitrary bytes: none may panic, whatever a user or a broken
//! tool put in /etc/passwd, /etc/group, nsswitch.conf, an env file, `$ROOTHOOKS_ENV`, a sourced hook's
//! exports or an NB_* / ROOTHOOKS_* variable, and what each one gives back keeps its promises (names
//! that are names, values without a NUL byte, line numbers that exist). A panic mid-start leaves the
//! server unstarted and the account locks held.
//!
//! Each property runs `ROOTHOOKS_PROPTEST_CASES` inputs (default 2,000), on arbitrary bytes and on
//! inputs shaped like the real thing (lines of colon-separated fields, `NAME=value` lines) so that the
//! deeper branches are reached too. `--nocapture` prints how many each parser took.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use roothooks::gate::{self, Gate, Origin};
use roothooks::identity::{AccountEdit, NewAccount, Rename, Renumber};
use roothooks::provision::accounts;
use roothooks::sourcing::{Exports, END};
use roothooks::system::{Gid, Uid};

fn cases() -> u32 {
    std::env::var("ROOTHOOKS_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

/// Run `property` on `cases()` inputs of `strategy`, and say how many.
fn check<S: Strategy>(parser: &str, strategy: S, property: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() });
    runner.run(&strategy, property).unwrap_or_else(|e| panic!("{parser}: {e}"));
    eprintln!("{parser}: {} inputs, no panic, every property held", cases());
}

/// Text of lines made from `pieces`, with the separators the real files use and bytes they should not
/// hold, so that field splitting, comments, CRLF and non-UTF-8 are all reached.
fn shaped_text(pieces: &'static [&'static str]) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => proptest::sample::select(pieces).prop_map(str::to_string),
        2 => "[a-z0-9_]{0,6}",
        1 => any::<String>(),
        1 => proptest::sample::select(&[":", "\n", "\r\n", "#", " ", "=", "\\", "\"", "'", ",", "\0", "+", "-"][..])
            .prop_map(str::to_string),
    ];
    proptest::collection::vec(piece, 0..60).prop_map(|p| p.concat())
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..400)
}

const ACCOUNT_PIECES: &[&str] =
    &["jovyan", "root", "x", "1000", "100", "0", ":", ":", ":", "/home/jovyan", "/bin/sh", "\n", "users", "4294967296"];

#[test]
fn passwd_and_group_lines_never_panic_and_give_only_names() {
    let text = prop_oneof![shaped_text(ACCOUNT_PIECES), bytes().prop_map(|b| String::from_utf8_lossy(&b).into())];
    check("passwd and group entries", text, |text| {
        // a name may be empty, as for glibc (getpwuid answers with such a line), but never holds
        // what ends a field or a line
        for account in roothooks::userdb::passwd_entries(&text) {
            prop_assert!(!account.name.contains([':', '\n', '\0']), "{account:?}");
        }
        for group in roothooks::userdb::group_entries(&text) {
            prop_assert!(!group.name.contains([':', '\n', '\0']));
            prop_assert!(!group.members.contains(['\n', '\0']));
            prop_assert!(group.members().all(|m| !m.is_empty() && !m.contains(',')));
        }
        let _ = roothooks::userdb::files_only(&text);
        for group in [false, true] {
            let lines = text.lines().count();
            prop_assert!(roothooks::userdb::malformed_lines(&text, group).iter().all(|n| (1..=lines).contains(n)));
        }
        let _ = roothooks::provision::handover::Protected::from_passwd(&text, &(1000..=60000));
        Ok(())
    });
}

/// The renumber and rename plans, and `--ensure-account`'s, over any passwd and group text: an edit or
/// a message, never a panic; an edit keeps every other line as it was.
#[test]
fn account_edits_over_any_passwd_either_edit_or_say_why() {
    let text = || prop_oneof![shaped_text(ACCOUNT_PIECES), bytes().prop_map(|b| String::from_utf8_lossy(&b).into())];
    let rename = Renumber {
        name: "jovyan".into(),
        from_uid: Uid::from_raw(1000),
        from_gid: Gid::from_raw(100),
        uid: Uid::from_raw(1010),
        gid: Gid::from_raw(1010),
        rename: Some(Rename { to: "alice".into(), home: "/home/alice".into(), from_home: "/home/jovyan".into() }),
        group_name: None,
    };
    let add = NewAccount {
        name: "alice".into(),
        uid: Uid::from_raw(1010),
        gid: Gid::from_raw(1010),
        home: PathBuf::from("/home/alice"),
        shell: PathBuf::from("/bin/sh"),
    };
    let edits = [
        AccountEdit::Renumber(rename.clone()),
        AccountEdit::Renumber(Renumber { rename: None, ..rename }),
        AccountEdit::Add(add),
    ];
    check("account edits (renumber, rename, add)", (text(), text(), 0..3usize), |(passwd, group, which)| {
        let edit = &edits[which];
        if let Ok(planned) = accounts::plan_edit(edit, &passwd, &group) {
            if let Some(new) = planned.passwd {
                // every line of the old text that is not the edited account's is still there
                let kept = passwd.lines().filter(|l| !l.trim_start().starts_with("jovyan:")).count();
                prop_assert!(new.lines().count() >= kept, "lines lost: {passwd:?} -> {new:?}");
            }
        }
        Ok(())
    });
}

#[test]
fn a_short_passwd_line_being_renamed_is_a_message_that_names_the_line() {
    let passwd = "root:x:0:0:root:/root:/bin/sh\njovyan:x:1000:100\n";
    let rename = Renumber {
        name: "jovyan".into(),
        from_uid: Uid::from_raw(1000),
        from_gid: Gid::from_raw(100),
        uid: Uid::from_raw(1000),
        gid: Gid::from_raw(100),
        rename: Some(Rename { to: "alice".into(), home: "/home/alice".into(), from_home: "/home/jovyan".into() }),
        group_name: None,
    };
    let err = accounts::plan_edit(&AccountEdit::Renumber(rename), passwd, "users:x:100:\n").unwrap_err();
    assert_eq!(
        err,
        "passwd line 2: account 'jovyan' has 4 of the 7 fields (name:password:uid:gid:gecos:home:shell); not \
         changing it (complete the line)"
    );
}

const ENV_PIECES: &[&str] =
    &["NAME", "A_1", "=", "value", "\"", "'", "\\", "\n", "#", ";", " ", "\t", "\r", "export ", "$X", "é"];

#[test]
fn env_files_and_handed_over_lines_give_names_values_and_line_numbers_that_exist() {
    let text = prop_oneof![shaped_text(ENV_PIECES), bytes().prop_map(|b| String::from_utf8_lossy(&b).into())];
    check("env file and $ROOTHOOKS_ENV lines", text, |text| {
        let (vars, bad) = roothooks::provision::env::parse(&text);
        let lines = text.split('\n').count();
        for (name, value) in &vars {
            prop_assert!(roothooks::provision::env::valid_name(name), "{name:?}");
            prop_assert!(!value.contains('\0'), "{name}: a NUL byte no environment can hold");
        }
        for line in &bad {
            prop_assert!((1..=lines).contains(&line.line), "line {} of {lines}", line.line);
        }
        Ok(())
    });
}

#[test]
fn a_sourced_hooks_report_is_taken_whole_or_refused_whole() {
    let record = prop_oneof![
        3 => ("[A-Za-z_][A-Za-z0-9_]{0,8}", proptest::option::of(any::<String>()))
            .prop_map(|(n, v)| match v { Some(v) => format!("{n}={v}").into_bytes(), None => n.into_bytes() }),
        1 => bytes(),
    ];
    let report = (proptest::collection::vec(record, 0..30), any::<bool>()).prop_map(|(records, ended)| {
        let mut out = Vec::new();
        for r in records {
            out.extend(r);
            out.push(0);
        }
        if ended {
            out.extend_from_slice(END);
            out.push(0);
        }
        out
    });
    check("a sourced hook's exports", prop_oneof![report, bytes()], |written| {
        if let Ok(exports) = Exports::parse(&written) {
            prop_assert!(written.windows(END.len()).any(|w| w == END), "taken without its end record");
            for (name, value) in exports.changes() {
                prop_assert!(roothooks::provision::env::valid_name(name));
                prop_assert!(value.is_none_or(|v| !v.contains('\0')));
            }
        }
        Ok(())
    });
}

/// What reaches root's hooks: any name and value, from either origin, is let through or held with a
/// reason, and a held value's reason never holds the value (it may be a secret).
#[test]
fn the_gate_judges_any_name_and_value_without_panicking() {
    let gate = Gate { allowed: vec!["AWS_*".into(), "MY".into()], secrets: vec!["S3_*".into()] };
    let value = prop_oneof![
        shaped_text(&["/", "..", "/usr", "/tmp", "/home", ":", "=", "file://", "C.UTF-8", "secretXYZ", "/etc"]),
        bytes().prop_map(|b| String::from_utf8_lossy(&b).into()),
    ];
    let name = prop_oneof!["[A-Z_]{1,12}", Just("LANG".to_string()), Just("TZ".to_string()), any::<String>()];
    check("the gate's admission and value check", (name, value, any::<bool>()), |(name, value, start)| {
        let origin = if start { Origin::Start } else { Origin::Operator };
        if let Err(held) = gate.admit(OsStr::new(&name), OsStr::new(&value), origin) {
            let said = held.to_string();
            prop_assert!(!value.contains("secretXYZ") || !said.contains("secretXYZ"), "{said}");
        }
        let _ = gate::value_refusal(value.as_bytes());
        let _ = gate::parse_pattern(&name);
        Ok(())
    });
    // bytes that are no UTF-8 at all, as a start's environment may hold them
    check("the gate on non-UTF-8 values", bytes(), |raw| {
        let _ = gate.admit(OsStr::new("AWS_X"), OsStr::from_bytes(&raw), Origin::Start);
        Ok(())
    });
}

/// Every NB_* and ROOTHOOKS_* value roothooks reads, from arguments or the environment: a plan or a
/// usage error, never a panic. (The environment is handed in; nothing of this process's is changed.)
#[test]
fn nb_and_roothooks_settings_with_any_value_give_a_request_or_an_error() {
    use clap::Parser;
    const NAMES: &[&str] = &[
        "NB_USER",
        "NB_UID",
        "NB_GID",
        "NB_GROUP",
        "NB_UMASK",
        "ROOTHOOKS_UID",
        "ROOTHOOKS_GID",
        "ROOTHOOKS_USER",
        "ROOTHOOKS_HOOK_TIMEOUT",
        "ROOTHOOKS_HOOK_ENV",
        "ROOTHOOKS_UNSET_ENV",
        "ROOTHOOKS_SECCOMP_ALLOW",
        "ROOTHOOKS_UMASK",
        "JUPYTER_ENV_VARS_TO_UNSET",
        "CHOWN_HOME_OPTS",
        "CHOWN_EXTRA",
        "GRANT_SUDO",
        "ROOTHOOKS_INIT",
        "ROOTHOOKS_PTY",
    ];
    let value = prop_oneof![
        shaped_text(&["0", "1000", "-1", "4294967296", "022", "yes", ",", "*", "AWS_*", "0x10", " ", "1e-300"]),
        bytes().prop_map(|b| String::from_utf8_lossy(&b).into()),
    ];
    let settings = proptest::collection::vec((proptest::sample::select(NAMES), value), 0..6);
    let flags = proptest::collection::vec(
        prop_oneof![
            proptest::sample::select(
                &[
                    "--uid",
                    "--gid",
                    "--user",
                    "--umask",
                    "--hook-timeout",
                    "--rlimit",
                    "--docker-stacks",
                    "--init",
                    "--hook-env",
                    "--"
                ][..]
            )
            .prop_map(str::to_string),
            shaped_text(&["1000", "nofile=10:20", "x", "=", "-"]),
        ],
        0..8,
    );
    check("NB_* and ROOTHOOKS_* values and flags", (settings, flags), |(settings, flags)| {
        let env = |name: &str| settings.iter().rev().find(|(n, _)| *n == name).map(|(_, v)| OsString::from(v));
        let mut argv: Vec<OsString> = vec!["roothooks".into()];
        argv.extend(flags.iter().map(OsString::from));
        argv.extend(["--".into(), "true".into()]);
        let _ = roothooks::cli::fast::parse(&argv, &env);
        if let Ok(args) = roothooks::cli::Args::try_parse_from(&argv) {
            let _ = args.options(&env);
            let _ = args.request(&env);
        }
        Ok(())
    });
}

/// An ELF file of either class and byte order whose program headers and dynamic entries are chosen
/// from the kinds that matter (PT_LOAD, PT_DYNAMIC, PT_INTERP; DT_STRTAB, DT_NEEDED, DT_RPATH,
/// DT_RUNPATH) with offsets, sizes and addresses that may point anywhere, in or past the file; in half
/// of them a PT_DYNAMIC, a PT_LOAD and a DT_STRTAB that fit together, so the strings are reached.
fn shaped_elf() -> impl Strategy<Value = Vec<u8>> {
    let number = prop_oneof![4 => 0u64..400, 1 => any::<u64>()];
    // mostly the kinds that matter, so that the deeper branches are reached; sometimes anything
    let kind = prop_oneof![3 => Just(1u64), 1 => Just(2), 3 => Just(3), 2 => Just(4), 1 => any::<u64>()];
    let header = (kind, number.clone(), number.clone(), number.clone());
    let tag = prop_oneof![1 => Just(0u64), 3 => Just(1), 1 => Just(5), 3 => Just(15), 3 => Just(29), 1 => any::<u64>()];
    // values mostly within the strings that follow, so that named strings are reached
    let dynamic = (tag, prop_oneof![6 => 0u64..64, 1 => any::<u64>()]);
    // mostly 64-bit and little-endian, as this machine's kernel reads its own programs
    (
        proptest::bool::weighted(0.75),
        proptest::bool::weighted(0.25),
        proptest::bool::weighted(0.8),
        proptest::collection::vec(header, 0..6),
        proptest::collection::vec(dynamic, 0..5),
        proptest::collection::vec(prop_oneof![Just(0u8), Just(b'/'), Just(b':'), any::<u8>()], 0..300),
    )
        .prop_map(|(wide, big, fitting, mut headers, mut entries, tail)| {
            let word: usize = if wide { 8 } else { 4 };
            let put = |out: &mut Vec<u8>, n: u64, size: usize| {
                let bytes = n.to_be_bytes();
                let field = &bytes[8 - size..];
                if big {
                    out.extend_from_slice(field);
                } else {
                    out.extend(field.iter().rev());
                }
            };
            let header_size: usize = if wide { 64 } else { 52 };
            let entry_size: usize = if wide { 56 } else { 32 };
            if fitting {
                let count = headers.len() + 2;
                let dynamic_at = header_size + count * entry_size;
                entries.insert(0, (5, 0)); // DT_STRTAB, set below
                let tail_at = dynamic_at + entries.len() * 2 * word;
                entries[0].1 = tail_at as u64;
                let total = tail_at + tail.len();
                headers.push((2, dynamic_at as u64, dynamic_at as u64, (entries.len() * 2 * word) as u64));
                headers.push((1, 0, 0, total as u64));
            }
            let mut out = b"\x7fELF".to_vec();
            out.extend([if wide { 2 } else { 1 }, if big { 2 } else { 1 }]);
            out.resize(header_size, 0);
            // a program this machine runs: the kernel reads these in its own byte order
            out.splice(0x10..0x14, [3, 0, 62, 0]);
            let (phoff, phentsize, phnum) = if wide { (0x20, 0x36, 0x38) } else { (0x1c, 0x2a, 0x2c) };
            let mut field = |at: usize, n: u64, size: usize| {
                let mut bytes = Vec::new();
                put(&mut bytes, n, size);
                out.splice(at..at + size, bytes);
            };
            field(phoff, header_size as u64, word);
            field(phentsize, entry_size as u64, 2);
            field(phnum, headers.len() as u64, 2);
            for (kind, offset, vaddr, filesz) in headers {
                let mut entry = Vec::new();
                put(&mut entry, kind, 4);
                if wide {
                    put(&mut entry, 0, 4);
                }
                put(&mut entry, offset, word);
                put(&mut entry, vaddr, word);
                put(&mut entry, 0, word);
                put(&mut entry, filesz, word);
                entry.resize(entry_size, 0);
                out.extend(entry);
            }
            for (tag, value) in entries {
                put(&mut out, tag, word);
                put(&mut out, value, word);
            }
            out.extend(tail);
            out
        })
}

#[test]
fn what_an_elf_file_loads_is_read_or_refused_never_guessed() {
    let file = prop_oneof![1 => bytes(), 1 => bytes().prop_map(|b| [&b"\x7fELF"[..], &b].concat()), 4 => shaped_elf()];
    use std::sync::atomic::{AtomicUsize, Ordering};
    // how deep the shaped files reach: read whole, with a loader, with a search list
    let reached = [AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0)];
    check("an ELF file's loader, RUNPATH and libraries", file, |file| {
        let read = |at: u64, buf: &mut [u8]| -> std::io::Result<usize> {
            let rest = usize::try_from(at).ok().and_then(|at| file.get(at..)).unwrap_or_default();
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            Ok(n)
        };
        if let Ok(loads) = roothooks::hooks::elf::read(&read, true) {
            reached[0].fetch_add(1, Ordering::Relaxed);
            reached[1].fetch_add(usize::from(loads.interpreter.is_some()), Ordering::Relaxed);
            let dynamic = loads.dynamic.unwrap_or_default();
            let search: Vec<&Vec<u8>> = dynamic.rpath.iter().chain(&dynamic.runpath).collect();
            reached[2].fetch_add(usize::from(!search.is_empty()), Ordering::Relaxed);
            let within = |s: &[u8]| !s.contains(&0) && s.len() <= roothooks::hooks::elf::MAX_STRING;
            prop_assert!(loads.interpreter.as_deref().is_none_or(within));
            prop_assert!(search.iter().all(|e| within(e) && !e.contains(&b':')));
            prop_assert!(dynamic.needed.iter().all(|p| within(p)));
        }
        Ok(())
    });
    let [whole, loader, search] = reached.map(|n| n.into_inner());
    eprintln!("  of which read whole: {whole}, with a loader: {loader}, with a search list: {search}");
    assert!(loader > 0 && search > 0, "the shaped files never reach the loader or the search list");
}

/// The pieces a `#!` line is made of, for lines that reach every branch of the kernel's reading.
const SHEBANG_PIECES: &[&str] =
    &["#!", "/bin/sh", "/usr/bin/env", " ", "\t", "\n", "\r", "\0", "-e", "-S", "python3", "=", "--chdir=/x", "-"];

#[test]
fn a_hash_bang_line_gives_the_kernels_words_or_a_refusal_never_a_panic() {
    let head = prop_oneof![
        3 => shaped_text(SHEBANG_PIECES).prop_map(|t| format!("#!{t}").into_bytes()),
        1 => bytes(),
    ];
    check("a #! line", head, |head| {
        if let roothooks::hooks::script::Line::Script { interpreter, argument } = roothooks::hooks::script::parse(&head)
        {
            let word = |w: &[u8]| !w.contains(&0) && w.len() < roothooks::hooks::script::HEAD;
            prop_assert!(!interpreter.is_empty() && word(&interpreter));
            prop_assert!(
                !interpreter.contains(&b' ') && !interpreter.contains(&b'\t') && !interpreter.contains(&b'\n')
            );
            if let Some(argument) = argument {
                // (trailing spaces stay when the file ends without a newline: the kernel cuts only at one)
                prop_assert!(word(&argument) && !argument.starts_with(b" ") && !argument.starts_with(b"\t"));
                prop_assert!(!argument.contains(&b'\n'));
            }
        }
        Ok(())
    });
}

#[test]
fn a_hash_bang_argument_is_a_form_understood_or_refused_never_a_panic() {
    use roothooks::hooks::script::{form, Form, Kind};
    let kinds = proptest::sample::select(&[Kind::Shell, Kind::Python, Kind::Perl, Kind::Env, Kind::Other][..]);
    let arg = prop_oneof![3 => shaped_text(SHEBANG_PIECES).prop_map(String::into_bytes), 1 => bytes()];
    check("a #! argument", (kinds, arg), |(kind, arg)| {
        match form(kind, &arg) {
            // what is judged further is the argument itself, or a part of it
            Ok(Form::Operand(word)) => prop_assert!(word == arg.as_slice()),
            Ok(Form::Bundle(rest)) => prop_assert!(kind == Kind::Other && arg.ends_with(rest) && !rest.contains(&b'/')),
            Ok(Form::Assignment { name, .. }) => prop_assert!(kind == Kind::Env && !name.is_empty()),
            Ok(Form::Options) => prop_assert!(arg.starts_with(b"-") || arg.starts_with(b"+")),
            Err(_) => {}
        }
        // nothing understood holds a space or a control character
        if form(kind, &arg).is_ok() {
            prop_assert!(arg.iter().all(|&c| c > b' ' && c != 0x7f));
        }
        Ok(())
    });
}

#[test]
fn the_loaders_cache_is_read_whole_or_refused_and_gives_back_what_was_written() {
    // arbitrary bytes, the real header with anything after it, and caches written from entries
    let entries = proptest::collection::vec(("[a-z.0-9]{1,12}", "/[a-z/0-9.]{1,20}"), 0..20);
    let file = prop_oneof![
        1 => bytes(),
        1 => bytes().prop_map(|b| [&b"glibc-ld.so.cache1.1"[..], &b].concat()),
        2 => entries.prop_map(|e| (cache_bytes(&e), e)).prop_map(|(b, _)| b),
    ];
    check("/etc/ld.so.cache", file, |file| {
        if let Ok(cache) = roothooks::hooks::ldcache::parse(&file) {
            prop_assert!(cache.entries.iter().all(|e| !e.name.contains(&0) && !e.path.contains(&0)));
        }
        Ok(())
    });
    let entries = proptest::collection::vec(("[a-z.0-9]{1,12}", "/[a-z/0-9.]{1,20}"), 0..20);
    check("/etc/ld.so.cache, written and read back", entries, |entries| {
        let bytes = cache_bytes(&entries);
        let cache = roothooks::hooks::ldcache::parse(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let read: Vec<(String, String)> = cache
            .entries
            .iter()
            .map(|e| (String::from_utf8_lossy(e.name).into_owned(), String::from_utf8_lossy(e.path).into_owned()))
            .collect();
        prop_assert_eq!(read, entries.clone());
        for (name, path) in &entries {
            prop_assert!(cache.paths_of(name.as_bytes()).any(|p| p == path.as_bytes()));
        }
        Ok(())
    });
}

/// A cache written from `entries` (name, path).
fn cache_bytes(entries: &[(String, String)]) -> Vec<u8> {
    let entries: Vec<(&[u8], &[u8])> = entries.iter().map(|(n, p)| (n.as_bytes(), p.as_bytes())).collect();
    roothooks::hooks::ldcache::build(&entries)
}

#[test]
fn binfmt_entries_and_the_preload_list_give_entries_and_names_or_nothing() {
    let text = prop_oneof![
        3 => shaped_text(&["enabled\n", "interpreter /x\n", "flags: F\n", "offset ", "0", "200", "\n", "magic ", "7f454c46", "mask ", "ff", "extension .exe\n", "disabled\n"]),
        1 => bytes().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ];
    check("a binfmt_misc entry", (text, bytes()), |(text, head)| {
        if let Some(entry) = roothooks::hooks::binfmt::parse("entry", &text) {
            let _ = entry.matches(std::path::Path::new("/srv/hook.exe"), &head);
            if let roothooks::hooks::binfmt::Rule::Magic { offset, magic, .. } = &entry.rule {
                prop_assert!(offset + magic.len() <= 256);
            }
        }
        Ok(())
    });
    check("/etc/ld.so.preload", bytes(), |text| {
        for name in roothooks::hooks::loader::preload_names(&text) {
            prop_assert!(!name.is_empty() && !name.iter().any(|c| b" \t\n:#".contains(c)));
        }
        Ok(())
    });
}

#[test]
fn a_proc_stat_line_gives_its_process_or_nothing_never_a_guess() {
    use roothooks::system::process::{parse_stat, Stat};
    // a line as the kernel writes it, its name any 1-15 characters (spaces and parentheses too)
    let line = (
        "[^\0]{1,15}",
        proptest::sample::select(&["R", "S", "D", "Z", "X", "T", "t", "I"][..]),
        (any::<i32>(), any::<i32>(), any::<i32>(), 0u64..5),
        proptest::collection::vec(0u64..100_000, 30),
    );
    let fields = "0 -1 4194560 1221 0 2 0 1 0 0 0 20 0";
    check("a /proc/PID/stat line", line, |(name, state, (ppid, pgrp, sid, threads), rest)| {
        let rest: Vec<String> = rest.iter().map(u64::to_string).collect();
        let text = format!("4242 ({name}) {state} {ppid} {pgrp} {sid} {fields} {threads} {}\n", rest.join(" "));
        let stat = parse_stat(&text);
        let running = !matches!(state, "Z" | "X") || (state == "Z" && threads > 1);
        let expected = Stat {
            name: name.clone(),
            parent: nix::unistd::Pid::from_raw(ppid),
            group: nix::unistd::Pid::from_raw(pgrp),
            session: nix::unistd::Pid::from_raw(sid),
            running,
        };
        prop_assert_eq!(stat, Some(expected), "{}", text);
        Ok(())
    });
    // and any text at all: nothing but a line's own values, or nothing
    let text = prop_oneof![
        shaped_text(&["4242", " ", "(", ")", "Z", "S", "-1", "1", "2", "\n", "9999999999"]),
        bytes().prop_map(|b| String::from_utf8_lossy(&b).into())
    ];
    check("any text as a /proc/PID/stat line", text, |text| {
        if let Some(stat) = parse_stat(&text) {
            prop_assert!(text.contains(&format!("({})", stat.name)), "{}", text);
        }
        Ok(())
    });
}
