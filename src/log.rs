//! roothooks' own log: one line per event on stderr, text or JSON, and a text copy in a file the user's
//! server can read (`--log-file`), so a user whose mount failed can see why.
//!
//! stderr is unbuffered, so every line is out before the exec replaces this process, even when stderr
//! is a pipe to a container runtime. The file is attached once the plan says where it goes and who may
//! read it; events before that reach stderr only.

use std::fs::File;
use std::io::{self, Write};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata};

/// How roothooks' own lines on stderr look (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// one human-readable line per event
    Text,
    /// one JSON object per line, for log collectors
    Json,
}

/// How much roothooks says (`--log-level`), on stderr, in the copy and in JSON alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum LogLevel {
    /// only what stopped the start or the command
    Error,
    /// also what went wrong and was tolerated (a failed hook, a refused file)
    Warn,
    /// also one line per step: the start, each hook's outcome and output, the drop, the exec
    Info,
    /// also the details: each variable the gate held back, each orphan reaped, ...
    Debug,
}

impl LogLevel {
    fn tracing(self) -> Level {
        match self {
            LogLevel::Error => Level::ERROR,
            LogLevel::Warn => Level::WARN,
            LogLevel::Info => Level::INFO,
            LogLevel::Debug => Level::DEBUG,
        }
    }
}

static FILE: Mutex<Option<LogFile<File>>> = Mutex::new(None);
static FORMAT: OnceLock<LogFormat> = OnceLock::new();
static LEVEL: OnceLock<LogLevel> = OnceLock::new();

/// The attached log file, and the lines of the start that wait to be written to it together.
///
/// Each write to a file makes the file system update the file (its size and times, through ext4's
/// journal): the four or five lines of a start without hooks cost four or five of those. Until
/// [`write_through`] (before a hook runs, before the command starts, when roothooks ends) lines are
/// collected and then written at once; from then on each goes out as it comes. A copy reused from
/// the last start is written from its beginning and, if it held more than this start wrote, cut at
/// [`write_through`] to what this start wrote, so nothing of the last start's lines is left after
/// them. (A cut costs as much as the write, and the lines of one start are usually as long as the
/// last's: they are only cut when they are shorter.)
struct LogFile<W: Write + Cut> {
    file: W,
    waiting: Vec<u8>,
    through: bool,
    /// bytes written so far
    written: u64,
    /// how long the file was before this start (0 once cut): what of it lies after `written` is to
    /// be cut off
    held: u64,
    /// a write failed, and stderr was told
    failed: bool,
}

/// A file that can be cut to a length (`ftruncate`).
trait Cut {
    fn cut(&mut self, len: u64);
}

impl Cut for File {
    fn cut(&mut self, len: u64) {
        // (Cut to 0, ext4 would write the file back when it is closed (auto_da_alloc), which costs
        // more than reusing it saves; it does not happen, since a start logs a line before it first
        // writes through.)
        let _ = self.set_len(len);
    }
}

/// More than this waiting goes out at once, whatever else happens.
const LOG_FILE_WAITING: usize = 64 * 1024;

impl<W: Write + Cut> LogFile<W> {
    fn new(file: W, held: u64) -> Self {
        LogFile { file, waiting: Vec::new(), through: false, written: 0, held, failed: false }
    }

    fn write(&mut self, buf: &[u8]) {
        if self.through {
            self.put(buf);
            return;
        }
        self.waiting.extend_from_slice(buf);
        if self.waiting.len() >= LOG_FILE_WAITING {
            self.flush();
        }
    }

    fn put(&mut self, buf: &[u8]) {
        // A full disk, or `--rlimit fsize=` (roothooks ignores SIGXFSZ under it), must not stop the
        // start: the line still went to stderr, which says once that the copy stopped.
        match self.file.write_all(buf) {
            Ok(()) => self.written += buf.len() as u64,
            Err(e) if !self.failed => {
                self.failed = true;
                let _ = writeln!(io::stderr(), "roothooks: the log copy stops here: {e}; lines go to stderr only");
            }
            Err(_) => {}
        }
    }

    fn flush(&mut self) {
        if !self.waiting.is_empty() {
            let waiting = std::mem::take(&mut self.waiting);
            self.put(&waiting);
        }
    }

