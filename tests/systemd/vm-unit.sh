#!/bin/bash
# coreos-vm@.service with real QEMU (TCG) under a real systemd, as the
# unprivileged service user with the full sandbox: start waits for QMP, a
# QEMU that dies at once fails the start, a crash is restarted, stop sends
# ACPI powerdown and falls back to SIGTERM for a guest that ignores it.
set -euo pipefail
source "$(dirname "$0")/../lib/testbed.sh"
testbed_reexec_private "$0" "$@"
trap testbed_shutdown EXIT

# The VM boots nothing here (no DHCP): it stays in firmware, which ignores ACPI.
testbed_make_guest_root 256 3
testbed_boot

# The network files are not what this test is about: make node 1's tap by hand,
# owned by the service user, as networkd's [Tap] User= does.
tb systemd-sysusers coreos-cluster.conf
tb systemctl mask --runtime --quiet coreos-cluster-network.service
tb ip tuntap add dev coreos-tap01 mode tap user coreos-cluster
tb ip link set coreos-tap01 up

log "start: QEMU runs as the service user in its slice, QMP answers"
tb systemctl start coreos-vm@01.service || { tb journalctl -u coreos-vm@01.service --no-pager -o cat; fail "start"; }
[ "$(tb systemctl is-active coreos-vm@01.service)" = active ] || fail "coreos-vm@01 not active"
pid=$(tb systemctl show -p MainPID --value coreos-vm@01.service)
user=$(tb ps -o user= -p "$pid")
[ "$user" = coreos-cluster ] || fail "QEMU runs as $user"
slice=$(tb systemctl show -p Slice --value coreos-vm@01.service)
[ "$slice" = machine-coreos.slice ] || fail "slice is $slice"
cmdline=$(tb cat "/proc/$pid/cmdline" | tr '\0' ' ')
for want in "-accel tcg,split-wx=on" "mac=52:54:00:12:34:01" "ifname=coreos-tap01" "-m 256"; do
    grep -qF -- "$want" <<<"$cmdline" || fail "QEMU command line lacks '$want': $cmdline"
done
tb test -S /run/coreos-cluster/vm-01/qmp.sock || fail "no QMP socket"

log "a QEMU that cannot open its tap fails the start"
if tb systemctl start coreos-vm@02.service 2>/dev/null; then
    fail "coreos-vm@02 started without a tap"
fi
journal=$(tb journalctl -u coreos-vm@02.service --no-pager -o cat)
grep -q "coreos-tap02" <<<"$journal" || fail "no tap error in the journal:\n$journal"
tb systemctl reset-failed coreos-vm@02.service
tb systemctl stop coreos-vm@02.service

log "a crashed QEMU is restarted"
tb kill -KILL "$pid"
for _ in $(seq 100); do
    restarts=$(tb systemctl show -p NRestarts --value coreos-vm@01.service)
    state=$(tb systemctl is-active coreos-vm@01.service || true)
    [ "$restarts" = 1 ] && [ "$state" = active ] && break
    sleep 0.1
done
[ "$restarts" = 1 ] && [ "$state" = active ] || fail "not restarted: NRestarts=$restarts, $state"

log "stop: ACPI powerdown, ignored by the firmware, then SIGTERM"
tb sleep 1  # let the restarted QEMU's QMP come up
start=$(date +%s.%N)
tb systemctl stop coreos-vm@01.service
took=$(echo "$(date +%s.%N) - $start" | bc)
state=$(tb systemctl is-active coreos-vm@01.service || true)
[ "$state" = inactive ] || fail "after stop: $state"
journal=$(tb journalctl -u coreos-vm@01.service --no-pager -o cat)
grep -q "guest ignored ACPI powerdown for 3 s" <<<"$journal" || fail "no powerdown attempt:\n$journal"
log "stop took ${took}s (3 s grace period)"
leftover=$(tb pgrep -u coreos-cluster -a || true)
[ -z "$leftover" ] || fail "processes of the service user left running: $leftover"

log "PASS"
