//! binfmt_misc: programs the kernel runs a file with because of its first bytes or its name's
//! extension (qemu for another machine's binaries, Wine, a JVM), tried before its own ELF and `#!`
//! handlers. A root hook an entry matches is run by that entry's interpreter, which roothooks
//! does not judge: such a hook is refused, whatever it is.
//!
//! The entries are read from `/proc/sys/fs/binfmt_misc` as the kernel writes them
//! (fs/binfmt_misc.c): `enabled`, `interpreter PATH`, `flags: ...`, then `offset N`, `magic HEX` and
//! perhaps `mask HEX`, or `extension .EXT`. Where it is not mounted (most containers), the entries
//! the host registered still apply but cannot be seen; SECURITY.md names that gap.

use std::path::Path;

/// Where the kernel shows its entries.
pub const DIR: &str = "/proc/sys/fs/binfmt_misc";
/// The most bytes of a file the kernel matches magic against (BINPRM_BUF_SIZE).
const HEAD: usize = 256;

/// One enabled entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub interpreter: String,
    pub rule: Rule,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// the bytes at `offset`, under `mask` where there is one
    Magic { offset: usize, magic: Vec<u8>, mask: Option<Vec<u8>> },
    /// the name's extension, after its last `.`
    Extension(Vec<u8>),
}

fn hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// One entry's file, as the kernel writes it; `None` for a disabled entry or text not of that shape.
pub fn parse(name: &str, text: &str) -> Option<Entry> {
    let mut lines = text.lines();
    if lines.next()? != "enabled" {
        return None;
    }
    let (mut interpreter, mut offset, mut magic, mut mask, mut extension) = (None, 0usize, None, None, None);
    for line in lines {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "interpreter" => interpreter = Some(value.to_string()),
            "offset" => offset = value.trim().parse().ok()?,
            "magic" => magic = Some(hex(value)?),
            "mask" => mask = Some(hex(value)?),
            "extension" => extension = Some(value.trim().strip_prefix('.').unwrap_or(value.trim()).as_bytes().to_vec()),
            _ => {}
        }
    }
    let rule = match (magic, extension) {
        (Some(magic), None) if offset.checked_add(magic.len()).is_some_and(|end| end <= HEAD) => {
            Rule::Magic { offset, magic, mask }
        }
        (None, Some(extension)) => Rule::Extension(extension),
        _ => return None,
    };
    Some(Entry { name: name.to_string(), interpreter: interpreter?, rule })
}

impl Entry {
    /// Whether the kernel runs the file at `path`, which starts with `head`, with this entry.
    pub fn matches(&self, path: &Path, head: &[u8]) -> bool {
        match &self.rule {
            Rule::Extension(extension) => {
                use std::os::unix::ffi::OsStrExt;
                let name = path.as_os_str().as_bytes();
                name.iter().rposition(|&c| c == b'.').and_then(|dot| name.get(dot + 1..)) == Some(extension.as_slice())
            }
            Rule::Magic { offset, magic, mask } => magic.iter().enumerate().all(|(j, m)| {
                // the kernel compares within its zeroed buffer of the file's first bytes
                let byte = head.get(offset + j).copied().unwrap_or(0);
                let keep = mask.as_ref().map_or(0xff, |mask| mask.get(j).copied().unwrap_or(0xff));
                (byte ^ m) & keep == 0
            }),
        }
    }
}

/// The enabled entries the kernel shows here, none where binfmt_misc is not mounted or is off.
pub fn entries() -> Vec<Entry> {
    let on = std::fs::read_to_string(Path::new(DIR).join("status")).is_ok_and(|s| s.trim() == "enabled");
    if !on {
        return Vec::new();
    }
    let Ok(dir) = std::fs::read_dir(DIR) else { return Vec::new() };
    let mut found: Vec<Entry> = dir
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_string();
            if name == "status" || name == "register" {
                return None;
            }
            parse(&name, &std::fs::read_to_string(entry.path()).ok()?)
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_read_and_matched_as_the_kernel_does() {
        let qemu = "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: OCF\noffset 0\n\
                    magic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n";
        let entry = parse("qemu-aarch64", qemu).unwrap();
        let mut aarch64 = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00".to_vec();
        assert!(entry.matches(Path::new("/x"), &aarch64));
        aarch64[18] = 0x3e; // x86-64
        assert!(!entry.matches(Path::new("/x"), &aarch64));
        let wine = parse("wine", "enabled\ninterpreter /usr/bin/wine\nflags: \nextension .exe\n").unwrap();
        assert!(wine.matches(Path::new("/srv/hooks/10-setup.exe"), b"MZ"));
        assert!(!wine.matches(Path::new("/srv/hooks/10-setup.exe.sh"), b"#!"));
        assert_eq!(parse("off", "disabled\ninterpreter /x\nflags: \nextension .x\n"), None);
        assert_eq!(parse("bad", "enabled\ninterpreter /x\noffset 250\nmagic 0000000000000000\n"), None);
    }
}
