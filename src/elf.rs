//! What an ELF program has loaded before any of its own code runs, read from its headers: the
//! interpreter the kernel starts for it (`PT_INTERP`, the dynamic loader), the directories its own
//! `DT_RPATH` and `DT_RUNPATH` send that loader to first, and the libraries it names by path
//! (`DT_NEEDED` with a `/`). A root hook that is a binary, and every program a `#!` line names, is
//! judged by these as a script is by its `#!` line: a root-owned binary whose RUNPATH is
//! `/opt/conda/lib` runs, as root, whatever `libc.so.6` the user puts there.
//!
//! The file is read only where its headers point, a table at most [`MAX_TABLE`] bytes and a string at
//! most [`MAX_STRING`]; anything out of bounds or cut short is an error, never a guess or a panic.

use std::io;

/// The most bytes of one table (program headers, the dynamic section) read.
pub const MAX_TABLE: u64 = 1 << 16;
/// The longest string (a path, a search list) read.
pub const MAX_STRING: usize = 4096;

const PT_LOAD: u64 = 1;
const PT_DYNAMIC: u64 = 2;
const PT_INTERP: u64 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;

/// What one ELF file names, as written (bytes: a path may be any bytes but NUL).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Loads {
    /// `PT_INTERP`: the program the kernel runs in its place
    pub interpreter: Option<Vec<u8>>,
    /// the entries of `DT_RPATH` and `DT_RUNPATH`, split at `:`, in order
    pub search: Vec<Vec<u8>>,
    /// `DT_NEEDED` entries with a `/`, which the loader opens as the paths they are
    pub by_path: Vec<Vec<u8>>,
}

/// Whether `head` (the first bytes of a file) starts as an ELF file does.
pub fn is_elf(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
}

/// Reads up to `buf.len()` bytes at an offset, as `FileExt::read_at` does.
pub type ReadAt<'a> = &'a dyn Fn(u64, &mut [u8]) -> io::Result<usize>;

/// Why what an ELF file loads could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unread {
    /// its header, program headers or loader's name cannot be read: the kernel refuses to run it too,
    /// and the exec says so
    NotRunnable(String),
    /// its dynamic section or strings cannot be read: what the loader would load is unknown
    Unknown(String),
}

impl std::fmt::Display for Unread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unread::NotRunnable(why) | Unread::Unknown(why) => f.write_str(why),
        }
    }
}

/// The ELF file `read_at` reads, of either class and byte order: what it loads.
pub fn loads(read_at: ReadAt<'_>) -> Result<Loads, Unread> {
    let (form, mut out, segments, dynamic) = program(read_at).map_err(Unread::NotRunnable)?;
    if let Some(dynamic) = dynamic {
        linked(read_at, &form, &segments, &dynamic, &mut out).map_err(Unread::Unknown)?;
    }
    Ok(out)
}

/// What the kernel reads: the header, the program headers and the loader's name; with the loaded
/// segments and the dynamic one, if any.
fn program(read_at: ReadAt<'_>) -> Result<(Form, Loads, Vec<Segment>, Option<Segment>), String> {
    let header = exact(read_at, 0, 64).or_else(|_| exact(read_at, 0, 52))?;
    if !is_elf(&header) {
        return Err("not an ELF file".into());
    }
    let form = match (header.get(4), header.get(5)) {
        (Some(1), Some(1)) => Form { wide: false, big: false },
        (Some(1), Some(2)) => Form { wide: false, big: true },
        (Some(2), Some(1)) => Form { wide: true, big: false },
        (Some(2), Some(2)) => Form { wide: true, big: true },
        _ => return Err("an ELF class or byte order that does not exist".into()),
    };
    let w = form.word();
    let (phoff, phentsize, phnum) = match form.wide {
        true => (form.uint(&header, 0x20, 8)?, form.uint(&header, 0x36, 2)?, form.uint(&header, 0x38, 2)?),
        false => (form.uint(&header, 0x1c, 4)?, form.uint(&header, 0x2a, 2)?, form.uint(&header, 0x2c, 2)?),
    };
    let mut out = Loads::default();
    if phnum == 0 {
        return Ok((form, out, Vec::new(), None));
    }
    // p_type, then p_offset, p_vaddr and p_filesz where each class keeps them
    let (offset_at, vaddr_at, filesz_at) = if form.wide { (8, 16, 32) } else { (4, 8, 16) };
    if phentsize < filesz_at + w {
        return Err(format!("program headers of {phentsize} bytes"));
    }
    let table = read_table(read_at, phoff, phentsize.checked_mul(phnum))?;
    let mut segments: Vec<Segment> = Vec::new();
    let mut dynamic = None;
    for entry in table.chunks_exact(usize::try_from(phentsize).map_err(|_| "program header size")?) {
        let at = |field: u64| usize::try_from(field).map_err(|_| "a field offset".to_string());
        let segment = Segment {
            kind: form.uint(entry, 0, 4)?,
            offset: form.uint(entry, at(offset_at)?, w)?,
            vaddr: form.uint(entry, at(vaddr_at)?, w)?,
            filesz: form.uint(entry, at(filesz_at)?, w)?,
        };
        match segment.kind {
            PT_INTERP => {
                let size = usize::try_from(segment.filesz).unwrap_or(usize::MAX).min(MAX_STRING);
                out.interpreter = Some(string(read_at, segment.offset, size)?);
            }
            PT_DYNAMIC => dynamic = Some(segment),
            PT_LOAD => segments.push(segment),
            _ => {}
        }
    }
    Ok((form, out, segments, dynamic))
}

