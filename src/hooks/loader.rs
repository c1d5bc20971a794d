//! What the dynamic loader opens for a program before the program's own code runs, and whether a
//! user could have changed any of it: the libraries it needs, each searched where glibc's ld.so
//! searches (elf/dl-load.c) and judged by the trust rule, and theirs in turn.
//!
//! For each name a program or library needs (`DT_NEEDED`), in the loader's order, every place the
//! loader may look until it finds a library of the program's class and machine:
//!
//! 1. a name with a `/` is that path (from `/`, where hooks run);
//! 2. the `DT_RPATH` of the object that needs it and of each object that loaded that one, unless the
//!    object has a `DT_RUNPATH`; then its `DT_RUNPATH` (`LD_LIBRARY_PATH` never reaches a root hook);
//! 3. every path `/etc/ld.so.cache` gives for the name, whatever its hwcaps;
//! 4. the system directories, for either glibc or musl, and musl's `/etc/ld-musl-ARCH.path`.
//!
//! In each directory the loader first tries its hwcaps subdirectories (`glibc-hwcaps/*`, and the
//! legacy `tls`, `x86_64`, `haswell` ... that glibc 2.36 still searches): every one that exists is
//! judged and searched. A directory must pass the trust rule, and so must the directory a missing
//! one would be made in; a library found must be root's and writable by no one else. The names in
//! `/etc/ld.so.preload` are searched the same way for every program. `$ORIGIN` at the start of an
//! entry is the object's own directory; any other `$` token refuses the program, since only the
//! loader knows what it expands to. So the set judged covers what the loader loads, or the program
//! is refused: `tests/loader.rs` holds that against `ld.so --list` for every program and library of
//! this machine.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::elf::{self, Object};
use super::ldcache::{Indexed, Span};
use crate::trust::{self, Last};

/// The loader's cache of library paths, and the list of libraries it loads into every program.
pub const CACHE: &str = "/etc/ld.so.cache";
pub const PRELOAD: &str = "/etc/ld.so.preload";
/// The most files one program may make the loader open (its libraries, theirs, ...).
pub const MAX_OBJECTS: usize = 512;
/// The most bytes of the cache and the preload list read.
const MAX_CACHE: u64 = 16 << 20;

