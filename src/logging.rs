//! Where the CLI's messages go: to the journal with their priority (an error
//! as an error) when systemd connected stderr to it, else to stderr for a
//! person. The generator runs before journald and logs through `kmsg`.

use std::fmt;
use std::os::unix::fs::MetadataExt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

const IDENTIFIER: &str = "coreos-cluster";

pub fn init() {
    if stderr_is_journal() {
        if let Ok(layer) = tracing_journald::layer() {
            tracing_subscriber::registry()
                .with(layer.with_syslog_identifier(IDENTIFIER.to_string()))
                .init();
            return;
        }
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .event_format(Plain)
        .init();
}

/// systemd sets `JOURNAL_STREAM=DEV:INODE` for the stream it connected;
/// a child whose stderr was redirected elsewhere inherits it, so compare.
fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(stderr) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    stream.to_string_lossy() == format!("{}:{}", stderr.dev(), stderr.ino())
}

/// One line a message, errors prefixed with the program's name, as a
/// command-line tool prints them.
struct Plain;

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if *event.metadata().level() == Level::ERROR {
            write!(writer, "{IDENTIFIER}: ")?;
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
