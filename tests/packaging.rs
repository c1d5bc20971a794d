//! roothooks installs the ways its users install tools: `pip install .` into a venv (what repo2docker's
//! requirements.txt does) and `cargo install --path .`. Each builds the real thing and runs it. They
//! need the package registries (crates.io, PyPI for maturin), not root.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// Fail with the tool's own output.
fn check(out: &std::process::Output, what: &str) {
    assert!(out.status.success(), "{what} failed:\n{}\n{}", stdout(out), stderr(out));
}

/// The installed command answers --version and plans a start with --dry-run.
fn works(bin: &Path) {
    let out = Command::new(bin).arg("--version").output().unwrap();
    check(&out, "--version");
    assert_eq!(stdout(&out), format!("roothooks {}\n", env!("CARGO_PKG_VERSION")));
    let out = Command::new(bin)
        .args(["--dry-run", "--uid", "4242", "--hooks-dir", "/nonexistent", "--", "jupyterhub-singleuser"])
        .env_remove("NB_UID")
        .env_remove("NB_USER")
        .output()
        .unwrap();
    check(&out, "--dry-run");
    assert!(stdout(&out).contains("user:        uid 4242"), "{}", stdout(&out));
    // the release build is linked dynamically, against the system's libc
    let out = Command::new("readelf").arg("-d").arg(bin).output().unwrap();
    check(&out, "readelf -d");
    assert!(stdout(&out).contains("[libc.so.6]"), "{}", stdout(&out));
}

#[test]
fn pip_install_puts_a_working_roothooks_in_a_fresh_venv() {
    let dir = scratch("rh-pip");
    let venv = dir.path().join("venv");
    check(&Command::new("/usr/bin/python3").args(["-m", "venv"]).arg(&venv).output().unwrap(), "python3 -m venv");
    // Build into the repository's own target directory, so what cargo already built is reused.
    let out = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", REPO])
        .env("CARGO_TARGET_DIR", Path::new(REPO).join("target"))
        .output()
        .unwrap();
    check(&out, "pip install .");
    works(&venv.join("bin/roothooks"));
}

#[test]
fn cargo_install_path_works() {
    let dir = scratch("rh-cargo-install");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["install", "--quiet", "--locked", "--path", REPO, "--root"])
        .arg(dir.path())
        .env("CARGO_TARGET_DIR", PathBuf::from(REPO).join("target"))
        .output()
        .unwrap();
    check(&out, "cargo install --path .");
    works(&dir.path().join("bin/roothooks"));
}

#[test]
fn the_wheel_carries_the_static_build_and_pip_installs_it_with_no_index() {
    let Some(wheel) = static_wheel() else { return };
    // Every file is in RECORD with its own hash and size, the tags are manylinux2014 x86_64, and the
    // one script is the static build (pip checks none of this itself)
    let check_wheel = r#"
import base64, hashlib, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
info = [n for n in z.namelist() if n.endswith('.dist-info/RECORD')][0]
rows = [l.split(',') for l in z.read(info).decode().splitlines()]
assert sorted(r[0] for r in rows) == sorted(z.namelist()), rows
for name, digest, size in rows:
    if name == info:
        continue
    data = z.read(name)
    assert digest == 'sha256=' + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode(), name
    assert int(size) == len(data), name
wheel = z.read(info.replace('RECORD', 'WHEEL')).decode()
assert 'Root-Is-Purelib: false' in wheel and 'Tag: py3-none-manylinux2014_x86_64' in wheel, wheel
script = [n for n in z.namelist() if '.data/scripts/' in n]
assert [n.rsplit('/', 1)[1] for n in script] == ['roothooks'], script
assert z.getinfo(script[0]).external_attr >> 16 == 0o100755
sys.stdout.buffer.write(hashlib.sha256(z.read(script[0])).hexdigest().encode())
"#;
    let out = Command::new("/usr/bin/python3").args(["-c", check_wheel]).arg(&wheel).output().unwrap();
    check(&out, "the wheel's RECORD, WHEEL and script");
    let ours = Command::new("sha256sum").arg(static_binary()).output().unwrap();
    assert_eq!(stdout(&out), stdout(&ours).split_whitespace().next().unwrap(), "the script is target/static/roothooks");

    let dir = scratch("rh-wheel");
    let venv = dir.path().join("venv");
    check(&Command::new("/usr/bin/python3").args(["-m", "venv"]).arg(&venv).output().unwrap(), "python3 -m venv");
    let out = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "--no-index", "--only-binary", ":all:"])
        .arg(&wheel)
        .output()
        .unwrap();
    check(&out, "pip install of the wheel");
    let bin = venv.join("bin/roothooks");
    let out = Command::new(&bin).arg("--version").output().unwrap();
    assert_eq!(stdout(&out), format!("roothooks {}\n", env!("CARGO_PKG_VERSION")));
    let out = Command::new("readelf").arg("-d").arg(&bin).output().unwrap();
    assert!(!stdout(&out).contains("NEEDED"), "a shared library is needed: {}", stdout(&out));
    // what an image scanner reads of the installed program: the crates it was built from
    let crates = dependency_list(&bin);
    for name in ["roothooks", "caps", "clap", "elf", "nix", "tracing-subscriber"] {
        assert!(crates.iter().any(|c| c == name), "{name} not in the binary's dependency list: {crates:?}");
    }
}

/// The names of the crates cargo-auditable recorded in `binary` (its `.dep-v0` section, zlib JSON).
fn dependency_list(binary: &Path) -> Vec<String> {
    let dir = scratch("rh-deps");
    let section = dir.path().join("dep-v0");
    let dump = format!(".dep-v0={}", section.display());
    let out = Command::new("objcopy").args(["--dump-section", &dump]).arg(binary).arg(dir.path().join("copy")).output();
    check(&out.unwrap(), "objcopy --dump-section .dep-v0 (no dependency list in the binary?)");
    let read = "import json, sys, zlib; print('\\n'.join(p['name'] for p in json.loads(zlib.decompress(open(sys.argv[1], 'rb').read()))['packages']))";
    let out = Command::new("/usr/bin/python3").args(["-c", read]).arg(&section).output().unwrap();
    check(&out, "the dependency list");
    stdout(&out).lines().map(String::from).collect()
}
