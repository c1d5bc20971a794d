//! The command line: what an operator can ask for, with the text `--help` shows.
//!
//! Values that need more than a type check (ids, names, the environment fallbacks) stay strings here and
//! are checked in `plan`, so that every bad value gets one line that names it, where it came from, and
//! the fix.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

pub mod fast;

use crate::error::{Error, Result};
use crate::identity::{Request, Sourced};
use crate::log::{LogFormat, LogLevel};
use crate::plan::{Chown, Options};
use crate::provision::handover::HandOver;
use crate::provision::limits::{parse_umask, Rlimit};
use crate::runner::FailurePolicy;
use crate::seccomp::{self, Seccomp};
use crate::supervise::{InitSetting, PtySetting, SignalsTo};

/// docker-stacks' CHOWN_*_OPTS: `-R` is the one that means something here; other words (chown's
/// `-v`, `--from`) are named and left out.
fn chown_opts(name: &str, value: Option<&str>) -> bool {
    let mut recursive = false;
    for word in value.unwrap_or_default().split_whitespace() {
        match word {
            "-R" | "--recursive" => recursive = true,
            other => tracing::warn!("{name}: '{other}' is not supported (only -R is); left out"),
        }
    }
    recursive
}

const ABOUT: &str = "Run an operator's setup hooks as root, then drop every privilege and exec the command";

const LONG_ABOUT: &str = "\
Started as root, roothooks resolves the target user, runs the executable hooks of a directory as root \
(logging and tolerating their failures), then drops every privilege: uid, gid and supplementary groups, \
all five capability sets (effective, permitted, inheritable, ambient and bounding), and sets no_new_privs \
so that no setuid binary can give root back. It verifies the drop and execs COMMAND in its own place \
(same PID). If the drop cannot be verified, COMMAND is not started.

Two starts keep roothooks beside COMMAND instead, as dropped as COMMAND itself (same ids, no capability, \
no_new_privs, the filter, not dumpable): as a container's PID 1 it stays as COMMAND's init (--init), \
reaping every orphan, passing signals to COMMAND's process group (as tini -g) and exiting with COMMAND's \
status; started on a terminal by someone's shell, it gives COMMAND a pseudo-terminal of its own and relays \
it (--pty), so that nothing COMMAND leaves behind can read the starter's terminal afterwards.

Hooks run in /, with root's HOME, USER, LOGNAME and SHELL, a PATH of directories only root can change, and \
of the rest of the environment only an allowlist (ROOTHOOKS_*, NB_*, locale, TZ, TERM, JUPYTERHUB_USER; \
--hook-env and --unset-env add names), the --env-file variables and what root's hooks export: no other \
variable reaches root, whatever its name, and none of them that steers an interpreter, the loader or a \
shell (LD_*, PYTHON*, BASH_ENV, ...) or whose value names a path a user could change; the hook interface \
(ROOTHOOKS_UID, _GID, _USER, _HOME, _GROUPS, _ENV) only from roothooks itself. Every path root relies \
on (hooks, their #! interpreters, a binary hook's loader and RUNPATH, log, report, home, skel, env files, \
nss dir) is walked from / as written: a directory or symlink a user could change refuses it.

The last step of the drop is a seccomp filter, inherited by everything COMMAND starts: it denies with \
EPERM new user namespaces, TIOCSTI, the keyring, bpf, perf, userfaultfd, io_uring, the machine's own \
calls (modules, mounts, reboot, ...) and vsock and AF_ALG sockets, and every x32 call with ENOSYS; \
--seccomp-allow GROUP allows a group back, --seccomp off turns it off. A start inside another roothooks' \
command that cannot add a filter (no no_new_privs, as under GRANT_SUDO) runs under the one it inherited.

Started without root, it runs no hooks, clears what an unprivileged process can (ambient capabilities, \
no_new_privs) and execs COMMAND as it is; a start with gid 0 (OpenShift) keeps the gid it cannot leave.

