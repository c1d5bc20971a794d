//! `/etc/ld.so.cache`, as glibc's loader reads it: the names of libraries, each with the path the
//! loader opens for it before it searches the system directories. ldconfig writes it from
//! `/etc/ld.so.conf`, whose directories an image may have extended with one a user can write
//! (`/opt/conda/lib`): the paths it names are judged like any other the loader opens.
//!
//! The format is glibc's "glibc-ld.so.cache1.1" (elf/dl-cache.h), alone or after the old
//! "ld.so-1.7.0" table that older glibc wrote first: a header, `nlibs` entries of 24 bytes (flags,
//! name and path as offsets into the file from the new header, an OS version, a hwcap word), then
//! the strings. Only this machine's byte order is read. Every offset is checked; a file that is
//! not of this shape is an error, never a guess.

use std::fmt;

const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";
const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
/// The new header: magic and version, nlibs, len_strings, flags and padding, extension offset,
/// three unused words.
const NEW_HEADER: usize = 48;
const NEW_ENTRY: usize = 24;
const OLD_ENTRY: usize = 12;

/// Why the cache could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bad {
    /// neither format's magic where it belongs
    Magic,
    /// a header, an entry table or a string past the end of the file
    CutShort,
    /// written for the other byte order
    ByteOrder,
}

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Bad::Magic => "it is not a glibc-ld.so.cache1.1 file",
            Bad::CutShort => "a table or string in it runs past its end",
            Bad::ByteOrder => "it was written for the other byte order",
        })
    }
}

/// One entry: a library's name and the path the loader opens for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub flags: i32,
    pub name: &'a [u8],
    pub path: &'a [u8],
}

/// The cache's entries, borrowed from its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache<'a> {
    pub entries: Vec<Entry<'a>>,
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// The NUL-terminated string at `at`.
fn string_at(bytes: &[u8], at: usize) -> Option<&[u8]> {
    let rest = bytes.get(at..)?;
    let end = rest.iter().position(|&c| c == 0)?;
    rest.get(..end)
}

/// Parse the cache's bytes.
pub fn parse(bytes: &[u8]) -> Result<Cache<'_>, Bad> {
    let spans = index(bytes)?;
    let at = |span: &Span| bytes.get(span.clone()).unwrap_or_default();
    Ok(Cache {
        entries: spans
            .iter()
            .map(|(flags, name, path)| Entry { flags: *flags, name: at(name), path: at(path) })
            .collect(),
    })
}

/// Where in the cache's bytes an entry's name and path lie.
pub type Span = std::ops::Range<usize>;

/// An entry as [`index`] gives it: its flags, and where its name and path lie.
pub type Indexed = (i32, Span, Span);

/// The cache's entries as their flags and the places of their names and paths in `bytes`: what a
/// reader that keeps the bytes looks names up in, without parsing them again.
pub fn index(bytes: &[u8]) -> Result<Vec<Indexed>, Bad> {
    // the new table either starts the file or follows the old one, 8-byte aligned
    let start = if bytes.starts_with(NEW_MAGIC) {
        0
    } else if bytes.starts_with(OLD_MAGIC) {
        let count = u32_at(bytes, OLD_MAGIC.len()).ok_or(Bad::CutShort)?;
        let table = usize::try_from(count).ok().and_then(|n| n.checked_mul(OLD_ENTRY)).ok_or(Bad::CutShort)?;
        let end = (OLD_MAGIC.len() + 4).checked_add(table).ok_or(Bad::CutShort)?;
        let aligned = end.checked_next_multiple_of(8).ok_or(Bad::CutShort)?;
        if !bytes.get(aligned..).ok_or(Bad::CutShort)?.starts_with(NEW_MAGIC) {
            // the old format alone: glibc's loader no longer reads it
            return Err(Bad::Magic);
        }
        aligned
    } else {
        return Err(Bad::Magic);
    };
    let new = bytes.get(start..).ok_or(Bad::CutShort)?;
    if new.len() < NEW_HEADER {
        return Err(Bad::CutShort);
    }
    // the flags byte's lowest two bits say the byte order: 0 unknown (then native), 2 little, 3 big
    let order = new.get(NEW_MAGIC.len() + 8).copied().unwrap_or(0) & 3;
    let native = if cfg!(target_endian = "little") { 2 } else { 3 };
    if order != 0 && order != native {
        return Err(Bad::ByteOrder);
    }
    let count = u32_at(new, NEW_MAGIC.len()).ok_or(Bad::CutShort)?;
    let table = usize::try_from(count).ok().and_then(|n| n.checked_mul(NEW_ENTRY)).ok_or(Bad::CutShort)?;
    if NEW_HEADER.checked_add(table).is_none_or(|end| end > new.len()) {
        return Err(Bad::CutShort);
    }
    let mut entries = Vec::new();
    for i in 0..usize::try_from(count).unwrap_or(0) {
        let at = NEW_HEADER + i * NEW_ENTRY;
        let word = |n: usize| u32_at(new, at + 4 * n).ok_or(Bad::CutShort);
        let flags = i32::from_ne_bytes(word(0)?.to_ne_bytes());
        let offset = |w: u32| usize::try_from(w).map_err(|_| Bad::CutShort);
        let span = |w: u32| -> Result<Span, Bad> {
            let from = offset(w)?;
            let len = string_at(new, from).ok_or(Bad::CutShort)?.len();
            Ok(start + from..start + from + len)
        };
        entries.push((flags, span(word(1)?)?, span(word(2)?)?));
    }
    Ok(entries)
}

