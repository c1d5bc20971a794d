//! The judge of root's hooks models two programs, and is held against them here, not against our
//! idea of them: the kernel, which reads a script's `#!` line, and glibc's loader, which opens a
//! program's libraries. A model that is wrong in the unsafe direction is a way past the judge.
//!
//! - the `#!` line: arbitrary lines (spaces, tabs, NULs, CRs, lines past the kernel's 256 bytes) are
//!   written to scripts whose interpreter prints the arguments it got, and run: what the kernel
//!   passed must be what `hooks::script::parse` says, and a line it says the kernel refuses must
//!   not run;
//! - the loader: for every ELF file under /usr/bin, /usr/sbin and /usr/lib, what the judge says the
//!   loader opens must cover what `ld.so --list` (run as nobody) loads, or the judge must refuse the
//!   file. `--nocapture` prints how many files each check took, and why the judge refused those it
//!   refused.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use proptest::prelude::*;
use roothooks::hooks::script::{self, Line};

/// Every regular ELF file below `dir`, without following symlinks.
fn elf_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            elf_files(&entry.path(), out);
        } else if kind.is_file() {
            let mut head = [0u8; 4];
            let is_elf = std::fs::File::open(entry.path()).is_ok_and(|f| f.read_at(&mut head, 0).is_ok())
                && roothooks::hooks::elf::is_elf(&head);
            if is_elf {
                out.push(entry.path());
            }
        }
    }
}

/// The loader that lists `file`: its own, or this machine's for its class.
fn loader_for(file: &Path) -> Option<PathBuf> {
    let opened = std::fs::File::open(file).ok()?;
    let object = roothooks::hooks::elf::read(&|at, buf| opened.read_at(buf, at), false).ok()?;
    let loader = match object.interpreter {
        Some(interp) => PathBuf::from(String::from_utf8(interp).ok()?),
        None if object.wide => PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
        None => PathBuf::from("/lib/ld-linux.so.2"),
    };
    loader.exists().then_some(loader)
}

/// What the real loader loads for `file`, run as nobody with an empty environment: `None` when it
/// cannot list it (not a program it loads).
fn ld_so_list(loader: &Path, file: &Path) -> Option<BTreeSet<PathBuf>> {
    let mut cmd = Command::new(loader);
    cmd.arg("--list").arg(file).env_clear().stdin(Stdio::null()).stderr(Stdio::null());
    if nix::unistd::geteuid().is_root() {
        // std clears the supplementary groups when root sets a uid
        cmd.uid(65534).gid(65534);
    }
    let out = cmd.output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "\t/lib64/ld-linux-x86-64.so.2 (0x...)"
    let paths = text.lines().filter_map(|line| {
        let line = line.trim();
        let path = line.rsplit_once(" => ").map_or(line, |(_, path)| path);
        let path = path.rsplit_once(" (0x").map_or(path, |(path, _)| path);
        path.starts_with('/').then(|| std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path)))
    });
    Some(paths.collect())
}

#[test]
fn what_the_judge_says_a_binary_loads_covers_what_the_real_loader_loads_or_the_binary_is_refused() {
    if !need_root() {
        return;
    }
    let mut files = Vec::new();
    for dir in ["/usr/bin", "/usr/sbin", "/usr/lib"] {
        elf_files(Path::new(dir), &mut files);
    }
    let search = roothooks::gate::hook_search_dirs(None);
    let (mut compared, mut unlisted) = (0, 0);
    let mut refused: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut missed = Vec::new();
    for file in &files {
        let judged = roothooks::hooks::judge::loaded_by(file, search.clone());
        let Some(real) = loader_for(file).and_then(|loader| ld_so_list(&loader, file)) else {
            unlisted += 1;
            continue;
        };
        compared += 1;
        match judged {
            Ok(judged) => {
                let judged: BTreeSet<PathBuf> =
                    judged.iter().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())).collect();
                let real: BTreeSet<PathBuf> =
                    real.into_iter().filter(|p| std::fs::canonicalize(file).ok().as_ref() != Some(p)).collect();
                let uncovered: Vec<&PathBuf> = real.difference(&judged).collect();
                if !uncovered.is_empty() {
                    missed.push(format!(
                        "{}: the loader loads {uncovered:?}, the judge names {judged:?}",
                        file.display()
                    ));
                }
            }
            Err(why) => {
                // the kind of refusal, without the file's own name, to count them
                let kind = why.to_string().replace(&file.display().to_string(), "FILE");
                refused.entry(kind).or_default().push(file.clone());
            }
        }
    }
    eprintln!(
        "loader comparison: {} ELF files, {compared} listed by ld.so and compared, {unlisted} it does not load, \
         {} refused by the judge",
        files.len(),
        refused.values().map(Vec::len).sum::<usize>()
    );
    for (why, files) in &refused {
        eprintln!("  refused ({}): {why}; e.g. {}", files.len(), files[0].display());
    }
    assert!(missed.is_empty(), "the judge missed what the loader loads:\n{}", missed.join("\n"));
    assert!(compared > 100, "only {compared} files compared");
    // the system's own programs are root's and loaded from root's directories: none may be refused
    // for what it loads, only for a form the judge does not take
    let programs_refused: Vec<&PathBuf> = refused
        .iter()
        .filter(|(why, _)| why.contains("first") || why.contains("loads the library"))
        .flat_map(|(_, files)| files)
        .collect();
    assert!(programs_refused.is_empty(), "system files refused for what they load: {programs_refused:?}");
}

