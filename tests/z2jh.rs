//! The Zero to JupyterHub configs in examples/ rendered into the user pod a hub would create, then run.
//!
//! `tests/z2jh/render.py` merges an example over the chart's own values.yaml, checks it against the
//! chart's values.schema.yaml, runs the chart's own jupyterhub_config.py on it (the chart's files are
//! read from ../shared/z2jh, chart commit 48ea50e, JupyterHub 5.5.0; nothing of them is copied here)
//! and builds the pod for user `alice` with KubeSpawner's own get_pod_manifest(), stubbing only the
//! Kubernetes API client. It checks the pod the way the API server would and reads it into a V1Pod.
//!
//! The pod is then run: each container whose image is the example's becomes a runc container (a
//! busybox root filesystem with roothooks, a hook and a stand-in for jupyterhub-singleuser that
//! reports what the server would run as), with the user, groups, capabilities, no_new_privs, command,
//! environment and volumes the pod gives it: init containers first, then the server's.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::oci::*;
use common::*;
use serde_json::{json, Value};

const PYTHON: &str = "/opt/roothooks-e2e/venv/bin/python";
const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// The chart's files, beside the project.
fn chart_dir() -> PathBuf {
    Path::new(REPO).join("../shared/z2jh")
}

fn ready(containers: bool) -> bool {
    if containers && !need_root() {
        return false;
    }
    if !chart_dir().join("values.schema.yaml").exists() {
        return skip(&format!("no chart files at {} (the z2jh reference data)", chart_dir().display()));
    }
    let imports = Command::new(PYTHON)
        .args(["-c", "import kubespawner, kubernetes, kubernetes_asyncio, jsonschema, yaml, pycurl"])
        .output();
    if !imports.is_ok_and(|o| o.status.success()) {
        return skip("no jupyterhub-kubespawner and kubernetes in the e2e venv; run scripts/install-e2e.sh");
    }
    if containers && !Command::new("runc").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return skip("no runc; run scripts/install-e2e.sh");
    }
    true
}

/// What render.py says about `config` (a config.yaml) for user alice.
fn render(config: &Path) -> Value {
    let out = Command::new(PYTHON)
        .arg(Path::new(REPO).join("tests/z2jh/render.py"))
        .arg(chart_dir())
        .arg(config)
        .arg("alice")
        .output()
        .unwrap();
    assert!(out.status.success(), "render.py {}: {}", config.display(), stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("render.py printed no JSON ({e}): {}", stdout(&out)))
}

