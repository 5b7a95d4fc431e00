#!/bin/bash
# Benchmark: coreos-cluster-generator against systemd's own
# systemd-fstab-generator, both producing units for N things (N nodes with
# their own settings; N fstab entries), in the same run. Prints mean wall
# time per run, peak RSS, and the ratios (ours / systemd's; below 1 is faster).
#   tests/bench/generator.sh [RUNS]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-300}
ours=$top/target/release/coreos-cluster-generator
theirs=/usr/lib/systemd/system-generators/systemd-fstab-generator
[ -x "$theirs" ] || theirs=/lib/systemd/system-generators/systemd-fstab-generator
(cd "$top" && cargo build --release --quiet --bin coreos-cluster-generator)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

make_inputs() { # N
    local n=$1 i
    mkdir -p "$work/root$n/etc/coreos-cluster"
    {
        printf '[cluster]\nmax-nodes = %d\nstart-at-boot = %d\n' "$n" "$n"
        for i in $(seq "$n"); do printf '[node.%d]\nmemory-mib = %d\ncores = 2\n' "$i" $((3072 + i))
        done
    } > "$work/root$n/etc/coreos-cluster/cluster.toml"
    for i in $(seq "$n"); do printf '/dev/vd%d /srv/data%d ext4 defaults 0 2\n' "$i" "$i"; done > "$work/fstab$n"
}

# Mean milliseconds per run of "$@" writing into a fresh directory.
mean_ms() {
    local out=$work/out start end i
    start=$(date +%s%N)
    for i in $(seq "$runs"); do
        rm -rf "$out"; mkdir "$out"
        "$@" "$out" "$out" "$out" >/dev/null
    done
    end=$(date +%s%N)
    echo "scale=3; ($end - $start) / $runs / 1000000" | bc
}

peak_kib() {
    local out=$work/out best=0 kib i
    for i in 1 2 3 4 5; do
        rm -rf "$out"; mkdir "$out"
        kib=$( { /usr/bin/time -f '%M' "$@" "$out" "$out" "$out" >/dev/null; } 2>&1 | tail -1)
        [ "$kib" -gt "$best" ] && best=$kib
    done
    echo "$best"
}

printf '%-6s %-28s %10s %10s\n' nodes generator "ms/run" "peak KiB"
for n in 3 64; do
    make_inputs "$n"
    export COREOS_CLUSTER_ROOT=$work/root$n SYSTEMD_FSTAB=$work/fstab$n SYSTEMD_PROC_CMDLINE=
    o_ms=$(mean_ms "$ours"); t_ms=$(mean_ms "$theirs")
    o_kib=$(peak_kib "$ours"); t_kib=$(peak_kib "$theirs")
    files=$(rm -rf "$work/out"; mkdir "$work/out"; "$ours" "$work/out"; find "$work/out" -type f -o -type l | wc -l)
    printf '%-6s %-28s %10s %10s   (%d files)\n' "$n" coreos-cluster-generator "$o_ms" "$o_kib" "$files"
    printf '%-6s %-28s %10s %10s\n' "$n" systemd-fstab-generator "$t_ms" "$t_kib"
    printf '%-6s %-28s %10s %10s\n' "$n" "ratio (ours/systemd's)" \
        "$(printf %.2f "$(echo "scale=4; $o_ms / $t_ms" | bc)")" "$(printf %.2f "$(echo "scale=4; $o_kib / $t_kib" | bc)")"
done
echo "($runs runs each, process start included; one machine, one run: compare ratios, not times)"
