#!/bin/bash
# End to end, as a user runs it: coreos-cluster installed (from the package
# with pacman -U when TESTBED_PACKAGE is set) in a test bed with a real
# systemd, networkd, nginx and QEMU (TCG); the guests are the test guest.
#   1. isolated mode, static discovery, iPXE: `systemctl start coreos-cluster@3`
#      forms an etcd cluster; put on node 1, get on node 3; status --json
#   2. a VM killed with SIGKILL is restarted by systemd and rejoins
#   3. `systemctl stop coreos-cluster@3`: ACPI power-off, nothing left; start again
#   4. `systemctl enable coreos-cluster@3`, reboot the test bed: it comes back
# With --demo it runs scenario 1 only and shows what it sees.
set -euo pipefail
source "$(dirname "$0")/../lib/as-root.sh"
source "$(dirname "$0")/../lib/testbed.sh"
testbed_reexec_private "$0" "$@"
trap testbed_shutdown EXIT
demo=
[ "${1:-}" = --demo ] && demo=1

testbed_make_guest_root 512 10
testbed_boot multi-user.target


log "scenario 1: systemctl start coreos-cluster@3 (isolated, static discovery, iPXE)"
start=$(date +%s%N)
tb systemctl start coreos-cluster@3.service
wait_cluster_healthy 180
formed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
put_get greeting "hello from node 1"
log "etcd cluster formed and put/get works $formed_ms ms after systemctl start"
status=$(tb coreos-cluster status --json)
python3 - "$status" <<'EOF'
import json, sys
s = json.loads(sys.argv[1])
assert s["cluster"] == {"unit": "coreos-cluster@3.service", "size": 3, "active_state": "active"}, s["cluster"]
assert [n["node"] for n in s["nodes"]] == [1, 2, 3], s["nodes"]
for n in s["nodes"]:
    assert (n["active_state"], n["sub_state"]) == ("active", "running"), n
    assert n["ip"] == "10.77.0.%d" % (10 + n["node"]) and n["etcd_healthy"] is True, n
EOF
for i in 1 2 3; do
    expect "node $i fetched its own cloud-config" \
        "$(tb journalctl -u "coreos-vm@0$i" -o cat --no-pager)" "etcd settings: ETCD_NAME=10.77.0.1$i"
done
if [ -n "$demo" ]; then
    printf '\n$ systemctl start coreos-cluster@3     (took %d ms to a healthy etcd cluster)\n' "$formed_ms"
    printf '\n$ coreos-cluster status\n'
    tb coreos-cluster status
    printf '\n$ etcdctl --endpoints http://10.77.0.11:2379 put greeting "hello from node 1"\n'
    etcdctl_on 10.77.0.11 put greeting "hello from node 1"
    printf '\n$ etcdctl --endpoints http://10.77.0.13:2379 get greeting\n'
    etcdctl_on 10.77.0.13 get greeting
    printf '\n$ etcdctl member list\n'
    etcdctl_on 10.77.0.12 member list
    printf '\n$ systemctl stop coreos-cluster@3\n'
    tb systemctl stop coreos-cluster@3.service
    tb journalctl -o cat --no-pager -u 'coreos-vm@*' | grep -E "power button|powered off" || true
    exit 0
fi

log "scenario 2: SIGKILL node 2's QEMU: systemd restarts it and it rejoins"
since=(--since "@$(date +%s)")
kill_qemu_wait_restart 02
for _ in $(seq 180); do
    journal=$(tb journalctl -u coreos-vm@02 -o cat --no-pager "${since[@]}")
    # Both lines: the guest relays the rejoin line from a log, it may come second.
    grep -q "test-guest: etcd healthy" <<<"$journal" && grep -q "test-guest: rejoining: member" <<<"$journal" && break
    sleep 1
done
expect "node 2 rejoined" "$journal" "test-guest: rejoining: member"
expect "node 2 healthy again" "$journal" "test-guest: etcd healthy"
got=$(etcdctl_on 10.77.0.12 get --print-value-only greeting)
[ "$got" = "hello from node 1" ] || fail "node 2 after rejoining: '$got'"
members=$(etcdctl_on 10.77.0.11 member list)
[ "$(grep -c ', started, ' <<<"$members")" = 3 ] || fail "members after rejoin:\n$members"

log "scenario 3: systemctl stop coreos-cluster@3: ACPI power-off, nothing left"
since=(--since "@$(date +%s)")
start=$(date +%s%N)
tb systemctl stop coreos-cluster@3.service
stop_ms=$(( ($(date +%s%N) - start) / 1000000 ))
for i in 01 02 03; do
    journal=$(tb journalctl -u "coreos-vm@$i" -o cat --no-pager "${since[@]}")
    expect "node $i powered off by ACPI" "$journal" "guest powered off after"
done
active=$(tb systemctl list-units --plain --no-legend --state=active,activating,deactivating,failed 'coreos-vm@*' 'coreos-cluster@*')
[ -z "$active" ] || fail "left in the unit list: $active"
[ -z "$(tb pgrep -u coreos-cluster -f qemu-system || true)" ] || fail "QEMU left running"
log "stop of 3 VMs took $stop_ms ms"
tb systemctl start coreos-cluster@3.service
wait_cluster_healthy 180
put_get again "started again"

log "scenario 4: systemctl enable coreos-cluster@3, reboot: the cluster comes back by itself"
tb systemctl enable coreos-cluster@3.service
testbed_reboot multi-user.target
wait_cluster_healthy 240
put_get after-reboot "back after reboot"
[ "$(tb systemctl is-active coreos-cluster@3.service)" = active ] || fail "cluster unit not active after reboot"

log "PASS"