Identity: flags win over the environment. The first of these layers that names any of user, uid or gid \
decides all three: (1) --user/--uid/--gid, (2) ROOTHOOKS_USER/ROOTHOOKS_UID/ROOTHOOKS_GID, \
(3) NB_USER/NB_UID/NB_GID. With none of them the uid is 1000. NB_UID or NB_GID that differ from \
NB_USER's account change that account's numbers, as docker-stacks' start.sh does; a gid that replaces \
the account's own primary group keeps the old one as a supplementary group.";

const AFTER_HELP: &str = "\
Exit status: 2 for a bad value (nothing is run), 1 when the drop fails or cannot be verified or a hook \
failed under --on-hook-failure abort, 128+N when signal N (SIGTERM, SIGINT, SIGHUP, SIGQUIT) arrived \
while hooks ran, 127 when COMMAND is not found, 126 when it cannot be executed, otherwise COMMAND's own \
(with roothooks staying beside it: COMMAND's exit code, or 128+N when signal N killed it).

Examples:
  Dockerfile:     ENTRYPOINT [\"/usr/local/bin/roothooks\", \"--hooks-dir\", \"/srv/roothooks.d\", \"--\"]
  repo2docker:    exec /usr/local/bin/roothooks --user \"$NB_USER\" -- \"$@\"
  docker-stacks:  ENTRYPOINT [\"/usr/local/bin/roothooks\", \"--docker-stacks\", \"--\"]
  Kubernetes:     env ROOTHOOKS_UID=1000 /usr/local/bin/roothooks -- jupyterhub-singleuser
  initContainer:  /usr/local/bin/roothooks --no-exec --uid 1000 --hooks-dir /srv/init.d
  systemd:        ExecStart=/usr/local/bin/roothooks --user %i -- jupyterhub-singleuser
  check a setup:  /usr/local/bin/roothooks --dry-run --user jovyan -- jupyter lab
Start it by its path, in a directory only root can change: root runs the first one PATH finds, \
and PATH may start with a directory the user can write (/opt/conda/bin, ~/.local/bin).";

/// The shortest timeout that means something: a millisecond, the resolution of the runner's clock.
const MIN_TIMEOUT: f64 = 0.001;

fn parse_timeout(value: &str) -> Result<Duration, String> {
    match value.trim().parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs < MIN_TIMEOUT => Err(format!(
            "'{value}' is too short to be a timeout; give at least {MIN_TIMEOUT} seconds, or 0 for no limit"
        )),
        Ok(secs) if secs.is_finite() && (0.0..=1e9).contains(&secs) => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!("'{value}' is not a number of seconds; give e.g. 60, or 0 for no limit")),
    }
}

#[derive(Debug, Parser)]
#[command(name = "roothooks", version, about = ABOUT, long_about = LONG_ABOUT, after_help = AFTER_HELP)]
#[command(max_term_width = 100)]
pub struct Args {
    /// Account to become, looked up in the user database [env: ROOTHOOKS_USER, NB_USER]
    ///
    /// Its uid, primary group, home and shell become the command's. The database is /etc/passwd and
    /// /etc/group when nsswitch.conf names only files for them, else NSS. Example: --user jovyan
    #[arg(short, long, value_name = "NAME")]
    pub user: Option<OsString>,

    /// Uid to become; need not have an account [env: ROOTHOOKS_UID, NB_UID] [default: 1000]
    ///
    /// Arbitrary uids are normal on Kubernetes and OpenShift. Example: --uid 1000
    #[arg(long, value_name = "UID", allow_hyphen_values = true)]
    pub uid: Option<OsString>,

    /// Primary gid to become [env: ROOTHOOKS_GID, NB_GID] [default: the account's group, else the uid]
    ///
    /// Example: --gid 100
    #[arg(short, long, value_name = "GID", allow_hyphen_values = true)]
    pub gid: Option<OsString>,

    /// Extra supplementary groups, names or numbers, comma separated
    ///
    /// Added to the account's groups and to the groups roothooks was started with (how an orchestrator
    /// hands over fsGroup and supplementalGroups). Example: --groups users,2000
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub groups: Vec<String>,

    /// Keep only the primary group and --groups; drop the account's and the inherited groups
    ///
    /// Example: --clear-groups --groups 100
    #[arg(long)]
    pub clear_groups: bool,