/// A program that prints the arguments it got, each ended by a NUL.
fn argument_printer(dir: &Path) -> Option<PathBuf> {
    if !need_program("cc", "--version", "needs a C compiler (cc) to build an argument printer") {
        return None;
    }
    let src = dir.join("argv.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\nint main(int c, char **v) { for (int i = 0; i < c; i++) { fputs(v[i], stdout); \
         putchar(0); } return 0; }\n",
    )
    .unwrap();
    let bin = dir.join("argv");
    let out = Command::new("cc").arg("-o").arg(&bin).arg(&src).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Some(bin)
}

/// Run `script`, retrying while another test thread's fork still holds it open for writing.
fn run_script(script: &Path) -> std::io::Result<std::process::Output> {
    for _ in 0..100 {
        match Command::new(script).stdin(Stdio::null()).output() {
            Err(e) if e.raw_os_error() == Some(nix::libc::ETXTBSY) => std::thread::yield_now(),
            other => return other,
        }
    }
    Command::new(script).output()
}

#[test]
fn the_hash_bang_line_is_read_as_the_kernel_reads_it() {
    let dir = scratch("rh-shebang");
    let Some(printer) = argument_printer(dir.path()) else { return };
    let printer = printer.to_str().unwrap().to_string();
    let piece = prop_oneof![
        4 => proptest::sample::select(&[" ", "\t", "-e", "x", "/", "\n", "\r", "\0", "  ", "-S a", "=", "#!"][..])
            .prop_map(|s| s.as_bytes().to_vec()),
        1 => proptest::collection::vec(Just(b'a'), 60..200),
        1 => proptest::collection::vec(any::<u8>(), 0..8),
    ];
    let lead = proptest::sample::select(&["", " ", "\t", " \t "][..]);
    let line = (lead, proptest::collection::vec(piece, 0..8)).prop_map(|(lead, pieces)| {
        [b"#!".as_slice(), lead.as_bytes(), printer.as_bytes()]
            .concat()
            .into_iter()
            .chain(pieces.concat())
            .collect::<Vec<u8>>()
    });
    let count = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 1000,
        failure_persistence: None,
        ..Default::default()
    });
    runner
        .run(&line, |head| {
            let n = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = dir.path().join(format!("script-{n}"));
            std::fs::write(&path, &head).unwrap();
            set_mode(&path, 0o755);
            let ran = run_script(&path);
            match script::parse(&head) {
                Line::Script { interpreter, argument } if interpreter == printer.as_bytes() => {
                    let out = ran.map_err(|e| TestCaseError::fail(format!("{e}: {head:?}")))?;
                    let mut want = vec![printer.as_bytes().to_vec()];
                    want.extend(argument);
                    want.push(path.to_str().unwrap().as_bytes().to_vec());
                    let printed = out.stdout.strip_suffix(&[0]).unwrap_or(&out.stdout);
                    let got: Vec<Vec<u8>> = printed.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
                    prop_assert_eq!(got, want, "{:?}", head);
                }
                // another name, or a line the kernel refuses: nothing of it runs
                parsed => prop_assert!(ran.is_err(), "{:?} ran, parsed as {:?}", head, parsed),
            }
            let _ = std::fs::remove_file(&path);
            Ok(())
        })
        .unwrap();
    eprintln!("#! lines: {} run and compared with the kernel", count.into_inner());
}

