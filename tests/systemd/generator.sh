#!/bin/bash
# The generator run by a real systemd (PID 1 in a test bed): at boot and at
# daemon-reload, with a good config, a changed one and a bad one.
set -euo pipefail
source "$(dirname "$0")/../lib/testbed.sh"
testbed_reexec_private "$0" "$@"
trap testbed_shutdown EXIT

testbed_make_root
r=$TESTBED_ROOT
mkdir -p "$r/etc/coreos-cluster/cluster.toml.d"
cat > "$r/etc/coreos-cluster/cluster.toml" <<'EOF'
[cluster]
start-at-boot = 3

[vm]
memory-mib = 3072

[node.2]
memory-mib = 4096
EOF
cat > "$r/etc/coreos-cluster/cluster.toml.d/50-cores.toml" <<'EOF'
[vm]
cores = 2
EOF

testbed_boot

expect_in() { # WHAT HAYSTACK NEEDLE
    grep -qF -- "$3" <<<"$2" || fail "$1: '$3' not found in:\n$2"
}
expect_not_in() {
    ! grep -qF -- "$3" <<<"$2" || fail "$1: '$3' unexpectedly found in:\n$2"
}

log "generator ran at boot: systemctl cat shows the drop-ins"
cat01=$(tb systemctl cat coreos-vm@01.service)
expect_in "cat coreos-vm@01" "$cat01" "# /run/systemd/generator/coreos-vm@.service.d/50-coreos-cluster.conf"
expect_in "cat coreos-vm@01" "$cat01" 'Environment="QEMU_MEMORY_MIB=3072"'
expect_in "cat coreos-vm@01" "$cat01" 'Environment="QEMU_CORES=2"'
env01=$(tb systemctl show -p Environment --value coreos-vm@01.service)
expect_in "environment of node 1" "$env01" "QEMU_MAC=52:54:00:12:34:01"
expect_in "environment of node 1" "$env01" "QEMU_TAP=coreos-tap01"
env02=$(tb systemctl show -p Environment --value coreos-vm@02.service)
expect_in "node 2 override" "$env02" "QEMU_MEMORY_MIB=4096"
expect_in "node 2 MAC" "$env02" "QEMU_MAC=52:54:00:12:34:02"
wants=$(tb systemctl show -p Wants --value multi-user.target)
expect_in "start at boot" "$wants" "coreos-cluster@3.service"
cluster_wants=$(tb systemctl show -p Wants --value coreos-cluster@3.service)
expect_in "KSM pulled in" "$cluster_wants" "coreos-cluster-ksm.service"
stop_timeout=$(tb systemctl show -p TimeoutStopUSec --value coreos-vm@01.service)
[ "$stop_timeout" = "45s" ] || fail "coreos-vm@01 TimeoutStopUSec=$stop_timeout, want 45s"

log "daemon-reload re-runs it with the changed config"
cat > "$r/etc/coreos-cluster/cluster.toml" <<'EOF'
[vm]
memory-mib = 5120
[ksm]
enable = false
EOF
tb systemctl daemon-reload
env01=$(tb systemctl show -p Environment --value coreos-vm@01.service)
expect_in "after reload" "$env01" "QEMU_MEMORY_MIB=5120"
env02=$(tb systemctl show -p Environment --value coreos-vm@02.service)
expect_not_in "node override removed" "$env02" "QEMU_MEMORY_MIB=4096"
wants=$(tb systemctl show -p Wants --value multi-user.target)
expect_not_in "start at boot removed" "$wants" "coreos-cluster@3.service"
cluster_wants=$(tb systemctl show -p Wants --value coreos-cluster@3.service)
expect_not_in "KSM no longer pulled in" "$cluster_wants" "coreos-cluster-ksm.service"

log "a bad config: nothing generated, the failure is visible, systemd keeps going"
printf '[vm]\nmemory-mib = 512\n' > "$r/etc/coreos-cluster/cluster.toml.d/90-bad.toml"
tb systemctl daemon-reload
state=$(tb systemctl is-system-running || true)
case $state in running|degraded) ;; *) fail "system state after bad config: $state" ;; esac
cat01=$(tb systemctl cat coreos-vm@01.service)
expect_not_in "no VM settings from a bad config" "$cat01" "50-coreos-cluster.conf"
wants=$(tb systemctl show -p Wants --value multi-user.target)
expect_in "config check pulled in at boot" "$wants" "coreos-cluster-config.service"
if tb systemctl start coreos-cluster@3.service 2>/dev/null; then
    fail "coreos-cluster@3 started with a bad config"
fi
failed=$(tb systemctl list-units --failed --plain --no-legend)
expect_in "systemctl --failed" "$failed" "coreos-cluster-config.service"
journal=$(tb journalctl -u coreos-cluster-config.service --no-pager -o cat)
expect_in "journal names file, line, column and key" "$journal" \
    "/etc/coreos-cluster/cluster.toml.d/90-bad.toml:2:14: vm.memory-mib: 512 MiB is below the 3072 MiB"
active=$(tb systemctl list-units --plain --no-legend --state=active 'coreos-vm@*' 'coreos-cluster@*')
[ -z "$active" ] || fail "units active after a refused start: $active"

log "fixed again: the check passes and the failure clears"
rm "$r/etc/coreos-cluster/cluster.toml.d/90-bad.toml"
tb systemctl daemon-reload
tb systemctl start coreos-cluster-config.service
failed=$(tb systemctl list-units --failed --plain --no-legend)
expect_not_in "failure cleared" "$failed" "coreos-cluster-config.service"

log "KSM unit: skipped cleanly where /sys is read-only"
tb systemctl start coreos-cluster-ksm.service
result=$(tb systemctl show -p ConditionResult --value coreos-cluster-ksm.service)
[ "$result" = "no" ] || fail "KSM unit condition result: $result"

log "PASS"