fn example(name: &str) -> PathBuf {
    Path::new(REPO).join("examples/zero-to-jupyterhub").join(name)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

#[test]
fn both_examples_render_to_pods_the_api_server_would_take() {
    if !ready(false) {
        return;
    }
    for name in ["privileged.yaml", "init-container.yaml"] {
        let rendered = render(&example(name));
        assert_eq!(rendered["schema_errors"], json!([]), "{name} against the chart's schema");
        assert_eq!(rendered["render_error"], Value::Null, "{name}");
        assert_eq!(rendered["problems"], json!([]), "{name}");
        let spec = &rendered["pod"]["spec"];
        // every container of the example's image starts roothooks once: Dockerfile.example's
        // ENTRYPOINT, with the args after it, or a command of its own in its place
        let containers =
            spec["initContainers"].as_array().into_iter().flatten().chain(spec["containers"].as_array().unwrap());
        for c in containers.filter(|c| c["image"] == json!(IMAGE)) {
            let argv = container_argv(c);
            let starts = argv.iter().filter(|a| a.rsplit('/').next() == Some("roothooks")).count();
            assert_eq!(starts, 1, "{name}: container {} starts roothooks {starts} times: {argv:?}", c["name"]);
        }
        let volumes: Vec<&str> =
            spec["volumes"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
        assert!(volumes.contains(&"volume-alice"), "{name}: the home PVC is there: {volumes:?}");
    }
}

/// What a container of the example's image runs, as a container runtime puts it together: its
/// `command` in place of the image's ENTRYPOINT (Dockerfile.example's), then its `args` (KubeSpawner's
/// `cmd`) in place of CMD.
fn container_argv(c: &Value) -> Vec<String> {
    let dockerfile = std::fs::read_to_string(Path::new(REPO).join("Dockerfile.example")).unwrap();
    let command = match c.get("command") {
        Some(command) => strings(command),
        None => exec_form(&dockerfile, "ENTRYPOINT"),
    };
    command.into_iter().chain(strings(&c["args"])).collect()
}

/// `text` with `from` replaced by `to`, as a config file of its own.
fn changed(dir: &Path, name: &str, text: &str, from: &str, to: &str) -> PathBuf {
    assert!(text.contains(from), "{from:?} not in the example");
    let path = dir.join(name);
    std::fs::write(&path, text.replace(from, to)).unwrap();
    path
}

#[test]
fn mistakes_like_the_ones_the_examples_had_fail_the_check() {
    if !ready(false) {
        return;
    }
    let dir = scratch("rh-z2jh");
    let split = std::fs::read_to_string(example("init-container.yaml")).unwrap();
    let problems = |path: &Path| render(path)["problems"].to_string();
    // a volume name no pod has: what the example used to mount as its home
    let home = changed(dir.path(), "home.yaml", &split, "- name: volume-{user_server}", "- name: home");
    let found = problems(&home);
    assert!(found.contains("initContainer 'roothooks-init' mounts volume 'home'"), "{found}");
    // extraPodConfig.volumes replaces the pod's volume list: the home PVC is gone
    let replaced = changed(
        dir.path(),
        "replaced.yaml",
        &split,
        "  storage:\n",
        "  extraPodConfig:\n    volumes:\n      - name: nss\n        emptyDir: {}\n  storage:\n",
    );
    let found = problems(&replaced);
    assert!(found.contains("the home volume (a persistentVolumeClaim) is missing"), "{found}");
    // what the API server refuses outright
    let single = std::fs::read_to_string(example("privileged.yaml")).unwrap();
    let refused = changed(
        dir.path(),
        "refused.yaml",
        &single,
        "allowPrivilegeEscalation: true",
        "allowPrivilegeEscalation: false",
    );
    let found = problems(&refused);
    assert!(
        found.contains("cannot set allowPrivilegeEscalation to false and capabilities.Add CAP_SYS_ADMIN"),
        "{found}"
    );
    // and a value the chart's schema does not take
    let typo = changed(dir.path(), "typo.yaml", &single, "  fsGid: 100", "  fsGid: \"users\"");
    let rendered = render(&typo);
    let errors = rendered["schema_errors"].to_string();
    assert!(errors.contains("singleuser.fsGid"), "{errors}");
    assert!(rendered["render_error"].as_str().is_some_and(|e| e.contains("fs_gid")), "{rendered}");
}

// ---------------------------------------------------------------------------------------------
// Running a rendered pod

/// The image the examples name, as a runc bundle: roothooks in /usr/local/bin, a hook that shows it ran
/// as root with the pod's capabilities, and a stand-in server that reports what it runs as.
fn example_image() -> Bundle {
    let b = Bundle::new();
    let root = b.rootfs();
    std::fs::create_dir_all(root.join("usr/local/bin")).unwrap();
    copy_program(root.join("roothooks"), root.join("usr/local/bin/roothooks"));
    b.hook("etc/roothooks.d", "10-show", "echo \"hook ran as uid $(id -u)\"; grep CapEff /proc/self/status");
    let server = root.join("usr/local/bin/jupyterhub-singleuser");
    std::fs::write(
        &server,
        "#!/bin/sh\n# stands in for the server: the real one runs under roothooks in tests/e2e.rs\n\
         echo \"server: $(id)\"\nhead -1 /etc/passwd | sed 's/^/passwd head: /'\ncat /proc/self/status\n",
    )
    .unwrap();
    std::fs::set_permissions(&server, std::fs::Permissions::from_mode(0o755)).unwrap();
    b
}

const IMAGE: &str = "registry.example.org/jupyter-roothooks:1.0";

/// Host directories standing in for the pod's volumes: an emptyDir is made 0777, a PVC the way
/// the kubelet hands it over with an fsGroup (root's, that group's, 2775).
fn volume_dirs(spec: &Value, dir: &Path) -> Vec<(String, PathBuf)> {
    let fs_group = spec["securityContext"]["fsGroup"].as_u64().map(|g| g as u32);
    let mut dirs = Vec::new();
    for volume in spec["volumes"].as_array().unwrap() {
        let name = volume["name"].as_str().unwrap().to_string();
        let path = dir.join(&name);
        std::fs::create_dir(&path).unwrap();
        if volume.get("emptyDir").is_some() {
            set_mode(&path, 0o777);
        } else if volume.get("persistentVolumeClaim").is_some() {
            std::os::unix::fs::chown(&path, Some(0), fs_group).unwrap();
            set_mode(&path, if fs_group.is_some() { 0o2775 } else { 0o755 });
        } else {
            panic!("volume {volume} is neither an emptyDir nor a PVC: teach this test about it");
        }
        dirs.push((name, path));
    }
    dirs
}

/// One container of the pod as a runc process and its mounts, the way a container runtime under the
/// kubelet sets it up: the runtime's default capabilities plus `add` less `drop`, no_new_privs unless
/// allowPrivilegeEscalation, fsGroup and supplementalGroups as extra gids, command then args.
fn oci_container(spec: &Value, c: &Value, volumes: &[(String, PathBuf)]) -> (Value, Vec<Value>) {
    let sc = &c["securityContext"];
    let pod_sc = &spec["securityContext"];
    let id = |field: &str| sc[field].as_u64().or_else(|| pod_sc[field].as_u64()).unwrap_or(0) as u32;
    let mut gids: Vec<u32> = pod_sc["fsGroup"].as_u64().into_iter().map(|g| g as u32).collect();
    gids.extend(pod_sc["supplementalGroups"].as_array().into_iter().flatten().map(|g| g.as_u64().unwrap() as u32));
    assert_ne!(sc["privileged"], json!(true), "privileged containers cannot run here");
    let dropped = strings(&sc["capabilities"]["drop"]);
    let added = strings(&sc["capabilities"]["add"]);
    let caps = if dropped.iter().any(|d| d == "ALL") {
        let list: Vec<String> = added.iter().map(|c| format!("CAP_{c}")).collect();
        json!({"bounding": list, "effective": list, "permitted": list, "inheritable": [], "ambient": []})
    } else {
        let mut all = caps(&added.iter().map(String::as_str).collect::<Vec<_>>());
        for set in ["bounding", "effective", "permitted"] {
            all[set].as_array_mut().unwrap().retain(|c| !dropped.iter().any(|d| c == &json!(format!("CAP_{d}"))));
        }
        all
    };
    let args = container_argv(c);
    let mut env = vec!["PATH=/usr/local/bin:/bin".to_string(), "HOME=/root".to_string()];
    for var in c["env"].as_array().into_iter().flatten() {
        env.push(format!("{}={}", var["name"].as_str().unwrap(), var["value"].as_str().unwrap_or_default()));
    }
    let process = json!({
        "terminal": false,
        "user": {"uid": id("runAsUser"), "gid": id("runAsGroup"), "additionalGids": gids},
        "args": args,
        "env": env,
        "cwd": "/",
        "capabilities": caps,
        "noNewPrivileges": sc["allowPrivilegeEscalation"] == json!(false),
    });
    let mounts = c["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let name = m["name"].as_str().unwrap();
            let dir = &volumes.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no volume {name}")).1;
            let source = m["subPath"].as_str().map_or_else(|| dir.clone(), |sub| dir.join(sub));
            let mut options = vec!["bind"];
            if m["readOnly"] == json!(true) {
                options.push("ro");
            }
            json!({"destination": m["mountPath"], "type": "bind", "source": source, "options": options})
        })
        .collect();
    (process, mounts)
}

/// Run the pod: its init containers in order, then the server's container. Containers of another
/// image (the chart's own block-cloud-metadata, which needs iptables) are left out and said so.
/// Returns each run container's name, exit status, stdout and stderr.
fn run_pod(pod: &Value) -> Vec<(String, i32, String, String)> {
    let spec = &pod["spec"];
    let b = example_image();
    let volumes = volume_dirs(spec, b.dir.path());
    let containers =
        spec["initContainers"].as_array().into_iter().flatten().chain(spec["containers"].as_array().unwrap());
    let mut ran = Vec::new();
    for c in containers {
        let name = c["name"].as_str().unwrap().to_string();
        if c["image"] != json!(IMAGE) {
            eprintln!("not running container {name}: image {} is not the example's", c["image"]);
            continue;
        }
        let (process, mounts) = oci_container(spec, c, &volumes);
        let (code, out, err) = b.run(process, &mounts);
        let failed = code != 0;
        ran.push((name, code, out, err));
        if failed {
            break; // as the kubelet: a failing init container stops the pod
        }
    }
    ran
}

/// The stdout and stderr of container `name`, which must have run and exited 0.
fn ran_ok<'a>(ran: &'a [(String, i32, String, String)], name: &str) -> (&'a str, &'a str) {
    let (_, code, out, err) =
        ran.iter().find(|(n, ..)| n == name).unwrap_or_else(|| panic!("container {name} did not run: {ran:?}"));
    assert_eq!(*code, 0, "{name}: {out}\n{err}");
    (out, err)
}

