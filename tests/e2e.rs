//! roothooks where users run it: inside OCI containers started by a real runtime (runc), in front of a
//! real Jupyter server, and as the spawner command of a real JupyterHub behind configurable-http-proxy.
//! Nothing is mocked; all traffic is on 127.0.0.1. `scripts/install-e2e.sh` installs the components.
//!
//! Every scenario asserts the bounding set and no_new_privs explicitly, so a plain setuid wrapper in
//! roothooks' place would fail it.

mod common;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::http::*;
use common::oci::*;
use common::*;
use serde_json::{json, Value};

const PREFIX: &str = "/opt/roothooks-e2e";

fn prefix(rel: &str) -> PathBuf {
    Path::new(&std::env::var("ROOTHOOKS_E2E_PREFIX").unwrap_or_else(|_| PREFIX.into())).join(rel)
}

/// Root and every component, or a loud skip (a failure under CI=true).
fn ready(needs: &[&str]) -> bool {
    if !need_root() {
        return false;
    }
    let mut missing = Vec::new();
    for need in needs {
        let ok = match *need {
            "runc" => Command::new("runc").arg("--version").output().is_ok_and(|o| o.status.success()),
            "busybox" => Command::new("/bin/busybox").arg("true").status().is_ok_and(|s| s.success()),
            "cc" => Command::new("cc").arg("--version").output().is_ok_and(|o| o.status.success()),
            "jupyter" => {
                prefix("venv/bin/jupyter-server").exists() && prefix("venv/bin/jupyterhub-singleuser").exists()
            }
            "hub" => prefix("venv/bin/jupyterhub").exists(),
            "kernel" => prefix("venv/share/jupyter/kernels/python3/kernel.json").exists(),
            "chp" => prefix("node/node_modules/.bin/configurable-http-proxy").exists(),
            "static" => static_binary().exists(),
            other => panic!("unknown component {other}"),
        };
        if !ok {
            missing.push(*need);
        }
    }
    missing.is_empty()
        || skip(&format!("missing {missing:?}; run scripts/install-e2e.sh as root (and scripts/build-static.sh)"))
}

#[test]
fn privileged_single_container_like_zero_to_jupyterhub() {
    if !ready(&["runc", "busybox", "cc"]) {
        return;
    }
    let b = Bundle::new();
    b.hook(
        "etc/roothooks.d",
        "10-mount",
        "mount -t tmpfs -o size=1m tmpfs /mnt/data && echo from-the-hook > /mnt/data/file",
    );

    // Control: the same pod without roothooks, as a plain uid change leaves it: setuid works there.
    let (code, out, err) = b.run(process(1000, 100, &[], caps(&["SYS_ADMIN"]), false, &["/suid-euid"]), &[]);
    assert_eq!((code, out.as_str()), (0, "euid=0\n"), "control: setuid must work in this container: {err}");

    let script =
        "cat /mnt/data/file; umount /mnt/data 2>/dev/null; echo umount=$?; /suid-euid; cat /proc/self/status; exit 7";
    let args = [
        "/roothooks",
        "--uid",
        "1000",
        "--gid",
        "100",
        "--hooks-dir",
        "/etc/roothooks.d",
        "--",
        "/bin/sh",
        "-c",
        script,
    ];
    let (code, out, err) = b.run(process(0, 0, &[5000], caps(&["SYS_ADMIN"]), false, &args), &[]);
    assert_eq!(code, 7, "the container exits with the command's status: {err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("from-the-hook"), "{out}\n{err}");
    assert_ne!(lines.next(), Some("umount=0"), "the user unmounted the hook's mount");
    assert_eq!(lines.next(), Some("euid=1000"), "a setuid-root binary gave root back");
    let status_text: String = lines.collect::<Vec<_>>().join("\n");
    assert_dropped(&status_text, 1000);
    assert!(groups(&proc_status(&status_text)).contains(&5000), "the fsGroup was lost");
    assert!(err.contains("hook 10-mount: ok"), "{err}");
}

#[test]
fn privileged_init_container_then_unprivileged_main_container() {
    if !ready(&["runc", "busybox", "cc"]) {
        return;
    }
    let shared = scratch("rh-shared");
    let home_mount =
        json!({"destination": "/home", "type": "bind", "source": shared.path(), "options": ["rbind", "rw"]});

    let init = Bundle::new();
    init.hook(
        "etc/init.d",
        "10-home",
        "mkdir -p /home/jovyan && chown \"$ROOTHOOKS_UID:$ROOTHOOKS_GID\" /home/jovyan && chmod 700 /home/jovyan && echo provisioned",
    );
    let args = ["/roothooks", "--no-exec", "--user", "jovyan", "--hooks-dir", "/etc/init.d", "--log-file", "none"];
    let (code, _, err) =
        init.run(process(0, 0, &[], caps(&["SYS_ADMIN"]), false, &args), std::slice::from_ref(&home_mount));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("10-home: provisioned"), "{err}");

    let main = Bundle::new();
    let script = "cd \"$HOME\" && touch written && stat -c '%u %a' . && cat /proc/self/status";
    let args = ["/roothooks", "--user", "jovyan", "--", "/bin/sh", "-c", script];
    let (code, out, err) = main.run(process(1000, 100, &[], no_caps(), true, &args), &[home_mount]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("WARN") && !err.contains("ERROR"), "the main container must start without complaint: {err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1000 700"), "{out}");
    assert_dropped(&lines.collect::<Vec<_>>().join("\n"), 1000);
    assert!(shared.path().join("jovyan/written").exists());
}

