//! roothooks' own log: one line per event on stderr, text or JSON, and a text copy in a file the user's
//! server can read (`--log-file`), so a user whose mount failed can see why.
//!
//! stderr is unbuffered, so every line is out before the exec replaces this process, even when stderr
//! is a pipe to a container runtime. The file is attached once the plan says where it goes and who may
//! read it; events before that reach stderr only.

use std::fs::File;
use std::io::{self, Write};
use std::sync::Mutex;

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, Layer};

use crate::cli::LogFormat;

static FILE: Mutex<Option<File>> = Mutex::new(None);

/// Writes into the attached log file, if there is one; otherwise swallows the line.
struct FileWriter;

impl Write for FileWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(file) = FILE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            // A full disk must not stop the start: the line still went to stderr.
            let _ = file.write_all(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub fn init(format: LogFormat) {
    // In text, the message already says everything a person needs; the fields are for JSON.
    let message_only = || {
        fmt::format::debug_fn(|w, field, value| if field.name() == "message" { write!(w, "{value:?}") } else { Ok(()) })
    };
    let stderr = match format {
        LogFormat::Text => {
            fmt::layer().fmt_fields(message_only()).with_writer(io::stderr).with_target(false).with_ansi(false).boxed()
        }
        LogFormat::Json => fmt::layer().json().flatten_event(true).with_writer(io::stderr).with_target(false).boxed(),
    };
    let file = fmt::layer()
        .fmt_fields(message_only())
        .with_writer(|| FileWriter)
        .with_target(false)
        .with_ansi(false)
        .with_filter(tracing_subscriber::filter::filter_fn(|_| has_file()));
    // Only fails if a subscriber is already set, which only a test harness does.
    let _ = tracing_subscriber::registry().with(stderr).with(file).with(LevelFilter::INFO).try_init();
}

fn has_file() -> bool {
    FILE.lock().map(|f| f.is_some()).unwrap_or(false)
}

/// From now on, every log line also goes to `file`.
pub fn attach_file(file: File) {
    *FILE.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
}
