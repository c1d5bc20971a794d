//! roothooks as a container's PID 1 and on someone's terminal: started with no flag, it stays beside
//! the command, fully dropped, reaps every orphan, passes signals on, exits with the command's
//! status; on a terminal, the command gets a pseudo-terminal of its own. A container is a new pid
//! namespace here (`unshare --pid --fork --mount-proc`), as a runtime starts its entrypoint.

mod common;

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::http::wait_for;
use common::*;
use nix::sys::signal::Signal;

/// Long enough for any machine; a wait that gives up names what it waited for.
const PATIENCE: Duration = Duration::from_secs(120);

/// roothooks started as PID 1 of a new pid namespace, dropping to a uid of its own; stopped (the
/// whole namespace with it) when dropped.
struct Container {
    unshare: Option<Child>,
    uid: u32,
    /// a directory the user owns, for the command's files
    dir: tempfile::TempDir,
}

impl Container {
    /// Start `sh -c script` (with `$D` the user's directory) under roothooks with `flags`.
    fn start(flags: &[&str], script: &str) -> Container {
        let uid = free_id();
        let dir = users_dir(uid);
        let mut cmd = Command::new("unshare");
        without_settings(&mut cmd);
        cmd.args(["--pid", "--fork", "--mount-proc", BIN, "--uid", &uid.to_string(), "--gid", &uid.to_string()])
            .args(["--log-file", "none", "--hooks-dir", "/nonexistent"])
            .args(flags)
            .args(["--", "sh", "-c", script])
            .env("D", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        Container { unshare: Some(cmd.spawn().expect("start unshare")), uid, dir }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Wait until the command has written file `name`.
    fn wait_file(&self, name: &str) {
        let path = self.file(name);
        wait_for(&format!("the command to write {}", path.display()), PATIENCE, || path.exists());
    }

    /// The namespace's PID 1 as this host sees it: unshare's child.
    fn init(&self) -> u32 {
        let unshare = self.unshare.as_ref().unwrap().id();
        let children = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children")).unwrap();
        children.split_whitespace().next().expect("unshare has its child").parse().unwrap()
    }

    fn signal(&self, sig: Signal) {
        signal(self.init(), sig).expect("signal the container's PID 1");
    }

    /// Wait for the container to end; its output.
    fn wait(&mut self) -> Output {
        let child = self.unshare.take().unwrap();
        let pid = child.id();
        wait_for("the container to end", PATIENCE, || !alive(pid));
        child.wait_with_output().unwrap()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if let Some(mut child) = self.unshare.take() {
            // PID 1's end takes the whole namespace with it
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
        }
    }
}

/// The children of host process `pid`, each with its state letter (Z for a zombie).
fn children_of(pid: u32) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{child}/status")) else { continue };
        let status = proc_status(&status);
        if status.get("PPid").is_some_and(|p| p == &pid.to_string()) {
            found.push((child, status["State"].chars().next().unwrap().to_string()));
        }
    }
    found
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

#[test]
fn as_pid_1_fifty_orphans_leave_no_zombie() {
    if !need_root() {
        return;
    }
    let c = Container::start(&[], "for i in $(seq 50); do (sleep 0.01 &); done; touch $D/made; exec sleep 1000");
    c.wait_file("made");
    // every orphan has been reparented to PID 1 by now (each subshell had exited); what is left
    // under it must be the command alone, once the orphans have ended and been reaped
    let init = c.init();
    let start = std::time::Instant::now();
    loop {
        let left = children_of(init);
        if left.len() == 1 && left[0].1 != "Z" {
            break;
        }
        let zombies = left.iter().filter(|(_, s)| s == "Z").count();
        assert!(
            start.elapsed() < PATIENCE,
            "gave up waiting for the 50 orphans to be reaped: PID 1 still has {} children, {zombies} of them zombies",
            left.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn as_pid_1_every_signal_reaches_the_commands_process_group() {
    if !need_root() {
        return;
    }
    // the command and a process it started (in its group) each log the signals they get
    let signals = ["HUP", "INT", "QUIT", "USR1", "USR2", "WINCH", "CONT", "ALRM", "TSTP", "36"];
    let traps: String = signals.iter().map(|s| format!("trap 'echo {s} >> $1' {s}; ")).collect();
    let script = format!(
        "listen() {{ {traps} trap 'echo TERM >> $1; exit 0' TERM; touch $1.ready; \
         while :; do sleep 1 & wait $! 2>/dev/null; done; }}; \
         listen $D/helper & listen $D/command"
    );
    let mut c = Container::start(&[], &script);
    c.wait_file("command.ready");
    c.wait_file("helper.ready");
    let dir = c.dir.path().to_path_buf();
    let got = |who: &str| std::fs::read_to_string(dir.join(who)).unwrap_or_default();
    for name in signals {
        // kill(1) names real-time signals by number too
        let sent = Command::new("kill").arg(format!("-{name}")).arg(c.init().to_string()).status().unwrap();
        assert!(sent.success(), "kill -{name}");
        // a shell's background job starts with SIGINT and SIGQUIT ignored, for good: only the command
        // can show those
        let whom: &[&str] = if matches!(name, "INT" | "QUIT") { &["command"] } else { &["command", "helper"] };
        for who in whom {
            wait_for(&format!("{name} to reach the {who}"), PATIENCE, || got(who).lines().any(|l| l == name));
        }
        if name == "TSTP" {
            // stopped by it: go on
            c.signal(Signal::SIGCONT);
        }
    }
    c.signal(Signal::SIGTERM);
    let out = c.wait();
    assert_eq!(code(&out), Some(0), "the command's exit 0 is the container's: {}", stderr(&out));
    assert!(got("command").lines().any(|l| l == "TERM"), "{}", got("command"));
}

#[test]
fn signals_to_command_leaves_the_rest_of_its_group_alone() {
    if !need_root() {
        return;
    }
    let script = "listen() { trap 'echo USR1 >> $1' USR1; trap 'exit 0' TERM; touch $1.ready; \
                  while :; do sleep 1 & wait $! 2>/dev/null; done; }; \
                  listen $D/helper & listen $D/command";
    let mut c = Container::start(&["--signals-to", "command"], script);
    c.wait_file("command.ready");
    c.wait_file("helper.ready");
    c.signal(Signal::SIGUSR1);
    let dir = c.dir.path().to_path_buf();
    let got = |who: &str| std::fs::read_to_string(dir.join(who)).unwrap_or_default();
    wait_for("USR1 to reach the command", PATIENCE, || got("command").contains("USR1"));
    c.signal(Signal::SIGTERM);
    let out = c.wait();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(got("helper"), "", "the helper got a signal meant for the command alone");
}

#[test]
fn as_pid_1_the_commands_exit_is_the_containers_and_a_kill_from_inside_ends_it() {
    if !need_root() {
        return;
    }
    for (script, expected) in [("exit 0", 0), ("exit 7", 7), ("kill -KILL $$; exit 3", 137)] {
        let out = Container::start(&[], script).wait();
        assert_eq!(code(&out), Some(expected), "{script}: {}", stderr(&out));
        if expected == 137 {
            let said = "the command was killed by SIGKILL; exiting with 137";
            assert!(stderr(&out).contains(said), "{}", stderr(&out));
        }
    }
}

#[test]
fn as_pid_1_a_command_that_cannot_start_ends_the_container_with_127_or_126() {
    if !need_root() {
        return;
    }
    // the command's process fails its exec after it left roothooks: it says why and ends with the
    // shell's codes, which roothooks, staying as init, passes on
    let uid = free_id();
    let dir = users_dir(uid);
    let plain = dir.path().join("not-a-program");
    std::fs::write(&plain, "data\n").unwrap();
    give_to(&plain, uid);
    let plain = plain.to_str().unwrap();
    for (program, expected, said) in [("/nonexistent/server", 127, "command not found"), (plain, 126, "cannot execute")]
    {
        let out = run(Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", BIN, "--uid", &uid.to_string(), "--log-file", "none"])
            .args(["--hooks-dir", "/nonexistent", "--", program])
            .stdin(Stdio::null()));
        assert_eq!(out.status.code(), Some(expected), "{program}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("roothooks stays beside it: init") && err.contains(said), "{program}: {err}");
        assert!(err.contains(&format!("the command exited with status {expected}")), "{err}");
    }
}

#[test]
fn as_pid_1_a_command_that_ignores_sigterm_still_ends_the_container_when_it_exits() {
    if !need_root() {
        return;
    }
    // it ignores SIGTERM, and so does what it leaves running; the container ends with the command
    let mut c = Container::start(
        &[],
        "trap '' TERM; (trap '' TERM; exec sleep 1000) & touch $D/ready; \
         while [ ! -e $D/go ]; do sleep 0.1; done; exit 5",
    );
    c.wait_file("ready");
    c.signal(Signal::SIGTERM);
    std::fs::write(c.file("go"), "").unwrap();
    let out = c.wait();
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
}

#[test]
fn the_resident_roothooks_holds_what_the_command_holds_and_no_more() {
    if !need_root() {
        return;
    }
    let mut c = Container::start(
        &[],
        // roothooks goes to sleep in poll once the command runs: wait for that state, then look
        "i=0; while ! grep -q '^State:.S' /proc/1/status && [ $i -lt 2400 ]; do sleep 0.05; i=$((i+1)); done; \
         cat /proc/1/status; echo ===; cat /proc/self/status; echo ===; \
         ls /proc/1/fd >/dev/null 2>&1 && echo fds-readable; cat /proc/1/environ >/dev/null 2>&1 && echo environ-readable; \
         echo end",
    );
    let uid = c.uid;
    let out = c.wait();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let parts: Vec<&str> = text.split("===\n").collect();
    let (resident, command) = (proc_status(parts[0]), proc_status(parts[1]));
    assert_eq!(resident["Name"], "roothooks", "PID 1 is roothooks, not the command: {text}");
    assert_eq!(resident["Uid"], four(uid));
    assert_eq!(resident["Gid"], four(uid));
    assert_eq!(resident["Groups"], command["Groups"]);
    assert_unprivileged(&resident);
    assert_eq!(resident["Seccomp"], "2", "the filter holds the resident too");
    assert_eq!(resident["Seccomp_filters"], command["Seccomp_filters"]);
    // not dumpable: the user cannot open its descriptors or read its memory
    assert!(!parts[2].contains("readable"), "the user reached into the resident roothooks: {}", parts[2]);
    let sleeping = resident["State"].starts_with('S');
    assert!(sleeping, "it sleeps in the kernel: {}", resident["State"]);
}

#[test]
fn not_pid_1_and_not_on_a_terminal_the_command_takes_roothooks_pid() {
    if !need_root() {
        return;
    }
    let uid = free_id();
    let child = roothooks_as(uid)
        .args(["--gid", &uid.to_string(), "--hooks-dir", "/nonexistent", "--", "sh", "-c", "echo $$"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), pid.to_string(), "the command was exec'd in roothooks' place");
    let plan = run(roothooks_as(uid).args(["--dry-run", "--", "true"]));
    assert!(stdout(&plan).contains("supervisor:  exec: the command takes roothooks' place"), "{}", stdout(&plan));
}

#[test]
fn init_when_not_pid_1_takes_the_orphans_as_subreaper_and_says_so() {
    if !need_root() {
        return;
    }
    let uid = free_id();
    let dir = users_dir(uid);
    let root_dir = scratch("rh-report");
    let report = root_dir.path().join("report.json");
    let child = roothooks_as(uid)
        .args(["--gid", &uid.to_string(), "--hooks-dir", "/nonexistent", "--init", "--report"])
        .arg(&report)
        .args([
            "--",
            "sh",
            "-c",
            "(sleep 1000 >/dev/null 2>&1 & echo $! > $D/orphan); grep PPid /proc/$(cat $D/orphan)/status",
        ])
        .env("D", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let orphan = read_pid(&dir.path().join("orphan"));
    let _ = signal(orphan, Signal::SIGKILL);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), format!("PPid:\t{pid}"), "the orphan came to roothooks");
    assert!(stderr(&out).contains("init (--init)"), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["supervisor"]["mode"], "init", "{report}");
    assert_eq!(report["supervisor"]["signals_to"], "group", "{report}");
}

#[test]
fn the_settings_are_read_from_the_environment_and_bad_ones_named() {
    let plan = run(roothooks().args(["--dry-run", "--uid", "1000", "--", "true"]).env("ROOTHOOKS_INIT", "on"));
    assert!(stdout(&plan).contains("supervisor:  init (--init)"), "{}", stdout(&plan));
    let plan = run(roothooks().args(["--dry-run", "--uid", "1000", "--init=off", "--pty=always", "--", "true"]));
    assert!(stdout(&plan).contains("supervisor:  pty (--pty always)"), "{}", stdout(&plan));
    let bad = run(roothooks().args(["--uid", "1000", "--init=sometimes", "--", "true"]));
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("sometimes"), "{}", stderr(&bad));
    // a bare --init is "on"; `--init off` is off, not a command named off
    let plan = run(roothooks().args(["--dry-run", "--uid", "1000", "--init", "--", "true"]));
    assert!(stdout(&plan).contains("supervisor:  init (--init)"), "{}", stdout(&plan));
    let plan = run(roothooks().args(["--dry-run", "--uid", "1000", "--init", "off", "--pty", "never", "--", "true"]));
    assert!(stdout(&plan).contains("supervisor:  exec"), "{}", stdout(&plan));
}

#[test]
fn init_and_pty_take_the_boolean_words_images_write() {
    // ROOTHOOKS_INIT=1 in an image written for a switch stopped every start with a usage error
    let dry_run = |flags: &[&str], env: &[(&str, &str)]| {
        let out =
            run(roothooks().args(["--dry-run", "--uid", "1000"]).args(flags).args(["--", "true"]).envs(env.to_vec()));
        assert!(out.status.success(), "{flags:?} {env:?}: {}", stderr(&out));
        let text = stdout(&out);
        text.lines().find(|l| l.contains("supervisor:")).unwrap_or_default().trim().to_string()
    };
    let init = "supervisor:  init (--init)";
    for word in ["1", "true", "yes"] {
        assert!(dry_run(&[], &[("ROOTHOOKS_INIT", word)]).starts_with(init), "ROOTHOOKS_INIT={word}");
        assert!(dry_run(&["--init", word], &[]).starts_with(init), "--init {word}");
        assert!(dry_run(&["--pty", word], &[]).starts_with("supervisor:  pty (--pty always)"), "--pty {word}");
    }
    for word in ["0", "false", "no"] {
        let plan = dry_run(&["--pty", "never"], &[("ROOTHOOKS_INIT", word)]);
        assert!(plan.starts_with("supervisor:  exec"), "ROOTHOOKS_INIT={word}: {plan}");
        let plan = dry_run(&["--init", word], &[("ROOTHOOKS_PTY", word)]);
        assert!(plan.starts_with("supervisor:  exec"), "--init {word}, ROOTHOOKS_PTY={word}: {plan}");
    }
    // any other word is still a usage error that names it
    for (flags, env, word) in
        [(&[][..], &[("ROOTHOOKS_INIT", "maybe")][..], "maybe"), (&["--pty", "TRUE"], &[], "TRUE")]
    {
        let out = run(roothooks().args(["--uid", "1000"]).args(flags).args(["--", "true"]).envs(env.to_vec()));
        assert_eq!(out.status.code(), Some(2), "{word}: {}", stderr(&out));
        assert!(stderr(&out).contains(&format!("invalid value '{word}'")), "{}", stderr(&out));
    }
}

/// A root shell on a terminal of its own (`script`), as someone starting roothooks by hand; what it
/// prints is collected as it comes, what the test types goes to the terminal.
struct Terminal {
    script: Child,
    input: std::process::ChildStdin,
    output: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Terminal {
    fn start(shell: &str, env: &[(&str, &Path)]) -> Terminal {
        let mut cmd = Command::new("script");
        without_settings(&mut cmd);
        cmd.args(["-q", "-e", "-f", "-c", shell, "/dev/null"])
            .env("RH", BIN)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0);
        for (name, value) in env {
            cmd.env(name, value);
        }
        let mut script = cmd.spawn().expect("start script (util-linux)");
        let input = script.stdin.take().unwrap();
        let mut out = script.stdout.take().unwrap();
        let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let collected = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut out, &mut buf) {
                if n == 0 {
                    break;
                }
                collected.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Terminal { script, input, output }
    }

    fn text(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Wait until the terminal has shown `what`.
    fn wait_for(&self, what: &str) {
        let start = std::time::Instant::now();
        while !self.text().contains(what) {
            assert!(
                start.elapsed() < PATIENCE,
                "gave up waiting for {what:?} on the terminal; it shows:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn type_in(&mut self, keys: &[u8]) {
        std::io::Write::write_all(&mut self.input, keys).unwrap();
    }

    fn wait(mut self) -> std::process::ExitStatus {
        let pid = self.script.id();
        wait_for("the terminal's shell to end", PATIENCE, || !alive(pid));
        self.script.wait().unwrap()
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(self.script.id() as i32), Signal::SIGKILL);
        let _ = self.script.wait();
    }
}

/// The value printed after `label=` on the terminal.
fn shown(text: &str, label: &str) -> String {
    let at = text.find(&format!("{label}=")).unwrap_or_else(|| panic!("no {label}= in:\n{text}"));
    text[at + label.len() + 1..].lines().next().unwrap().trim().to_string()
}

#[test]
fn on_a_terminal_the_command_gets_its_own_relayed_and_the_mode_comes_back() {
    if !need_root() {
        return;
    }
    let uid = free_id();
    let dir = users_dir(uid);
    let shell = format!(
        "stty rows 33 cols 99; echo outer=$(tty); stty -g > $D/before; \
         $RH --uid {uid} --gid {uid} --log-file none --hooks-dir /nonexistent -- sh -c \
         'echo inner=$(tty); echo size=$(stty size); read x; echo got=$x; read y; echo resized=$(stty size); cat'; \
         echo status=$?; stty -g > $D/after; echo root-done"
    );
    let mut t = Terminal::start(&shell, &[("D", dir.path())]);
    t.wait_for("size=");
    let text = t.text();
    assert_ne!(shown(&text, "inner"), shown(&text, "outer"), "the command got a pty of its own");
    assert_eq!(shown(&text, "size"), "33 99", "the starter's window size");
    t.type_in(b"hello\n");
    t.wait_for("got=hello");
    // the starter's terminal changes size while the command runs
    let outer = shown(&text, "outer");
    assert!(Command::new("stty").args(["-F", &outer, "rows", "40", "cols", "120"]).status().unwrap().success());
    wait_for("the new size to reach the pty", PATIENCE, || {
        Command::new("stty")
            .args(["-F", &shown(&t.text(), "inner"), "size"])
            .output()
            .is_ok_and(|o| stdout(&o).trim() == "40 120")
    });
    t.type_in(b"next\n");
    t.wait_for("resized=40 120");
    // cat echoes a line, then ends at the EOF key
    t.type_in(b"echoed-by-cat\n");
    t.wait_for("echoed-by-cat\r\necho");
    t.type_in(b"\x04");
    t.wait_for("root-done");
    assert_eq!(shown(&t.text(), "status"), "0");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("before")).unwrap(),
        std::fs::read_to_string(dir.path().join("after")).unwrap(),
        "the terminal's mode came back"
    );
    assert!(t.wait().success());
}

#[test]
fn what_the_command_leaves_behind_reads_nothing_root_types_afterwards() {
    if !need_root() {
        return;
    }
    let uid = free_id();
    let dir = users_dir(uid);
    // It ignores the terminal's stop and hang-up signals (from the start: the command's exit hangs up
    // its terminal), keeps the command's stdin (a shell gives a background job /dev/null), waits
    // until told (the command has exited by then), takes the terminal's foreground and reads: what
    // root types next at its shell. With --pty never, as before, it gets root's line.
    let thief = "use POSIX; $SIG{TTOU} = $SIG{TTIN} = $SIG{HUP} = 'IGNORE'; \
                 select(undef, undef, undef, 0.1) until -e \"$ENV{D}/go\"; \
                 POSIX::tcsetpgrp(0, getpgrp()); my $n = sysread(STDIN, my $got, 100); \
                 open(my $f, '>', \"$ENV{D}/stolen.tmp\"); print $f (defined $n ? \"read $n: $got\" : \"read failed: $!\"); \
                 close $f; rename(\"$ENV{D}/stolen.tmp\", \"$ENV{D}/stolen\");";
    std::fs::write(dir.path().join("thief.pl"), thief).unwrap();
    let shell = format!(
        "$RH --uid {uid} --gid {uid} --log-file none --hooks-dir /nonexistent -- \
         sh -c 'trap \"\" HUP; exec 3<&0; perl $D/thief.pl <&3 >/dev/null 2>&1 & echo left-behind'; \
         echo roothooks-exited; while [ ! -e $D/done ]; do sleep 0.1; done"
    );
    let mut t = Terminal::start(&shell, &[("D", dir.path())]);
    t.wait_for("roothooks-exited");
    std::fs::write(dir.path().join("go"), "").unwrap();
    t.type_in(b"secret-typed-by-root\n");
    let stolen = dir.path().join("stolen");
    wait_for("the process left behind to report its read", PATIENCE, || stolen.exists());
    let got = std::fs::read_to_string(&stolen).unwrap();
    std::fs::write(dir.path().join("done"), "").unwrap();
    assert!(!got.contains("secret"), "a process the command left behind read root's terminal: {got}");
    assert!(t.wait().success());
}

/// The state letter of the first process named `name` below `ancestor` (R, S, T, ...).
fn state_below(ancestor: u32, name: &str) -> Option<(u32, String)> {
    let parent = |pid: u32| -> Option<u32> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        proc_status(&status).get("PPid")?.parse().ok()
    };
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { continue };
        let status = proc_status(&status);
        if status.get("Name").map(String::as_str) != Some(name) {
            continue;
        }
        let mut up = Some(pid);
        while let Some(p) = up.filter(|p| *p > 1) {
            if p == ancestor {
                return Some((pid, status["State"].chars().next().unwrap().to_string()));
            }
            up = parent(p);
        }
    }
    None
}

#[test]
fn a_stopped_command_stops_roothooks_with_it_and_both_come_back() {
    if !need_root() {
        return;
    }
    let uid = free_id();
    let shell = format!(
        "echo outer=$(tty); $RH --uid {uid} --gid {uid} --log-file none --hooks-dir /nonexistent -- \
         sh -c 'trap \"echo interrupted\" INT; echo ready; until read x; do :; done; echo got=$x'; echo status=$?"
    );
    let mut t = Terminal::start(&shell, &[]);
    t.wait_for("ready");
    // ^C typed at the starter's terminal reaches the command through its own terminal
    t.type_in(b"\x03");
    t.wait_for("interrupted");
    let script = t.script.id();
    // (the command is the sh below roothooks; the root shell above it is an sh too)
    let below = |who: &str| match who {
        "roothooks" => state_below(script, who),
        _ => state_below(script, "roothooks").and_then(|(rh, _)| state_below(rh, who)),
    };
    let stopped = |who: &str| below(who).is_some_and(|(_, s)| s == "T");
    // the command is stopped (SIGSTOP): roothooks stops with it, so the starter's shell sees its job
    // stopped, and gives the starter's terminal its mode back (canonical again) meanwhile
    let (command, _) = below("sh").unwrap();
    signal(command, Signal::SIGSTOP).unwrap();
    wait_for("the command and roothooks to stop", PATIENCE, || stopped("sh") && stopped("roothooks"));
    let outer = shown(&t.text(), "outer");
    let mode = stdout(&Command::new("stty").args(["-F", &outer, "-a"]).output().unwrap());
    assert!(mode.split_whitespace().any(|w| w == "icanon"), "the starter's terminal is raw while stopped: {mode}");
    // `fg`: roothooks is continued and continues the command
    let (rh, _) = below("roothooks").unwrap();
    signal(rh, Signal::SIGCONT).unwrap();
    wait_for("the command to run again", PATIENCE, || !stopped("sh") && !stopped("roothooks"));
    t.type_in(b"again\n");
    t.wait_for("got=again");
    t.wait_for("status=0");
}

#[test]
fn started_as_the_user_as_pid_1_the_resident_roothooks_is_still_closed_to_the_user() {
    if !need_root() {
        return;
    }
    // A non-root start (the initContainer split's main container) changes no uid, so the kernel
    // leaves the process dumpable: roothooks makes itself undumpable, or the user could ptrace it
    // and open its descriptors.
    let uid = free_id();
    let out = run(Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "setpriv", "--reuid", &uid.to_string(), "--regid"])
        .args([&uid.to_string(), "--clear-groups", BIN, "--uid", &uid.to_string(), "--log-file", "none"])
        .args(["--hooks-dir", "/nonexistent", "--", "sh", "-c"])
        .arg("grep ^Name: /proc/1/status; ls /proc/1/fd >/dev/null 2>&1 && echo fds-readable; echo end")
        .stdin(Stdio::null()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("Name:\troothooks\n"), "PID 1 is roothooks: {text}");
    assert!(!text.contains("fds-readable"), "the user reached into the resident roothooks: {text}");
}