    /// Write out what waits, cut off what a reused file held after it, and from now on write each
    /// line as it comes.
    fn write_through(&mut self) {
        self.flush();
        if self.held > self.written {
            self.file.cut(self.written);
        }
        self.held = 0;
        self.through = true;
    }
}

/// From now on, roothooks' events at `level` and above go to stderr in `format`, and as text to the
/// log file once one is attached.
pub fn init(format: LogFormat, level: LogLevel) {
    let _ = FORMAT.set(format);
    let _ = LEVEL.set(level);
    // Only fails if a subscriber is already set, which only a test harness does.
    let _ = tracing::subscriber::set_global_default(Lines { format, level: level.tracing() });
}

/// Whether lines at INFO are said: a hook's output is relayed at INFO.
fn info_enabled() -> bool {
    LEVEL.get().is_none_or(|level| *level >= LogLevel::Info)
}

/// The subscriber: each event becomes one line, formatted here and written with one write to
/// stderr and one to the log copy. What tracing-subscriber's fmt layers did for roothooks, in its
/// layout (`2026-11-22T22:36:21.259161Z  INFO message`, or a flat JSON object with the event's fields),
/// without its registry: that set up span storage for 4096 threads at every start (a 32 KiB table
/// written in full, 16,000 instructions and eight page faults), for spans roothooks never opens.
struct Lines {
    format: LogFormat,
    level: Level,
}

/// Spans are not used; the one id handed out for any is never looked at.
const NO_SPAN: u64 = 1;

impl tracing::Subscriber for Lines {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.level
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::from_level(self.level))
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(NO_SPAN)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let (line, text) = self.render(event, SystemTime::now());
        let _ = io::stderr().lock().write_all(line.as_bytes());
        if let Some(file) = FILE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            file.write(text.as_bytes());
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

impl Lines {
    /// The event's line for stderr, in this format, and its text line for the log copy.
    fn render(&self, event: &Event<'_>, now: SystemTime) -> (String, String) {
        let stamp = timestamp(now);
        let level = *event.metadata().level();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let text = format!("{stamp} {level:>5} {}\n", escape_controls(&fields.message));
        match self.format {
            LogFormat::Text => (text.clone(), text),
            LogFormat::Json => (fields.json(&stamp, level), text),
        }
    }
}

/// An event's message, and its other fields as JSON values, in the order they were given.
#[derive(Default)]
struct Fields {
    message: String,
    others: Vec<(&'static str, serde_json::Value)>,
}

impl Fields {
    /// `{"timestamp":..,"level":..,"message":..,<fields>}`, one line.
    fn json(&self, stamp: &str, level: Level) -> String {
        let mut line = format!(r#"{{"timestamp":"{stamp}","level":"{level}","message":"#);
        line.push_str(&serde_json::Value::from(self.message.as_str()).to_string());
        for (name, value) in &self.others {
            line.push(',');
            line.push_str(&serde_json::Value::from(*name).to_string());
            line.push(':');
            line.push_str(&value.to_string());
        }
        line.push_str("}\n");
        line
    }

    fn put(&mut self, field: &Field, value: serde_json::Value) {
        self.others.push((field.name(), value));
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.put(field, format!("{value:?}").into());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.put(field, value.into());
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
}

fn has_file() -> bool {
    FILE.lock().map(|f| f.is_some()).unwrap_or(false)
}

/// From now on, every log line also goes to `file`; `held`: the length of the user's copy from the
/// last start, rewritten from its beginning, of which what lies after this start's lines is cut off
/// (0 for a new file).
pub fn attach_file(file: File, held: u64) {
    *FILE.lock().unwrap_or_else(|e| e.into_inner()) = Some(LogFile::new(file, held));
}

/// Write out the log file's waiting lines now, and each later line as it comes: before anything else
/// runs (a hook, the command) and before roothooks ends, so that no line is lost with the process.
pub fn write_through() {
    if let Some(file) = FILE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        file.write_through();
    }
}

/// `2026-11-22T22:36:21.259161Z`, as tracing-subscriber prints it.
fn timestamp(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (i64::try_from(secs / 86_400).unwrap_or(i64::MAX), secs % 86_400);
    // civil_from_days (Howard Hinnant): days since 1970-01-01 to year, month, day
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60,
        since.subsec_micros()
    )
}

/// Relays hook output in batches: the lines of one read share a timestamp and one write, in the same
/// layout as roothooks' other log lines. A flood of output costs a write per read, not per line.
#[derive(Default)]
pub struct Relay {
    stderr: Vec<u8>,
    /// the text copy for the log file, when stderr is JSON
    file: Vec<u8>,
    stamp: String,
}

/// Flush once this much is waiting, so memory stays bounded whatever a hook prints.
const RELAY_FLUSH: usize = 256 * 1024;

impl Relay {
    /// Add one line of `hook`'s `stream`; `cut` marks a piece of a line longer than the limit.
    pub fn line(&mut self, hook: &str, stream: &str, line: &[u8], cut: bool) {
        if !info_enabled() {
            return;
        }
        if self.stamp.is_empty() {
            self.stamp = timestamp(SystemTime::now());
        }
        let text = String::from_utf8_lossy(line);
        let text = escape_controls(text.trim_end_matches('\r'));
        let cut_note = if cut { " [line cut at 65536 bytes, continues]" } else { "" };
        let json = FORMAT.get() == Some(&LogFormat::Json);
        let want_file = json && has_file();
        let write_text = |buf: &mut Vec<u8>| {
            let _ = writeln!(buf, "{}  INFO {hook}: {text}{cut_note}", self.stamp);
        };
        if json {
            let event = serde_json::json!({
                "timestamp": self.stamp,
                "level": "INFO",
                "message": format!("{hook}: {text}{cut_note}"),
                "hook": hook,
                "stream": stream,
            });
            let _ = serde_json::to_writer(&mut self.stderr, &event);
            self.stderr.push(b'\n');
            if want_file {
                write_text(&mut self.file);
            }
        } else {
            write_text(&mut self.stderr);
        }
        if self.stderr.len() >= RELAY_FLUSH {
            self.flush();
        }
    }

