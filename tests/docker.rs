//! roothooks as a Dockerfile ENTRYPOINT, in a real Docker engine (Debian's docker.io), and under a real
//! systemd booted as PID 1 in a container of that engine.
//!
//! `Dockerfile.example` is built as it is by `docker build`, with the legacy builder and with BuildKit,
//! from local images (scripts/e2e-images.sh makes them from debootstrap; nothing is pulled): a base
//! shaped like docker-stacks' base-notebook (jovyan, NB_USER/NB_UID/NB_GID, jupyter-server, USER
//! 1000) and a builder with this machine's Rust toolchain. Then the image is run the ways people run
//! it. Containers use --network none, or --network host for the server on 127.0.0.1. Every container
//! and image made here is removed, and the engine is stopped again if this test started it.

mod common;

use std::time::{Duration, Instant};

use common::engine::*;
use common::http::*;
use common::*;
use serde_json::{json, Value};

const BASE: &str = "roothooks-e2e/base-notebook:latest";
const BUILDER: &str = "roothooks-e2e/builder:latest";

/// `docker build` of Dockerfile.example with the local images; `buildkit` picks the builder.
fn build(tag: &str, buildkit: bool) -> Image {
    let out = std::process::Command::new(DOCKER)
        .env("DOCKER_BUILDKIT", if buildkit { "1" } else { "0" })
        .args(["build", "-q", "--force-rm", "--network", "host", "-f", "Dockerfile.example", "-t", tag])
        .args(["--build-arg", &format!("BASE_IMAGE={BASE}"), "--build-arg", &format!("BUILDER_IMAGE={BUILDER}")])
        .arg(env!("CARGO_MANIFEST_DIR"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let image = Image(tag.to_string());
    assert!(out.status.success(), "docker build (buildkit {buildkit}): {}\n{}", stdout(&out), stderr(&out));
    image
}

/// `docker run --rm --network none FLAGS IMAGE COMMAND...`: exit status, stdout, stderr.
fn run(image: &str, flags: &[&str], command: &[&str]) -> (i32, String, String) {
    let mut args = vec!["run", "--rm", "--network", "none"];
    args.extend(flags);
    args.push(image);
    args.extend(command);
    let out = docker(&args);
    (out.status.code().unwrap_or(-1), stdout(&out), stderr(&out))
}

/// `docker run -d --name NAME FLAGS ARGS...`: the container, removed when dropped.
fn detached(name: &str, flags: &[&str], args: &[&str]) -> Container {
    let container = Container(name.to_string());
    let mut all = vec!["run", "-d", "--name", name];
    all.extend(flags);
    all.extend(args);
    docker_ok(&all);
    container
}

/// The host's view of a running container's main process: its /proc/PID/status.
fn main_status(container: &str) -> std::collections::HashMap<String, String> {
    let pid = docker_ok(&["inspect", "-f", "{{.State.Pid}}", container]);
    proc_status(&std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap())
}

/// The host's view of the server in a container: the one child of its main process.
fn server_status(container: &str) -> std::collections::HashMap<String, String> {
    let pid = docker_ok(&["inspect", "-f", "{{.State.Pid}}", container]);
    let pid = pid.trim();
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    let server = children.split_whitespace().next().expect("roothooks has started the server");
    proc_status(&std::fs::read_to_string(format!("/proc/{server}/status")).unwrap())
}

#[test]
fn dockerfile_example_in_a_real_docker_engine() {
    let Some(_engine) = Engine::up() else { return };
    if !images_ready(&[BASE, BUILDER]) {
        return;
    }
    let _cleanup = NewDangling::since_now();
    let tag = format!("roothooks-e2e/example:test-{}", std::process::id());
    // BuildKit first, then the legacy builder, which the test runs everything else on
    drop(build(&format!("{tag}-buildkit"), true));
    let image = build(&tag, false);
    let image = image.0.as_str();

    // `docker run IMAGE`: the hooks baked into the image run as root, the server as jovyan, and it
    // answers on 127.0.0.1 (--network host)
    let (port, token) = (free_port(), "roothooks-docker-test");
    let name = format!("rh-docker-{}", std::process::id());
    let port_env = format!("JUPYTER_PORT={port}");
    let token_env = format!("JUPYTER_TOKEN={token}");
    let server = detached(&name, &["--network", "host", "-e", &port_env, "-e", &token_env], &[image]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while http("GET", port, "/api/status", token, None).map(|r| r.0) != Some(200) {
        assert!(Instant::now() < deadline, "no /api/status 200 within 60 s: {}", stderr(&docker(&["logs", &name])));
        std::thread::sleep(Duration::from_millis(250));
    }
    // the container's main process is roothooks, staying as the server's init, as dropped as the
    // server itself
    let status = main_status(&name);
    assert_eq!(status["Name"], "roothooks");
    for status in [&status, &server_status(&name)] {
        assert_eq!(status["Uid"], four(1000));
        assert_eq!(status["CapBnd"], "0000000000000000");
        assert_eq!(status["NoNewPrivs"], "1");
        assert_eq!(status["Seccomp"], "2", "under roothooks' filter (and Docker's)");
        assert_unprivileged(status);
    }
    let logs = stderr(&docker(&["logs", &name]));
    assert!(logs.contains("10-show-target: running as uid 0; the command will run as jovyan"), "{logs}");

    // `docker stop`: roothooks passes SIGTERM on to the server, which exits in the grace period
    // rather than being killed, and the container ends with the server's status
    // (a grace long enough for a loaded machine: the state checked is how it ended, not how fast)
    docker_ok(&["stop", "-t", "120", &name]);
    let code = docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", &name]);
    assert_ne!(code.trim(), "137", "the server was killed, not stopped");
    let logs = stderr(&docker(&["logs", &name]));
    assert!(logs.contains("the command exited with status"), "{logs}");
    drop(server);

    // with no --init, orphans of the server are reaped: roothooks is the container's init
    let orphans = "for i in $(seq 20); do (sleep 0.01 & echo $! >> /tmp/orphans); done; exec python3 -c \"
import os, time
pids = [int(p) for p in open('/tmp/orphans')]
left = lambda: [p for p in pids if os.path.exists('/proc/%d' % p)]
start = time.time()
while left() and time.time() - start < 120:
    time.sleep(0.1)
print('orphans left: %d' % len(left()))
\"";
    let (code, out, err) = run(image, &[], &["sh", "-c", orphans]);
    assert_eq!((code, out.trim()), (0, "orphans left: 0"), "{err}");
    let (code, _, err) = run(image, &[], &["sh", "-c", "kill -KILL $$"]);
    assert_eq!(code, 137, "a kill of the server from inside ends the container: {err}");

    // `docker run IMAGE id` replaces CMD
    let (code, out, err) = run(image, &[], &["id"]);
    assert_eq!((code, out.trim()), (0, "uid=1000(jovyan) gid=100(users) groups=100(users)"), "{err}");

    // OpenShift's way: a non-root start with gid 0
    let (code, out, err) = run(image, &["--user", "1010:0"], &["id", "-u"]);
    assert_eq!((code, out.trim()), (0, "1010"), "{err}");
    assert!(err.contains("gid 0 and group 0 kept"), "{err}");

    // --group-add: an orchestrator's extra group is passed on
    let (code, out, err) = run(image, &["--group-add", "3001"], &["id", "-G"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.split_whitespace().any(|g| g == "3001"), "{out}");

    // --cap-add SYS_ADMIN: the image's tmpfs hook mounts a scratch space the user cannot unmount
    let script = "stat -c '%U %a' /scratch; umount /scratch; echo umount=$?; grep -c ' /scratch ' /proc/mounts";
    let flags = ["--cap-add", "SYS_ADMIN", "-e", "ROOTHOOKS_SCRATCH_DIR=/scratch"];
    let (code, out, err) = run(image, &flags, &["sh", "-c", script]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("jovyan 700\n") && out.contains("umount=32") && out.trim_end().ends_with('1'),
        "{out}\n{err}"
    );

    // a read-only root filesystem with a tmpfs /tmp, and Docker's no-new-privileges, both start
    let (code, out, err) = run(image, &["--read-only", "--tmpfs", "/tmp"], &["id", "-un"]);
    assert_eq!((code, out.trim()), (0, "jovyan"), "{err}");
    let (code, out, err) = run(image, &["--security-opt", "no-new-privileges"], &["id", "-un"]);
    assert_eq!((code, out.trim()), (0, "jovyan"), "{err}");

    // `docker restart`: the hooks run again, and an account change is made once
    let name = format!("rh-docker-restart-{}", std::process::id());
    let _restarted = detached(&name, &["--network", "none", "-e", "NB_UID=1010"], &[image, "sleep", "600"]);
    docker_ok(&["restart", "-t", "1", &name]);
    let logs = stderr(&docker(&["logs", &name]));
    assert_eq!(logs.matches("10-show-target: running as uid 0").count(), 2, "{logs}");
    let passwd = docker_ok(&["exec", &name, "grep", "^jovyan:", "/etc/passwd"]);
    assert_eq!(passwd.lines().count(), 1, "{passwd}");
    assert!(passwd.starts_with("jovyan:x:1010:100:"), "{passwd}");
    assert_eq!(main_status(&name)["Uid"], four(1010));

    // `docker run -it` (a terminal, from `script`): the command gets a working one
    let shown = format!("{DOCKER} run -it --rm --network none {image} sh -c 'tty; test -t 0 && echo stdin-is-a-tty'");
    let out = std::process::Command::new("script").args(["-qec", &shown, "/dev/null"]).output().unwrap();
    let text = stdout(&out);
    assert!(text.contains("/dev/pts/") && text.contains("stdin-is-a-tty"), "{text}\n{}", stderr(&out));
}

/// A package index on 127.0.0.1 that serves one wheel, as PyPI would: /simple/roothooks/.
struct Index {
    server: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Index {
    fn serving(wheel: &std::path::Path) -> Index {
        let dir = scratch("rh-index");
        let project = dir.path().join("simple/roothooks");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::copy(wheel, project.join(wheel.file_name().unwrap())).unwrap();
        let port = free_port();
        let server = std::process::Command::new("/usr/bin/python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let index = Index { server, port, _dir: dir };
        wait_for("the package index to listen on 127.0.0.1", Duration::from_secs(60), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        index
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

#[test]
fn the_wheel_installs_with_pip_in_an_image_without_rust_and_starts_the_server() {
    let Some(_engine) = Engine::up() else { return };
    if !images_ready(&[BASE]) {
        return;
    }
    let Some(wheel) = static_wheel() else { return };
    let _cleanup = NewDangling::since_now();
    let index = Index::serving(&wheel);
    // examples/pip/Dockerfile as it is, but with this index in place of PyPI
    let tag = format!("roothooks-e2e/pip:test-{}", std::process::id());
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/pip");
    let out = std::process::Command::new(DOCKER)
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "--force-rm", "--network", "host", "-t", &tag])
        .args(["--build-arg", &format!("BASE_IMAGE={BASE}")])
        .args(["--build-arg", &format!("PIP_INDEX_URL=http://127.0.0.1:{}/simple/", index.port)])
        .arg(example)
        .output()
        .unwrap();
    let image = Image(tag.clone());
    assert!(out.status.success(), "docker build examples/pip: {}\n{}", stdout(&out), stderr(&out));
    drop(index);

    // no toolchain in the image: nothing was compiled, pip took the wheel
    let tools = "for t in cargo rustc rustup cc gcc; do command -v $t; done; true";
    let (code, out, err) = run(&image.0, &["--entrypoint", "sh"], &["-c", tools]);
    assert_eq!((code, out.as_str()), (0, ""), "a toolchain in the image: {err}");
    // the command pip installed is the static build, byte for byte, in a directory only root changes
    let script = "sha256sum /usr/local/bin/roothooks; stat -c '%U %G %a' /usr/local/bin /usr/local/bin/roothooks";
    let (code, out, err) = run(&image.0, &["--entrypoint", "sh"], &["-c", script]);
    assert_eq!(code, 0, "{err}");
    let ours = std::process::Command::new("sha256sum").arg(static_binary()).output().unwrap();
    let ours = stdout(&ours);
    let ours = ours.split_whitespace().next().unwrap();
    assert_eq!(out, format!("{ours}  /usr/local/bin/roothooks\nroot root 755\nroot root 755\n"));

    // the server starts through it as the ENTRYPOINT, as jovyan, with nothing to get root back
    let (port, token) = (free_port(), "roothooks-pip-test");
    let name = format!("rh-pip-{}", std::process::id());
    let env = [format!("JUPYTER_PORT={port}"), format!("JUPYTER_TOKEN={token}")];
    let server = detached(&name, &["--network", "host", "-e", &env[0], "-e", &env[1]], &[&image.0]);
    wait_for("the server's /api/status to answer 200", Duration::from_secs(120), || {
        http("GET", port, "/api/status", token, None).map(|r| r.0) == Some(200)
    });
    let status = main_status(&name);
    assert_eq!(status["Name"], "roothooks");
    for status in [&status, &server_status(&name)] {
        assert_eq!(status["Uid"], four(1000));
        assert_eq!(status["NoNewPrivs"], "1");
        assert_unprivileged(status);
    }
    let logs = stderr(&docker(&["logs", &name]));
    assert!(logs.contains("dropped to uid 1000"), "{logs}");
    drop(server);
}

// ---------------------------------------------------------------------------------------------
// systemd

const SYSTEMD: &str = "roothooks-e2e/systemd:latest";
const PREFIX: &str = "/opt/roothooks-e2e";

/// A container booted into systemd, with roothooks (the static build), the e2e prefix (Jupyter,
/// SystemdSpawner, the proxy) and node mounted read-only. --privileged does not work on every host;
/// this is what systemd needs.
struct Booted(Container);

impl Booted {
    fn up() -> Booted {
        let name = format!("rh-systemd-{}", std::process::id());
        let roothooks = format!("{}:/usr/local/bin/roothooks:ro", static_binary().display());
        let node = format!("{}:/usr/local/bin/node:ro", which("node"));
        let prefix = format!("{PREFIX}:{PREFIX}:ro");
        let flags = [
            "--network",
            "host",
            "--cap-add",
            "SYS_ADMIN",
            "--security-opt",
            "seccomp=unconfined",
            "--tmpfs",
            "/run",
            "--tmpfs",
            "/run/lock",
            "-v",
            "/sys/fs/cgroup:/sys/fs/cgroup:rw",
            "-v",
            &roothooks,
            "-v",
            &prefix,
            "-v",
            &node,
        ];
        let container = detached(&name, &flags, &[SYSTEMD]);
        let booted = Booted(container);
        // "initializing" and "starting" both come before the boot is done; only "running" or
        // "degraded" (a unit failed) end it
        let state = || booted.exec(&["systemctl", "is-system-running"]).1.trim().to_string();
        wait_for("systemd to report running or degraded", Duration::from_secs(180), || {
            matches!(state().as_str(), "running" | "degraded")
        });
        let now = state();
        assert_eq!(
            now,
            "running",
            "systemd booted degraded; failed units:\n{}",
            booted.sh("systemctl --failed --no-pager")
        );
        booted
    }

    /// `docker exec` in the container: exit status, stdout, stderr.
    fn exec(&self, args: &[&str]) -> (i32, String, String) {
        let mut all = vec!["exec", self.0 .0.as_str()];
        all.extend(args);
        let out = docker(&all);
        (out.status.code().unwrap_or(-1), stdout(&out), stderr(&out))
    }

    fn sh(&self, script: &str) -> String {
        let (code, out, err) = self.exec(&["sh", "-c", script]);
        assert_eq!(code, 0, "{script}: {out}\n{err}");
        out
    }

    fn put(&self, from: &std::path::Path, to: &str) {
        docker_ok(&["cp", &from.display().to_string(), &format!("{}:{to}", self.0 .0)]);
    }

    /// /proc/PID/status of a unit's main process.
    fn main_status(&self, unit: &str) -> std::collections::HashMap<String, String> {
        let pid = self.sh(&format!("systemctl show -p MainPID --value {unit}"));
        proc_status(&self.sh(&format!("cat /proc/{}/status", pid.trim())))
    }

    /// Wait up to 90 s for `probe`; if it never holds, fail with the journal of `units`.
    fn wait(&self, what: &str, units: &str, mut probe: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while !probe() {
            if Instant::now() > deadline {
                let units: Vec<String> = units.split(' ').map(|u| format!("-u {u}")).collect();
                let (_, journal, _) =
                    self.exec(&["sh", "-c", &format!("journalctl --no-pager -o cat {}", units.join(" "))]);
                panic!("gave up waiting for {what}; the journal says:\n{journal}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn journal(&self, unit: &str) -> String {
        self.sh(&format!("journalctl --no-pager -o cat -u {unit}"))
    }
}

fn which(program: &str) -> String {
    let out = std::process::Command::new("sh").args(["-c", &format!("command -v {program}")]).output().unwrap();
    let path = stdout(&out).trim().to_string();
    assert!(!path.is_empty(), "{program} is not installed");
    path
}

fn numeric_uid(booted: &Booted, user: &str) -> u32 {
    booted.sh(&format!("id -u {user}")).trim().parse().unwrap()
}

#[test]
fn examples_systemd_units_under_a_real_systemd() {
    let Some(_engine) = Engine::up() else { return };
    if !images_ready(&[SYSTEMD]) {
        return;
    }
    let ready = static_binary().exists()
        && std::path::Path::new(PREFIX).join("venv/lib").exists()
        && std::process::Command::new(format!("{PREFIX}/venv/bin/python"))
            .args(["-c", "import systemdspawner"])
            .status()
            .is_ok_and(|s| s.success());
    if !ready && !skip("needs scripts/build-static.sh and scripts/install-e2e.sh (SystemdSpawner)") {
        return;
    }
    let booted = Booted::up();
    assert_eq!(
        booted.exec(&["systemctl", "is-system-running"]).1.trim(),
        "running",
        "{}",
        booted.sh("systemctl --failed")
    );
    let (code, _, err) = booted.exec(&["systemd-run", "--wait", "--quiet", "-p", "DynamicUser=yes", "true"]);
    assert_eq!(code, 0, "systemd-run -p DynamicUser=yes: {err}");

    // The examples, installed as an operator would
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/systemd");
    booted.sh("mkdir -p /etc/jupyterhub/credentials /etc/jupyterhub/secrets /etc/roothooks.d /opt/jupyterhub && \
               rmdir /opt/jupyterhub && ln -s /opt/roothooks-e2e/venv /opt/jupyterhub && \
               chmod 0700 /etc/jupyterhub/credentials /etc/jupyterhub/secrets && \
               useradd --shell /bin/bash alice && useradd --shell /bin/bash bob && \
               head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > /etc/jupyterhub/secrets/cookie-secret && \
               head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > /etc/jupyterhub/secrets/proxy-auth-token && \
               printf '#!/bin/sh\\necho \"hook ran as uid $(id -u) for $ROOTHOOKS_USER\"\\n' > /etc/roothooks.d/10-hello && \
               chmod 0755 /etc/roothooks.d/10-hello");
    for unit in ["jupyterhub.service", "roothooks-singleuser@.service"] {
        booted.put(&examples.join(unit), &format!("/etc/systemd/system/{unit}"));
    }
    // the example's config, then what only this test needs: its ports, a login-free authenticator,
    // and a service token to drive the REST API
    let (proxy_port, hub_port, api_port) = (free_port(), free_port(), free_port());
    let token = format!("rh-docker-{}", std::process::id());
    let config = format!(
        "{}\n# --- added by tests/docker.rs\n\
         c.JupyterHub.bind_url = 'http://127.0.0.1:{proxy_port}'\n\
         c.JupyterHub.hub_bind_url = 'http://127.0.0.1:{hub_port}'\n\
         c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{api_port}'\n\
         c.ConfigurableHTTPProxy.command = ['{PREFIX}/node/node_modules/.bin/configurable-http-proxy']\n\
         c.JupyterHub.authenticator_class = 'dummy'\n\
         c.Spawner.start_timeout = 60\n\
         c.Spawner.http_timeout = 60\n\
         c.JupyterHub.services = [{{'name': 'test', 'api_token': '{token}'}}]\n\
         c.JupyterHub.load_roles = [{{'name': 'test', 'services': ['test'], 'scopes': ['admin:users', 'admin:servers', 'tokens', 'access:servers']}}]\n",
        std::fs::read_to_string(examples.join("jupyterhub_config.py")).unwrap()
    );
    let work = scratch("rh-systemd");
    std::fs::write(work.path().join("jupyterhub_config.py"), config).unwrap();
    booted.put(&work.path().join("jupyterhub_config.py"), "/etc/jupyterhub/jupyterhub_config.py");
    booted.sh("systemctl daemon-reload && systemctl start jupyterhub.service");
    let api = |method: &str, path: &str, body: Option<&Value>| {
        http(method, proxy_port, &format!("/hub/api{path}"), &token, body)
    };
    booted.wait("the hub behind the proxy", "jupyterhub.service", || api("GET", "/", None).is_some_and(|r| r.0 == 200));

    // A real JupyterHub with SystemdSpawner: alice's server is a transient unit whose command is
    // roothooks; it answers through the proxy, as alice, with nothing to regain
    assert_eq!(api("POST", "/users/alice", None).map(|r| r.0), Some(201));
    let started = api("POST", "/users/alice/server", None).map(|r| r.0);
    assert!(matches!(started, Some(201 | 202)), "{started:?}: {}", booted.journal("jupyterhub.service"));
    booted.wait("alice's server", "jupyterhub.service jupyter-alice-singleuser", || {
        api("GET", "/users/alice", None).is_some_and(|(_, body)| {
            serde_json::from_str::<Value>(&body).is_ok_and(|u| u["servers"][""]["ready"] == json!(true))
        })
    });
    let (code, body) = http("GET", proxy_port, "/user/alice/api/status", &token, None).unwrap();
    assert_eq!(code, 200, "{body}");
    let unit = "jupyter-alice-singleuser";
    let status = booted.main_status(unit);
    assert_eq!(status["Uid"], four(numeric_uid(&booted, "alice")));
    assert_eq!((status["CapBnd"].as_str(), status["NoNewPrivs"].as_str()), ("0000000000000000", "1"));
    let journal = booted.journal(unit);
    assert!(
        journal.contains("10-hello: hook ran as uid 0 for alice") && journal.contains("dropped to uid"),
        "{journal}"
    );
    let stopped = api("DELETE", "/users/alice/server", None).map(|r| r.0);
    assert!(matches!(stopped, Some(202 | 204)), "{stopped:?}");
    wait_for("alice's unit to stop", Duration::from_secs(30), || {
        booted.exec(&["systemctl", "is-active", unit]).1.trim() != "active"
    });

    // roothooks-singleuser@.service, the per-user unit: bob's env file is a credential (LoadCredential),
    // its storage key is unset for the server, the server runs as bob with NoNewPrivileges
    let (_, body) = api("POST", "/users/bob", None).unwrap();
    assert!(body.contains("bob"), "{body}");
    let (_, body) = api(
        "POST",
        "/users/bob/tokens",
        Some(&json!({"scopes": ["access:servers!user=bob", "users:activity!user=bob"]})),
    )
    .unwrap();
    let bob_token = serde_json::from_str::<Value>(&body).unwrap()["token"].as_str().unwrap().to_string();
    let bob_port = free_port();
    let env_file = format!(
        "JUPYTERHUB_API_TOKEN={bob_token}\nJUPYTERHUB_API_URL=http://127.0.0.1:{hub_port}/hub/api\n\
         JUPYTERHUB_USER=bob\nJUPYTERHUB_SERVICE_URL=http://127.0.0.1:{bob_port}/user/bob/\n\
         JUPYTERHUB_SERVICE_PREFIX=/user/bob/\nJUPYTERHUB_BASE_URL=/\nJUPYTERHUB_CLIENT_ID=jupyterhub-user-bob\n\
         JUPYTERHUB_OAUTH_ACCESS_SCOPES='[\"access:servers!user=bob\"]'\n\
         AWS_SECRET_ACCESS_KEY=only-for-the-hooks\n"
    );
    std::fs::write(work.path().join("bob.env"), env_file).unwrap();
    booted.put(&work.path().join("bob.env"), "/etc/jupyterhub/credentials/bob.env");
    booted.sh("chmod 0600 /etc/jupyterhub/credentials/bob.env && systemctl start roothooks-singleuser@bob.service");
    let unit = "roothooks-singleuser@bob.service";
    booted.wait("bob's server", "roothooks-singleuser@bob.service", || {
        http("GET", bob_port, "/user/bob/api/status", &bob_token, None).is_some_and(|r| r.0 == 200)
    });
    let status = booted.main_status(unit);
    assert_eq!(status["Uid"], four(numeric_uid(&booted, "bob")));
    assert_eq!((status["CapBnd"].as_str(), status["NoNewPrivs"].as_str()), ("0000000000000000", "1"));
    let pid = booted.sh(&format!("systemctl show -p MainPID --value {unit}"));
    let environ = booted.sh(&format!("tr '\\0' '\\n' < /proc/{}/environ", pid.trim()));
    assert!(environ.contains("JUPYTERHUB_USER=bob") && !environ.contains("AWS_SECRET_ACCESS_KEY"), "{environ}");
    assert!(booted.sh("ls -ld /home/bob").starts_with("drwx------"), "--create-home made bob's home");
    booted.sh(&format!("systemctl stop {unit}"));
    let (_, state, _) = booted.exec(&["systemctl", "show", "-p", "ActiveState", "-p", "Result", unit]);
    let mut state: Vec<&str> = state.lines().collect();
    state.sort_unstable();
    assert_eq!(state, ["ActiveState=inactive", "Result=success"], "a clean stop");
    let journal = booted.journal(unit);
    assert!(journal.contains("10-hello: hook ran as uid 0 for bob") && journal.contains("dropped to uid"), "{journal}");
    booted.sh("systemctl stop jupyterhub.service");
}