#[test]
fn nss_dir_files_from_an_init_container_give_the_user_a_name_in_the_main_container() {
    if !ready(&["runc", "busybox", "cc"]) {
        return;
    }
    let shared = scratch("rh-nss");
    let nss_mount = json!({"destination": "/nss", "type": "bind", "source": shared.path(), "options": ["rbind", "rw"]});
    let init = Bundle::new();
    let args =
        ["/roothooks", "--no-exec", "--nss-dir", "/nss", "--user", "alice", "--uid", "4321", "--log-file", "none"];
    let (code, _, err) = init.run(process(0, 0, &[], caps(&[]), false, &args), &[nss_mount]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("wrote passwd and group to /nss"), "{err}");
    let passwd = std::fs::read_to_string(shared.path().join("passwd")).unwrap();
    assert!(passwd.contains("jovyan:x:1000:100:") && passwd.contains("alice:x:4321:4321::/home/alice:"), "{passwd}");
    // the container's own /etc/passwd was not touched
    assert!(!std::fs::read_to_string(init.rootfs().join("etc/passwd")).unwrap().contains("alice"));

    let main = Bundle::new();
    let over = |name: &str| json!({"destination": format!("/etc/{name}"), "type": "bind", "source": shared.path().join(name), "options": ["bind", "ro"]});
    let args = ["/roothooks", "--user", "alice", "--", "/bin/sh", "-c", "id; whoami; echo $HOME"];
    let (code, out, err) = main.run(process(4321, 4321, &[], no_caps(), true, &args), &[over("passwd"), over("group")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "uid=4321(alice) gid=4321(alice)\nalice\n/home/alice\n");
}

#[test]
fn the_static_build_runs_in_a_root_filesystem_without_libc() {
    if !ready(&["runc", "busybox", "cc", "static"]) {
        return;
    }
    let b = Bundle::with(&static_binary(), false);
    assert!(!b.rootfs().join("lib").exists() && !b.rootfs().join("lib64").exists(), "no libc in this rootfs");
    // a user and a supplementary group that exist only in this rootfs's files
    std::fs::write(
        b.rootfs().join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\nmarie:x:4100:4100::/home/marie:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(b.rootfs().join("etc/group"), "root:x:0:\nmarie:x:4100:\nphysics:x:5100:marie\n").unwrap();
    std::fs::remove_file(b.rootfs().join("etc/nsswitch.conf")).unwrap();
    b.hook("etc/roothooks.d", "10-hello", "echo hook ran as $(id -u)");
    let args = ["/roothooks", "--user", "marie", "--", "/bin/sh", "-c", "id; echo $HOME; cat /proc/self/status"];
    let (code, out, err) = b.run(process(0, 0, &[], caps(&[]), false, &args), &[]);
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("uid=4100(marie) gid=4100(marie) groups=4100(marie),5100(physics)"));
    assert_eq!(lines.next(), Some("/home/marie"));
    assert_dropped(&lines.collect::<Vec<_>>().join("\n"), 4100);
    assert!(err.contains("10-hello: hook ran as 0"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// HTTP on loopback, just enough for the Jupyter and JupyterHub REST APIs

/// Processes whose real uid is `uid`.
fn pids_of_uid(uid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
                proc_status(&s).get("Uid").is_some_and(|u| u.split(' ').next() == Some(&uid.to_string()))
            })
        })
        .collect()
}