/// Why a program's loader could open something a user could change, or what it opens is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{} loads libraries from {} first ({what}): {why}", object.display(), dir.display())]
    SearchDir { object: PathBuf, dir: PathBuf, what: &'static str, why: String },
    #[error("{} loads the library {}: {why}", object.display(), library.display())]
    Library { object: PathBuf, library: PathBuf, why: String },
    #[error("{} searches a library directory with a token roothooks cannot judge ({what})", object.display())]
    Token { object: PathBuf, what: &'static str },
    #[error("cannot read what {} loads: {why}", object.display())]
    Unread { object: PathBuf, why: elf::Unknown },
    #[error("the loader's cache {CACHE} cannot be relied on: {why}")]
    Cache { why: String },
    #[error("{PRELOAD}, which the loader reads for every program, cannot be relied on: {why}")]
    Preload { why: String },
    #[error("the loader preloads {} into every program ({PRELOAD}): {why}", library.display())]
    Preloaded { library: PathBuf, why: String },
    #[error("{} and what it loads are more than {MAX_OBJECTS} files", object.display())]
    TooMany { object: PathBuf },
}

/// Libraries found for one name.
type Found = Vec<PathBuf>;

/// The loader's view of this machine, read once and shared by every program judged in one listing.
#[derive(Default)]
pub struct Loader {
    /// the cache's bytes (empty when there is none) and where its entries lie, or why it cannot be
    /// relied on
    cache: Option<Result<CacheIndex, Refusal>>,
    /// each library judged, by the path it was looked for at
    libraries: HashMap<PathBuf, Result<Option<PathBuf>, (PathBuf, String)>>,
    preload: Option<Result<Vec<Vec<u8>>, Refusal>>,
    musl_path: Option<Vec<PathBuf>>,
    /// each search directory, judged, with the hwcaps subdirectories that exist in it (searched first)
    dirs: HashMap<PathBuf, Result<Vec<PathBuf>, String>>,
}

/// The loader's cache, and where its entries lie in it.
struct CacheIndex {
    bytes: Vec<u8>,
    entries: Vec<Indexed>,
}

/// One object the loader loads, and the RPATH of the objects that loaded it.
struct Loaded {
    path: PathBuf,
    object: Object,
    loaders_rpath: Vec<PathBuf>,
}

fn from_root(bytes: &[u8]) -> PathBuf {
    Path::new("/").join(OsStr::from_bytes(bytes))
}

/// `entry` with a leading `$ORIGIN` (or `${ORIGIN}`) replaced by `origin`; `None` for any other
/// `$` in it, whose meaning only the loader knows.
fn expand(entry: &[u8], origin: &Path) -> Option<Vec<u8>> {
    let rest = entry.strip_prefix(b"$ORIGIN").or_else(|| entry.strip_prefix(b"${ORIGIN}"));
    match rest {
        Some(rest) if !rest.contains(&b'$') && (rest.is_empty() || rest.starts_with(b"/")) => {
            Some([origin.as_os_str().as_bytes(), rest].concat())
        }
        _ if entry.contains(&b'$') => None,
        _ => Some(entry.to_vec()),
    }
}

/// The directories an RPATH or RUNPATH names; an empty entry is the working directory, `/` here.
fn search_list(entries: &[Vec<u8>], origin: &Path, object: &Path, what: &'static str) -> Result<Vec<PathBuf>, Refusal> {
    let token = || Refusal::Token { object: object.to_path_buf(), what };
    entries.iter().map(|e| expand(e, origin).map(|dir| from_root(&dir)).ok_or_else(token)).collect()
}

/// The legacy hwcaps subdirectory names glibc 2.36 still searches on this machine.
#[cfg(target_arch = "x86_64")]
const LEGACY: &[&str] = &["tls", "x86_64", "haswell", "xeon_phi", "avx512_1", "i686", "i586", "i486", "sse2"];
#[cfg(target_arch = "aarch64")]
const LEGACY: &[&str] = &["tls", "aarch64", "asimd", "v8l"];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const LEGACY: &[&str] = &["tls"];

/// The system directories either loader searches last, for a program of this class and machine.
fn system_dirs(wide: bool, machine: u16) -> Vec<&'static str> {
    let triples: &[&str] = match (wide, machine) {
        (true, elf_abi::EM_X86_64) => &["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64"],
        (false, elf_abi::EM_X86_64) => {
            &["/lib/x86_64-linux-gnux32", "/usr/lib/x86_64-linux-gnux32", "/libx32", "/usr/libx32"]
        }
        (false, _) if machine == elf_abi::EM_386 || machine == 6 => {
            &["/lib/i386-linux-gnu", "/usr/lib/i386-linux-gnu", "/lib32", "/usr/lib32"]
        }
        (true, elf_abi::EM_AARCH64) => {
            &["/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64"]
        }
        (false, elf_abi::EM_ARM) => &[
            "/lib/arm-linux-gnueabihf",
            "/usr/lib/arm-linux-gnueabihf",
            "/lib/arm-linux-gnueabi",
            "/usr/lib/arm-linux-gnueabi",
        ],
        _ => &["/lib64", "/usr/lib64"],
    };
    triples.iter().copied().chain(["/lib", "/usr/lib", "/usr/local/lib"]).collect()
}

use ::elf::abi as elf_abi;

/// Read a file root relies on, bounded, after judging the way to it: `None` when it does not exist.
fn read_trusted(path: &str) -> Result<Option<Vec<u8>>, String> {
    use std::io::Read;
    match trust::walk(Path::new(path), Last::File) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.to_string()),
        Ok(walked) if walked.untrusted.is_some() => Err(walked.untrusted.unwrap_or_default()),
        Ok(walked) if !walked.is_file() => Err(format!("{} is not a regular file", walked.path.display())),
        Ok(walked) => {
            let file = std::fs::File::open(&walked.path).map_err(|e| e.to_string())?;
            let mut bytes = Vec::new();
            file.take(MAX_CACHE).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
            Ok(Some(bytes))
        }
    }
}

/// glibc's parsing of `/etc/ld.so.preload` (elf/rtld.c): `#` to the end of a line is a comment; the
/// names are separated by spaces, tabs, newlines and `:`.
pub fn preload_names(text: &[u8]) -> Vec<Vec<u8>> {
    let mut names = Vec::new();
    for line in text.split(|&c| c == b'\n') {
        let line = line.split(|&c| c == b'#').next().unwrap_or_default();
        names.extend(line.split(|c| b" \t:".contains(c)).filter(|n| !n.is_empty()).map(<[u8]>::to_vec));
    }
    names
}

