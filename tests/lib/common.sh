# shellcheck shell=bash
# Helpers every test script shares, with or without a test bed.
#   log MSG...                 timestamped line on stderr
#   fail MSG...                log "FAIL: MSG" and exit 1
#   expect WHAT HAYSTACK NEEDLE   fail unless HAYSTACK contains NEEDLE
#   project_version TOP        the crate version from TOP/Cargo.toml
#   pacman_root ROOT CACHEDIR ARGS...   pacman on another root; fails on any "error:" line

log() { printf '%s %s\n' "$(date +%T.%3N)" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

expect() { # WHAT HAYSTACK NEEDLE
    grep -qF -- "$3" <<<"$2" || fail "$1: '$3' not in:\n$2"
}

project_version() { # TOP
    sed -n 's/^version = "\(.*\)"/\1/p' "$1/Cargo.toml" | head -1
}

# A failing scriptlet does not change pacman's exit status: any "error:"
# line fails too. Prints pacman's output.
pacman_root() { # ROOT CACHEDIR ARGS...
    local root=$1 cachedir=$2 out
    shift 2
    mkdir -p "$root/var/lib/pacman" "$cachedir" "$root/var/log"
    out=$(pacman --root "$root" --dbpath "$root/var/lib/pacman" --cachedir "$cachedir" \
        --logfile "$root/var/log/pacman.log" --noconfirm "$@" 2>&1) || {
        echo "$out" >&2
        fail "pacman $*"
    }
    ! grep -q '^error:' <<<"$out" || { echo "$out" >&2; fail "pacman $* printed errors"; }
    echo "$out"
}
