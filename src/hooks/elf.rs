//! An ELF file as the kernel starts it and as the dynamic loader reads it: what it names before any
//! of its own code runs. The bytes are parsed by the `elf` crate (no `unsafe`, no allocation); this
//! module holds only the rules of the two programs that read them, so that what the judge sees is
//! what they see, never what the file's own bookkeeping claims:
//!
//! - the kernel (fs/binfmt_elf.c) reads every field in this machine's byte order, whatever
//!   `EI_DATA` says; it runs a file only if its `e_type` is ET_EXEC or ET_DYN, its `e_machine` one
//!   this machine runs, its program headers of the native size, 1 to 4096 bytes of them, read whole;
//!   and it takes the FIRST `PT_INTERP`, of 2 to 4096 bytes ending in a NUL, as the loader;
//! - the loader (glibc's ld.so) reads the dynamic section at its address in memory (`PT_DYNAMIC`'s
//!   `p_vaddr`, through the segments it mapped), entry after entry until `DT_NULL`, whatever
//!   `p_filesz` says, and takes the strings at their addresses too.
//!
//! Where either could read something this module cannot be sure of, it says so
//! ([`Unknown`]) and the judge refuses the file: two `PT_INTERP` or two `PT_DYNAMIC`, a dynamic
//! section or string outside every loaded segment, in bytes two segments could both be mapped over,
//! or running past the file, a header the kernel could read two ways. A file the kernel refuses to
//! run ([`NotRunnable`]) is only said so when the kernel's own checks refuse it: its exec then fails
//! and is logged as any such failure.

use std::fmt;
use std::io;

use elf::abi;
use elf::endian::NativeEndian;
use elf::file::{Class, FileHeader};
use elf::parse::ParsingIterator;
use elf::segment::ProgramHeader;

/// The most bytes of a dynamic section read.
pub const MAX_TABLE: usize = 1 << 16;
/// The longest string (a path, a search list, a library's name) read.
pub const MAX_STRING: usize = 4096;
/// The kernel's longest loader name (PATH_MAX), and its most program-header bytes (ELF_MIN_ALIGN).
const PATH_MAX: u64 = 4096;
const MAX_PHDRS: usize = 4096;

// Tags the `elf` crate does not name.
const DT_RELRSZ: i64 = 35;
const DT_RELR: i64 = 36;
const DT_RELRENT: i64 = 37;
const DT_AUXILIARY: i64 = 0x7fff_fffd;
const DT_USED: i64 = 0x7fff_fffe;
const DT_FILTER: i64 = 0x7fff_ffff;

/// Reads up to `buf.len()` bytes at an offset, as `FileExt::read_at` does.
pub type ReadAt<'a> = &'a dyn Fn(u64, &mut [u8]) -> io::Result<usize>;

/// Whether `head` (the first bytes of a file) starts as an ELF file does.
pub fn is_elf(head: &[u8]) -> bool {
    head.starts_with(&abi::ELFMAGIC)
}

/// One ELF file, as far as what it makes the kernel and the loader open goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Object {
    /// ELFCLASS64
    pub wide: bool,
    pub machine: u16,
    /// `PT_INTERP`: the program the kernel starts in its place
    pub interpreter: Option<Vec<u8>>,
    /// what its dynamic section names, when it has one and it was asked for
    pub dynamic: Option<Dynamic>,
}

/// What a dynamic section names for the loader.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dynamic {
    /// `DT_NEEDED`, in order: names the loader searches, or paths it opens
    pub needed: Vec<Vec<u8>>,
    /// `DT_RPATH` entries (split at `:`; an empty entry is the working directory, as for ld.so)
    pub rpath: Vec<Vec<u8>>,
    /// `DT_RUNPATH` entries, likewise
    pub runpath: Vec<Vec<u8>>,
    /// `DT_SONAME`
    pub soname: Option<Vec<u8>>,
}

/// Why the kernel refuses to run a file: its exec fails (ENOEXEC, EIO), nothing of it runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotRunnable {
    /// `e_type` is neither ET_EXEC nor ET_DYN, or `e_machine` not one this machine runs, or the
    /// program headers are not of the native size and count
    #[error("its type, machine or program headers are not of a program this machine runs")]
    Header,
    /// the program headers, or the loader's name, are cut short by the end of the file
    #[error("its program headers or its loader's name are cut short")]
    CutShort,
    /// a `PT_INTERP` of fewer than 2 or more than 4096 bytes, or not ending in a NUL
    #[error("its loader's name (PT_INTERP) is not a string of 1 to 4095 bytes")]
    LoaderName,
}

