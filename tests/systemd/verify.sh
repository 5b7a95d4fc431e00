#!/bin/bash
# Offline checks of every shipped unit, alone and with the generator's output
# for each valid golden case: `systemd-analyze verify` must print nothing
# (an unknown key is only a warning with exit 0). Then prints each service's
# `systemd-analyze security` exposure score.
set -euo pipefail
source "$(dirname "$0")/../lib/testbed.sh"
testbed_reexec_private "$0" "$@"
trap testbed_shutdown EXIT

testbed_make_root
testbed_mount_for_chroot
r=$TESTBED_ROOT
in_root() { chroot "$r" "$@"; }

units=(
    coreos-cluster@3.service
    coreos-vm@01.service
    coreos-vm@ff.service
    coreos-cluster-config.service
    coreos-cluster-network.service
    coreos-cluster-http.service
    coreos-cluster-ksm.service
    coreos-cluster-tftp.service
    machine-coreos.slice
)

verify() { # LABEL UNIT_PATH UNITS...
    local label=$1 path=$2 out
    shift 2
    local env=(env)
    [ -z "$path" ] || env+=(SYSTEMD_UNIT_PATH="$path")
    out=$(in_root "${env[@]}" systemd-analyze verify "$@" 2>&1) ||
        fail "$label: systemd-analyze verify failed:\n$out"
    [ -z "$out" ] || fail "$label: systemd-analyze verify warned:\n$out"
    log "verified $label: $*"
}

verify "static units" "" "${units[@]}"

checked=0
for case in "$TESTBED_TOP"/tests/generator/*/; do
    name=$(basename "$case")
    gen=/tmp/generated/$name
    # The generator reads the case's config from a copy inside the root.
    mkdir -p "$r/tmp/cases"
    cp -a "$case/root" "$r/tmp/cases/$name"
    mkdir -p "$r$gen"
    in_root env COREOS_CLUSTER_ROOT="/tmp/cases/$name" \
        /usr/lib/systemd/system-generators/coreos-cluster-generator "$gen"
    extra=()
    for wants in "$r$gen"/multi-user.target.wants/*; do
        [ -L "$wants" ] && extra+=("$(basename "$wants")")
    done
    verify "$name" "$gen:" "${units[@]}" "${extra[@]}"
    checked=$((checked + 1))
done
[ "$checked" -ge 8 ] || fail "only $checked generated cases verified"

echo
echo "systemd-analyze security --offline=true (exposure, lower is better; 0.0-10.0):"
for file in /usr/lib/systemd/system/{coreos-cluster@,coreos-vm@,coreos-cluster-config,coreos-cluster-network,coreos-cluster-http,coreos-cluster-tftp,coreos-cluster-ksm}.service; do
    score=$(in_root systemd-analyze security --offline=true "$file" 2>/dev/null |
        sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) \(.*\)/\1 \2/p')
    [ -n "$score" ] || fail "no exposure score for $(basename "$file")"
    printf '  %-34s %s\n' "$(basename "$file")" "$score"
    # The VM unit runs QEMU, the guest's attack surface: it stays at 1.0 or below.
    if [ "$(basename "$file")" = coreos-vm@.service ]; then
        awk -v s="${score%% *}" 'BEGIN { exit !(s <= 1.0) }' || fail "coreos-vm@.service exposure $score is above 1.0"
    fi
done
log "PASS"