/// What the loader reads of the dynamic section: the search lists and the libraries named by path,
/// into `out`.
fn linked(
    read_at: ReadAt<'_>,
    form: &Form,
    segments: &[Segment],
    dynamic: &Segment,
    out: &mut Loads,
) -> Result<(), String> {
    let w = form.word();
    // read where the loader finds it, at its address in memory, not where its header says it lies in
    // the file (which nothing at run time reads, so it could point at a decoy)
    let at = file_offset(segments, dynamic.vaddr).ok_or("a dynamic section outside every loaded segment")?;
    let entries = read_table(read_at, at, Some(dynamic.filesz))?;
    let mut strtab = None;
    let mut wanted: Vec<(u64, u64)> = Vec::new();
    for entry in entries.chunks_exact(2 * usize::try_from(w).map_err(|_| "word size")?) {
        let (tag, value) = (form.uint(entry, 0, w)?, form.uint(entry, usize::try_from(w).unwrap_or(8), w)?);
        match tag {
            DT_NULL => break,
            DT_STRTAB => strtab = Some(value),
            DT_NEEDED | DT_RPATH | DT_RUNPATH => wanted.push((tag, value)),
            _ => {}
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let strtab = strtab.ok_or("a dynamic section without a string table")?;
    let base = file_offset(segments, strtab).ok_or("a string table outside every loaded segment")?;
    for (tag, at) in wanted {
        let text = string(read_at, base.checked_add(at).ok_or("a string past the end")?, MAX_STRING)?;
        match tag {
            DT_NEEDED if text.contains(&b'/') => out.by_path.push(text),
            DT_NEEDED => {}
            _ => out.search.extend(text.split(|b| *b == b':').filter(|e| !e.is_empty()).map(<[u8]>::to_vec)),
        }
    }
    Ok(())
}

/// Where in the file the byte the loader finds at address `vaddr` lies: in the loaded segment that
/// holds it.
fn file_offset(segments: &[Segment], vaddr: u64) -> Option<u64> {
    let segment = segments.iter().find(|s| s.vaddr <= vaddr && vaddr - s.vaddr < s.filesz)?;
    segment.offset.checked_add(vaddr - segment.vaddr)
}

/// The class (32 or 64 bits) and byte order of a file.
struct Form {
    wide: bool,
    big: bool,
}

impl Form {
    /// The size of an address, an offset and a dynamic entry's half.
    fn word(&self) -> u64 {
        if self.wide {
            8
        } else {
            4
        }
    }

    /// The unsigned number of `size` bytes at `at` in `bytes`.
    fn uint(&self, bytes: &[u8], at: usize, size: u64) -> Result<u64, String> {
        let field = usize::try_from(size)
            .ok()
            .and_then(|size| bytes.get(at..at.checked_add(size)?))
            .ok_or_else(|| format!("a header cut short at byte {at}"))?;
        let fold = |n: u64, b: &u8| n << 8 | u64::from(*b);
        Ok(if self.big { field.iter().fold(0, fold) } else { field.iter().rev().fold(0, fold) })
    }
}

/// A program header: what a segment is and where it lies.
struct Segment {
    kind: u64,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

/// `len` bytes at `offset`, all of them, or an error.
fn exact(read_at: ReadAt<'_>, offset: u64, len: usize) -> Result<Vec<u8>, String> {
    let bytes = up_to(read_at, offset, len)?;
    match bytes.len() == len {
        true => Ok(bytes),
        false => Err(format!("cut short at byte {}", offset.saturating_add(bytes.len() as u64))),
    }
}

/// Up to `len` bytes at `offset`: fewer only where the file ends.
fn up_to(read_at: ReadAt<'_>, offset: u64, len: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0; len];
    let mut got = 0;
    while let Some(rest) = buf.get_mut(got..).filter(|r| !r.is_empty()) {
        let at = offset.checked_add(got as u64).ok_or("an offset past the end")?;
        match read_at(at, rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// A table of `size` bytes (at most [`MAX_TABLE`]) at `offset`.
fn read_table(read_at: ReadAt<'_>, offset: u64, size: Option<u64>) -> Result<Vec<u8>, String> {
    match size.filter(|s| *s <= MAX_TABLE).and_then(|s| usize::try_from(s).ok()) {
        Some(size) => exact(read_at, offset, size),
        None => Err(format!("a table larger than {MAX_TABLE} bytes")),
    }
}

/// The NUL-terminated string at `offset`, within `limit` bytes.
fn string(read_at: ReadAt<'_>, offset: u64, limit: usize) -> Result<Vec<u8>, String> {
    let mut bytes = up_to(read_at, offset, limit)?;
    match bytes.iter().position(|c| *c == 0) {
        Some(end) => {
            bytes.truncate(end);
            Ok(bytes)
        }
        None if bytes.len() < limit => {
            Err(format!("a string cut short at byte {}", offset.saturating_add(bytes.len() as u64)))
        }
        None => Err(format!("a string longer than {limit} bytes")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(bytes: &[u8]) -> Result<Loads, Unread> {
        let read = |at: u64, buf: &mut [u8]| -> io::Result<usize> {
            let rest = usize::try_from(at).ok().and_then(|at| bytes.get(at..)).unwrap_or_default();
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            Ok(n)
        };
        loads(&read)
    }

    #[test]
    fn the_programs_on_this_machine_name_what_ldd_shows() {
        use std::os::unix::fs::FileExt;
        let file = std::fs::File::open("/bin/sh").unwrap();
        let elf = loads(&|at, buf| file.read_at(buf, at)).unwrap();
        let interp = String::from_utf8(elf.interpreter.unwrap()).unwrap();
        assert!(interp.starts_with('/') && interp.contains("ld-"), "{interp}");
        assert!(elf.search.is_empty() && elf.by_path.is_empty(), "{:?} {:?}", elf.search, elf.by_path);
    }

    #[test]
    fn every_program_in_usr_bin_and_usr_sbin_is_read_and_has_a_loader_or_none() {
        use std::os::unix::fs::FileExt;
        let mut read = 0;
        for dir in ["/usr/bin", "/usr/sbin"] {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let Ok(file) = std::fs::File::open(entry.path()) else { continue };
                let mut head = [0u8; 4];
                if file.read_at(&mut head, 0).is_err() || !is_elf(&head) {
                    continue;
                }
                let elf = loads(&|at, buf| file.read_at(buf, at));
                let elf = elf.unwrap_or_else(|e| panic!("{}: {e}", entry.path().display()));
                if let Some(interp) = elf.interpreter {
                    assert!(interp.starts_with(b"/"), "{}: {interp:?}", entry.path().display());
                }
                read += 1;
            }
        }
        assert!(read > 20, "only {read} programs");
    }

    #[test]
    fn cut_or_odd_headers_are_errors_never_guesses() {
        assert_eq!(of(b"#!/bin/sh\n"), Err(Unread::NotRunnable("cut short at byte 10".into())));
        let mut header = b"\x7fELF\x03\x01".to_vec();
        header.resize(64, 0);
        assert!(matches!(of(&header), Err(Unread::NotRunnable(why)) if why.contains("class")));
        // 64-bit, little-endian, one program header of 56 bytes at 64 that is not there
        header[4] = 2;
        header[0x20] = 64;
        header[0x36] = 56;
        header[0x38] = 1;
        assert!(matches!(of(&header), Err(Unread::NotRunnable(why)) if why.contains("cut short")));
        // no program headers: nothing loaded
        header[0x38] = 0;
        assert_eq!(of(&header), Ok(Loads::default()));
        // a dynamic section at an address no loaded segment holds: the kernel would start it, but what
        // its loader loads is unknown
        header[0x38] = 1;
        let mut dynamic = vec![0u8; 56];
        dynamic[0] = 2;
        dynamic[16..18].copy_from_slice(&1000u16.to_le_bytes());
        dynamic[32] = 16;
        let file = [header, dynamic].concat();
        assert_eq!(of(&file), Err(Unread::Unknown("a dynamic section outside every loaded segment".into())));
    }
}