/// Why what a file makes the loader open cannot be known: the file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unknown {
    #[error(
        "its header reads as a program of both ELF classes; which the kernel runs depends on the order it tries them"
    )]
    TwoClasses,
    #[error("it names two loaders (PT_INTERP); the kernel runs the first")]
    TwoLoaders,
    #[error("it has two dynamic sections (PT_DYNAMIC); the loader reads the last")]
    TwoDynamic,
    #[error("its {0} lies outside every loaded segment")]
    Unmapped(&'static str),
    #[error("its {0} lies where two loaded segments are mapped over each other")]
    Overlapping(&'static str),
    #[error("its {0} runs past the end of what its segment holds")]
    PastSegment(&'static str),
    #[error("its dynamic section is longer than {MAX_TABLE} bytes")]
    TooLong,
    #[error("it has {0} string tables (DT_STRTAB); which the loader uses is not certain")]
    StringTables(usize),
    #[error("it names libraries or search directories but has no string table (DT_STRTAB)")]
    NoStringTable,
    #[error("a string of it is longer than {MAX_STRING} bytes")]
    LongString,
    #[error("it names an audit module (DT_AUDIT or DT_DEPAUDIT), which the loader runs before the program; roothooks does not judge audit modules")]
    Audit,
    #[error("it names a filtee (DT_FILTER or DT_AUXILIARY), which the loader opens beside it; roothooks does not judge filtees")]
    Filter,
    #[error("it has the dynamic tag {0:#x}, which roothooks does not know")]
    Tag(i64),
    #[error("its headers cannot be parsed: {0}")]
    Parse(String),
    #[error("it cannot be read: {0}")]
    Io(String),
}

/// Why an ELF file was not read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unread {
    NotRunnable(NotRunnable),
    Unknown(Unknown),
}

impl fmt::Display for Unread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unread::NotRunnable(why) => write!(f, "the kernel refuses to run it: {why}"),
            Unread::Unknown(why) => write!(f, "{why}"),
        }
    }
}

impl From<Unknown> for Unread {
    fn from(why: Unknown) -> Self {
        Unread::Unknown(why)
    }
}

/// The machines this one runs, by the ELF class their headers are read in: the kernel's native
/// handler and its compat handler (32-bit x86 and x32, 32-bit ARM).
fn runs(wide: bool, machine: u16) -> bool {
    #[cfg(target_arch = "x86_64")]
    let (native, compat): (&[u16], &[u16]) = (&[abi::EM_X86_64], &[abi::EM_386, 6, abi::EM_X86_64]);
    #[cfg(target_arch = "aarch64")]
    let (native, compat): (&[u16], &[u16]) = (&[abi::EM_AARCH64], &[abi::EM_ARM]);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let (native, compat): (&[u16], &[u16]) = (&[], &[]);
    if wide {
        native.contains(&machine)
    } else {
        compat.contains(&machine)
    }
}

/// The bytes `len` at `offset`, all of them (`None` when the file ends first).
fn exact(read_at: ReadAt<'_>, offset: u64, len: usize) -> Result<Option<Vec<u8>>, Unknown> {
    let bytes = up_to(read_at, offset, len)?;
    Ok((bytes.len() == len).then_some(bytes))
}

