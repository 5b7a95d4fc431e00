//! A minimal QMP client (QEMU Machine Protocol) over a unix socket:
//! the greeting, capabilities negotiation and the ACPI power button.
//!
//! Every read is bounded twice: by a deadline for the whole exchange (a
//! peer that trickles bytes cannot keep it waiting) and by MAX_MESSAGE (a
//! peer that never sends a newline cannot fill the memory).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context};
use serde_json::Value;

/// QMP's greeting, replies and events are a few hundred bytes each.
const MAX_MESSAGE: usize = 64 * 1024;

pub struct Qmp {
    stream: UnixStream,
    /// Bytes read past the last complete message.
    pending: Vec<u8>,
}

/// The deadline passed before QEMU answered.
#[derive(Debug, thiserror::Error)]
#[error("QEMU did not answer on QMP in time")]
struct TimedOut;

impl Qmp {
    /// Connects and completes the greeting and `qmp_capabilities`, all
    /// before `deadline`.
    pub fn connect(socket: &Path, deadline: Instant) -> anyhow::Result<Qmp> {
        let stream = UnixStream::connect(socket)
            .with_context(|| format!("connecting to QMP socket {}", socket.display()))?;
        let mut qmp = Qmp {
            stream,
            pending: Vec::new(),
        };
        let greeting = qmp
            .read_message(deadline)?
            .context("QEMU closed the QMP socket before its greeting")?;
        if greeting.get("QMP").is_none() {
            bail!(
                "unexpected QMP greeting: {}",
                shortened(&greeting.to_string())
            );
        }
        qmp.execute("qmp_capabilities", deadline)?;
        Ok(qmp)
    }

    /// Runs a command and waits for its reply until `deadline`, skipping events.
    pub fn execute(&mut self, command: &str, deadline: Instant) -> anyhow::Result<Value> {
        self.execute_with(command, Value::Null, deadline)
    }

    /// Runs a command with `arguments` (none when Null), as `execute`.
    pub fn execute_with(
        &mut self,
        command: &str,
        arguments: Value,
        deadline: Instant,
    ) -> anyhow::Result<Value> {
        let request = if arguments.is_null() {
            serde_json::json!({ "execute": command })
        } else {
            serde_json::json!({ "execute": command, "arguments": arguments })
        };
        let request = format!("{request}\n");
        self.stream
            .write_all(request.as_bytes())
            .context("writing to QMP socket")?;
        loop {
            let message = self.read_message(deadline)?.with_context(|| {
                format!("QEMU closed the QMP socket before answering {command}")
            })?;
            if let Some(error) = message.get("error") {
                bail!("QMP {command} failed: {}", shortened(&error.to_string()));
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
            match self.read_message(deadline) {
                Ok(None) => return Ok(true),
                Ok(Some(_event)) => continue,
                Err(err) if err.is::<TimedOut>() => return Ok(false),
                // A reset also means QEMU is gone.
                Err(err) if is_reset(&err) => return Ok(true),
                Err(err) => return Err(err),
            }
        }
    }

    /// One JSON message, or None at end of stream; `TimedOut` after `deadline`.
    fn read_message(&mut self, deadline: Instant) -> anyhow::Result<Option<Value>> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line);
                let value = serde_json::from_str(text.trim()).with_context(|| {
                    format!("QEMU sent something that is not JSON: {}", shortened(&text))
                })?;
                return Ok(Some(value));
            }
            if self.pending.len() > MAX_MESSAGE {
                bail!(
                    "QEMU sent a QMP message longer than {} KiB without a line end",
                    MAX_MESSAGE / 1024
                );
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TimedOut.into());
            }
            self.stream.set_read_timeout(Some(left))?;
            let read = match self.stream.read(&mut chunk) {
                Ok(read) => read,
                Err(err) if is_timeout(&err) => return Err(TimedOut.into()),
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err.into()),
            };
            if read == 0 {
                return Ok(None);
            }
            self.pending.extend_from_slice(&chunk[..read]);
        }
    }
}

fn shortened(text: &str) -> String {
    crate::base::text::quoted(text.trim_end())
}

fn is_timeout(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn is_reset(err: &anyhow::Error) -> bool {
    err.downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::time::Duration;

    /// A stand-in for QEMU's QMP socket that runs `serve` on the first client.
    fn stand_in(serve: fn(UnixStream)) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            if let Ok((stream, _)) = listener.accept() {
                serve(stream);
            }
        });
        (dir, path)
    }

    fn connect_for(path: &Path, secs: u64) -> (anyhow::Result<Qmp>, Duration) {
        let started = Instant::now();
        let result = Qmp::connect(path, started + Duration::from_secs(secs));
        (result, started.elapsed())
    }

    #[test]
    fn a_silent_socket_ends_at_the_deadline() {
        let (_dir, path) = stand_in(|stream| {
            std::thread::sleep(Duration::from_secs(10));
            drop(stream);
        });
        let (result, took) = connect_for(&path, 1);
        assert!(result.err().unwrap().is::<TimedOut>());
        assert!(took < Duration::from_millis(1500), "{took:?}");
    }

    #[test]
    fn a_trickling_socket_ends_at_the_deadline() {
        let (_dir, path) = stand_in(|mut stream| {
            for _ in 0..100 {
                if stream.write_all(b" ").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let (result, took) = connect_for(&path, 1);
        assert!(result.err().unwrap().is::<TimedOut>());
        assert!(took < Duration::from_millis(1500), "{took:?}");
    }

    #[test]
    fn an_endless_line_is_refused() {
        let (_dir, path) = stand_in(|mut stream| {
            let block = [b'x'; 4096];
            while stream.write_all(&block).is_ok() {}
        });
        let (result, _) = connect_for(&path, 5);
        let err = format!("{:#}", result.err().unwrap());
        assert!(err.contains("longer than 64 KiB"), "{err}");
    }

    #[test]
    fn greeting_and_capabilities() {
        let (_dir, path) = stand_in(|mut stream| {
            stream.write_all(b"{\"QMP\": {\"version\": {}}}\n").unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while byte != *b"\n" && stream.read(&mut byte).unwrap() == 1 {
                request.push(byte[0]);
            }
            assert!(request.starts_with(b"{\"execute\":\"qmp_capabilities\"}"));
            stream
                .write_all(b"{\"event\": \"X\"}\n{\"return\": {}}\n")
                .unwrap();
        });
        let (result, _) = connect_for(&path, 5);
        result.unwrap();
    }
}
