//! The judge of what would really run a root hook: the hook's own file passed the trust rule, but
//! the kernel runs it through whatever its first bytes name, and that program through its own.
//! Everything in that chain must be root's too, and every form in it one roothooks understands:
//!
//! - a binfmt_misc entry that matches the file runs it with a program roothooks does not judge: refused;
//! - an ELF program ([`super::elf`]): its loader, a loader roothooks models (glibc's or musl's), is
//!   judged as an interpreter, and everything that loader opens for it ([`super::loader`]);
//! - a `#!` script ([`super::script`]): its interpreter, judged as a program is (up to the kernel's
//!   four levels), and its argument by the forms [`script::form`] understands: an operand is judged
//!   as a hook is, in `/` and in every directory of the hooks' PATH; env's `NAME=value` only if the
//!   gate would give a root hook that variable;
//! - anything else the kernel refuses to run (ENOEXEC): the exec fails and is logged as such.
//!
//! Each program's verdict is kept for the listing: a hundred `#!/bin/sh` hooks walk /bin/sh once.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::binfmt;
use super::elf;
use super::loader::{self, Loader};
use super::script::{self, Form, Line, NotUnderstood};
use super::How;
use crate::trust::{self, Last};

/// How many `#!` interpreters the kernel follows, one script naming the next (BINPRM_MAX_RECURSION).
pub const MAX_INTERPRETERS: usize = 4;

/// Why a root hook may not run as root: what in the chain that would run it a user could change,
/// or a form roothooks does not understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("its interpreter {}: {why}", path.display())]
    Interpreter { path: PathBuf, why: String },
    #[error("its interpreter {} cannot be used: {why}", path.display())]
    Unusable { path: PathBuf, why: String },
    #[error("more than {MAX_INTERPRETERS} interpreters, one naming the next")]
    TooDeep,
    #[error("cannot read the first line of {}: {why}", path.display())]
    Unreadable { path: PathBuf, why: String },
    #[error("the #! line of {} gives {} the argument '{argument}': {why}", file.display(), interpreter.display())]
    Argument { file: PathBuf, interpreter: PathBuf, argument: String, why: NotUnderstood },
    #[error("the #! line of {} gives {} '{argument}', which could name {}: {why}", file.display(), interpreter.display(), named.display())]
    ArgumentPath { file: PathBuf, interpreter: PathBuf, argument: String, named: PathBuf, why: String },
    #[error("the #! line of {} has env set {name}, which a root hook would not get: {why}", file.display())]
    Assignment { file: PathBuf, name: String, why: String },
    #[error("its loader {} is not one roothooks models (glibc's ld.so, musl's); what it loads cannot be judged", path.display())]
    UnknownLoader { path: PathBuf },
    #[error("binfmt_misc entry {entry} runs {} with {interpreter}, which roothooks does not judge", file.display())]
    Binfmt { file: PathBuf, entry: String, interpreter: String },
    #[error("cannot read what {} loads: {why}", file.display())]
    Elf { file: PathBuf, why: elf::Unknown },
    #[error(transparent)]
    Loads(#[from] loader::Refusal),
}

/// Judges root hooks and the programs that run them, one listing at a time.
pub struct Judge {
    /// the directories a root hook's PATH may hold, where env and a bare operand are found
    search: Vec<PathBuf>,
    verdicts: HashMap<PathBuf, Result<(), Refusal>>,
    loader: Loader,
    binfmt: Option<Vec<binfmt::Entry>>,
}

fn from_root(bytes: &[u8]) -> PathBuf {
    Path::new("/").join(OsStr::from_bytes(bytes))
}

impl Judge {
    /// `search`: every directory a root hook's PATH may hold.
    pub fn new(search: Vec<PathBuf>) -> Judge {
        Judge { search, verdicts: HashMap::new(), loader: Loader::default(), binfmt: None }
    }

    /// Why the root hook `file` (walked, and root's: it passed the trust rule) may not run as root,
    /// started as `how` says, if it may not.
    pub fn hook(&mut self, file: &Path, how: How) -> Result<(), Refusal> {
        match how {
            How::Source => self.program(Path::new(crate::sourcing::BASH), 1),
            How::Exec => self.contents(file, 0),
        }
    }