    /// Write out what is waiting.
    pub fn flush(&mut self) {
        if self.stderr.is_empty() {
            return;
        }
        let _ = io::stderr().lock().write_all(&self.stderr);
        if let Some(file) = FILE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            let copy = if FORMAT.get() == Some(&LogFormat::Json) { &self.file } else { &self.stderr };
            file.write(copy);
        }
        self.stderr.clear();
        self.file.clear();
        self.stamp.clear();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.flush();
    }
}

/// `text` with every control character but tab written as JSON writes it (`\n`, `\u001b`), so that
/// a name or a line from the user's side can neither forge a log line nor send escape sequences to
/// the operator's terminal; the JSON format escapes them itself.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() && c != '\t' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `names` joined for one log line, at most `limit` of them and then how many more: a hook that
/// exports thousands of names must not make a line of thousands.
pub fn capped_list(names: &[&str], limit: usize) -> String {
    let mut line = names.iter().take(limit).copied().collect::<Vec<_>>().join(", ");
    if names.len() > limit {
        line.push_str(&format!(" and {} more", names.len() - limit));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_match_the_other_log_lines() {
        let at =
            |secs: u64, micros: u64| timestamp(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(951_782_400, 7), "2000-02-29T00:00:00.000007Z");
        assert_eq!(at(1_795_386_981, 259_161), "2026-11-22T22:36:21.259161Z");
        assert_eq!(at(4_107_542_399, 999_999), "2100-02-28T23:59:59.999999Z");
    }

    /// A file that counts the writes it gets.
    #[derive(Default)]
    struct Counted {
        text: Vec<u8>,
        writes: usize,
    }

    impl Cut for Counted {
        fn cut(&mut self, len: u64) {
            self.text.truncate(usize::try_from(len).unwrap());
        }
    }

    impl Write for Counted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.writes += 1;
            self.text.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_starts_lines_go_out_in_one_write_and_later_ones_as_they_come() {
        let mut log = LogFile::new(Counted::default(), 0);
        for line in ["one\n", "two\n", "three\n"] {
            log.write(line.as_bytes());
        }
        assert_eq!(log.file.writes, 0, "the start's lines wait");
        log.write_through();
        assert_eq!((log.file.writes, log.file.text.as_slice()), (1, b"one\ntwo\nthree\n".as_slice()));
        log.write(b"four\n");
        log.write(b"five\n");
        assert_eq!(log.file.writes, 3, "after write_through each line goes out as it comes");
        // whatever waits never grows past the bound
        let mut log = LogFile::new(Counted::default(), 0);
        let line = vec![b'x'; 1000];
        for _ in 0..200 {
            log.write(&line);
        }
        assert!(log.waiting.len() < LOG_FILE_WAITING && log.file.writes == 3, "{}", log.file.writes);
    }

    #[test]
    fn a_reused_copy_keeps_nothing_of_the_last_start_after_this_ones_lines() {
        let mut file = tempfile::tempfile().unwrap();
        let last = b"the last start's lines, longer than this start's\n".repeat(3);
        file.write_all(&last).unwrap();
        std::io::Seek::rewind(&mut file).unwrap();
        let mut log = LogFile::new(file, last.len() as u64);
        log.write(b"this start\n");
        log.write_through();
        log.write(b"a later line\n");
        let mut text = String::new();
        std::io::Seek::rewind(&mut log.file).unwrap();
        std::io::Read::read_to_string(&mut log.file, &mut text).unwrap();
        assert_eq!(text, "this start\na later line\n");
    }

    /// A file that counts the cuts it gets.
    #[derive(Default)]
    struct Cuts(Vec<u64>);

    impl Cut for Cuts {
        fn cut(&mut self, len: u64) {
            self.0.push(len);
        }
    }

    impl Write for Cuts {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_reused_copy_is_cut_only_when_this_start_wrote_less_than_it_held() {
        for (held, cuts) in [(0, vec![]), (5, vec![]), (6, vec![]), (7, vec![6]), (100, vec![6])] {
            let mut log = LogFile::new(Cuts::default(), held);
            log.write(b"start\n");
            log.write_through();
            log.write(b"later\n");
            log.write_through();
            assert_eq!(log.file.0, cuts, "a copy of {held} bytes, 6 written");
        }
    }

    /// Renders what it gets with [`Lines`], at a fixed time, and keeps the lines.
    struct Capture {
        lines: Lines,
        got: Mutex<Vec<(String, String)>>,
    }

    impl tracing::Subscriber for Capture {
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            self.lines.enabled(metadata)
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(NO_SPAN)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let at = UNIX_EPOCH + Duration::from_micros(1_764_590_000_123_456);
            self.got.lock().unwrap().push(self.lines.render(event, at));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    fn capture(format: LogFormat, log: impl FnOnce()) -> Vec<(String, String)> {
        let capture =
            std::sync::Arc::new(Capture { lines: Lines { format, level: Level::INFO }, got: Mutex::new(Vec::new()) });
        tracing::subscriber::with_default(capture.clone(), log);
        let got = capture.got.lock().unwrap().clone();
        got
    }

    #[test]
    fn lines_have_tracing_subscribers_layout_in_text_and_json() {
        let log = || {
            let hook = "10-mount";
            tracing::info!(hook, outcome = "exit 3", duration_s = 0.25, uid = 1000u32, quoted = ?"a\"b", "hook {hook} said \"hi\"");
            tracing::warn!("a warning");
            tracing::error!("an error");
            tracing::debug!("not shown");
        };
        let text = capture(LogFormat::Text, log);
        let stamp = "2025-12-01T11:53:20.123456Z";
        let want_text = [
            format!("{stamp}  INFO hook 10-mount said \"hi\"\n"),
            format!("{stamp}  WARN a warning\n"),
            format!("{stamp} ERROR an error\n"),
        ];
        assert_eq!(text.iter().map(|(line, _)| line.clone()).collect::<Vec<_>>(), want_text);
        assert!(text.iter().all(|(line, copy)| line == copy), "the copy is the same text");
        let json = capture(LogFormat::Json, log);
        assert_eq!(
            json[0].0,
            format!(
                r#"{{"timestamp":"{stamp}","level":"INFO","message":"hook 10-mount said \"hi\"","hook":"10-mount","outcome":"exit 3","duration_s":0.25,"uid":1000,"quoted":"\"a\\\"b\""}}"#
            ) + "\n"
        );
        assert_eq!(json[0].1, want_text[0], "the copy stays text");
        assert_eq!(json.len(), 3, "debug events are not shown");
    }

    #[test]
    fn long_lists_are_cut_with_a_count() {
        assert_eq!(capped_list(&["A", "B"], 2), "A, B");
        assert_eq!(capped_list(&["A", "B", "C", "D"], 2), "A, B and 2 more");
    }
}
