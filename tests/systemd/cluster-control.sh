#!/bin/bash
# `coreos-cluster up`, `down` and `status` against a real systemd over D-Bus,
# with real QEMU (TCG) VMs: nodes 1-3 boot the test guest, which powers off
# on ACPI; node 4 stays in firmware, which ignores ACPI; node 5 has no tap and
# fails. Then the same through `systemctl start/stop coreos-cluster@3`.
set -euo pipefail
source "$(dirname "$0")/../lib/testbed.sh"
testbed_reexec_private "$0" "$@"
trap testbed_shutdown EXIT

testbed_make_guest_root 256 3
r=$TESTBED_ROOT
images=$TESTBED_IMAGES
boot_guest="[\"-kernel\", \"$images/vmlinuz\", \"-initrd\", \"$images/initrd.img\", \"-append\", \"console=ttyS0\"]"
cat > "$r/etc/coreos-cluster/cluster.toml" <<EOF
[cluster]
max-nodes = 5
stagger-sec = 2

[node.1]
extra-args = $boot_guest

[node.2]
extra-args = $boot_guest

[node.3]
extra-args = $boot_guest
EOF

testbed_standin_units

testbed_boot
tb systemd-sysusers coreos-cluster.conf
for i in 01 02 03 04; do
    tb ip tuntap add dev "coreos-tap$i" mode tap user coreos-cluster
    tb ip link set "coreos-tap$i" up
done

vm_state() { tb systemctl is-active "coreos-vm@$1.service" || true; }
wait_guest_ready() { # NODE
    for _ in $(seq 300); do
        journal_has "test-guest: ready" -u "coreos-vm@$1.service" && return 0
        sleep 0.1
    done
    fail "test guest of node $1 did not come up"
}
nothing_running() {
    local active leftover
    active=$(tb systemctl list-units --plain --no-legend --state=active,activating,deactivating 'coreos-vm@*' 'coreos-cluster@*')
    [ -z "$active" ] || fail "still active: $active"
    leftover=$(tb pgrep -u coreos-cluster -a || true)
    [ -z "$leftover" ] || fail "processes of the service user left: $leftover"
}

log "invalid instance names are refused before anything starts"
for instance in 0 256 abc 03; do
    if tb systemctl start "coreos-cluster@$instance.service" 2>/dev/null; then
        fail "coreos-cluster@$instance started"
    fi
    journal_has "invalid cluster size \"$instance\"" || fail "no clear message for coreos-cluster@$instance"
done
for instance in 1 0A zz 06; do
    if tb systemctl start "coreos-vm@$instance.service" 2>/dev/null; then
        fail "coreos-vm@$instance started"
    fi
    journal_has "invalid VM instance \"$instance\"" ||
        { tb systemctl status "coreos-vm@$instance.service" --no-pager; fail "no clear message for coreos-vm@$instance"; }
    state=$(tb systemctl is-active "coreos-vm@$instance.service" || true)
    [ "$state" = failed ] || fail "coreos-vm@$instance is $state, not failed (restarting?)"
done
if tb coreos-cluster up 0 2>/dev/null; then fail "up 0 accepted"; fi
nothing_running
tb systemctl reset-failed

log "up 3: one by one, the stagger between starts"
up_out=$(tb coreos-cluster up 3)
expect "up says which node is starting" "$up_out" "node 2 (coreos-vm@02.service) starting, waiting for its start job"
expect "up says when it started" "$up_out" "node 2 (coreos-vm@02.service) started in"
for i in 01 02 03; do [ "$(vm_state $i)" = active ] || fail "coreos-vm@$i not active"; done
t1=$(tb systemctl show -p ActiveEnterTimestampMonotonic --value coreos-vm@01.service)
t2=$(tb systemctl show -p ActiveEnterTimestampMonotonic --value coreos-vm@02.service)
t3=$(tb systemctl show -p ActiveEnterTimestampMonotonic --value coreos-vm@03.service)
for gap in $((t2 - t1)) $((t3 - t2)); do
    [ "$gap" -ge 1900000 ] || fail "VMs started ${gap} µs apart, stagger is 2 s"
done
log "start gaps: $(( (t2 - t1) / 1000 )) ms, $(( (t3 - t2) / 1000 )) ms"

