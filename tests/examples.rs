//! The files in the repository that people copy: they must do what they say.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/hooks.d.example");
const R2D: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/repo2docker");

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
    if !need_root() {
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
    assert!(err.contains("30-s3fs-mount: ROOTHOOKS_S3_BUCKET is not set"), "{err}");
    assert!(err.contains("40-nfs-home: ROOTHOOKS_NFS_ROOT is not set"), "{err}");
    assert!(err.contains("50-fix-volume-owner: ROOTHOOKS_VOLUMES is not set"), "{err}");
    assert!(err.contains("5 hooks: 5 ok, 0 failed"), "{err}");
}

#[test]
fn the_example_hooks_do_their_job_when_configured() {
    if !need_root() {
        return;
    }
    let h = example_hooks();
    let share = h.path("share");
    std::fs::create_dir(&share).unwrap();
    let volume = h.path("volume");
    std::fs::create_dir(&volume).unwrap();
    let user = Account::new(0);
    let out = run(h
        .bare()
        .args(["--user", &user.name, "--log-file", "none", "--", "true"])
        .env("ROOTHOOKS_NFS_ROOT", &share)
        .env("ROOTHOOKS_VOLUMES", &volume)
        // a bucket that cannot be mounted here: the hook says what is missing, the server starts
        .env("ROOTHOOKS_S3_BUCKET", "no-such-bucket")
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"));
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let mine = share.join(&user.name);
    let meta = std::fs::metadata(&mine).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (user.uid, 0o700), "{err}");
    assert_eq!(std::fs::metadata(&volume).unwrap().uid(), user.uid);
    assert!(err.contains("30-s3fs-mount:") && err.contains("not mounting bucket no-such-bucket"), "{err}");

    // a symlink planted where the user's directory should be is refused, not followed
    std::fs::remove_dir(&mine).unwrap();
    let victim = h.path("victim");
    std::fs::create_dir(&victim).unwrap();
    std::os::unix::fs::symlink(&victim, &mine).unwrap();
    let out = run(h
        .bare()
        .args(["--user", &user.name, "--log-file", "none", "--", "true"])
        .env("ROOTHOOKS_NFS_ROOT", &share));
    assert!(out.status.success());
    assert!(stderr(&out).contains("is a symbolic link; refusing to touch it as root"));
    assert_eq!(std::fs::metadata(&victim).unwrap().uid(), 0);
}

fn shellcheck_ready() -> bool {
    Command::new("shellcheck").arg("--version").output().is_ok_and(|o| o.status.success())
        || skip("shellcheck is not installed (apt-get install shellcheck)")
}

#[test]
fn every_shell_script_in_the_examples_is_shellcheck_clean() {
    if !shellcheck_ready() {
        return;
    }
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(EXAMPLES).unwrap().map(|e| e.unwrap().path()).collect();
    scripts.push(Path::new(R2D).join("start"));
    scripts.extend(std::fs::read_dir(Path::new(R2D).join("roothooks.d")).unwrap().map(|e| e.unwrap().path()));
    for dir in ["docker-stacks/start-notebook.d", "docker-stacks/before-notebook.d"] {
        scripts
            .extend(std::fs::read_dir(Path::new(REPO).join("examples").join(dir)).unwrap().map(|e| e.unwrap().path()));
    }
    scripts.extend(
        ["scripts/test.sh", "scripts/install-e2e.sh", "scripts/build-static.sh", "bench/run.sh", ".ci/run"]
            .map(|s| Path::new(REPO).join(s)),
    );
    let out = Command::new("shellcheck").args(&scripts).output().unwrap();
    assert!(out.status.success(), "{}", stdout(&out));
}

