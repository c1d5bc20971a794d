//! roothooks' own log: one line per event on stderr, text or JSON.
//!
//! stderr is unbuffered, so every line is out before the exec replaces this process, even when stderr
//! is a pipe to a container runtime.

use tracing_subscriber::fmt;

use crate::cli::LogFormat;

pub fn init(format: LogFormat) {
    let builder = fmt().with_writer(std::io::stderr).with_target(false).with_max_level(tracing::Level::INFO);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    // Only fails if a subscriber is already set, which only a test harness does.
    drop(result);
}