log "status --json, from the host over the test bed's bus"
json=$(DBUS_SYSTEM_BUS_ADDRESS=$(testbed_bus) "$TESTBED_BIN/coreos-cluster" --root "/proc/$TESTBED_LEADER/root" status --json)
python3 - "$json" <<'EOF'
import json, sys
s = json.loads(sys.argv[1])
assert s["schema"] == 1, s
assert s["cluster"] is None, s["cluster"]
assert [n["node"] for n in s["nodes"]] == [1, 2, 3], s["nodes"]
for n in s["nodes"]:
    i = n["node"]
    assert n["unit"] == "coreos-vm@%02x.service" % i, n
    assert (n["active_state"], n["sub_state"]) == ("active", "running"), n
    assert n["mac"] == "52:54:00:12:34:%02x" % i, n
    assert n["ip"] == "10.77.0.%d" % (10 + i), n
    assert n["etcd_healthy"] is False, n   # no etcd in this guest, and no network
    assert n["etcd_role"] is None, n       # so no member list to tell the role from
    assert n["memory_bytes"] > 10 * 2**20, n
    assert n["restarts"] == 0, n
    assert 0 <= n["uptime_sec"] < 600, n
assert s["memory_bytes"] == sum(n["memory_bytes"] for n in s["nodes"]), s
assert s["image"] is None, s["image"]   # up without prepare: nothing recorded
assert s["etcd"] is None, s["etcd"]     # no node answered
assert set(s) == {"schema", "cluster", "discovery_url", "image", "nodes", "etcd", "memory_bytes",
                  "ksm", "other_units"}, s.keys()
print("status --json: fields as expected")
EOF
tb coreos-cluster status

log "down: all at once; each guest powers off on ACPI by itself"
for i in 01 02 03; do wait_guest_ready $i; done
start=$(date +%s%N)
tb coreos-cluster down
down_ms=$(( ($(date +%s%N) - start) / 1000000 ))
for i in 01 02 03; do
    [ "$(vm_state $i)" = inactive ] || fail "coreos-vm@$i: $(vm_state $i)"
    journal=$(tb journalctl -u "coreos-vm@$i.service" -o cat --no-pager)
    grep -q "test-guest: power button pressed" <<<"$journal" || fail "node $i saw no power button:\n$journal"
    grep -q "guest powered off after" <<<"$journal" || fail "node $i did not power off by ACPI:\n$journal"
    ! grep -q "terminating on signal" <<<"$journal" || fail "node $i was killed:\n$journal"
done
log "down of 3 ACPI-handling VMs took $down_ms ms"
nothing_running

log "up 4, down: node 4 stays in firmware, ignores ACPI and is terminated after its grace period"
tb coreos-cluster up 4 >/dev/null
for i in 01 02 03; do wait_guest_ready $i; done
start=$(date +%s%N)
tb coreos-cluster down
down_ms=$(( ($(date +%s%N) - start) / 1000000 ))
journal_has "guest ignored ACPI powerdown for 3 s" -u coreos-vm@04.service ||
    fail "node 4 should have ignored ACPI"
log "down of 4 VMs, one ignoring ACPI (3 s grace period), took $down_ms ms"
nothing_running

log "up 5: node 5 has no tap; up fails naming it, nodes 1-4 are left running"
if out=$(tb coreos-cluster up 5 2>&1); then fail "up 5 succeeded"; fi
grep -q "node 5 (coreos-vm@05.service) did not start: start job result 'failed'; nodes 1-4 are running and left as they are" <<<"$out" ||
    fail "unexpected message: $out"
for i in 01 02 03 04; do [ "$(vm_state $i)" = active ] || fail "coreos-vm@$i not left running"; done
tb coreos-cluster down >/dev/null
tb systemctl reset-failed
nothing_running

log "systemctl start/stop coreos-cluster@3; a second size is refused meanwhile"
tb systemctl start coreos-cluster@3.service
for i in 01 02 03; do [ "$(vm_state $i)" = active ] || fail "coreos-vm@$i not active"; done
if tb systemctl start coreos-cluster@2.service 2>/dev/null; then fail "a second cluster started"; fi
journal_has "coreos-cluster@3.service is active: one cluster at a time" || fail "no clear refusal"
journal_has "coreos-cluster@3.service is active: its VMs are left running" -u coreos-cluster@2.service ||
    fail "the refused cluster's stop did not leave the running one alone"
for i in 01 02 03; do [ "$(vm_state $i)" = active ] || fail "refused second cluster stopped coreos-vm@$i"; done
tb systemctl stop coreos-cluster@3.service
nothing_running

log "a failed start leaves nothing running (ExecStopPost= runs down)"
tb ip link delete coreos-tap02
if tb systemctl start coreos-cluster@3.service 2>/dev/null; then fail "started without tap 2"; fi
nothing_running

log "status without a reachable bus says so"
if out=$(DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent "$TESTBED_BIN/coreos-cluster" status 2>&1); then
    fail "status without a bus succeeded"
fi
grep -q "cannot reach systemd: the system D-Bus is not reachable" <<<"$out" || fail "unclear: $out"

log "PASS"
