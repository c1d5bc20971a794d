//! A real Docker engine for a test: Debian's docker.io, started with no bridge, no iptables rules and
//! no masquerading (containers run with --network none or host, so traffic stays on 127.0.0.1), and
//! stopped again by the last test that used it, unless it was running before. The images it runs
//! come from scripts/e2e-images.sh (debootstrap, imported; nothing can be pulled here).

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::*;

/// Debian's client, which matches its engine (another client may come first in PATH).
pub const DOCKER: &str = "/usr/bin/docker";

struct State {
    users: usize,
    started: Option<Child>,
}

static ENGINE: Mutex<State> = Mutex::new(State { users: 0, started: None });

/// Holds the engine up while alive.
pub struct Engine(());

fn answers() -> bool {
    Command::new(DOCKER).arg("info").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

impl Engine {
    /// The engine, started if it is not running; or a loud skip (a failure under CI=true).
    pub fn up() -> Option<Engine> {
        if !need_root() {
            return None;
        }
        if !Path::new("/usr/sbin/dockerd").exists() || !Path::new(DOCKER).exists() {
            skip("no Docker engine (docker.io); run scripts/install-e2e.sh as root");
            return None;
        }
        let mut state = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
        if state.users == 0 && !answers() {
            let log = std::fs::File::create(std::env::temp_dir().join("roothooks-tests-dockerd.log")).unwrap();
            let child = Command::new("/usr/sbin/dockerd")
                .args(["--bridge=none", "--iptables=false", "--ip-masq=false"])
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("dockerd");
            let deadline = Instant::now() + Duration::from_secs(120);
            while !answers() {
                assert!(Instant::now() < deadline, "dockerd did not answer within 120 s");
                std::thread::sleep(Duration::from_millis(200));
            }
            state.started = Some(child);
        }
        state.users += 1;
        Some(Engine(()))
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let mut state = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
        state.users -= 1;
        if state.users == 0 {
            if let Some(mut child) = state.started.take() {
                let _ = signal(child.id(), nix::sys::signal::Signal::SIGTERM);
                let _ = child.wait();
            }
        }
    }
}

/// `docker ARGS`, its output.
pub fn docker(args: &[&str]) -> Output {
    Command::new(DOCKER).args(args).stdin(Stdio::null()).output().expect("docker")
}

/// `docker ARGS`, which must succeed; its stdout.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(out.status.success(), "docker {args:?}: {}\n{}", stdout(&out), stderr(&out));
    stdout(&out)
}

/// Whether every image is there, or a loud skip.
pub fn images_ready(images: &[&str]) -> bool {
    let missing: Vec<&str> =
        images.iter().copied().filter(|i| !docker(&["image", "inspect", i]).status.success()).collect();
    missing.is_empty() || skip(&format!("missing images {missing:?}; run scripts/install-e2e.sh as root"))
}

/// A container removed (with its anonymous volumes) when dropped.
pub struct Container(pub String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", "-v", &self.0]);
    }
}

/// An image removed when dropped.
pub struct Image(pub String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.0]);
    }
}

fn dangling() -> Vec<String> {
    let out = docker(&["images", "-q", "--no-trunc", "--filter", "dangling=true"]);
    stdout(&out).lines().map(str::to_string).collect()
}

/// Removes, when dropped, the untagged images that appeared while it lived (the build stage of a
/// multi-stage build, the one a rebuilt tag left behind).
pub struct NewDangling(Vec<String>);

impl NewDangling {
    pub fn since_now() -> NewDangling {
        NewDangling(dangling())
    }
}

impl Drop for NewDangling {
    fn drop(&mut self) {
        for id in dangling().iter().filter(|id| !self.0.contains(id)) {
            let _ = docker(&["rmi", id]);
        }
    }
}