/// Kills what a test started, whatever happens to the test.
struct Reaper {
    child: Option<Child>,
    uid: u32,
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
        }
        for pid in pids_of_uid(self.uid) {
            let _ = signal(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

#[test]
fn a_real_jupyter_server_runs_as_the_user_and_stops_on_sigterm() {
    if !ready(&["jupyter"]) {
        return;
    }
    let user = Account::with_home(0);
    let (port, token) = (free_port(), format!("tok{}", free_id()));
    let h = Hooks::new();
    h.sh("10-hello", "echo preparing the server");
    let child = h
        .bare()
        .args(["--user", &user.name, "--log-file", "none", "--"])
        .arg(prefix("venv/bin/jupyter-server"))
        .args(["--ip", "127.0.0.1", "--port", &port.to_string(), "--no-browser"])
        .arg(format!("--IdentityProvider.token={token}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut reaper = Reaper { child: Some(child), uid: user.uid };

    wait_for("the server's /api/status", Duration::from_secs(60), || {
        http("GET", port, "/api/status", &token, None).is_some_and(|(code, _)| code == 200)
    });
    // the exec kept the PID: the server is the process roothooks was
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap().contains("jupyter-server"));
    assert_dropped(&status, user.uid);

    signal(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let child = reaper.child.as_mut().unwrap();
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    let exit = child.wait().unwrap();
    assert!(log.contains("10-hello: preparing the server"), "{log}");
    assert!(log.contains("Shutting down"), "no clean shutdown: {log}");
    assert!(exit.code().is_some(), "killed rather than stopped: {exit:?}");
    assert!(http("GET", port, "/api/status", &token, None).is_none(), "still listening");
}

/// What a notebook user does, as a script: threads, a subprocess, a pool of forked workers, pip
/// installing a package into their home, and a real IPython kernel running code.
const WORKLOAD: &str = r#"
import base64, hashlib, multiprocessing, os, subprocess, sys, threading, zipfile
from pathlib import Path

home = Path(os.environ["HOME"])
assert subprocess.run(["sh", "-c", "echo sub"], capture_output=True, text=True).stdout == "sub\n"
t = threading.Thread(target=print, args=("thread",)); t.start(); t.join()
with multiprocessing.Pool(2) as pool:
    assert pool.map(abs, [-1, -2]) == [1, 2]

# a wheel of the user's own, built by hand (no network, no build backend), installed with pip
files = {"rhdemo/__init__.py": b"VALUE = 42\n",
         "rhdemo-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: rhdemo\nVersion: 0.1\n",
         "rhdemo-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
record = "".join(f"{n},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},{len(d)}\n"
                 for n, d in files.items()) + "rhdemo-0.1.dist-info/RECORD,,\n"
wheel = home / "rhdemo-0.1-py3-none-any.whl"
with zipfile.ZipFile(wheel, "w") as z:
    for n, d in files.items():
        z.writestr(n, d)
    z.writestr("rhdemo-0.1.dist-info/RECORD", record)
target = home / "site"
subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--disable-pip-version-check",
                "--target", str(target), str(wheel)], check=True)
sys.path.insert(0, str(target))
import rhdemo
assert rhdemo.VALUE == 42

from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="python3")
try:
    reply = kc.execute_interactive("import os; print('kernel uid', os.getuid())", timeout=60)
    assert reply["content"]["status"] == "ok", reply
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
print("workload ok")
"#;

#[test]
fn a_notebook_workload_runs_under_the_system_call_filter() {
    if !ready(&["jupyter", "kernel"]) {
        return;
    }
    let user = Account::with_home(0);
    let dir = scratch("rh-workload");
    let script = dir.path().join("workload.py");
    std::fs::write(&script, WORKLOAD).unwrap();
    let out = run(roothooks()
        .args(["--user", &user.name, "--log-file", "none", "--"])
        .arg(prefix("venv/bin/python"))
        .arg(&script));
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(stderr(&out).contains("system call filter installed"), "{}", stderr(&out));
    assert!(text.contains(&format!("kernel uid {}", user.uid)), "{text}");
    assert!(text.contains("thread") && text.ends_with("workload ok\n"), "{text}");
    assert!(user.home.as_ref().unwrap().join("site/rhdemo/__init__.py").exists());
    for pid in pids_of_uid(user.uid) {
        let _ = signal(pid, nix::sys::signal::Signal::SIGKILL);
    }
}

#[test]
fn a_real_jupyterhub_spawns_the_server_through_roothooks() {
    if !ready(&["jupyter", "hub", "chp"]) {
        return;
    }
    let user = Account::with_home(0);
    let work = scratch("rh-hub");
    let h = Hooks::new();
    let marker = h.path("hook-ran");
    h.sh("10-provision", &format!("echo \"$ROOTHOOKS_USER\" > {}", marker.display()));
    let (hub_port, api_port, proxy_port) = (free_port(), free_port(), free_port());
    let token = format!("svc{}", free_id());
    let cmd = json!([
        BIN,
        "--user",
        user.name,
        "--hooks-dir",
        h.dir(),
        "--log-file",
        "none",
        "--",
        prefix("venv/bin/jupyterhub-singleuser")
    ]);
    let config = format!(
        r#"
c = get_config()  # noqa
c.JupyterHub.bind_url = "http://127.0.0.1:{proxy_port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.command = ["{chp}"]
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.spawner_class = "simple"
c.Spawner.cmd = {cmd}
c.Spawner.http_timeout = 60
c.Spawner.start_timeout = 60
c.JupyterHub.db_url = "sqlite:///{work}/hub.sqlite"
c.JupyterHub.cookie_secret_file = "{work}/cookie_secret"
c.JupyterHub.pid_file = "{work}/hub.pid"
c.JupyterHub.services = [{{"name": "e2e", "api_token": "{token}"}}]
c.JupyterHub.load_roles = [{{"name": "e2e", "services": ["e2e"],
    "scopes": ["admin:users", "admin:servers", "access:servers", "read:users"]}}]
"#,
        chp = prefix("node/node_modules/.bin/configurable-http-proxy").display(),
        work = work.path().display(),
    );
    std::fs::write(work.path().join("jupyterhub_config.py"), config).unwrap();
    let hub = Command::new(prefix("venv/bin/jupyterhub"))
        .arg("-f")
        .arg(work.path().join("jupyterhub_config.py"))
        .current_dir(work.path())
        .env("PATH", format!("{}:/usr/local/bin:/usr/bin:/bin", prefix("venv/bin").display()))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.path().join("hub.log")).unwrap())
        .spawn()
        .unwrap();
    let hub_pid = hub.id();
    let mut reaper = Reaper { child: Some(hub), uid: user.uid };
    let hub_log = || std::fs::read_to_string(work.path().join("hub.log")).unwrap_or_default();

    let api = |method: &str, path: &str| http(method, proxy_port, &format!("/hub/api{path}"), &token, None);
    wait_for("the hub's API", Duration::from_secs(60), || api("GET", "/").is_some_and(|(c, _)| c == 200));
    let name = &user.name;
    let (code, body) = api("POST", &format!("/users/{name}")).unwrap();
    assert!(code == 201 || code == 409, "create user: {code} {body}");
    let (code, body) = api("POST", &format!("/users/{name}/server")).unwrap();
    assert!(code == 201 || code == 202, "start server: {code} {body}\n{}", hub_log());
    wait_for("the server to be ready", Duration::from_secs(90), || {
        api("GET", &format!("/users/{name}")).is_some_and(|(_, body)| {
            serde_json::from_str::<Value>(&body).is_ok_and(|u| u["servers"][""]["ready"] == true)
        })
    });

    let (code, body) = http("GET", proxy_port, &format!("/user/{name}/api/status"), &token, None).unwrap();
    assert_eq!(code, 200, "through the proxy: {body}\n{}", hub_log());
    assert_eq!(std::fs::read_to_string(&marker).unwrap().trim(), name, "the hook did not run");
    let servers = pids_of_uid(user.uid);
    assert_eq!(servers.len(), 1, "one server process as the user: {servers:?}");
    let server = servers[0];
    assert!(std::fs::read_to_string(format!("/proc/{server}/cmdline")).unwrap().contains("jupyterhub-singleuser"));
    assert_dropped(&std::fs::read_to_string(format!("/proc/{server}/status")).unwrap(), user.uid);

    let (code, _) = api("DELETE", &format!("/users/{name}/server")).unwrap();
    assert!(code == 202 || code == 204, "stop server: {code}");
    wait_for("the server to stop", Duration::from_secs(30), || !alive(server));

    signal(hub_pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let exit = reaper.child.as_mut().unwrap().wait().unwrap();
    reaper.child = None;
    assert!(exit.code().is_some(), "the hub was killed rather than stopped: {exit:?}");
    // everything this test started is gone: the hub's process group (the proxy) and the user's processes
    let group_left = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(hub_pid as i32), None).is_ok();
    assert!(!group_left, "part of the hub's process group is still running");
    assert!(pids_of_uid(user.uid).is_empty());
    assert!(http("GET", proxy_port, "/", &token, None).is_none(), "the proxy still listens");
}