/// Whether `head` starts an ELF library the loader would take for a program of this class and
/// machine (elf/dl-load.c's open_verify); one it would not, it passes over and searches on.
fn takes(head: &[u8], wide: bool, machine: u16) -> bool {
    let native = if cfg!(target_endian = "little") { 1 } else { 2 };
    let class = if wide { 2 } else { 1 };
    let field = head.get(18..20).and_then(|m| m.try_into().ok()).map(u16::from_ne_bytes);
    elf::is_elf(head) && head.get(4) == Some(&class) && head.get(5) == Some(&native) && field == Some(machine)
}

impl Loader {
    /// Every path the cache gives for `name` (none when there is no cache), parsed once.
    fn cached(&mut self, name: &[u8]) -> Result<Vec<PathBuf>, Refusal> {
        let cache = self.cache.get_or_insert_with(|| {
            let bytes = read_trusted(CACHE).map_err(|why| Refusal::Cache { why })?.unwrap_or_default();
            let index = match bytes.is_empty() {
                true => Vec::new(),
                false => super::ldcache::index(&bytes).map_err(|why| Refusal::Cache { why: why.to_string() })?,
            };
            Ok(CacheIndex { bytes, entries: index })
        });
        let CacheIndex { bytes, entries: index } = cache.as_ref().map_err(Clone::clone)?;
        let at = |span: &Span| bytes.get(span.clone()).unwrap_or_default();
        let named = index.iter().filter(|(_, key, _)| super::ldcache::same_name(at(key), name));
        Ok(named.map(|(_, _, path)| from_root(at(path))).collect())
    }

    /// The library at `path`, judged once per listing (see [`library_at`]).
    fn library(&mut self, path: &Path, wide: bool, machine: u16) -> Result<Option<PathBuf>, (PathBuf, String)> {
        if let Some(known) = self.libraries.get(path) {
            return known.clone();
        }
        let judged = library_at(path, wide, machine);
        self.libraries.insert(path.to_path_buf(), judged.clone());
        judged
    }

    fn preload(&mut self) -> Result<Vec<Vec<u8>>, Refusal> {
        self.preload
            .get_or_insert_with(|| match read_trusted(PRELOAD) {
                Ok(text) => Ok(preload_names(&text.unwrap_or_default())),
                Err(why) => Err(Refusal::Preload { why }),
            })
            .clone()
    }

    /// musl's list of system directories, `/etc/ld-musl-ARCH.path`, where there is one.
    fn musl_path(&mut self) -> Vec<PathBuf> {
        self.musl_path
            .get_or_insert_with(|| {
                let arch = std::env::consts::ARCH;
                match read_trusted(&format!("/etc/ld-musl-{arch}.path")) {
                    Ok(Some(text)) => {
                        text.split(|c| b":\n".contains(c)).filter(|d| !d.is_empty()).map(from_root).collect()
                    }
                    // one a user could change is judged as a search directory: refused there
                    _ => Vec::new(),
                }
            })
            .clone()
    }

    /// The directories searched for `dir`: its hwcaps subdirectories that exist, then itself, each
    /// judged; `Err` with why one of them (or where a missing one would be made) is not root's.
    fn search(&mut self, dir: &Path) -> Result<Vec<PathBuf>, (PathBuf, String)> {
        if let Some(known) = self.dirs.get(dir) {
            return known.clone().map_err(|why| (dir.to_path_buf(), why));
        }
        let judged = match trust::walk(dir, Last::Dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match trust::judge_named(dir) {
                Some(why) => Err(why),
                None => Ok(Vec::new()),
            },
            Err(e) => Err(e.to_string()),
            Ok(walked) if !walked.is_dir() => Ok(Vec::new()),
            Ok(walked) => match walked.untrusted {
                Some(why) => Err(why),
                None => subdirectories(&walked.path).map(|mut found| {
                    found.push(walked.path.clone());
                    found
                }),
            },
        };
        self.dirs.insert(dir.to_path_buf(), judged.clone());
        judged.map_err(|why| (dir.to_path_buf(), why))
    }

    /// The library `name` in the judged directory `dir`: `Ok(None)` when it is not there.
    fn library_in(
        &self,
        dir: &Path,
        name: &[u8],
        wide: bool,
        machine: u16,
    ) -> Result<Option<PathBuf>, (PathBuf, String)> {
        library_at(&dir.join(OsStr::from_bytes(name)), wide, machine)
    }