    /// Home directory for the command's HOME [default: the account's home, else /]
    ///
    /// For an account that --ensure-account adds, /home/NAME. Example: --home /home/jovyan
    #[arg(long, value_name = "PATH")]
    pub home: Option<PathBuf>,

    /// Allow the command to run as uid 0, with gid 0 or with group 0 (capabilities are still dropped)
    ///
    /// Refused without this flag. Example: --uid 0 --allow-root
    #[arg(long)]
    pub allow_root: bool,

    /// Keep setuid binaries working: do not set no_new_privs and keep the bounding set (DANGEROUS)
    ///
    /// For images whose users must run sudo. Any setuid-root binary in the image can then give root
    /// back to the command. Logged as a warning on every start. Example: --allow-privilege-escalation
    #[arg(long)]
    pub allow_privilege_escalation: bool,

    /// Hand directory DIR itself to the user (repeatable), whoever owns it, unless a symlink is on the way
    ///
    /// [with --docker-stacks also CHOWN_HOME=yes (the home) and CHOWN_EXTRA=DIR,DIR, as start.sh]
    /// Refused, by --dry-run and the start alike, since the owner of a directory can rename what is in
    /// it: / itself; a directory root relies on (/etc, /usr, /bin, /sbin, /lib, /lib32, /lib64,
    /// /libx32, /boot, /root, /var/lib, /proc, /sys, /dev, /tmp, /run, each directory on root's hooks'
    /// PATH, the hooks, --skel and --nss-dir directories); one that contains one (/var holds /var/lib);
    /// one inside one, but for /tmp and /run (/tmp/x, /run/user/1000 are fine); the home of root or a
    /// system account; CHOWN_HOME without an account or a home of its own. DIR is compared with `.`
    /// and `..` resolved as written. Example: --chown /srv/data
    #[arg(long, value_name = "DIR")]
    pub chown: Vec<PathBuf>,

    /// Hand DIR and everything in it to the user (repeatable), safely: see docs/docker-stacks.md
    ///
    /// [with --docker-stacks also CHOWN_HOME_OPTS=-R and CHOWN_EXTRA_OPTS=-R] Walked by descriptors,
    /// no symlink followed; what root or a system account owns is left as it is and counted, so a
    /// link the user planted gives nothing. The same directories as --chown's are refused. Progress
    /// is logged every 5 s. Example: --chown-tree /home/jovyan
    #[arg(long, value_name = "DIR")]
    pub chown_tree: Vec<PathBuf>,

    /// Rename account OLD when NB_USER names no account (docker-stacks: jovyan, with --docker-stacks)
    ///
    /// As docker-stacks' start.sh: OLD's login name and home (/home/NB_USER, the old home moved there)
    /// become NB_USER's; NB_UID and NB_GID still renumber it. Only a regular account (UID_MIN..UID_MAX),
    /// and only when user, uid and gid come from NB_*. Example: --rename-from jovyan
    #[arg(long, value_name = "OLD")]
    pub rename_from: Option<String>,

    /// Give the user passwordless sudo (DANGEROUS): a rule in /etc/sudoers.d, and escalation allowed
    ///
    /// [env: ROOTHOOKS_GRANT_SUDO; with --docker-stacks also GRANT_SUDO=yes or 1, docker-stacks'
    /// setting] Writes /etc/sudoers.d/roothooks-grant-sudo (root's, 0440, replaced in one step) and
    /// allows privilege escalation for this start, as --allow-privilege-escalation does: the user can
    /// become root. Logged as a warning naming the setting. Example: --grant-sudo
    #[arg(long, env = "ROOTHOOKS_GRANT_SUDO", hide_env = true)]
    pub grant_sudo: bool,

    /// Add a passwd and group entry for a uid that has no account (needs a name: --user or NB_USER)
    ///
    /// Written atomically under the shadow-utils locks; /etc/passwd and /etc/group stay writable by
    /// root only. Example: --ensure-account --user jovyan --uid 1234
    #[arg(long, env = "ROOTHOOKS_ENSURE_ACCOUNT")]
    pub ensure_account: bool,

