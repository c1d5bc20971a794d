//! Limits for the user's process: resource limits (`--rlimit`), `--umask` and `--workdir`.

use std::fmt;

use nix::sys::resource::Resource;

/// One `--rlimit NAME=SOFT[:HARD]`; `None` stands for "unlimited".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub name: &'static str,
    pub resource: Resource,
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

const NAMES: &[(&str, Resource)] = &[
    ("as", Resource::RLIMIT_AS),
    ("core", Resource::RLIMIT_CORE),
    ("cpu", Resource::RLIMIT_CPU),
    ("data", Resource::RLIMIT_DATA),
    ("fsize", Resource::RLIMIT_FSIZE),
    ("locks", Resource::RLIMIT_LOCKS),
    ("memlock", Resource::RLIMIT_MEMLOCK),
    ("msgqueue", Resource::RLIMIT_MSGQUEUE),
    ("nice", Resource::RLIMIT_NICE),
    ("nofile", Resource::RLIMIT_NOFILE),
    ("nproc", Resource::RLIMIT_NPROC),
    ("rss", Resource::RLIMIT_RSS),
    ("rtprio", Resource::RLIMIT_RTPRIO),
    ("rttime", Resource::RLIMIT_RTTIME),
    ("sigpending", Resource::RLIMIT_SIGPENDING),
    ("stack", Resource::RLIMIT_STACK),
];

impl fmt::Display for Rlimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: Option<u64>| v.map_or("unlimited".to_string(), |v| v.to_string());
        write!(f, "{}={}:{}", self.name, show(self.soft), show(self.hard))
    }
}

fn parse_value(text: &str, whole: &str) -> Result<Option<u64>, String> {
    match text {
        "unlimited" | "infinity" => Ok(None),
        _ => text.parse::<u64>().map(Some).map_err(|_| {
            format!("--rlimit '{whole}': '{text}' is not a number or 'unlimited'; e.g. --rlimit nofile=4096:8192")
        }),
    }
}

impl std::str::FromStr for Rlimit {
    type Err = String;

    /// `NAME=SOFT[:HARD]`; without HARD, the hard limit is set to SOFT too (as `prlimit` does).
    fn from_str(whole: &str) -> Result<Rlimit, String> {
        let Some((name, values)) = whole.split_once('=') else {
            return Err(format!("--rlimit '{whole}': expected NAME=SOFT[:HARD], e.g. --rlimit nofile=4096:8192"));
        };
        let name = name.trim().to_ascii_lowercase();
        let Some(&(name, resource)) = NAMES.iter().find(|(n, _)| *n == name) else {
            let known: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
            return Err(format!("--rlimit '{whole}': unknown limit '{name}'; one of {}", known.join(", ")));
        };
        let (soft, hard) = match values.split_once(':') {
            Some((soft, hard)) => (parse_value(soft, whole)?, parse_value(hard, whole)?),
            None => {
                let v = parse_value(values, whole)?;
                (v, v)
            }
        };
        if let (Some(s), hard) = (soft, hard) {
            if hard.is_some_and(|h| s > h) {
                return Err(format!("--rlimit '{whole}': the soft limit is above the hard limit"));
            }
        }
        if soft.is_none() && hard.is_some() {
            return Err(format!("--rlimit '{whole}': an unlimited soft limit needs an unlimited hard limit"));
        }
        Ok(Rlimit { name, resource, soft, hard })
    }
}

/// `--umask` in octal, as the shell's `umask` takes it.
pub fn parse_umask(text: &str) -> Result<u32, String> {
    match u32::from_str_radix(text.trim_start_matches("0o"), 8) {
        Ok(mask) if mask <= 0o777 => Ok(mask),
        _ => Err(format!("--umask '{text}' is not an octal mode from 000 to 777; e.g. --umask 022")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rlimits_parse_with_and_without_hard_limit() {
        let r: Rlimit = "nofile=4096:8192".parse().unwrap();
        assert_eq!((r.name, r.soft, r.hard), ("nofile", Some(4096), Some(8192)));
        let r: Rlimit = "CORE=0".parse().unwrap();
        assert_eq!((r.name, r.soft, r.hard), ("core", Some(0), Some(0)));
        let r: Rlimit = "as=1000000:unlimited".parse().unwrap();
        assert_eq!((r.soft, r.hard), (Some(1_000_000), None));
    }

    #[test]
    fn bad_rlimits_name_the_problem() {
        for (bad, says) in [
            ("nofile", "expected NAME=SOFT[:HARD]"),
            ("files=3", "unknown limit 'files'"),
            ("nofile=lots", "'lots' is not a number"),
            ("nofile=10:5", "soft limit is above the hard limit"),
            ("nofile=unlimited:5", "unlimited soft limit"),
        ] {
            let err = bad.parse::<Rlimit>().unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn umask_is_octal() {
        assert_eq!(parse_umask("022"), Ok(0o22));
        assert_eq!(parse_umask("0077"), Ok(0o77));
        assert!(parse_umask("999").is_err());
        assert!(parse_umask("1000").is_err());
    }
}
