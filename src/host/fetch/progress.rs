//! Download progress on stderr: a bar on a terminal, otherwise (the journal,
//! from `prepare`) one line every 10 %.

use std::io::{IsTerminal, Write};
use std::time::Instant;

const BAR_WIDTH: usize = 30;

pub struct Progress {
    label: String,
    terminal: bool,
    total: Option<u64>,
    done: u64,
    /// The last tenth reported (line mode) or drawn time (bar mode).
    last_step: u64,
    last_draw: Option<Instant>,
    started: Instant,
}

impl Progress {
    pub fn new(label: impl Into<String>) -> Self {
        Progress {
            label: label.into(),
            terminal: std::io::stderr().is_terminal(),
            total: None,
            done: 0,
            last_step: 0,
            last_draw: None,
            started: Instant::now(),
        }
    }

    pub fn start(&mut self, total: Option<u64>) {
        self.total = total;
        self.done = 0;
        self.last_step = 0;
        self.started = Instant::now();
    }

    pub fn advance(&mut self, n: u64) {
        self.done += n;
        let Some(total) = self.total.filter(|&t| t > 0) else {
            return;
        };
        if self.terminal {
            let due = self
                .last_draw
                .is_none_or(|t| t.elapsed().as_millis() >= 100);
            if due {
                self.last_draw = Some(Instant::now());
                self.draw_bar(total);
            }
        } else {
            let step = self.done * 10 / total;
            if step > self.last_step && step < 10 {
                self.last_step = step;
                eprintln!("{}: {}0 %", self.label, step);
            }
        }
    }

    fn draw_bar(&self, total: u64) {
        let filled = (self.done.min(total) * BAR_WIDTH as u64 / total) as usize;
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{} [{}{}] {:3} % {:6.1} MiB/s",
            self.label,
            "#".repeat(filled),
            " ".repeat(BAR_WIDTH - filled),
            self.done.min(total) * 100 / total,
            self.done as f64 / secs / 1048576.0
        );
        let _ = err.flush();
    }

    pub fn finish(&mut self) {
        if self.terminal {
            if let Some(total) = self.total.filter(|&t| t > 0) {
                self.draw_bar(total);
                eprintln!();
            }
        } else if self.total.is_some() && self.last_step < 10 {
            self.last_step = 10;
            eprintln!("{}: 100 %", self.label);
        }
    }
}