    /// Write complete passwd and group files (the image's plus the new account) here, not to /etc
    ///
    /// For an initContainer whose main container mounts them over its own. Implies --ensure-account.
    /// DIR must be root's and writable by no one else (or sticky); only files roothooks wrote there are
    /// replaced. Example: --nss-dir /nss
    #[arg(long, value_name = "DIR", env = "ROOTHOOKS_NSS_DIR")]
    pub nss_dir: Option<PathBuf>,

    /// Create the user's home if missing: owned by the user, mode 0700, filled from /etc/skel
    ///
    /// An existing home is left as it is; symlinks are never followed, and the directory above it must
    /// be one no user can change. Example: --create-home
    #[arg(long, env = "ROOTHOOKS_CREATE_HOME")]
    pub create_home: bool,

    /// Template directory copied into a home that --create-home makes
    ///
    /// It and every directory in it must be root's and writable by no one else, or nothing is copied;
    /// symlinks and special files in it are not copied. Example: --skel /srv/skel
    #[arg(long, value_name = "DIR", default_value = "/etc/skel")]
    pub skel: PathBuf,

    /// Add NAME=value lines from this file to the command's environment (repeatable)
    ///
    /// Read as root, the way systemd's EnvironmentFile= reads them; must be a regular file reached
    /// through directories no user can change. Root's hooks get its variables too, each past the
    /// gate's checks (no name that steers an interpreter, the loader or a shell, such as PYTHONUSERBASE
    /// or LD_PRELOAD; no value that names a path a user could change). Example: --env-file
    /// "$CREDENTIALS_DIRECTORY/envfile"
    #[arg(long, value_name = "PATH")]
    pub env_file: Vec<PathBuf>,

    /// Keep a variable out of the command's environment (repeatable; a trailing * matches a prefix)
    ///
    /// [env: ROOTHOOKS_UNSET_ENV, comma separated] For credentials only the hooks needed: root's hooks
    /// get them (past the gate's checks), the command and the user's hooks do not. The names in
    /// JUPYTER_ENV_VARS_TO_UNSET (docker-stacks', comma separated) are added. Example: --unset-env 'AWS_*'
    #[arg(long, value_name = "NAME", env = "ROOTHOOKS_UNSET_ENV", value_delimiter = ',', hide_env = true)]
    pub unset_env: Vec<String>,

    /// Resource limit for the command, NAME=SOFT[:HARD] (repeatable; nofile, nproc, core, as, ...)
    ///
    /// Without HARD both are SOFT; "unlimited" is allowed. One that cannot be applied stops the
    /// start. Example: --rlimit nofile=4096:8192
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    pub rlimit: Vec<Rlimit>,

    /// File mode creation mask for the command (and the user's hooks), in octal
    ///
    /// [env: ROOTHOOKS_UMASK, NB_UMASK] Example: --umask 077
    #[arg(long, value_name = "MODE", value_parser = parse_umask, env = "ROOTHOOKS_UMASK", hide_env = true)]
    pub umask: Option<u32>,

    /// Directory the command starts in, entered as the user [default: unchanged]
    ///
    /// Example: --workdir /home/jovyan
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,

    /// System call filter for the command: default (deny all groups but --seccomp-allow) or off
    ///
    /// Installed after the drop, inherited by everything the command starts; denied calls fail with
    /// EPERM. Groups: userns, tty-inject, keyring, bpf, perf, userfaultfd, io_uring, kernel, sockets
    /// (see docs/filter.md). Example: --seccomp off
    #[arg(long, value_name = "MODE", env = "ROOTHOOKS_SECCOMP", default_value = "default")]
    pub seccomp: seccomp::Mode,

    /// Allow one group of system calls back (repeatable, or comma separated)
    ///
    /// [env: ROOTHOOKS_SECCOMP_ALLOW] E.g. userns for rootless podman or Chromium's sandbox. Example:
    /// --seccomp-allow userns
    #[arg(long, value_name = "GROUP", env = "ROOTHOOKS_SECCOMP_ALLOW", value_delimiter = ',', hide_env = true)]
    pub seccomp_allow: Vec<seccomp::Group>,

