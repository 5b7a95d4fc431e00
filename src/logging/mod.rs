//! Where the CLI's messages go: stderr, one line a message. When systemd
//! connected stderr to the journal, each line starts with its priority
//! (`<3>` for an error, sd-daemon(3)), which journald strips and records.
//! Native journal messages are not used: journald attributes them to a unit
//! by looking up the sender's cgroup, which fails once a short-lived command
//! (`check`, `prepare`) has exited, and `journalctl -u` then misses them.
//! The generator runs before journald and logs through `kmsg`.

pub mod kmsg;

use std::fmt;
use std::os::unix::fs::MetadataExt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

const IDENTIFIER: &str = "coreos-cluster";

pub fn init() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .event_format(Plain {
            priority_prefix: stderr_is_journal(),
        })
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
/// command-line tool prints them; for the journal, the priority first.
struct Plain {
    priority_prefix: bool,
}

/// syslog priorities as sd-daemon(3) prefixes.
fn priority(level: Level) -> &'static str {
    match level {
        Level::ERROR => "<3>",
        Level::WARN => "<4>",
        Level::INFO => "<6>",
        Level::DEBUG | Level::TRACE => "<7>",
    }
}

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
        let level = *event.metadata().level();
        if self.priority_prefix {
            write!(writer, "{}", priority(level))?;
        }
        if level == Level::ERROR {
            write!(writer, "{IDENTIFIER}: ")?;
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
