#!/bin/bash
# networkd stopped or restarted while a cluster runs (in a test bed with a
# real systemd, networkd, nginx and QEMU with the test guest): the taps are
# persistent devices owned by the service user and QEMU holds them open, so
# the VMs keep their network. Checked by etcd put/get across nodes after a
# restart of networkd, and again while networkd is stopped.
set -euo pipefail
source "$(dirname "$0")/../lib/as-root.sh"
source "$(dirname "$0")/../lib/testbed.sh"
testbed_reexec_private "$0" "$@"
trap testbed_shutdown EXIT

testbed_make_guest_root 512 10
testbed_boot multi-user.target

taps_up() {
    local i
    for i in 01 02; do
        tb ip -o link show "coreos-tap$i" | grep -q 'master coreos-br0' ||
            fail "coreos-tap$i is gone or left the bridge: $(tb ip -o link show "coreos-tap$i" 2>&1)"
    done
}

tb systemctl start coreos-cluster@2.service
wait_cluster_healthy 180 2
put_get before "before any networkd change" 10.77.0.12

log "restart systemd-networkd while the cluster runs"
tb systemctl restart systemd-networkd.service
taps_up
wait_cluster_healthy 30 2
put_get restarted "after networkd restarted" 10.77.0.12
[ "$(tb systemctl is-active coreos-vm@01.service coreos-vm@02.service | sort -u)" = active ] ||
    fail "a VM stopped when networkd restarted"

log "stop systemd-networkd (and its socket) while the cluster runs"
tb systemctl stop systemd-networkd.socket systemd-networkd.service
taps_up
put_get stopped "while networkd is stopped" 10.77.0.12
tb ip -4 -o addr show coreos-br0 | grep -q '10.77.0.1/' || fail "the bridge lost its address"
tb systemctl start systemd-networkd.service
log "PASS: the VMs kept their network through a networkd restart and stop"