impl Cache<'_> {
    /// The paths of every entry for `name`, compared as the loader compares names (runs of digits
    /// by their value: `libc.so.06` is `libc.so.6`), whatever the entry's flags and hwcaps: the
    /// loader picks one of them, so every one is judged.
    pub fn paths_of<'s>(&'s self, name: &'s [u8]) -> impl Iterator<Item = &'s [u8]> + 's {
        self.entries.iter().filter(move |e| same_name(e.name, name)).map(|e| e.path)
    }
}

/// glibc's `_dl_cache_libcmp` == 0: equal, with runs of digits compared as numbers.
pub fn same_name(a: &[u8], b: &[u8]) -> bool {
    let (mut a, mut b) = (a, b);
    loop {
        match (a.first(), b.first()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (na, ra) = number(a);
                let (nb, rb) = number(b);
                if na != nb {
                    return false;
                }
                (a, b) = (ra, rb);
            }
            (Some(x), Some(y)) if x == y && !x.is_ascii_digit() => {
                (a, b) = (a.get(1..).unwrap_or_default(), b.get(1..).unwrap_or_default());
            }
            _ => return false,
        }
    }
}

/// The run of digits `text` starts with, as a number (saturating, as no real name has one that
/// long), and what follows it.
fn number(text: &[u8]) -> (u64, &[u8]) {
    let digits = text.iter().take_while(|c| c.is_ascii_digit()).count();
    let (run, rest) = text.split_at(digits);
    let value = run.iter().fold(0u64, |n, d| n.saturating_mul(10).saturating_add(u64::from(d - b'0')));
    (value, rest)
}

/// A new-format cache of `entries` (name, path), laid out as ldconfig writes it: the other half of
/// the round-trip property the parser is tested with.
pub fn build(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = NEW_MAGIC.to_vec();
    out.extend(u32::try_from(entries.len()).unwrap_or(u32::MAX).to_ne_bytes());
    out.resize(NEW_HEADER, 0);
    let strings_at = NEW_HEADER + entries.len() * NEW_ENTRY;
    let mut strings = Vec::new();
    for (name, path) in entries {
        let offset = |strings: &Vec<u8>| u32::try_from(strings_at + strings.len()).unwrap_or(u32::MAX);
        let key = offset(&strings);
        strings.extend_from_slice(name);
        strings.push(0);
        let value = offset(&strings);
        strings.extend_from_slice(path);
        strings.push(0);
        // FLAG_ELF_LIBC6 | FLAG_X8664_LIB64, no OS version, no hwcaps
        out.extend(0x303i32.to_ne_bytes());
        out.extend(key.to_ne_bytes());
        out.extend(value.to_ne_bytes());
        out.extend([0u8; 12]);
    }
    out.extend(strings);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache_of(entries: &[(&str, &str)]) -> Vec<u8> {
        build(&entries.iter().map(|(n, p)| (n.as_bytes(), p.as_bytes())).collect::<Vec<_>>())
    }

    #[test]
    fn entries_are_read_and_names_compared_as_the_loader_compares_them() {
        let bytes = cache_of(&[("libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"), ("libz.so.1", "/usr/lib/libz.so.1")]);
        let cache = parse(&bytes).unwrap();
        assert_eq!(cache.entries.len(), 2);
        let found: Vec<&[u8]> = cache.paths_of(b"libc.so.06").collect();
        assert_eq!(found, [b"/lib/x86_64-linux-gnu/libc.so.6".as_slice()]);
        assert_eq!(cache.paths_of(b"libc.so").count(), 0);
        assert!(same_name(b"libfoo.so.1.02", b"libfoo.so.1.2") && !same_name(b"libfoo.so.1", b"libfoo.so.10"));
    }

    #[test]
    fn a_cut_or_foreign_file_is_an_error() {
        let bytes = cache_of(&[("libc.so.6", "/lib/libc.so.6")]);
        for len in [0, 10, NEW_HEADER - 1, NEW_HEADER + 5, bytes.len() - 1] {
            assert!(parse(&bytes[..len]).is_err(), "cut at {len}");
        }
        assert_eq!(parse(b"something else entirely, long enough for a header........."), Err(Bad::Magic));
        let mut other = bytes.clone();
        other[NEW_MAGIC.len() + 8] = if cfg!(target_endian = "little") { 3 } else { 2 };
        assert_eq!(parse(&other), Err(Bad::ByteOrder));
    }

    #[test]
    fn this_machines_cache_agrees_with_ldconfig() {
        let Ok(bytes) = std::fs::read("/etc/ld.so.cache") else {
            eprintln!("SKIPPED this_machines_cache_agrees_with_ldconfig: no /etc/ld.so.cache");
            return;
        };
        let cache = parse(&bytes).unwrap();
        let Ok(out) = std::process::Command::new("ldconfig").arg("-p").output() else {
            eprintln!("SKIPPED this_machines_cache_agrees_with_ldconfig: no ldconfig");
            return;
        };
        // "\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1"
        let text = String::from_utf8_lossy(&out.stdout);
        let listed: Vec<(&str, &str)> = text
            .lines()
            .filter_map(|l| {
                let (name, rest) = l.trim().split_once(' ')?;
                Some((name, rest.rsplit_once(" => ")?.1))
            })
            .collect();
        assert!(listed.len() > 10, "{text}");
        assert_eq!(listed.len(), cache.entries.len());
        for (name, path) in listed {
            assert!(cache.paths_of(name.as_bytes()).any(|p| p == path.as_bytes()), "{name} => {path}");
        }
    }
}