    /// Stay as the command's init: reap every orphan, pass signals on, exit with its status
    ///
    /// [env: ROOTHOOKS_INIT] auto (the default): on when roothooks is PID 1 (a container's
    /// entrypoint). A bare --init means on: not PID 1, roothooks then becomes the child subreaper. The
    /// command runs in a process group of its own; roothooks stays fully dropped beside it, and exits
    /// with its exit code, or 128+N when signal N ended it. off: exec in roothooks' place. Example: --init
    #[arg(long, value_name = "WHEN", env = "ROOTHOOKS_INIT", hide_env = true, default_value = "auto",
          num_args = 0..=1, default_missing_value = "on")]
    pub init: InitSetting,

    /// Give the command a pseudo-terminal of its own, relayed: auto, always or never
    ///
    /// [env: ROOTHOOKS_PTY] auto (the default): when roothooks has a controlling terminal or was
    /// handed a terminal on any descriptor (`setsid roothooks ...`), and is not PID 1, so that nothing
    /// the command leaves behind can read the starter's terminal afterwards.
    /// Opened before the drop; none to be had is an error (exit 1), never the starter's terminal.
    /// Input, output, window size, ^C and EOF are relayed without blocking (not ^Z: see docs/resident.md);
    /// at the command's exit the pty is drained for at most 1 s and hung up, and the terminal's mode
    /// is put back.
    /// Example: --pty never
    #[arg(long, value_name = "WHEN", env = "ROOTHOOKS_PTY", hide_env = true, default_value = "auto")]
    pub pty: PtySetting,

    /// Where a staying roothooks passes the signals it gets: group (the command's process group, as
    /// tini -g) or command (the command alone)
    ///
    /// [env: ROOTHOOKS_SIGNALS_TO] Every signal but SIGCHLD, SIGPIPE, SIGTTIN, SIGTTOU and those of a
    /// fault is passed on. Example: --signals-to command
    #[arg(long, value_name = "WHOM", env = "ROOTHOOKS_SIGNALS_TO", hide_env = true, default_value = "group")]
    pub signals_to: SignalsTo,

    /// Format of roothooks' own log lines on stderr
    ///
    /// Example: --log-format json
    #[arg(long, value_name = "FORMAT", env = "ROOTHOOKS_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    /// How much roothooks says: error, warn, info or debug, on stderr and in the user's copy alike
    ///
    /// [env: ROOTHOOKS_LOG_LEVEL] info (the default): one line per step (the start, each hook's
    /// outcome and output, the drop, the filter, the exec). debug adds the details, such as the names
    /// of the variables root's hooks do not get. Example: --log-level warn
    #[arg(long, value_name = "LEVEL", env = "ROOTHOOKS_LOG_LEVEL", hide_env = true, default_value = "info")]
    pub log_level: LogLevel,

    /// Directory whose executable files run as root, in byte order of their names
    ///
    /// [default: $REPO_DIR/roothooks.d when REPO_DIR is set (repo2docker), else /etc/roothooks.d]
    /// It, every directory and symlink on the way to it, and each hook must be root's and writable by no
    /// one else. A missing directory is logged and the command still starts. Example: --hooks-dir
    /// /srv/roothooks.d
    #[arg(long, value_name = "DIR", env = "ROOTHOOKS_HOOKS_DIR")]
    pub hooks_dir: Option<PathBuf>,

    /// Directory whose hooks run as the user, after the drop and just before the command
    ///
    /// [default with --docker-stacks: /usr/local/bin/before-notebook.d] Same order, logging, timeout
    /// and failure policy as root's hooks, under the command's environment, umask and directory. The
    /// directory must be root's and writable by no one else; its files need not be. Example:
    /// --user-hooks-dir /srv/user.d
    #[arg(long, value_name = "DIR", env = "ROOTHOOKS_USER_HOOKS_DIR")]
    pub user_hooks_dir: Option<PathBuf>,

    /// Start the way docker-stacks' start.sh does (a drop-in for the Jupyter Docker Stacks images)
    ///
    /// Hooks from /usr/local/bin/start-notebook.d run as root and from /usr/local/bin/before-notebook.d
    /// as the user (--hooks-dir and --user-hooks-dir still win). In both, `*.sh` files are sourced by
    /// /bin/bash, executable or not, and the variables they export or unset reach the hooks after them
    /// and the command; other files run if executable. NB_USER, NB_UID, NB_GID, NB_UMASK and
    /// JUPYTER_ENV_VARS_TO_UNSET are read with or without it (see MIGRATING.md); with it, all three of
    /// NB_USER=root NB_UID=0 NB_GID=0 (rootless containers) keep the command root, capabilities still
    /// dropped, HOME=/home/root. Example: --docker-stacks
    #[arg(long, env = "ROOTHOOKS_DOCKER_STACKS")]
    pub docker_stacks: bool,

    /// Seconds a hook may run before its whole process group is stopped; 0 for no limit
    ///
    /// SIGTERM first, SIGKILL 2 s later; then what it started outside its group (setsid, a double
    /// fork) is killed too and named in the log, but not what earlier hooks left running (a FUSE
    /// daemon) nor what shares their session or group (their workers). At least 0.001. Example:
    /// --hook-timeout 120
    #[arg(long, value_name = "SECS", env = "ROOTHOOKS_HOOK_TIMEOUT", default_value = "60", value_parser = parse_timeout, allow_hyphen_values = true)]
    pub hook_timeout: Duration,

    /// What a failing hook does: continue (log it, start the command) or abort (exit 1, start nothing)
    ///
    /// Under abort, a hook the trust rule refused and a given hooks directory that cannot be used are
    /// failures too. Example: --on-hook-failure abort
    #[arg(long, value_name = "POLICY", env = "ROOTHOOKS_ON_HOOK_FAILURE", default_value = "continue")]
    pub on_hook_failure: FailurePolicy,

    /// Pass a variable to root's hooks (repeatable, or comma separated; a trailing * matches a prefix)
    ///
    /// [env: ROOTHOOKS_HOOK_ENV] Root's hooks get only an allowlist of roothooks' environment:
    /// ROOTHOOKS_*, NB_USER/NB_UID/NB_GID/NB_GROUP/NB_UMASK, JUPYTER_ENV_VARS_TO_UNSET, REPO_DIR,
    /// JUPYTERHUB_USER, JUPYTERHUB_SERVER_NAME, TERM, TZ, LANG, LANGUAGE and LC_* (values that could
    /// name a file are held back), root's HOME/USER/LOGNAME/SHELL, a PATH of directories only root can
    /// change, the --unset-env names, the --env-file variables and root's hooks' exports; this adds
    /// more. Whatever admitted it, no name that steers an interpreter, the loader or a shell (LD_*,
    /// PYTHON*, BASH_ENV, ...) and no value that names a path a user could change reaches root; a
    /// pattern that names only such names is an error. The command gets everything as before.
    /// Example: --hook-env 'AWS_*'
    #[arg(long, value_name = "NAME", env = "ROOTHOOKS_HOOK_ENV", value_delimiter = ',', hide_env = true)]
    pub hook_env: Vec<String>,

    /// Run hooks that a non-root user could have changed (DANGEROUS; e.g. repo2docker's repository)
    ///
    /// Normally a hook runs only if it and every directory above it are owned by root and not writable by
    /// group or others. Each such hook is logged as a warning. Example: --allow-untrusted-hooks
    #[arg(long, env = "ROOTHOOKS_ALLOW_UNTRUSTED_HOOKS")]
    pub allow_untrusted_hooks: bool,

    /// Copy of roothooks' log, readable by the user; "none" to turn it off
    ///
    /// [default: /tmp/roothooks-UID.log] Owned by the user, mode 0640, never written through a symlink:
    /// the user's copy from the last start (theirs, one link) is rewritten in place, another file of
    /// theirs is replaced, anyone else's is left alone. Example: --log-file /var/log/roothooks.log
    #[arg(long, value_name = "PATH", env = "ROOTHOOKS_LOG_FILE")]
    pub log_file: Option<PathBuf>,

    /// Write a JSON report (identity, each hook's outcome, final privileges) here before the exec
    ///
    /// Created like the log copy: an existing file is replaced only if it is the user's. Example:
    /// --report /tmp/roothooks-report.json
    #[arg(long, value_name = "PATH", env = "ROOTHOOKS_REPORT")]
    pub report: Option<PathBuf>,

    /// Run the hooks and exit without starting a command (a privileged initContainer)
    ///
    /// The command may then be left out. Exit status 0 unless --on-hook-failure abort stopped it.
    /// Example: roothooks --no-exec --hooks-dir /srv/init.d
    #[arg(long, conflicts_with = "dry_run")]
    pub no_exec: bool,

    /// Resolve everything and print the plan; run nothing, change nothing
    ///
    /// Shows the identity and groups, each hook with run or skip and why, and the command's path.
    /// Exit status 0 when the plan is valid. Example: --dry-run --user jovyan -- jupyter lab
    #[arg(long)]
    pub dry_run: bool,

    /// The command to exec as the user, with its arguments (optional with --no-exec)
    #[arg(value_name = "COMMAND", trailing_var_arg = true)]
    pub command: Vec<OsString>,
}