    /// The program `path`, the `depth`th of a chain: the trust rule, then what runs it in turn.
    fn program(&mut self, path: &Path, depth: usize) -> Result<(), Refusal> {
        if depth > MAX_INTERPRETERS {
            return Err(Refusal::TooDeep);
        }
        if let Some(verdict) = self.verdicts.get(path) {
            return verdict.clone();
        }
        let verdict = match trust::walk(path, Last::File) {
            Err(e) => Err(Refusal::Unusable { path: path.to_path_buf(), why: e.to_string() }),
            Ok(walked) => match walked.untrusted {
                Some(why) => Err(Refusal::Interpreter { path: path.to_path_buf(), why }),
                None => self.contents(&walked.path, depth),
            },
        };
        self.verdicts.insert(path.to_path_buf(), verdict.clone());
        verdict
    }

    /// What the kernel makes of the file at `path` (walked and judged), the `depth`th of a chain.
    fn contents(&mut self, path: &Path, depth: usize) -> Result<(), Refusal> {
        use std::os::unix::fs::FileExt;
        let unread = |e: std::io::Error| Refusal::Unreadable { path: path.to_path_buf(), why: e.to_string() };
        let file = fs::File::open(path).map_err(unread)?;
        let mut head = [0u8; script::HEAD];
        let read = file.read_at(&mut head, 0).map_err(unread)?;
        let head = head.get(..read).unwrap_or_default();
        let entries = self.binfmt.get_or_insert_with(binfmt::entries);
        if let Some(entry) = entries.iter().find(|e| e.matches(path, head)) {
            let (entry, interpreter) = (entry.name.clone(), entry.interpreter.clone());
            return Err(Refusal::Binfmt { file: path.to_path_buf(), entry, interpreter });
        }
        if elf::is_elf(head) {
            return self.binary(path, &file);
        }
        match script::parse(head) {
            Line::Script { interpreter, argument } => self.script(path, &interpreter, argument.as_deref(), depth),
            // the kernel refuses these (ENOEXEC): the exec fails and is logged as any such failure
            Line::NotScript | Line::Refused => Ok(()),
        }
    }

    /// A binary: its loader, and what that loader opens for it.
    fn binary(&mut self, path: &Path, file: &fs::File) -> Result<(), Refusal> {
        self.loaded(path, file).map(drop)
    }

    /// The files the loader of the program `path` opens for it (none for a static program), each
    /// judged; its loader among them.
    fn loaded(&mut self, path: &Path, file: &fs::File) -> Result<Vec<PathBuf>, Refusal> {
        use std::os::unix::fs::FileExt;
        let object = match elf::read(&|at, buf| file.read_at(buf, at), false) {
            Ok(object) => object,
            // the kernel refuses it too: its exec fails, and the log says so as for any such file
            Err(elf::Unread::NotRunnable(_)) => return Ok(Vec::new()),
            Err(elf::Unread::Unknown(why)) => return Err(Refusal::Elf { file: path.to_path_buf(), why }),
        };
        let Some(interpreter) = object.interpreter.clone() else { return Ok(Vec::new()) };
        let loader = from_root(&interpreter);
        // the kernel runs the loader itself, and reads nothing of it but its headers
        let walked = match trust::walk(&loader, Last::File) {
            Err(e) => return Err(Refusal::Unusable { path: loader, why: e.to_string() }),
            Ok(walked) => walked,
        };
        if let Some(why) = walked.untrusted {
            return Err(Refusal::Interpreter { path: loader, why });
        }
        if !is_loader(&loader) && !is_loader(&walked.path) {
            return Err(Refusal::UnknownLoader { path: loader });
        }
        let mut files = vec![walked.path];
        files.extend(self.loader.closure(path, object)?);
        Ok(files)
    }