    /// Everything the loader opens for the program at `path` (walked), read as `main`: its loader
    /// is judged by the caller. Returns every file judged.
    pub fn closure(&mut self, path: &Path, main: Object) -> Result<BTreeSet<PathBuf>, Refusal> {
        let (wide, machine) = (main.wide, main.machine);
        let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
        let mut queue = vec![Loaded { path: path.to_path_buf(), object: main, loaders_rpath: Vec::new() }];
        // the names every program gets first, as if the program itself needed them
        for name in self.preload()? {
            if name.contains(&b'$') {
                return Err(Refusal::Token { object: PathBuf::from(PRELOAD), what: "a preloaded library" });
            }
            let found = self.find(&name, path, &[], &[], wide, machine).map_err(|refusal| match refusal {
                Refusal::Library { library, why, .. } | Refusal::SearchDir { dir: library, why, .. } => {
                    Refusal::Preloaded { library, why }
                }
                other => other,
            })?;
            for found in found {
                self.add(found, Vec::new(), path, &mut seen, &mut queue)?;
            }
        }
        let mut next = 0;
        while let Some(loaded) = queue.get(next) {
            next += 1;
            let Some(dynamic) = loaded.object.dynamic.clone() else { continue };
            let object = loaded.path.clone();
            let origin = object.parent().unwrap_or(Path::new("/")).to_path_buf();
            let rpath = search_list(&dynamic.rpath, &origin, &object, "RPATH")?;
            let runpath = search_list(&dynamic.runpath, &origin, &object, "RUNPATH")?;
            let chain: Vec<PathBuf> = rpath.iter().chain(&loaded.loaders_rpath).cloned().collect();
            for name in &dynamic.needed {
                let Some(name) = expand(name, &origin) else {
                    return Err(Refusal::Token { object, what: "DT_NEEDED" });
                };
                let searched = if runpath.is_empty() { chain.clone() } else { Vec::new() };
                for found in self.find(&name, &object, &searched, &runpath, wide, machine)? {
                    self.add(found, chain.clone(), &object, &mut seen, &mut queue)?;
                }
            }
        }
        Ok(seen)
    }

    /// Take in a library found, once: read what it names in turn.
    fn add(
        &mut self,
        found: PathBuf,
        loaders_rpath: Vec<PathBuf>,
        by: &Path,
        seen: &mut BTreeSet<PathBuf>,
        queue: &mut Vec<Loaded>,
    ) -> Result<(), Refusal> {
        if !seen.insert(found.clone()) {
            return Ok(());
        }
        if seen.len() > MAX_OBJECTS {
            return Err(Refusal::TooMany { object: by.to_path_buf() });
        }
        let object = read_library(&found)?;
        queue.push(Loaded { path: found, object, loaders_rpath });
        Ok(())
    }

    /// Every library the loader may take for `name`, needed by `object`, searching `rpath` (the
    /// RPATHs in force), `runpath`, the cache and the system directories in that order, up to the
    /// first place that has one.
    fn find(
        &mut self,
        name: &[u8],
        object: &Path,
        rpath: &[PathBuf],
        runpath: &[PathBuf],
        wide: bool,
        machine: u16,
    ) -> Result<Found, Refusal> {
        let library = |path: &Path, why: String| Refusal::Library {
            object: object.to_path_buf(),
            library: path.to_path_buf(),
            why,
        };
        if name.contains(&b'/') {
            let path = from_root(name);
            return match self.library(&path, wide, machine) {
                Ok(found) => Ok(found.into_iter().collect()),
                Err((at, why)) => Err(library(&at, why)),
            };
        }
        let lists = [(rpath, "RPATH"), (runpath, "RUNPATH")];
        for (dirs, what) in lists {
            if let Some(found) = self.search_dirs(name, object, dirs, what, wide, machine)? {
                return Ok(found);
            }
        }
        let mut found = Vec::new();
        for path in self.cached(name)? {
            match self.library(&path, wide, machine) {
                Ok(Some(at)) => found.push(at),
                Ok(None) => {}
                Err((at, why)) => return Err(library(&at, why)),
            }
        }
        if !found.is_empty() {
            return Ok(found);
        }
        let mut system: Vec<PathBuf> = system_dirs(wide, machine).into_iter().map(PathBuf::from).collect();
        system.extend(self.musl_path());
        Ok(self.search_dirs(name, object, &system, "the system directories", wide, machine)?.unwrap_or_default())
    }