impl Args {
    /// The plan's inputs, as plain values; `env` gives docker-stacks' NB_UMASK (when no `--umask` or
    /// ROOTHOOKS_UMASK) and JUPYTER_ENV_VARS_TO_UNSET.
    pub fn options(&self, env: &dyn Fn(&str) -> Option<OsString>) -> Result<Options> {
        let var = |name: &str| env(name).map(|v| v.to_string_lossy().into_owned()).filter(|v| !v.is_empty());
        let umask = match (self.umask, var("NB_UMASK")) {
            (Some(mask), _) => Some(mask),
            (None, Some(text)) => Some(parse_umask(&text).map_err(|_| {
                Error::Usage(format!(
                    "NB_UMASK='{text}' (from the environment) is not an octal mode from 000 to 777; e.g. NB_UMASK=022"
                ))
            })?),
            (None, None) => None,
        };
        let mut unset_env = self.unset_env.clone();
        unset_env
            .extend(var("JUPYTER_ENV_VARS_TO_UNSET").iter().flat_map(|v| v.split(',')).map(|n| n.trim().to_string()));
        Ok(Options {
            command: self.command.clone(),
            no_exec: self.no_exec,
            hooks_dir: self.hooks_dir.clone(),
            user_hooks_dir: self.user_hooks_dir.clone(),
            docker_stacks: self.docker_stacks,
            allow_untrusted_hooks: self.allow_untrusted_hooks,
            hook_timeout: self.hook_timeout,
            on_hook_failure: Some(self.on_hook_failure),
            log_file: self.log_file.clone(),
            report: self.report.clone(),
            nss_dir: self.nss_dir.clone(),
            create_home: self.create_home,
            skel: self.skel.clone(),
            env_files: self.env_file.clone(),
            unset_env,
            rlimits: self.rlimit.clone(),
            umask,
            workdir: self.workdir.clone(),
            allow_escalation: self.allow_privilege_escalation,
            grant_sudo: self.grant_sudo_setting(&var),
            chown: self.chown_jobs(&var),
            init: self.init,
            pty: self.pty,
            signals_to: self.signals_to,
            seccomp: Seccomp::new(self.seccomp, &self.seccomp_allow),
            hook_env: self.hook_env.clone(),
        })
    }

