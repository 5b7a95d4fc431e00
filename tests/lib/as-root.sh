# Sourced first by the scripts a person runs by hand (README): they need root
# (namespaces, mounts, apt-get). As root they go on; otherwise they run again
# through sudo where it exists, or say what they need.
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        exec sudo -- "$0" "$@"
    fi
    echo "$0: run this as root (there is no sudo here)" >&2
    exit 1
fi
