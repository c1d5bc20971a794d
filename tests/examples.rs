//! The files in the repository that people copy: they must do what they say.

mod common;

use common::*;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/hooks.d.example");

/// A copy of hooks.d.example in a root-owned directory, so the trust rule holds wherever the
/// repository was checked out.
fn example_hooks() -> Hooks {
    let h = Hooks::new();
    for entry in std::fs::read_dir(EXAMPLES).unwrap() {
        let entry = entry.unwrap();
        let to = h.dir().join(entry.file_name());
        std::fs::copy(entry.path(), &to).unwrap();
        set_mode(&to, 0o755);
    }
    h
}

#[test]
fn the_readme_quick_start_runs_the_example_hooks_and_drops_to_nobody() {
    if !need_root("the_readme_quick_start_runs_the_example_hooks_and_drops_to_nobody") {
        return;
    }
    let h = example_hooks();
    let out = run(h.bare().args([
        "--user",
        "nobody",
        "--log-file",
        "none",
        "--",
        "sh",
        "-c",
        "id -un; grep NoNewPrivs /proc/self/status",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "nobody\nNoNewPrivs:\t1\n");
    let err = stderr(&out);
    assert!(err.contains("10-show-target: running as uid 0; the command will run as nobody (uid 65534"), "{err}");
    assert!(err.contains("20-scratch-tmpfs: ROOTHOOKS_SCRATCH_DIR is not set"), "{err}");
    assert!(err.contains("2 hooks: 2 ok, 0 failed"), "{err}");
}

#[test]
fn the_scratch_hook_mounts_a_private_tmpfs_the_user_owns_and_cannot_unmount() {
    if !need_root("the_scratch_hook_mounts_a_private_tmpfs_the_user_owns_and_cannot_unmount") {
        return;
    }
    let h = example_hooks();
    let scratch_dir = h.path("scratch");
    let uid = free_id().to_string();
    let out = run(h
        .bare()
        .args(["--uid", &uid, "--log-file", "none", "--", "sh", "-c"])
        .arg("cd \"$ROOTHOOKS_SCRATCH_DIR\" && echo hi > f && stat -c '%u %a' . && umount \"$ROOTHOOKS_SCRATCH_DIR\" 2>&1; echo umount=$?")
        .env("ROOTHOOKS_SCRATCH_DIR", &scratch_dir)
        .env("ROOTHOOKS_SCRATCH_SIZE", "8m"));
    let mounted = std::fs::read_to_string("/proc/self/mounts").unwrap().contains(&scratch_dir.display().to_string());
    if mounted {
        let _ = std::process::Command::new("umount").arg(&scratch_dir).status();
    }
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(mounted, "the hook did not mount: {}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with(&format!("{uid} 700\n")), "{text}");
    assert!(!text.contains("umount=0"), "the user could unmount it: {text}");
}