/// A YAML file as JSON, through PyYAML in the e2e venv.
fn yaml(path: &Path) -> serde_json::Value {
    let python = "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))";
    let out = Command::new("/opt/roothooks-e2e/venv/bin/python").args(["-c", python]).arg(path).output().unwrap();
    assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn pyyaml_ready() -> bool {
    Path::new("/opt/roothooks-e2e/venv/bin/python").exists()
        || skip("no /opt/roothooks-e2e venv with PyYAML; run scripts/install-e2e.sh")
}

#[test]
fn the_zero_to_jupyterhub_configs_parse_and_say_what_they_claim() {
    if !pyyaml_ready() {
        return;
    }
    let dir = Path::new(REPO).join("examples/zero-to-jupyterhub");
    let single = yaml(&dir.join("privileged.yaml"));
    // the image's ENTRYPOINT is roothooks: cmd (the container's args) names only the server
    assert_eq!(single["singleuser"]["cmd"], serde_json::json!(["jupyterhub-singleuser"]));
    assert_eq!(single["singleuser"]["extraEnv"]["ROOTHOOKS_UID"], "1000");
    let ctx = &single["hub"]["config"]["KubeSpawner"]["container_security_context"];
    assert_eq!(ctx["runAsUser"], 0);
    assert_eq!(ctx["capabilities"]["add"][0], "SYS_ADMIN");
    assert_eq!(single["singleuser"]["extraEnv"]["ROOTHOOKS_UNSET_ENV"], "AWS_*");

    let split = yaml(&dir.join("init-container.yaml"));
    let init = &split["singleuser"]["initContainers"][0];
    let command: Vec<&str> = init["command"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(command.contains(&"--no-exec") && command.contains(&"--nss-dir=/nss"), "{command:?}");
    // the emptyDir is 0777 when made; --nss-dir needs a directory only root can change
    assert_eq!(
        command[..4],
        ["sh", "-c", "chmod 0755 /nss && exec \"$0\" \"$@\"", "/usr/local/bin/roothooks"],
        "{command:?}"
    );
    assert_eq!(init["securityContext"]["runAsUser"], 0);
    assert_eq!(split["singleuser"]["allowPrivilegeEscalation"], false);
    assert_eq!(split["singleuser"]["cmd"], serde_json::json!(["jupyterhub-singleuser"]));
    assert_eq!(split["singleuser"]["extraEnv"]["ROOTHOOKS_UID"], "1000");
    let main = &split["hub"]["config"]["KubeSpawner"]["container_security_context"];
    assert_eq!((main["runAsUser"].as_u64(), main["allowPrivilegeEscalation"].as_bool()), (Some(1000), Some(false)));
    // every flag the examples pass is one roothooks knows
    for arg in command.iter().skip(4).chain(["--uid", "--gid"].iter()) {
        let flag = arg.split('=').next().unwrap();
        let out = run(roothooks().arg(flag).arg("--help"));
        assert!(!stderr(&out).contains("unexpected argument"), "{flag}: {}", stderr(&out));
    }
}

#[test]
fn the_systemd_units_verify_without_a_warning() {
    if !need_root() {
        return;
    }
    let dir = scratch("rh-units");
    let mut units = Vec::new();
    for (name, instance) in [
        ("jupyterhub.service", "jupyterhub.service"),
        ("roothooks-singleuser@.service", "roothooks-singleuser@alice.service"),
    ] {
        // systemd-analyze checks that the programs exist: point them at ones that do
        let text = std::fs::read_to_string(Path::new(REPO).join("examples/systemd").join(name))
            .unwrap()
            .replace("/usr/local/bin/roothooks", BIN)
            .replace("/opt/jupyterhub/bin/jupyterhub-singleuser", "/bin/true")
            .replace("/opt/jupyterhub/bin/jupyterhub", "/bin/true");
        std::fs::write(dir.path().join(instance), text).unwrap();
        units.push(dir.path().join(instance));
    }
    let out = Command::new("systemd-analyze").args(["verify", "--man=no"]).args(&units).output().unwrap();
    assert!(out.status.success() && stderr(&out).trim().is_empty(), "{}", stderr(&out));
}

#[test]
fn the_repo2docker_start_script_runs_the_repositorys_hooks_then_the_server_as_the_user() {
    if !need_root() {
        return;
    }
    let user = Account::new(0);
    let work = scratch("rh-r2d");
    // what repo2docker makes: the repository, owned by the notebook user
    let repo = work.path().join("repo");
    let out = Command::new("cp").arg("-a").arg(R2D).arg(&repo).output().unwrap();
    assert!(out.status.success());
    // the image's /usr/local/bin/roothooks is the one built here
    let start = std::fs::read_to_string(repo.join("start")).unwrap();
    assert!(start.contains("exec /usr/local/bin/roothooks"), "{start}");
    std::fs::write(repo.join("start"), start.replace("/usr/local/bin/roothooks", BIN)).unwrap();
    let out = Command::new("chown").args(["-R", &format!("{0}:{0}", user.uid)]).arg(&repo).output().unwrap();
    assert!(out.status.success());
    let scratch_dir = work.path().join("scratch");
    let out = run(Command::new(repo.join("start"))
        .args(["sh", "-c", "id -u; stat -c %U $ROOTHOOKS_SCRATCH_DIR"])
        .env("REPO_DIR", &repo)
        .env("NB_USER", &user.name)
        .env("ROOTHOOKS_SCRATCH_DIR", &scratch_dir)
        .env("ROOTHOOKS_LOG_FILE", "none")
        .env("PATH", "/usr/bin:/bin"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{}\n{}\n", user.uid, user.name));
    let err = stderr(&out);
    assert!(err.contains("running UNTRUSTED hook"), "the risk is said out loud: {err}");
    assert!(err.contains("10-scratch: scratch space ready"), "{err}");
}

#[test]
fn the_scratch_hook_mounts_a_private_tmpfs_the_user_owns_and_cannot_unmount() {
    if !need_root() {
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

/// Whether a word of a command line names roothooks: the program itself, by whatever path.
fn names_roothooks(word: &str) -> bool {
    Path::new(word).file_name().is_some_and(|name| name == "roothooks")
}

/// Root finds the first `roothooks` on PATH, and the images' PATH starts with directories the user
/// can write (docker-stacks' /opt/conda/bin, repo2docker's ~/.local/bin): every example starts it by
/// its path in /usr/local/bin, where each image puts it and only root can change it.
#[test]
fn every_entrypoint_names_roothooks_by_an_absolute_path() {
    const PROGRAM: &str = "/usr/local/bin/roothooks";
    for rel in ["Dockerfile.example", "examples/docker-stacks/Dockerfile", "examples/pip/Dockerfile"] {
        let dockerfile = std::fs::read_to_string(Path::new(REPO).join(rel)).unwrap();
        let entrypoint = exec_form(&dockerfile, "ENTRYPOINT");
        assert_eq!(entrypoint.first().map(String::as_str), Some(PROGRAM), "{rel}: {entrypoint:?}");
        // and the image has it there: copied in, or installed by pip with that prefix
        let installed = dockerfile.lines().any(|l| {
            (l.starts_with("COPY ") && l.ends_with(&format!(" {PROGRAM}")))
                || l.contains("--prefix /usr/local roothooks")
        });
        assert!(installed, "{rel} does not put roothooks at {PROGRAM}");
    }
    // every line of the examples that starts it (exec, ExecStart=, a command list) names the path
    let mut files = vec![Path::new(REPO).join("examples/repo2docker/start")];
    for dir in ["examples/systemd", "examples/zero-to-jupyterhub"] {
        files.extend(std::fs::read_dir(Path::new(REPO).join(dir)).unwrap().map(|e| e.unwrap().path()));
    }
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            let words = line.split(|c: char| c.is_whitespace() || "\"'[],=`".contains(c)).filter(|w| !w.is_empty());
            for word in words.filter(|w| names_roothooks(w)) {
                assert_eq!(word, PROGRAM, "{}: {line}", file.display());
            }
        }
    }
    // and so does every example in --help
    let help = stdout(&run(roothooks().arg("--help")));
    let examples = help.split("Examples").nth(1).expect("--help has examples");
    for line in examples.lines() {
        let words = line.split(|c: char| c.is_whitespace() || "\"[],=".contains(c)).filter(|w| !w.is_empty());
        for word in words.filter(|w| names_roothooks(w)) {
            assert_eq!(word, PROGRAM, "--help: {line}");
        }
    }
}
