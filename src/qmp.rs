//! A minimal QMP client (QEMU Machine Protocol) over a unix socket:
//! the greeting, capabilities negotiation and the ACPI power button.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// Connects and completes the greeting and `qmp_capabilities`.
    pub fn connect(socket: &Path, timeout: Duration) -> anyhow::Result<Qmp> {
        let stream = UnixStream::connect(socket)
            .with_context(|| format!("connecting to QMP socket {}", socket.display()))?;
        stream.set_read_timeout(Some(timeout))?;
        let writer = stream.try_clone()?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
        };
        let greeting = qmp
            .read_message()?
            .context("QEMU closed the QMP socket before its greeting")?;
        if greeting.get("QMP").is_none() {
            bail!("unexpected QMP greeting: {greeting}");
        }
        qmp.execute("qmp_capabilities")?;
        Ok(qmp)
    }

    /// Runs a command and waits for its reply, skipping events.
    pub fn execute(&mut self, command: &str) -> anyhow::Result<Value> {
        let request = serde_json::json!({ "execute": command });
        writeln!(self.writer, "{request}").context("writing to QMP socket")?;
        loop {
            let message = self.read_message()?.with_context(|| {
                format!("QEMU closed the QMP socket before answering {command}")
            })?;
            if let Some(error) = message.get("error") {
                bail!("QMP {command} failed: {error}");
            }
            if let Some(result) = message.get("return") {
                return Ok(result.clone());
            }
        }
    }

    /// Waits until QEMU closes the socket (it exits), up to `deadline`.
    /// Returns false when the deadline passed first.
    pub fn wait_for_exit(mut self, deadline: Instant) -> anyhow::Result<bool> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            self.reader.get_ref().set_read_timeout(Some(left))?;
            match self.read_message() {
                Ok(None) => return Ok(true),
                Ok(Some(_event)) => continue,
                Err(err) if is_timeout(&err) => return Ok(false),
                // A reset also means QEMU is gone.
                Err(err) if is_reset(&err) => return Ok(true),
                Err(err) => return Err(err),
            }
        }
    }

    /// One JSON message, or None at end of stream.
    fn read_message(&mut self) -> anyhow::Result<Option<Value>> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let value = serde_json::from_str(line.trim())
            .with_context(|| format!("QEMU sent something that is not JSON: {line:?}"))?;
        Ok(Some(value))
    }
}

fn io_kind(err: &anyhow::Error) -> Option<std::io::ErrorKind> {
    err.downcast_ref::<std::io::Error>().map(|e| e.kind())
}

fn is_timeout(err: &anyhow::Error) -> bool {
    matches!(
        io_kind(err),
        Some(std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
    )
}

fn is_reset(err: &anyhow::Error) -> bool {
    matches!(io_kind(err), Some(std::io::ErrorKind::ConnectionReset))
}
