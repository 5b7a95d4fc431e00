//! `coreos-cluster completions` and the hidden `man-page`: documentation
//! generated from the same clap definitions that parse the arguments.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use clap_complete::Shell;

/// Print a shell completion script.
///
/// For example: coreos-cluster completions bash > /usr/share/bash-completion/completions/coreos-cluster
#[derive(Debug, Args)]
pub struct Completions {
    #[arg(value_enum)]
    shell: CompletionShell,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

impl Completions {
    pub fn run(self) -> anyhow::Result<()> {
        let shell = match self.shell {
            CompletionShell::Bash => Shell::Bash,
            CompletionShell::Zsh => Shell::Zsh,
            CompletionShell::Fish => Shell::Fish,
        };
        let mut command = super::Cli::command();
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut command, "coreos-cluster", &mut script);
        let script = String::from_utf8(script).context("completion script")?;
        print!("{}", super::node_completion::extend(shell, script));
        Ok(())
    }
}

/// Write coreos-cluster(1) and coreos-cluster-SUBCOMMAND(1) into a directory.
#[derive(Debug, Args)]
pub struct ManPage {
    /// Output directory.
    dir: PathBuf,
}

impl ManPage {
    pub fn run(self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let command = super::Cli::command();
        self.write("coreos-cluster", command.clone())?;
        // One page per subcommand, named as the main page's SUBCOMMANDS list refers to them.
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = format!("coreos-cluster-{}", sub.get_name());
            let sub = sub
                .clone()
                .name(name.clone())
                .version(env!("CARGO_PKG_VERSION"));
            self.write(&name, sub)?;
        }
        Ok(())
    }

    fn write(&self, name: &str, command: clap::Command) -> anyhow::Result<()> {
        let mut page = Vec::new();
        clap_mangen::Man::new(command).render(&mut page)?;
        let path = self.dir.join(format!("{name}.1"));
        std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))
    }
}