    /// `--chown`, `--chown-tree`, and under `--docker-stacks` CHOWN_EXTRA (with CHOWN_EXTRA_OPTS); the
    /// home of CHOWN_HOME is known only once the user is, so it is a [`ChownHome`] of its own.
    fn chown_jobs(&self, var: &dyn Fn(&str) -> Option<String>) -> Chown {
        let mut jobs: Vec<HandOver> = Vec::new();
        let job = |path: &PathBuf, recursive, origin| HandOver { path: path.clone(), recursive, origin };
        jobs.extend(self.chown.iter().map(|p| job(p, false, "--chown")));
        jobs.extend(self.chown_tree.iter().map(|p| job(p, true, "--chown-tree")));
        let mut home = None;
        if self.docker_stacks {
            let recursive = |name: &str| chown_opts(name, var(name).as_deref());
            if var("CHOWN_HOME").as_deref() == Some("yes") {
                home = Some(recursive("CHOWN_HOME_OPTS"));
            }
            if let Some(extra) = var("CHOWN_EXTRA") {
                let deep = recursive("CHOWN_EXTRA_OPTS");
                let paths = extra.split(',').map(str::trim).filter(|p| !p.is_empty());
                jobs.extend(paths.map(|p| job(&PathBuf::from(p), deep, "CHOWN_EXTRA")));
            }
        }
        Chown { jobs, home }
    }

