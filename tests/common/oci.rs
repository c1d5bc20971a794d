//! OCI bundles for runc: a busybox root filesystem shaped like a Jupyter image (jovyan, uid 1000, in
//! group users, 100), with roothooks inside, and the process sections the tests start it with.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::*;

/// A busybox root filesystem with roothooks (and the libraries it links) inside.
pub struct Bundle {
    pub dir: tempfile::TempDir,
}

pub const APPLETS: &[&str] = &[
    "sh", "cat", "echo", "id", "mount", "umount", "mkdir", "chown", "chmod", "ls", "stat", "touch", "grep", "true",
    "whoami",
];

/// A static helper that prints its effective uid: a setuid-root copy of it shows whether setuid works.
pub fn build_euid_helper(to: &Path) {
    let src = to.with_extension("c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <unistd.h>\nint main(void){printf(\"euid=%d\\n\",(int)geteuid());return 0;}\n",
    )
    .unwrap();
    let out = Command::new("cc").args(["-static", "-O", "-o"]).arg(to).arg(&src).output().unwrap();
    assert!(out.status.success(), "cc: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_file(src).unwrap();
}

impl Bundle {
    pub fn new() -> Bundle {
        Bundle::with(Path::new(BIN), true)
    }

    /// A bundle with `binary` as /roothooks; `libs`: also the shared libraries it links against.
    pub fn with(binary: &Path, libs: bool) -> Bundle {
        let dir = scratch("rh-oci");
        let root = dir.path().join("rootfs");
        for d in ["bin", "etc", "proc", "dev", "tmp", "mnt/data", "home", "etc/roothooks.d", "etc/init.d"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        set_mode(&root.join("tmp"), 0o1777);
        super::copy_program("/bin/busybox", root.join("bin/busybox"));
        for applet in APPLETS {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
        super::copy_program(binary, root.join("roothooks"));
        // the libraries the (glibc-linked) binary needs, at the paths the loader expects
        let ldd = Command::new("ldd").arg(binary).output().unwrap();
        let ldd = if libs { String::from_utf8_lossy(&ldd.stdout).into_owned() } else { String::new() };
        for lib in ldd.split_whitespace().filter(|w| w.starts_with('/')) {
            let to = root.join(lib.trim_start_matches('/'));
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(lib, &to).unwrap();
        }
        std::fs::write(root.join("etc/nsswitch.conf"), "passwd: files\ngroup: files\n").unwrap();
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\njovyan:x:1000:100::/home/jovyan:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(root.join("etc/group"), "root:x:0:\nusers:x:100:\nfsgroup:x:5000:\n").unwrap();
        let euid = root.join("suid-euid");
        build_euid_helper(&euid);
        set_mode(&euid, 0o4755);
        Bundle { dir }
    }

    /// Copy a program of this machine into the root filesystem at the same path, with the shared
    /// libraries it links against (bash for docker-stacks' sourced hooks).
    pub fn add_program(&self, program: &Path) {
        let root = self.rootfs();
        let ldd = Command::new("ldd").arg(program).output().unwrap();
        let libs = String::from_utf8_lossy(&ldd.stdout).into_owned();
        for file in
            std::iter::once(program.to_str().unwrap()).chain(libs.split_whitespace().filter(|w| w.starts_with('/')))
        {
            let to = root.join(file.trim_start_matches('/'));
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            if !to.exists() {
                super::copy_program(file, &to);
            }
        }
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub fn hook(&self, dir: &str, name: &str, body: &str) {
        let path = self.rootfs().join(dir).join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        set_mode(&path, 0o755);
    }

    /// Run the container with this process section; returns (exit status, stdout, stderr).
    pub fn run(&self, process: Value, mounts: &[Value]) -> (i32, String, String) {
        let mut all_mounts = vec![
            json!({"destination": "/proc", "type": "proc", "source": "proc"}),
            json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        ];
        all_mounts.extend(mounts.iter().cloned());
        let config = json!({
            "ociVersion": "1.0.2",
            "process": process,
            "root": {"path": "rootfs", "readonly": false},
            "hostname": "roothooks-e2e",
            "mounts": all_mounts,
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}],
                "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list"],
                "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
            }
        });
        std::fs::write(self.dir.path().join("config.json"), serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        let id = format!("rh-e2e-{}-{}", std::process::id(), free_id());
        let out = Command::new("runc")
            .args(["run", "--bundle"])
            .arg(self.dir.path())
            .arg(&id)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let _ = Command::new("runc").args(["delete", "--force", &id]).output();
        (out.status.code().unwrap_or(-1), stdout(&out), stderr(&out))
    }
}

/// Docker's default capability set, plus what a pod asks for with `capabilities.add`.
pub fn caps(extra: &[&str]) -> Value {
    let mut list: Vec<String> = [
        "CHOWN",
        "DAC_OVERRIDE",
        "FSETID",
        "FOWNER",
        "MKNOD",
        "NET_RAW",
        "SETGID",
        "SETUID",
        "SETFCAP",
        "SETPCAP",
        "NET_BIND_SERVICE",
        "SYS_CHROOT",
        "KILL",
        "AUDIT_WRITE",
    ]
    .iter()
    .chain(extra)
    .map(|c| format!("CAP_{c}"))
    .collect();
    list.dedup();
    json!({"bounding": list, "effective": list, "permitted": list, "inheritable": [], "ambient": []})
}

pub fn no_caps() -> Value {
    json!({"bounding": [], "effective": [], "permitted": [], "inheritable": [], "ambient": []})
}

pub fn process(uid: u32, gid: u32, extra_gids: &[u32], caps: Value, no_new_privs: bool, args: &[&str]) -> Value {
    json!({
        "terminal": false,
        "user": {"uid": uid, "gid": gid, "additionalGids": extra_gids},
        "args": args,
        "env": ["PATH=/bin", "HOME=/root"],
        "cwd": "/",
        "capabilities": caps,
        "noNewPrivileges": no_new_privs
    })
}

pub fn assert_dropped(status_text: &str, uid: u32) {
    let status = proc_status(status_text);
    assert_eq!(status["Uid"], four(uid), "{status_text}");
    assert!(!groups(&status).contains(&0), "group 0 leaked");
    // explicit: a plain setuid wrapper leaves these two alone
    assert_eq!(status["CapBnd"], "0000000000000000", "bounding set not emptied");
    assert_eq!(status["NoNewPrivs"], "1", "no_new_privs not set");
    assert_unprivileged(&status);
}
