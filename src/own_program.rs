//! roothooks' own program, judged as a root hook is: a start as root is only as safe as the file it
//! ran from. docker-stacks' PATH puts `/opt/conda/bin` first and the notebook user owns it, so an
//! ENTRYPOINT that names roothooks by its bare name, or a roothooks that pip installed into that
//! Python, lets the user put their own program where root will run it at the container's next start.
//! That start is not this one, so nothing can be refused here; a start as root says so, every time,
//! until the operator moves it.
//!
//! The path judged is the one the launcher exec'd, as written (AT_EXECFN), walked from `/` by the
//! trust rule with every symlink on the way judged where it stands: /proc/self/exe's resolved path
//! would hide a user's symlink or directory on the way. Only where the kernel passed none, or it no
//! longer leads anywhere, is /proc/self/exe judged instead. One walk, a few `openat` calls.

use std::path::{Path, PathBuf};

use crate::trust::{self, Last};

/// What a start as root says about the program it ran from when a user other than root could
/// replace it, or `None` when root may rely on it (or it cannot be found to be judged). `cwd` is the
/// working directory roothooks started in, for a relative path.
pub fn replaceable(exec_path: Option<PathBuf>, cwd: Option<&Path>) -> Option<String> {
    let as_written = exec_path.and_then(|path| match path.is_absolute() {
        true => Some(path),
        // `./roothooks` said as the path it is (components() leaves out the `.`)
        false => cwd.map(|cwd| cwd.join(path).components().collect()),
    });
    let judged =
        as_written.and_then(|path| trust::walk(&path, Last::File).ok().map(|walked| (path, walked))).or_else(|| {
            let path = std::fs::read_link("/proc/self/exe").ok()?;
            trust::walk(&path, Last::File).ok().map(|walked| (path, walked))
        });
    let (path, walked) = judged?;
    let (reason, who) = (walked.untrusted?, walked.changer?);
    Some(format!(
        "roothooks itself runs from {}, which {who} could replace, and root would run theirs at the next start: \
         {reason}; install it where only root can change it, e.g. /usr/local/bin/roothooks, and start it by that \
         path",
        path.display()
    ))
}