#[test]
fn user_hooks_run_without_the_starters_terminal_in_a_session_of_their_own() {
    if !need_root() {
        return;
    }
    let uid = free_id();
    let dir = users_dir(uid);
    // what a before-notebook.d hook finds: a controlling terminal (tty_nr), the terminal handed on
    // descriptors 5 or 3, /dev/tty; a process it left could take any of them once roothooks is gone;
    // and a sourced hook (docker-stacks' *.sh), whose exports come on descriptor 3, beside a
    // terminal handed on descriptor 3 itself
    let look = "#!/bin/sh\n{ echo \"ttynr=$(cut -d' ' -f7 /proc/self/stat)\"; \
         [ -e /proc/self/fd/5 ] && echo fd5=open || echo fd5=closed; \
         (exec 3</dev/tty) 2>/dev/null && echo devtty=open || echo devtty=none; \
         echo \"leader=$(cut -d' ' -f6 /proc/self/stat)/$$\"; } > $D/hook-state\n\
         [ -e /proc/self/fd/3 ] && echo fd3=open >> $D/fd3-state || echo fd3=closed >> $D/fd3-state\n";
    let sourced = "[ -t 3 ] && echo fd3=terminal > $D/sourced-state || echo fd3=exports > $D/sourced-state\n";
    // a directory of hooks only root can change, as before-notebook.d is
    let hooks = Hooks::new();
    hooks.raw("10-look", look, 0o755);
    hooks.raw("20-sourced.sh", sourced, 0o644);
    let shell = format!(
        "$RH --uid {uid} --gid {uid} --log-file none --hooks-dir /nonexistent --user-hooks-dir {} -- true 5<>/dev/tty; \
         $RH --uid {uid} --gid {uid} --log-file none --hooks-dir /nonexistent --docker-stacks --user-hooks-dir {} \
         -- true 3<>/dev/tty; echo roothooks-exited",
        hooks.dir().display(),
        hooks.dir().display()
    );
    let t = Terminal::start(&shell, &[("D", dir.path())]);
    t.wait_for("roothooks-exited");
    let sourced = std::fs::read_to_string(dir.path().join("sourced-state")).unwrap();
    assert_eq!(sourced, "fd3=exports\n", "the starter's terminal on descriptor 3 reached a user hook");
    let fd3 = std::fs::read_to_string(dir.path().join("fd3-state")).unwrap();
    assert_eq!(fd3, "fd3=closed\nfd3=closed\n", "the starter's terminal on descriptor 3 reached a user hook");
    let state = std::fs::read_to_string(dir.path().join("hook-state")).unwrap();
    let mut lines = state.lines();
    assert_eq!(lines.next(), Some("ttynr=0"), "a controlling terminal: {state}");
    assert_eq!(lines.next(), Some("fd5=closed"), "{state}");
    assert_eq!(lines.next(), Some("devtty=none"), "{state}");
    let leader = lines.next().unwrap().trim_start_matches("leader=");
    let (sid, pid) = leader.split_once('/').unwrap();
    assert_eq!(sid, pid, "the hook leads a session of its own: {state}");
    assert!(t.wait().success());
}