    /// `--grant-sudo`, or docker-stacks' GRANT_SUDO under `--docker-stacks`: what names it, if anything.
    fn grant_sudo_setting(&self, var: &dyn Fn(&str) -> Option<String>) -> Option<&'static str> {
        if self.grant_sudo {
            return Some("--grant-sudo");
        }
        match var("GRANT_SUDO") {
            Some(v) if self.docker_stacks && (v == "yes" || v == "1") => Some("GRANT_SUDO"),
            Some(v) if self.docker_stacks => {
                tracing::warn!("GRANT_SUDO='{v}' is neither yes nor 1 (docker-stacks' values); not granting sudo");
                None
            }
            _ => None,
        }
    }

    /// Combine flags and environment. The first layer that names any of user, uid or gid decides all
    /// three, so an image's `NB_USER=jovyan` can never collide with an explicit `--uid`. A value that
    /// is not UTF-8 is an error naming it, never a silent fallback to another layer.
    pub fn request(&self, env: &dyn Fn(&str) -> Option<OsString>) -> Result<Request> {
        let text = |value: OsString, origin: &str, from_env: bool| match value.into_string() {
            Ok(value) => Ok(Sourced { value, origin: origin.into(), from_env }),
            Err(raw) => {
                let shown = raw.to_string_lossy().into_owned();
                let place = if from_env {
                    format!("{origin}='{shown}' (from the environment)")
                } else {
                    format!("{origin} '{shown}'")
                };
                Err(Error::Usage(format!("{place} is not valid UTF-8; give a plain name or number")))
            }
        };
        let flag = |value: &Option<OsString>, origin: &str| value.clone().map(|v| text(v, origin, false)).transpose();
        let var = |name: &str| env(name).filter(|v| !v.is_empty()).map(|v| text(v, name, true)).transpose();
        let layers = [
            [flag(&self.user, "--user")?, flag(&self.uid, "--uid")?, flag(&self.gid, "--gid")?],
            [var("ROOTHOOKS_USER")?, var("ROOTHOOKS_UID")?, var("ROOTHOOKS_GID")?],
            [var("NB_USER")?, var("NB_UID")?, var("NB_GID")?],
        ];
        let chosen = layers.into_iter().enumerate().find(|(_, layer)| layer.iter().any(Option::is_some));
        let from_notebook_env = chosen.as_ref().is_some_and(|(i, _)| *i == 2);
        let [user, uid, gid] = chosen.map(|(_, layer)| layer).unwrap_or_default();
        // docker-stacks' rootless triplet (rootless podman, where root in the container is the host's
        // user): all three of NB_USER=root, NB_UID=0 and NB_GID=0 keep the command root, as start.sh does
        let value = |s: &Option<Sourced>| s.as_ref().map(|s| s.value.clone());
        let rootless = self.docker_stacks
            && from_notebook_env
            && (value(&user), value(&uid), value(&gid)) == (Some("root".into()), Some("0".into()), Some("0".into()));
        Ok(Request {
            user,
            uid,
            gid,
            extra_groups: self.groups.iter().filter(|g| !g.is_empty()).cloned().collect(),
            clear_groups: self.clear_groups,
            home: self.home.clone().or_else(|| rootless.then(|| PathBuf::from("/home/root"))),
            allow_root: self.allow_root || rootless,
            rootless,
            group_name: if from_notebook_env { var("NB_GROUP")? } else { None },
            rename_from: self.rename_from.clone().or_else(|| self.docker_stacks.then(|| "jovyan".to_string())),
            ensure_account: self.ensure_account || self.nss_dir.is_some(),
            from_notebook_env,
        })
    }
}

#[cfg(test)]
mod tests;