#[test]
fn the_rendered_privileged_pod_runs_hooks_as_root_and_the_server_as_the_user() {
    if !ready(true) {
        return;
    }
    let rendered = render(&example("privileged.yaml"));
    let ran = run_pod(&rendered["pod"]);
    let (out, err) = ran_ok(&ran, "notebook");
    // the hook ran as root with the pod's CAP_SYS_ADMIN (bit 21)
    assert!(err.contains("hook ran as uid 0"), "{err}");
    let cap_eff = err.lines().find_map(|l| l.split("CapEff:\t").nth(1)).expect("the hook's CapEff");
    assert_ne!(u64::from_str_radix(cap_eff.trim(), 16).unwrap() & (1 << 21), 0, "{err}");
    // the server: uid 1000 with nothing to regain, fsGroup 100 kept, never group 0
    assert!(out.contains("server: uid=1000(jovyan) gid=100(users)"), "{out}");
    assert_dropped(out, 1000);
    assert!(groups(&proc_status(out)).contains(&100), "fsGroup kept: {out}");
    // roothooks started once, as the container's PID 1, and stayed as the server's init
    assert_eq!(err.matches("dropped to uid").count(), 1, "{err}");
    assert!(err.contains("roothooks stays beside it: init (roothooks is PID 1)"), "{err}");
}

#[test]
fn the_rendered_init_container_pod_provisions_then_starts_the_user_unprivileged() {
    if !ready(true) {
        return;
    }
    let rendered = render(&example("init-container.yaml"));
    let ran = run_pod(&rendered["pod"]);
    let (_, err) = ran_ok(&ran, "roothooks-init");
    assert!(err.contains("hook ran as uid 0") && err.contains("wrote passwd and group to /nss"), "{err}");
    let (out, err) = ran_ok(&ran, "notebook");
    // started as the user: nothing to drop, nothing run as root, a name from the files the
    // init container wrote and the server's container mounted over its own
    assert!(out.contains("server: uid=1000(jovyan) gid=100(users)"), "{out}");
    assert!(out.contains("passwd head: # written by roothooks --nss-dir"), "{out}");
    assert_dropped(out, 1000);
    assert!(!err.contains("hook ran"), "no hook in the server's container: {err}");
    // the image's hooks ran in the init container; here they are only named, not run
    assert!(err.contains("started as uid 1000, not root: not running the 1 hook(s)"), "{err}");
}