#[test]
fn started_without_root_a_user_hook_cannot_read_roothooks_environment() {
    if !need_root() {
        return;
    }
    let uid = free_id();
    let dir = users_dir(uid);
    let peek = "#!/bin/sh\nif tr '\\0' '\\n' < /proc/$PPID/environ > $D/seen 2>/dev/null; then echo read; else echo refused; fi > $D/peek\n\
         head -c 16 /proc/$PPID/mem >/dev/null 2>&1 && echo mem-read >> $D/peek || echo mem-refused >> $D/peek\n";
    let hooks = Hooks::new();
    hooks.raw("10-peek", peek, 0o755);
    // OpenShift's way: the container starts as the user; a secret kept from the command
    let out = run(as_uid(uid, uid)
        .env("D", dir.path())
        .env("BUCKET_KEY", "s3cr3t")
        .args([BIN, "--uid", &uid.to_string(), "--log-file", "none", "--unset-env", "BUCKET_KEY", "--user-hooks-dir"])
        .arg(hooks.dir())
        .args(["--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let peek = std::fs::read_to_string(dir.path().join("peek")).unwrap();
    assert_eq!(peek, "refused\nmem-refused\n", "{}", stderr(&out));
    let seen = std::fs::read_to_string(dir.path().join("seen")).unwrap_or_default();
    assert!(!seen.contains("s3cr3t"), "{seen}");
}

#[test]
fn without_a_controlling_terminal_but_handed_one_roothooks_still_gives_the_command_a_pty() {
    if !need_root() {
        return;
    }
    let uid = free_id();
    let dir = users_dir(uid);
    // `setsid roothooks ...` from a root shell: a session of its own, no controlling terminal, but the
    // shell's terminal on 0-2 and on 7, from which a process the command left could read what root
    // types next
    let (master, slave) = pty_pair();
    let starters = std::fs::read_link(format!("/proc/self/fd/{}", slave.as_raw_fd())).unwrap();
    let mut cmd = roothooks();
    cmd.args([
        "--uid",
        &uid.to_string(),
        "--gid",
        &uid.to_string(),
        "--log-file",
        "none",
        "--hooks-dir",
        "/nonexistent",
    ])
    .args(["--", "sh", "-c", "readlink /proc/self/fd/0 > $D/zero; ls /proc/self/fd > $D/fds"])
    .env("D", dir.path())
    .stdin(slave.try_clone().unwrap())
    .stdout(slave.try_clone().unwrap())
    .stderr(slave.try_clone().unwrap());
    let fd = slave.as_raw_fd();
    // SAFETY: between fork and exec only setsid and dup2 are called.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::setsid()?;
            if nix::libc::dup2(fd, 7) != 7 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    // the test keeps no end of the starter's terminal but the master
    drop((cmd, slave));
    // the relay writes the command's output to the starter's terminal: keep reading it
    let mut master = master;
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = master.read(&mut buf) {
            seen.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let status = ended(&mut child, "roothooks started with setsid to end");
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default().trim().to_string();
    let (zero, fds) = (read("zero"), read("fds"));
    // the reader ends when the last holder of the terminal (the relay, roothooks) is gone
    let log = reader.join().unwrap();
    assert!(status.success(), "{log}");
    assert!(log.contains("relays a new pseudo-terminal"), "{log}");
    assert!(zero.starts_with("/dev/pts/"), "{zero}: {log}");
    assert_ne!(Path::new(&zero), starters, "the command holds the starter's terminal: {log}");
    assert!(!fds.lines().any(|fd| fd == "7"), "the starter's terminal on 7 reached the command: {fds}");
}

/// roothooks on a terminal the test holds the other end of (`master`), as its controlling terminal,
/// in a session of its own: the test can type into it and leave its output unread, as a slow remote
/// terminal would.
fn on_a_terminal_the_test_holds(args: &[&str]) -> (Child, std::fs::File) {
    let (master, slave) = pty_pair();
    let mut cmd = roothooks();
    cmd.args(args).stdin(slave.try_clone().unwrap()).stdout(slave.try_clone().unwrap()).stderr(slave);
    // SAFETY: between fork and exec only setsid and an ioctl on descriptor 0 are called.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()?;
            if nix::libc::ioctl(0, nix::libc::TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    (cmd.spawn().unwrap(), master)
}

/// A pseudo-terminal's master and slave, both close-on-exec from the moment they exist. A pair from
/// openpty(3) is not: until it is marked, whatever another test thread starts inherits the slave, and
/// a roothooks handed a terminal gives its command a pty of its own (its plan said "init+pty" under
/// load).
fn pty_pair() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    // std opens with O_CLOEXEC
    let master =
        std::fs::OpenOptions::new().read(true).write(true).custom_flags(nix::libc::O_NOCTTY).open("/dev/ptmx").unwrap();
    let unlock: nix::libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from a valid pointer; the descriptor is the master's.
    assert_eq!(unsafe { nix::libc::ioctl(master.as_raw_fd(), nix::libc::TIOCSPTLCK, &unlock) }, 0);
    let flags = nix::libc::O_RDWR | nix::libc::O_NOCTTY | nix::libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new descriptor for the slave.
    let slave = unsafe { nix::libc::ioctl(master.as_raw_fd(), nix::libc::TIOCGPTPEER, flags) };
    assert!(slave >= 0, "TIOCGPTPEER: {}", std::io::Error::last_os_error());
    // SAFETY: a descriptor just returned to this function, owned by nothing else.
    (master, unsafe { std::fs::File::from_raw_fd(slave) })
}

/// Wait for `child` to end, with a generous deadline that names what was awaited.
fn ended(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let mut status = None;
    wait_for(what, PATIENCE, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    status.unwrap()
}

#[test]
fn under_an_output_flood_to_a_slow_terminal_keys_and_signals_still_reach_the_command() {
    if !need_root() {
        return;
    }
    use std::os::unix::process::ExitStatusExt;
    let uid = free_id();
    let dir = users_dir(uid);
    let started = dir.path().join("flooding");
    let flood = format!("touch {}; exec yes flood", started.display());
    for (how, expected) in [("^C typed", 130), ("SIGTERM to roothooks", 143)] {
        let _ = std::fs::remove_file(&started);
        let uid_text = uid.to_string();
        let args = ["--uid", &uid_text, "--log-file", "none", "--hooks-dir", "/nonexistent", "--", "sh", "-c", &flood];
        let (mut child, mut master) = on_a_terminal_the_test_holds(&args);
        // the state awaited: the command writes, and nothing reads the terminal, so the flood backs up
        wait_for("the command to start flooding", PATIENCE, || started.exists());
        let flooding = children_of(child.id());
        assert_eq!(flooding.len(), 1, "{flooding:?}");
        match how {
            "^C typed" => std::io::Write::write_all(&mut master, b"\x03").unwrap(),
            _ => signal(child.id(), Signal::SIGTERM).unwrap(),
        }
        // the command ends while its terminal is still unread: the key or signal was not held up
        wait_for(&format!("the flooding command to end after {how}, the terminal unread"), PATIENCE, || {
            children_of(child.id()).iter().all(|(pid, state)| *pid != flooding[0].0 || state == "Z")
        });
        // now the terminal reads again, so roothooks can say its last lines and put the mode back
        let mut reader = master.try_clone().unwrap();
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let status = ended(&mut child, &format!("roothooks to end after {how}"));
        assert_eq!(status.code(), Some(expected), "{how}: {status:?} (signal {:?})", status.signal());
    }
}

#[test]
fn a_job_left_writing_after_the_command_exits_does_not_keep_roothooks() {
    if !need_root() {
        return;
    }
    // a job ignores the hang-up and writes without a pause, until its terminal is gone (EIO); the
    // starter's terminal reads slowly (a remote one), so the pty is never empty while the job runs
    let uid = free_id().to_string();
    let job = "trap '' HUP; yes job-writes & sleep 0.2; exit 3";
    let args = ["--uid", &uid, "--log-file", "none", "--hooks-dir", "/nonexistent", "--", "sh", "-c", job];
    let (mut child, master) = on_a_terminal_the_test_holds(&args);
    let mut reader = master.try_clone().unwrap();
    let slow = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while std::io::Read::read(&mut reader, &mut buf).is_ok_and(|n| n > 0) {
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let status = ended(&mut child, "roothooks to end once the command exited, a job still writing");
    assert_eq!(status.code(), Some(3), "the command's status");
    drop(master);
    let _ = slow.join();
}

#[test]
fn with_no_pseudo_terminal_to_be_had_the_command_never_gets_roots_terminal() {
    if !need_root() {
        return;
    }
    let uid = free_id();
    let dir = users_dir(uid);
    // A devpts instance of the test's own with room for two: the starter's terminal takes one, a
    // process of the user's holds the other (as the user can, up to a node's kernel.pty.max).
    let holder = format!(
        "setpriv --reuid {uid} --regid {uid} --clear-groups /usr/bin/python3 -c \"import os,sys,time\nfds=[]\n\
         while True:\n  try: fds.append(os.openpty())\n  except OSError: break\n\
         open(sys.argv[1],'w').write(str(len(fds)))\nwhile not os.path.exists(sys.argv[2]): time.sleep(0.1)\" \
         $D/held $D/release"
    );
    let inner = format!(
        "{holder} & for i in $(seq 1200); do [ -e $D/held ] && break; sleep 0.1; done; \
         $RH --uid {uid} --log-file none --hooks-dir /nonexistent -- sh -c 'echo command-started'; \
         echo status=$?; touch $D/release; wait"
    );
    let script = "mount -t devpts -o newinstance,max=2,ptmxmode=0666 devpts /dev/pts && \
                  script -qec \"$INNER\" /dev/null";
    let mut cmd = Command::new("unshare");
    let out = run(without_settings(&mut cmd)
        .args(["-m", "--propagation", "private", "sh", "-c", script])
        .env("RH", BIN)
        .env("D", dir.path())
        .env("INNER", &inner));
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(dir.path().join("held")).unwrap(), "1", "{text}");
    assert!(!text.contains("command-started"), "the command started without a pty of its own: {text}");
    assert!(text.contains("status=1"), "{text}");
    assert!(text.contains("cannot open a pseudo-terminal for the command"), "{text}");
    assert!(text.contains("pass --pty never to share this terminal on purpose"), "{text}");
}

#[test]
fn with_its_descriptors_away_from_the_terminal_roothooks_still_gives_the_command_a_pty() {
    if !need_root() {
        return;
    }
    let uid = free_id();
    let dir = users_dir(uid);
    // from a root shell, every standard descriptor elsewhere: the shell's terminal is still
    // roothooks' controlling terminal, which the command would otherwise inherit
    let shell = format!(
        "cut -d' ' -f7 /proc/$$/stat > $D/starter; \
         $RH --uid {uid} --gid {uid} --log-file none --hooks-dir /nonexistent -- sh -c \
         'cut -d\" \" -f7 /proc/self/stat > $D/command' </dev/null >$D/log 2>&1; echo roothooks-exited"
    );
    let t = Terminal::start(&shell, &[("D", dir.path())]);
    t.wait_for("roothooks-exited");
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap().trim().to_string();
    let (starter, command) = (read("starter"), read("command"));
    assert_ne!(starter, "0");
    assert_ne!(command, starter, "the command's controlling terminal is the starter's: {}", read("log"));
    assert_ne!(command, "0", "{}", read("log"));
    assert!(read("log").contains("relays a new pseudo-terminal"), "{}", read("log"));
}
