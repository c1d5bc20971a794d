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
    // the release build starts without libgcc_s (src/unwind.rs): one library less to load
    let out = Command::new("readelf").arg("-d").arg(bin).output().unwrap();
    check(&out, "readelf -d");
    assert!(stdout(&out).contains("[libc.so.6]"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("libgcc_s"), "{}", stdout(&out));
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