/// `cc` with `args`, which must succeed.
fn cc(args: &[&str]) {
    let out = Command::new("cc").args(args).output().expect("cc");
    assert!(out.status.success(), "cc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn what_the_judge_says_a_crafted_binary_loads_covers_what_the_real_loader_loads() {
    if !need_root() || !need_program("cc", "--version", "needs a C compiler (cc) to build crafted binaries") {
        return;
    }
    // all root's: the forms are what is compared, not who owns them
    let top = scratch("rh-crafted");
    let dir = |rel: &str| {
        let path = top.path().join(rel);
        std::fs::create_dir_all(&path).unwrap();
        path
    };
    let src = top.path().join("lib.c");
    std::fs::write(&src, "int rh_lib(void) { return 1; }\n").unwrap();
    let lib = |at: &Path, soname: &str, extra: &[&str]| {
        let out = at.join(soname.rsplit('/').next().unwrap());
        let mut args = vec!["-shared", "-fPIC", "-o", out.to_str().unwrap(), src.to_str().unwrap()];
        let soname = format!("-Wl,-soname,{soname}");
        args.push(&soname);
        args.extend(extra);
        cc(&args);
        out
    };
    // a library with hwcaps and legacy subdirectory copies, which the loader may prefer
    let (d, e, f) = (dir("d"), dir("e"), dir("f"));
    lib(&d, "librha.so", &[]);
    lib(&dir("d/glibc-hwcaps/x86-64-v2"), "librha.so", &[]);
    lib(&dir("d/tls"), "librha.so", &[]);
    // a library that needs another, found only through the RPATH of the program that loads it
    lib(&f, "librhc.so", &[]);
    let libc_path = f.join("librhc.so");
    lib(&e, "librhb.so", &["-Wl,--no-as-needed", libc_path.to_str().unwrap()]);
    let main = top.path().join("main.c");
    std::fs::write(&main, "int main(void) { return 0; }\n").unwrap();
    let rpath = format!("-Wl,--disable-new-dtags,-rpath,{}:{}:{}", d.display(), e.display(), f.display());
    let programs = dir("bin");
    let p = programs.join("rpath-chain");
    let (la, lb) = (d.join("librha.so"), e.join("librhb.so"));
    cc(&[
        "-o",
        p.to_str().unwrap(),
        main.to_str().unwrap(),
        "-Wl,--no-as-needed",
        la.to_str().unwrap(),
        lb.to_str().unwrap(),
        &rpath,
    ]);
    // $ORIGIN in a needed name, and in a RUNPATH
    let origin_lib = lib(&dir("bin/lib"), "$ORIGIN/lib/librho.so", &[]);
    let q = programs.join("origin-needed");
    cc(&["-o", q.to_str().unwrap(), main.to_str().unwrap(), "-Wl,--no-as-needed", origin_lib.to_str().unwrap()]);
    let r = programs.join("origin-runpath");
    cc(&[
        "-o",
        r.to_str().unwrap(),
        main.to_str().unwrap(),
        "-Wl,--no-as-needed",
        "-L",
        d.to_str().unwrap(),
        "-lrha",
        "-Wl,-rpath,$ORIGIN/../d",
    ]);
    let search = roothooks::gate::hook_search_dirs(None);
    for program in [&p, &q, &r] {
        let real = ld_so_list(&loader_for(program).unwrap(), program).expect("ld.so lists it");
        let judged = roothooks::hooks::judge::loaded_by(program, search.clone()).unwrap_or_else(|e| panic!("{e}"));
        let judged: BTreeSet<PathBuf> = judged.iter().map(|p| std::fs::canonicalize(p).unwrap()).collect();
        let missed: Vec<&PathBuf> = real.difference(&judged).collect();
        assert!(missed.is_empty(), "{}: the loader loads {missed:?}, the judge names {judged:?}", program.display());
        assert!(real.len() >= 3, "{}: {real:?}", program.display());
    }
}