    /// Search `dirs` in order for `name`: the libraries of the first that has one, each directory
    /// (and what is in it) judged on the way.
    fn search_dirs(
        &mut self,
        name: &[u8],
        object: &Path,
        dirs: &[PathBuf],
        what: &'static str,
        wide: bool,
        machine: u16,
    ) -> Result<Option<Found>, Refusal> {
        for dir in dirs {
            let places = self.search(dir).map_err(|(dir, why)| Refusal::SearchDir {
                object: object.to_path_buf(),
                dir,
                what,
                why,
            })?;
            let mut found = Vec::new();
            for place in places {
                match self.library_in(&place, name, wide, machine) {
                    Ok(Some(at)) => found.push(at),
                    Ok(None) => {}
                    Err((at, why)) => return Err(Refusal::Library { object: object.to_path_buf(), library: at, why }),
                }
            }
            if !found.is_empty() {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}

/// The hwcaps subdirectories of the judged directory `dir` that exist, in the order the loader
/// tries them, each judged.
fn subdirectories(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    let hwcaps = dir.join("glibc-hwcaps");
    if hwcaps.is_dir() {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&hwcaps)
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        names.sort();
        found.extend(names);
    }
    let mut frontier = vec![(dir.to_path_buf(), 0usize)];
    while let Some((at, depth)) = frontier.pop() {
        if depth == 3 {
            continue;
        }
        for name in LEGACY {
            let sub = at.join(name);
            if sub.is_dir() {
                frontier.push((sub.clone(), depth + 1));
                found.push(sub);
            }
        }
    }
    for sub in &found {
        match trust::walk(sub, Last::Dir) {
            Ok(walked) if walked.untrusted.is_some() => return Err(walked.untrusted.unwrap_or_default()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(found)
}

/// The library at `path`, judged as a program is: `Ok(None)` when there is none there (or one the
/// loader would pass over), `Err` with the path and why a user could change it.
fn library_at(path: &Path, wide: bool, machine: u16) -> Result<Option<PathBuf>, (PathBuf, String)> {
    use std::os::unix::fs::FileExt;
    match trust::walk(path, Last::File) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match trust::judge_named(path) {
            Some(why) => Err((path.to_path_buf(), why)),
            None => Ok(None),
        },
        Err(e) => Err((path.to_path_buf(), e.to_string())),
        Ok(walked) => match walked.untrusted {
            Some(why) => Err((walked.path, why)),
            None if !walked.is_file() => Ok(None),
            None => {
                let mut head = [0u8; 20];
                let read = std::fs::File::open(&walked.path).and_then(|f| f.read_at(&mut head, 0));
                let read = read.map_err(|e| (walked.path.clone(), e.to_string()))?;
                Ok(takes(head.get(..read).unwrap_or_default(), wide, machine).then_some(walked.path))
            }
        },
    }
}

/// What the library at `path` (walked and judged) names in turn.
fn read_library(path: &Path) -> Result<Object, Refusal> {
    use std::os::unix::fs::FileExt;
    let unread = |why| Refusal::Unread { object: path.to_path_buf(), why };
    let file = std::fs::File::open(path).map_err(|e| unread(elf::Unknown::Io(e.to_string())))?;
    match elf::read(&|at, buf| file.read_at(buf, at), true) {
        Ok(object) => Ok(object),
        Err(elf::Unread::Unknown(why)) => Err(unread(why)),
        Err(elf::Unread::NotRunnable(why)) => Err(unread(elf::Unknown::Parse(why.to_string()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_is_expanded_only_at_the_start_and_other_tokens_refused() {
        let origin = Path::new("/srv/hooks");
        assert_eq!(expand(b"$ORIGIN/../lib", origin), Some(b"/srv/hooks/../lib".to_vec()));
        assert_eq!(expand(b"${ORIGIN}", origin), Some(b"/srv/hooks".to_vec()));
        assert_eq!(expand(b"/usr/lib", origin), Some(b"/usr/lib".to_vec()));
        for token in [&b"$LIB"[..], b"/usr/$LIB", b"$PLATFORM/x", b"$ORIGIN/$LIB", b"/x/$ORIGIN", b"$ORIGINX/y", b"$"] {
            assert_eq!(expand(token, origin), None, "{}", String::from_utf8_lossy(token));
        }
    }

    #[test]
    fn the_preload_list_is_split_as_glibc_splits_it() {
        let names = preload_names(b"/lib/a.so libb.so:libc.so\t# a comment libd.so\n  #\n/e.so");
        assert_eq!(names, [&b"/lib/a.so"[..], b"libb.so", b"libc.so", b"/e.so"]);
    }

    #[test]
    fn an_empty_search_entry_is_the_working_directory() {
        let list = search_list(&[b"".to_vec(), b"lib".to_vec()], Path::new("/o"), Path::new("/o/x"), "RPATH").unwrap();
        assert_eq!(list, [PathBuf::from("/"), PathBuf::from("/lib")]);
    }
}
