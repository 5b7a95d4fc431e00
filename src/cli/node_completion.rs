//! Node arguments (`console`, `ssh`, `logs`) complete to the running nodes:
//! clap's static scripts, extended with a completer that lists the active
//! coreos-vm@ units (hex instances, shown as the decimal node numbers).

use clap_complete::Shell;

/// The subcommands whose first argument is a node.
const NODE_COMMANDS: [&str; 3] = ["console", "ssh", "logs"];

/// Prints the running nodes' numbers, one per line (POSIX sh, bash and zsh).
const RUNNING_NODES_SH: &str = r#"_coreos_cluster_running_nodes() {
    systemctl list-units --plain --no-legend --state=active 'coreos-vm@*.service' 2>/dev/null |
        sed -n 's/^coreos-vm@\([0-9a-f][0-9a-f]\)\.service.*/\1/p' |
        while read -r hex; do printf '%d\n' "0x$hex"; done
}
"#;

/// bash: the first word after a node command completes to running nodes;
/// everything else goes to clap's completer.
const BASH: &str = r#"_coreos_cluster_with_nodes() {
    local i sub= words_after=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            --root|-i|--identity) ((i++)) ;;
            -*) ;;
            *) if [ -z "$sub" ]; then sub=${COMP_WORDS[i]}; else ((words_after++)); fi ;;
        esac
    done
    case $sub in
        console|ssh|logs)
            if [ "$words_after" = 0 ] && [[ ${COMP_WORDS[COMP_CWORD]} != -* ]]; then
                mapfile -t COMPREPLY < <(compgen -W "$(_coreos_cluster_running_nodes)" -- "${COMP_WORDS[COMP_CWORD]}")
                return 0
            fi
            ;;
    esac
    _coreos__cluster "$@"  # clap's completer
}
complete -F _coreos_cluster_with_nodes -o nosort -o bashdefault -o default coreos-cluster
"#;

/// The completion script for `shell`, with node completion added to clap's.
pub fn extend(shell: Shell, clap_script: String) -> String {
    match shell {
        Shell::Bash => format!("{clap_script}\n{RUNNING_NODES_SH}{BASH}"),
        Shell::Zsh => {
            // clap completes the node argument with `_default`; zsh calls ours instead.
            let script = clap_script
                .lines()
                .map(|line| {
                    if line.starts_with("':node -- ") {
                        line.replace(":_default'", ":_coreos_cluster_nodes'")
                    } else {
                        line.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            let nodes = "_coreos_cluster_nodes() {\n    \
                 local -a nodes\n    \
                 nodes=(${(f)\"$(_coreos_cluster_running_nodes)\"})\n    \
                 compadd -a nodes\n}\n";
            format!("{RUNNING_NODES_SH}{nodes}{script}\n")
        }
        Shell::Fish => {
            let mut script = clap_script;
            for command in NODE_COMMANDS {
                script.push_str(&format!(
                    "complete -c coreos-cluster -n \"__fish_coreos_cluster_using_subcommand \
                     {command}; and test (count (commandline -opc)) -le 2\" -f -a \
                     \"(systemctl list-units --plain --no-legend --state=active \
                     'coreos-vm@*.service' 2>/dev/null | string match -rg \
                     '^coreos-vm@([0-9a-f]{{2}})\\.service' | while read -l hex; \
                     math 0x\\$hex; end)\" -d 'running node'\n"
                ));
            }
            script
        }
        _ => clap_script,
    }
}
