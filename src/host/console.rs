//! `coreos-cluster console`: the terminal on a VM's serial console socket,
//! until the escape key (Ctrl-], as `virsh console`) or the VM stopping.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{bail, Context};
use nix::fcntl::{Flock, FlockArg};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{self, SetArg, Termios};

/// Ctrl-] detaches.
const ESCAPE: u8 = 0x1d;
pub const ESCAPE_NAME: &str = "Ctrl-]";

/// How a console session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Detached,
    VmStopped,
}

/// Takes the console: refuses while another `console` holds `lock`.
pub fn take(lock: &Path, node: u8) -> anyhow::Result<Flock<File>> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock)
        .with_context(|| format!("opening {}", lock.display()))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(lock),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
            bail!("another console is attached to node {node}; detach it first ({ESCAPE_NAME})")
        }
        Err((_, err)) => Err(err).with_context(|| format!("locking {}", lock.display())),
    }
}

/// Relays stdin to the console and the console to stdout until the escape
/// key, the end of stdin, or the VM closing the socket.
pub fn attach(socket: &Path) -> anyhow::Result<Ended> {
    let mut console = UnixStream::connect(socket)
        .with_context(|| format!("connecting to the serial console {}", socket.display()))?;
    let _raw = RawTerminal::enter()?;
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let mut buffer = [0u8; 4096];
    loop {
        let mut fds = [
            PollFd::new(stdin.as_fd(), PollFlags::POLLIN),
            PollFd::new(console.as_fd(), PollFlags::POLLIN),
        ];
        poll(&mut fds, PollTimeout::NONE).context("waiting for input")?;
        let [keys, output] = fds.map(|fd| fd.any().unwrap_or(false));
        if output {
            let n = console.read(&mut buffer).context("reading the console")?;
            if n == 0 {
                return Ok(Ended::VmStopped);
            }
            stdout.write_all(&buffer[..n])?;
            stdout.flush()?;
        }
        if keys {
            let n = stdin.read(&mut buffer).context("reading the terminal")?;
            let typed = &buffer[..n];
            let (before, escaped) = match typed.iter().position(|&b| b == ESCAPE) {
                Some(at) => (&typed[..at], true),
                None => (typed, n == 0),
            };
            console
                .write_all(before)
                .context("writing to the console")?;
            if escaped {
                return Ok(Ended::Detached);
            }
        }
    }
}

/// The terminal in raw mode (keys go to the guest as typed) while alive.
struct RawTerminal {
    saved: Option<Termios>,
}

impl RawTerminal {
    fn enter() -> anyhow::Result<RawTerminal> {
        let stdin = std::io::stdin();
        // Not a terminal (a pipe): nothing to switch.
        let Ok(saved) = termios::tcgetattr(&stdin) else {
            return Ok(RawTerminal { saved: None });
        };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw).context("setting the terminal raw")?;
        Ok(RawTerminal { saved: Some(saved) })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, saved);
        }
    }
}
