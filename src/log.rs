//! roothooks' own log: one line per event on stderr, text or JSON, and a text copy in a file the user's
//! server can read (`--log-file`), so a user whose mount failed can see why.
//!
//! stderr is unbuffered, so every line is out before the exec replaces this process, even when stderr
//! is a pipe to a container runtime. The file is attached once the plan says where it goes and who may
//! read it; events before that reach stderr only.

use std::fs::File;
use std::io::{self, Write};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
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

/// The target of hook output lines: the writers batch them (see [`Batched`]).
const HOOK_OUTPUT: &str = "roothooks::hook";

/// From now on, roothooks' events at `level` and above go to stderr in `format`, and as text to the
/// log file once one is attached: two tracing-subscriber layers over its registry.
pub fn init(format: LogFormat, level: LogLevel) {
    use tracing_subscriber::layer::SubscriberExt;
    let filter = tracing_subscriber::filter::LevelFilter::from_level(level.tracing());
    let subscriber = tracing_subscriber::registry().with(layers(format, Stamp, ToStderr, ToFile).with_filter(filter));
    // Only fails if a subscriber is already set, which only a test harness does.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The two layers: stderr in `format`, the user's copy as text, each line stamped by `timer`.
fn layers<S, T, E, F>(format: LogFormat, timer: T, stderr: E, copy: F) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    T: FormatTime + Clone + Send + Sync + 'static,
    E: for<'a> MakeWriter<'a> + Send + Sync + 'static,
    F: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let copy = tracing_subscriber::fmt::layer().event_format(TextLine(timer.clone())).with_writer(copy);
    let stderr = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer().event_format(TextLine(timer)).with_writer(stderr).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_target(false)
            .with_current_span(false)
            .with_span_list(false)
            .with_timer(timer)
            .with_writer(stderr)
            .boxed(),
    };
    stderr.and_then(copy)
}

/// The time as every line shows it: `2026-11-22T22:36:21.259161Z`.
#[derive(Clone, Copy)]
struct Stamp;

impl FormatTime for Stamp {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        w.write_str(&timestamp(SystemTime::now()))
    }
}

/// `2026-11-22T22:36:21.259161Z`, as every line shows it (tracing-subscriber's layout).
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

/// The text line of stderr and the user's copy: `2026-11-22T22:36:21.259161Z  INFO message`, the
/// event's message alone, every control character in it escaped ([`escape_controls`]).
struct TextLine<T>(T);

impl<S, N, T: FormatTime> tracing_subscriber::fmt::FormatEvent<S, N> for TextLine<T>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        self.0.format_time(&mut writer)?;
        let mut message = Message::default();
        event.record(&mut message);
        writeln!(writer, " {:>5} {}", event.metadata().level(), escape_controls(&message.0))
    }
}

/// An event's message field.
#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_string();
        }
    }
}

/// Hook output waiting to be written, one write for the lines of one read instead of one a line:
/// a flood of short lines would otherwise cost a system call each. Any other event writes what
/// waits first, so the order of lines is kept; the runner says when a read's lines are done.
struct Batched {
    stderr: Vec<u8>,
    file: Vec<u8>,
}

static BATCHED: Mutex<Batched> = Mutex::new(Batched { stderr: Vec::new(), file: Vec::new() });

/// Flush once this much is waiting, so memory stays bounded whatever a hook prints.
const BATCH_FLUSH: usize = 256 * 1024;

fn batched() -> std::sync::MutexGuard<'static, Batched> {
    BATCHED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Write out the hook output waiting, to stderr and the copy.
pub fn flush_hook_output() {
    let (stderr, file) = {
        let mut waiting = batched();
        (std::mem::take(&mut waiting.stderr), std::mem::take(&mut waiting.file))
    };
    if !stderr.is_empty() {
        let _ = io::stderr().lock().write_all(&stderr);
    }
    if !file.is_empty() {
        if let Some(log) = FILE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            log.write(&file);
        }
    }
}

/// Where a layer writes one event: hook output into the batch, anything else straight out after
/// what waits.
enum Sink {
    Stderr { batch: bool },
    File { batch: bool },
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Stderr { batch: true } | Sink::File { batch: true } => {
                let full = {
                    let mut waiting = batched();
                    let into =
                        if matches!(self, Sink::Stderr { .. }) { &mut waiting.stderr } else { &mut waiting.file };
                    into.extend_from_slice(buf);
                    waiting.stderr.len() + waiting.file.len() >= BATCH_FLUSH
                };
                if full {
                    flush_hook_output();
                }
            }
            Sink::Stderr { batch: false } => {
                flush_hook_output();
                io::stderr().lock().write_all(buf)?;
            }
            Sink::File { batch: false } => {
                flush_hook_output();
                if let Some(log) = FILE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                    log.write(buf);
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// stderr, unbuffered, so every line is out before the exec replaces this process.
struct ToStderr;
/// The user's copy, once attached.
struct ToFile;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ToStderr {
    type Writer = Sink;
    fn make_writer(&'a self) -> Sink {
        Sink::Stderr { batch: false }
    }
    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Sink {
        Sink::Stderr { batch: meta.target() == HOOK_OUTPUT }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ToFile {
    type Writer = Sink;
    fn make_writer(&'a self) -> Sink {
        Sink::File { batch: false }
    }
    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Sink {
        Sink::File { batch: meta.target() == HOOK_OUTPUT }
    }
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
    flush_hook_output();
    if let Some(file) = FILE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        file.write_through();
    }
}

/// One line of `hook`'s `stream`, at INFO, as `hook: line`; `cut` marks a piece of a line longer
/// than the limit. Batched with the other lines of the same read until [`flush_hook_output`].
pub fn hook_line(hook: &str, stream: &'static str, line: &[u8], cut: bool) {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches('\r');
    let cut = if cut { " [line cut at 65536 bytes, continues]" } else { "" };
    tracing::info!(target: HOOK_OUTPUT, hook, stream, "{hook}: {text}{cut}");
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

    /// The time of every captured line.
    #[derive(Clone, Copy)]
    struct Fixed;

    impl FormatTime for Fixed {
        fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
            w.write_str(&timestamp(UNIX_EPOCH + Duration::from_micros(1_764_590_000_123_456)))
        }
    }

    /// Text written to it, kept.
    #[derive(Clone, Default)]
    struct Kept(std::sync::Arc<Mutex<Vec<u8>>>);

    impl Write for Kept {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Kept {
        type Writer = Kept;
        fn make_writer(&'a self) -> Kept {
            self.clone()
        }
    }

    /// The lines the layers write for what `log` logs at INFO: stderr's and the copy's, in order.
    fn capture(format: LogFormat, log: impl FnOnce()) -> Vec<(String, String)> {
        use tracing_subscriber::layer::SubscriberExt;
        let (stderr, copy) = (Kept::default(), Kept::default());
        let filter = tracing_subscriber::filter::LevelFilter::INFO;
        let layers = layers(format, Fixed, stderr.clone(), copy.clone()).with_filter(filter);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layers), log);
        let lines = |kept: &Kept| -> Vec<String> {
            String::from_utf8(kept.0.lock().unwrap().clone()).unwrap().split_inclusive('\n').map(String::from).collect()
        };
        lines(&stderr).into_iter().zip(lines(&copy)).collect()
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