    /// A script: its interpreter, then its argument.
    fn script(
        &mut self,
        path: &Path,
        interpreter: &[u8],
        argument: Option<&[u8]>,
        depth: usize,
    ) -> Result<(), Refusal> {
        let program = from_root(interpreter);
        self.program(&program, depth + 1)?;
        let Some(argument) = argument else { return Ok(()) };
        let resolved = trust::walk(&program, Last::File).map(|w| w.path).unwrap_or_else(|_| program.clone());
        let kind = script::kind(&program, &resolved);
        let shown = || String::from_utf8_lossy(argument).into_owned();
        let refused =
            |why| Refusal::Argument { file: path.to_path_buf(), interpreter: program.clone(), argument: shown(), why };
        let named = |named: PathBuf, why: String| Refusal::ArgumentPath {
            file: path.to_path_buf(),
            interpreter: program.clone(),
            argument: shown(),
            named,
            why,
        };
        match script::form(kind, argument).map_err(refused)? {
            Form::Options => Ok(()),
            // `-fx` is `-f x`: every rest of the bundle could be a file in `/`, where hooks run
            Form::Bundle(bundle) => {
                (0..bundle.len()).filter_map(|at| bundle.get(at..)).map(from_root).try_for_each(|candidate| {
                    match trust::judge_named(&candidate) {
                        Some(why) => Err(named(candidate, why)),
                        None => Ok(()),
                    }
                })
            }
            Form::Assignment { name, value } => {
                let gate = crate::gate::Gate::default();
                let admitted =
                    gate.admit(OsStr::from_bytes(name), OsStr::from_bytes(value), crate::gate::Origin::Operator);
                admitted.map_err(|held| Refusal::Assignment {
                    file: path.to_path_buf(),
                    name: String::from_utf8_lossy(name).into_owned(),
                    why: held.to_string(),
                })
            }
            // what env runs is the script's interpreter, and is said so
            Form::Operand(word) if kind == script::Kind::Env => {
                self.operand(word, depth, &|path, why| Refusal::Interpreter { path, why })
            }
            Form::Operand(word) => self.operand(word, depth, &named),
        }
    }

    /// A file or program a script's argument names: judged as a hook is where it stands (from `/`),
    /// and, for a bare name, in every directory of the hooks' PATH.
    fn operand(
        &mut self,
        word: &[u8],
        depth: usize,
        named: &dyn Fn(PathBuf, String) -> Refusal,
    ) -> Result<(), Refusal> {
        let mut places = vec![from_root(word)];
        if !word.contains(&b'/') {
            places.extend(self.search.iter().map(|dir| dir.join(OsStr::from_bytes(word))));
        }
        for place in places {
            match trust::walk(&place, Last::File) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if let Some(why) = trust::judge_named(&place) {
                        return Err(named(place, why));
                    }
                }
                Err(e) => return Err(named(place, e.to_string())),
                Ok(walked) if walked.untrusted.is_some() => {
                    return Err(named(place, walked.untrusted.unwrap_or_default()))
                }
                Ok(walked) if walked.is_file() => self.program(&walked.path, depth + 1)?,
                Ok(_) => {}
            }
        }
        Ok(())
    }
}

/// Whether `path` names a loader roothooks models: glibc's (`ld-linux-x86-64.so.2`,
/// `ld-linux.so.2`, `ld64.so.2`, ...) or musl's (`ld-musl-x86_64.so.1`).
fn is_loader(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return false };
    (name.starts_with("ld-linux") || name.starts_with("ld64.so.") || name.starts_with("ld-musl-") || name == "ld.so.1")
        && name.contains(".so")
}

/// The files the loader opens for the ELF file at `path` (its loader first), as the judge sees them,
/// or why it refuses the file: for the comparison with the real loader (`tests/models.rs`). A
/// library (no loader of its own) is taken as the loader takes it when asked to list it: as the
/// first object, whose libraries it loads. `search` as for [`Judge::new`].
pub fn loaded_by(path: &Path, search: Vec<PathBuf>) -> Result<Vec<PathBuf>, Refusal> {
    use std::os::unix::fs::FileExt;
    let unusable = |e: std::io::Error| Refusal::Unusable { path: path.to_path_buf(), why: e.to_string() };
    let walked = trust::walk(path, Last::File).map_err(unusable)?;
    let file = fs::File::open(&walked.path).map_err(unusable)?;
    let mut judge = Judge::new(search);
    let object = match elf::read(&|at, buf| file.read_at(buf, at), true) {
        Ok(object) => object,
        Err(elf::Unread::NotRunnable(_)) => return Ok(Vec::new()),
        Err(elf::Unread::Unknown(why)) => return Err(Refusal::Elf { file: walked.path, why }),
    };
    if object.interpreter.is_some() {
        return judge.loaded(&walked.path, &file);
    }
    Ok(judge.loader.closure(&walked.path, object)?.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_of_this_machine_loads_what_ldd_names() {
        let search = crate::gate::hook_search_dirs(None);
        let files = loaded_by(Path::new("/bin/sh"), search).unwrap();
        eprintln!("{files:?}");
        assert!(files.iter().any(|f| f.to_string_lossy().contains("libc.so")), "{files:?}");
        assert!(files.first().is_some_and(|f| f.to_string_lossy().contains("ld-linux")), "{files:?}");
    }
}