/// Up to `len` bytes at `offset`: fewer only where the file ends.
fn up_to(read_at: ReadAt<'_>, offset: u64, len: usize) -> Result<Vec<u8>, Unknown> {
    let mut buf = vec![0; len];
    let mut got = 0;
    while let Some(rest) = buf.get_mut(got..).filter(|r| !r.is_empty()) {
        let Some(at) = offset.checked_add(got as u64) else { break };
        match read_at(at, rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Unknown::Io(e.to_string())),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// The header as the kernel's handler of one class reads it from its 64-byte buffer (zero past the
/// end of a short file), in this machine's byte order; `None` if that handler refuses it.
fn header_as(buf: &[u8; 64], wide: bool) -> Option<FileHeader<NativeEndian>> {
    let class = if wide { Class::ELF64 } else { Class::ELF32 };
    let ident = (NativeEndian, class, buf[abi::EI_OSABI], buf[abi::EI_ABIVERSION]);
    let header = FileHeader::parse_tail(ident, buf.get(abi::EI_NIDENT..)?).ok()?;
    let entry = if wide { 56 } else { 32 };
    let phdrs = usize::from(header.e_phnum) * entry;
    let ok = matches!(header.e_type, abi::ET_EXEC | abi::ET_DYN)
        && runs(wide, header.e_machine)
        && usize::from(header.e_phentsize) == entry
        && (1..=MAX_PHDRS).contains(&phdrs);
    ok.then_some(header)
}

/// A loaded segment: where its bytes lie in the file and in memory.
#[derive(Debug, Clone, Copy)]
struct Segment {
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
}

/// The file as the loader maps it: its loaded segments, and the page size they are mapped by.
struct Image<'a> {
    read_at: ReadAt<'a>,
    segments: Vec<Segment>,
    page: u64,
}

impl Image<'_> {
    /// The bytes the loader finds from address `at` on, at most `max` of them, from the one loaded
    /// segment that holds `at` (zero past the file's part of it, as the loader fills it), with no
    /// other segment mapped over any page of them. `what` names them for a message.
    fn memory(&self, at: u64, max: usize, what: &'static str) -> Result<Vec<u8>, Unknown> {
        // segments are mapped in their order, each over what an earlier one left: the last that holds
        // `at` is the one the loader reads, and no later one may be mapped over any page read
        let held = self.segments.iter().rposition(|s| s.vaddr <= at && at - s.vaddr < s.memsz);
        let Some((index, segment)) = held.and_then(|i| Some((i, self.segments.get(i)?))) else {
            return Err(Unknown::Unmapped(what));
        };
        let into = at - segment.vaddr;
        let len = usize::try_from(segment.memsz - into).unwrap_or(usize::MAX).min(max);
        let end = at.saturating_add(len as u64);
        let (first, last) = (at - at % self.page, end.div_ceil(self.page).saturating_mul(self.page));
        let later = self.segments.iter().skip(index + 1);
        if later.into_iter().any(|s| s.vaddr - s.vaddr % self.page < last && first < s.vaddr.saturating_add(s.memsz)) {
            return Err(Unknown::Overlapping(what));
        }
        let from_file = usize::try_from(segment.filesz.saturating_sub(into)).unwrap_or(usize::MAX).min(len);
        let mut bytes = Vec::new();
        if from_file > 0 {
            let offset = segment.offset.checked_add(into).ok_or(Unknown::PastSegment(what))?;
            bytes = exact(self.read_at, offset, from_file)?.ok_or(Unknown::PastSegment(what))?;
        }
        bytes.resize(len, 0);
        Ok(bytes)
    }

    /// The NUL-terminated string the loader finds at address `at` (a short read first: most are).
    fn string(&self, at: u64) -> Result<Vec<u8>, Unknown> {
        let short = self.memory(at, 256, "string")?;
        if let Some(end) = short.iter().position(|&c| c == 0) {
            return Ok(short.get(..end).unwrap_or_default().to_vec());
        }
        let bytes = self.memory(at, MAX_STRING + 1, "string")?;
        let table = elf::string_table::StringTable::new(&bytes);
        match table.get_raw(0) {
            Ok(string) if string.len() <= MAX_STRING => Ok(string.to_vec()),
            Ok(_) => Err(Unknown::LongString),
            Err(_) if bytes.len() > MAX_STRING => Err(Unknown::LongString),
            Err(_) => Err(Unknown::PastSegment("string")),
        }
    }
}

/// The page size segments are mapped by: this machine's.
fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|p| u64::try_from(p).ok())
        .unwrap_or(4096)
}

/// Read the ELF file `read_at` reads as the kernel starts it and, if `dynamic` or it names a loader,
/// its dynamic section as the loader reads it. The caller has checked [`is_elf`].
pub fn read(read_at: ReadAt<'_>, dynamic: bool) -> Result<Object, Unread> {
    let mut buf = [0u8; 64];
    let head = up_to(read_at, 0, buf.len())?;
    buf.iter_mut().zip(&head).for_each(|(b, h)| *b = *h);
    let header = match (header_as(&buf, true), header_as(&buf, false)) {
        (Some(_), Some(_)) => return Err(Unknown::TwoClasses.into()),
        (Some(h), None) | (None, Some(h)) => h,
        (None, None) => return Err(Unread::NotRunnable(NotRunnable::Header)),
    };
    let wide = header.class == Class::ELF64;
    let table_len = usize::from(header.e_phentsize) * usize::from(header.e_phnum);
    let table = exact(read_at, header.e_phoff, table_len)?.ok_or(Unread::NotRunnable(NotRunnable::CutShort))?;
    let headers: Vec<ProgramHeader> = ParsingIterator::new(NativeEndian, header.class, &table).collect();
    let mut object = Object { wide, machine: header.e_machine, ..Object::default() };
    let interps: Vec<&ProgramHeader> = headers.iter().filter(|p| p.p_type == abi::PT_INTERP).collect();
    if let Some(first) = interps.first() {
        if !(2..=PATH_MAX).contains(&first.p_filesz) {
            return Err(Unread::NotRunnable(NotRunnable::LoaderName));
        }
        let len = usize::try_from(first.p_filesz).map_err(|_| Unread::NotRunnable(NotRunnable::LoaderName))?;
        let name = exact(read_at, first.p_offset, len)?.ok_or(Unread::NotRunnable(NotRunnable::CutShort))?;
        if name.last() != Some(&0) {
            return Err(Unread::NotRunnable(NotRunnable::LoaderName));
        }
        object.interpreter = name.split(|b| *b == 0).next().map(<[u8]>::to_vec);
    }
    if interps.len() > 1 {
        return Err(Unknown::TwoLoaders.into());
    }
    let dynamics: Vec<&ProgramHeader> = headers.iter().filter(|p| p.p_type == abi::PT_DYNAMIC).collect();
    if dynamics.len() > 1 {
        return Err(Unknown::TwoDynamic.into());
    }
    let Some(section) = dynamics.first().filter(|_| dynamic || object.interpreter.is_some()) else {
        return Ok(object);
    };
    let segments = headers
        .iter()
        .filter(|p| p.p_type == abi::PT_LOAD)
        .map(|p| Segment { offset: p.p_offset, vaddr: p.p_vaddr, filesz: p.p_filesz, memsz: p.p_memsz.max(p.p_filesz) })
        .collect();
    let image = Image { read_at, segments, page: page_size() };
    object.dynamic = Some(dynamic_section(&image, header.class, section.p_vaddr)?);
    Ok(object)
}

/// The dynamic section at address `at`, read entry by entry until `DT_NULL`, as the loader reads it.
fn dynamic_section(image: &Image<'_>, class: Class, at: u64) -> Result<Dynamic, Unknown> {
    // a short read first, which holds most dynamic sections whole; the bound only if it does not
    let short = image.memory(at, 1024, "dynamic section")?;
    let whole = short.len() < 1024 || ends(&short, class);
    let bytes = if whole { short } else { image.memory(at, MAX_TABLE + 1, "dynamic section")? };
    let entries: ParsingIterator<'_, NativeEndian, elf::dynamic::Dyn> =
        ParsingIterator::new(NativeEndian, class, &bytes);
    let mut strtab = Vec::new();
    let mut named: Vec<(i64, u64)> = Vec::new();
    let mut ended = false;
    for entry in entries {
        match entry.d_tag {
            abi::DT_NULL => {
                ended = true;
                break;
            }
            abi::DT_STRTAB => strtab.push(entry.d_ptr()),
            abi::DT_NEEDED | abi::DT_RPATH | abi::DT_RUNPATH | abi::DT_SONAME => {
                named.push((entry.d_tag, entry.d_val()))
            }
            abi::DT_AUDIT | abi::DT_DEPAUDIT => return Err(Unknown::Audit),
            DT_FILTER | DT_AUXILIARY => return Err(Unknown::Filter),
            tag if harmless(tag) => {}
            tag => return Err(Unknown::Tag(tag)),
        }
    }
    if !ended {
        return Err(if bytes.len() > MAX_TABLE { Unknown::TooLong } else { Unknown::PastSegment("dynamic section") });
    }
    let mut out = Dynamic::default();
    if named.is_empty() {
        return Ok(out);
    }
    let base = match strtab.as_slice() {
        [one] => *one,
        [] => return Err(Unknown::NoStringTable),
        many => return Err(Unknown::StringTables(many.len())),
    };
    let list = |text: Vec<u8>| text.split(|b| *b == b':').map(<[u8]>::to_vec).collect::<Vec<_>>();
    for (tag, offset) in named {
        let text = image.string(base.checked_add(offset).ok_or(Unknown::Unmapped("string"))?)?;
        match tag {
            abi::DT_NEEDED => out.needed.push(text),
            abi::DT_RPATH => out.rpath.extend(list(text)),
            abi::DT_RUNPATH => out.runpath.extend(list(text)),
            _ => out.soname = Some(text),
        }
    }
    Ok(out)
}

/// Whether `bytes` hold a whole dynamic section: an entry whose tag is DT_NULL.
fn ends(bytes: &[u8], class: Class) -> bool {
    let entries: ParsingIterator<'_, NativeEndian, elf::dynamic::Dyn> =
        ParsingIterator::new(NativeEndian, class, bytes);
    entries.into_iter().any(|e| e.d_tag == abi::DT_NULL)
}

/// The dynamic tags that make the loader open nothing: addresses, sizes, flags, symbol versions,
/// and the processor-specific ones of this machine.
fn harmless(tag: i64) -> bool {
    const NAMED: &[i64] = &[
        abi::DT_PLTRELSZ,
        abi::DT_PLTGOT,
        abi::DT_HASH,
        abi::DT_SYMTAB,
        abi::DT_RELA,
        abi::DT_RELASZ,
        abi::DT_RELAENT,
        abi::DT_STRSZ,
        abi::DT_SYMENT,
        abi::DT_INIT,
        abi::DT_FINI,
        abi::DT_SYMBOLIC,
        abi::DT_REL,
        abi::DT_RELSZ,
        abi::DT_RELENT,
        abi::DT_PLTREL,
        abi::DT_DEBUG,
        abi::DT_TEXTREL,
        abi::DT_JMPREL,
        abi::DT_BIND_NOW,
        abi::DT_INIT_ARRAY,
        abi::DT_FINI_ARRAY,
        abi::DT_INIT_ARRAYSZ,
        abi::DT_FINI_ARRAYSZ,
        abi::DT_FLAGS,
        abi::DT_PREINIT_ARRAY,
        abi::DT_PREINIT_ARRAYSZ,
        abi::DT_SYMTAB_SHNDX,
        DT_RELRSZ,
        DT_RELR,
        DT_RELRENT,
        abi::DT_GNU_PRELINKED,
        abi::DT_GNU_CONFLICTSZ,
        abi::DT_GNU_LIBLISTSZ,
        abi::DT_CHECKSUM,
        abi::DT_PLTPADSZ,
        abi::DT_MOVEENT,
        abi::DT_MOVESZ,
        abi::DT_FEATURE_1,
        abi::DT_POSFLAG_1,
        abi::DT_SYMINSZ,
        abi::DT_SYMINENT,
        abi::DT_GNU_HASH,
        abi::DT_TLSDESC_PLT,
        abi::DT_TLSDESC_GOT,
        abi::DT_GNU_CONFLICT,
        abi::DT_GNU_LIBLIST,
        // Solaris' configuration file, which glibc's loader never reads
        abi::DT_CONFIG,
        abi::DT_PLTPAD,
        abi::DT_MOVETAB,
        abi::DT_SYMINFO,
        abi::DT_VERSYM,
        abi::DT_RELACOUNT,
        abi::DT_RELCOUNT,
        abi::DT_FLAGS_1,
        abi::DT_VERDEF,
        abi::DT_VERDEFNUM,
        abi::DT_VERNEED,
        abi::DT_VERNEEDNUM,
        DT_USED,
    ];
    #[cfg(target_arch = "x86_64")]
    const MACHINE: &[i64] = &[0x7000_0000, 0x7000_0001, 0x7000_0003];
    #[cfg(target_arch = "aarch64")]
    const MACHINE: &[i64] = &[abi::DT_AARCH64_BTI_PLT, abi::DT_AARCH64_PAC_PLT, abi::DT_AARCH64_VARIANT_PCS];
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    const MACHINE: &[i64] = &[];
    NAMED.contains(&tag) || MACHINE.contains(&tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(bytes: &[u8], dynamic: bool) -> Result<Object, Unread> {
        let reader = |at: u64, buf: &mut [u8]| -> io::Result<usize> {
            let rest = usize::try_from(at).ok().and_then(|at| bytes.get(at..)).unwrap_or_default();
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            Ok(n)
        };
        super::read(&reader, dynamic)
    }

    fn file(path: &str) -> Vec<u8> {
        std::fs::read(path).unwrap()
    }

    /// The 64-bit little-endian program headers of `bytes`: (offset of each entry, its type).
    fn phdrs(bytes: &[u8]) -> Vec<(usize, u32)> {
        let field = |at: usize, n: usize| bytes[at..at + n].iter().rev().fold(0usize, |v, x| v << 8 | *x as usize);
        let (phoff, phnum) = (field(0x20, 8), field(0x38, 2));
        (0..phnum).map(|i| (phoff + i * 56, u32::try_from(field(phoff + i * 56, 4)).unwrap())).collect()
    }

    #[test]
    fn every_program_in_usr_bin_and_usr_sbin_is_read_and_has_a_loader_or_none() {
        use std::os::unix::fs::FileExt;
        let mut read = 0;
        for dir in ["/usr/bin", "/usr/sbin"] {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let Ok(opened) = std::fs::File::open(entry.path()) else { continue };
                let mut head = [0u8; 4];
                if opened.read_at(&mut head, 0).is_err() || !is_elf(&head) {
                    continue;
                }
                let object = super::read(&|at, buf| opened.read_at(buf, at), true);
                let object = object.unwrap_or_else(|e| panic!("{}: {e}", entry.path().display()));
                if let Some(interp) = object.interpreter {
                    assert!(interp.starts_with(b"/"), "{}: {interp:?}", entry.path().display());
                    assert!(object.dynamic.is_some(), "{}: a loader and no dynamic section", entry.path().display());
                }
                read += 1;
            }
        }
        assert!(read > 20, "only {read} programs");
    }

    #[test]
    fn the_dynamic_section_is_read_where_the_loader_finds_it_whatever_its_size_says() {
        let mut bytes = file("/bin/sh");
        let normal = of(&bytes, false).unwrap();
        assert!(normal.dynamic.as_ref().unwrap().needed.iter().any(|n| n.starts_with(b"libc.so")), "{normal:?}");
        // p_filesz and p_memsz of PT_DYNAMIC 0: the loader still reads it up to DT_NULL
        let (at, _) = phdrs(&bytes).into_iter().find(|(_, t)| *t == abi::PT_DYNAMIC).unwrap();
        bytes[at + 32..at + 48].fill(0);
        assert_eq!(of(&bytes, false).unwrap(), normal);
        // moved to an address no loaded segment holds
        bytes[at + 16..at + 24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(of(&bytes, false), Err(Unread::Unknown(Unknown::Unmapped("dynamic section"))));
    }

    #[test]
    fn a_second_loader_or_dynamic_section_refuses_and_the_kernels_own_refusals_are_said() {
        let bytes = file("/bin/sh");
        let headers = phdrs(&bytes);
        let (interp, _) = headers.iter().copied().find(|(_, t)| *t == abi::PT_INTERP).unwrap();
        let (note, _) = headers.iter().copied().find(|(_, t)| *t == abi::PT_NOTE).unwrap();
        let mut two = bytes.clone();
        two.copy_within(interp..interp + 56, note);
        assert_eq!(of(&two, false), Err(Unread::Unknown(Unknown::TwoLoaders)));
        let (dynamic, _) = headers.iter().copied().find(|(_, t)| *t == abi::PT_DYNAMIC).unwrap();
        let mut two = bytes.clone();
        two.copy_within(dynamic..dynamic + 56, note);
        assert_eq!(of(&two, false), Err(Unread::Unknown(Unknown::TwoDynamic)));
        // another machine's program, an object file, a cut table: the kernel runs none of them
        let mut other = bytes.clone();
        other[18] = 0xb7;
        other[19] = 0;
        assert!(matches!(of(&other, false), Err(Unread::NotRunnable(NotRunnable::Header)) | Ok(_)));
        let mut object = bytes.clone();
        object[16] = u8::try_from(abi::ET_REL).unwrap();
        assert_eq!(of(&object, false), Err(Unread::NotRunnable(NotRunnable::Header)));
        assert_eq!(of(&bytes[..80], false), Err(Unread::NotRunnable(NotRunnable::CutShort)));
        assert_eq!(of(b"\x7fELF\x02\x01\x01", false), Err(Unread::NotRunnable(NotRunnable::Header)));
        // a loader's name without its NUL
        let mut unterminated = bytes.clone();
        let field = |b: &[u8], at: usize| b[at..at + 8].iter().rev().fold(0usize, |v, x| v << 8 | *x as usize);
        let (offset, size) = (field(&bytes, interp + 8), field(&bytes, interp + 32));
        unterminated[offset + size - 1] = b'x';
        assert_eq!(of(&unterminated, false), Err(Unread::NotRunnable(NotRunnable::LoaderName)));
    }
}
