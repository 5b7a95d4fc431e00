#!/bin/bash
# Reaching the nodes of a running cluster, against a real systemd and
# systemd-machined, with 3 real QEMU (TCG) VMs booting the test guest:
# machinectl list/status/poweroff/terminate, a SIGKILLed VM registered again
# after its restart, `coreos-cluster console` under a pseudo-terminal (boot
# messages, a typed line echoed by the guest, Ctrl-] detaches, one console at
# a time, a stopped node refused), `coreos-cluster logs`. `ssh` has its own
# test (ssh.sh), for a guest with sshd.
set -euo pipefail
source "$(dirname "$0")/../lib/testbed.sh"
testbed_reexec_private "$0" "$@"
trap testbed_shutdown EXIT

command -v machinectl >/dev/null || fail "machinectl missing (Debian package systemd-container)"

testbed_make_guest_root 256 5
r=$TESTBED_ROOT
images=$TESTBED_IMAGES
boot_guest="[\"-kernel\", \"$images/vmlinuz\", \"-initrd\", \"$images/initrd.img\", \"-append\", \"console=ttyS0\"]"
cat > "$r/etc/coreos-cluster/cluster.toml" <<EOF
[cluster]
max-nodes = 3

[vm]
extra-args = $boot_guest
EOF
testbed_standin_units

testbed_boot
tb systemd-sysusers coreos-cluster.conf
for i in 01 02 03; do
    tb ip tuntap add dev "coreos-tap$i" mode tap user coreos-cluster
    tb ip link set "coreos-tap$i" up
done

machines() { tb machinectl list --no-legend --no-pager | awk '{print $1, $2}' | sort; }
wait_machines() { # EXPECTED
    local got
    for _ in $(seq 100); do
        got=$(machines)
        [ "$got" = "$1" ] && return 0
        sleep 0.1
    done
    fail "machinectl list: expected [$1], got [$got]"
}
wait_guest_ready() { # NODE [journalctl args]
    local node=$1
    shift
    journal_wait "test-guest: ready" 60 -u "coreos-vm@$node.service" "$@" ||
        fail "test guest of node $node did not come up"
}
three="coreos-vm-01 vm
coreos-vm-02 vm
coreos-vm-03 vm"

log "a running cluster: machinectl lists its 3 VMs"
tb systemctl start coreos-cluster@3.service
for i in 01 02 03; do wait_guest_ready $i; done
wait_machines "$three"

log "machinectl status shows the unit, the leader (the unit's main process) and the tap"
show=$(tb machinectl show coreos-vm-01)
main_pid=$(tb systemctl show -p MainPID --value coreos-vm@01.service)
expect "unit" "$show" "Unit=coreos-vm@01.service"
expect "class" "$show" "Class=vm"
expect "leader" "$show" "Leader=$main_pid"
status=$(tb machinectl status coreos-vm-01 --no-pager)
expect "network interface" "$status" "Iface: coreos-tap01"
expect "status names the unit" "$status" "Unit: coreos-vm@01.service"
expect "status shows QEMU in the unit" "$status" "qemu-system-x86_64"

log "completion (bash, fish, zsh): a node argument completes to the running nodes"
complete_words() { # WORD... (the last one is being completed)
    tb bash -c 'source <(coreos-cluster completions bash)
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
        _coreos_cluster_with_nodes coreos-cluster "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        echo "${COMPREPLY[*]}"' bash "$@"
}
[ "$(complete_words coreos-cluster console "")" = "1 2 3" ] || fail "console completes to: $(complete_words coreos-cluster console "")"
[ "$(complete_words coreos-cluster --root / ssh -i key "")" = "1 2 3" ] || fail "ssh -i key completes to: $(complete_words coreos-cluster --root / ssh -i key "")"
[ "$(complete_words coreos-cluster lo)" = "logs" ] || fail "subcommands no longer complete: $(complete_words coreos-cluster lo)"
fish_nodes=$(tb fish -c 'coreos-cluster completions fish | source; complete -C "coreos-cluster logs "' | cut -f1 | tr '\n' ' ')
[ "$fish_nodes" = "1 2 3 " ] || fail "fish: logs completes to: $fish_nodes"
tb zsh -c 'coreos-cluster completions zsh > /tmp/_coreos-cluster && zsh -n /tmp/_coreos-cluster && source /tmp/_coreos-cluster 2>/dev/null; [ "$(_coreos_cluster_running_nodes | tr "\n" " ")" = "1 2 3 " ]' ||
    fail "zsh completion script broken or lists other nodes"

log "logs: the guest's boot lines, from the journal"
logs=$(tb coreos-cluster logs 2)
expect "kernel boot line" "$logs" "Run /init as init process"
expect "guest line" "$logs" "test-guest: ready"

log "console: boot messages, a typed line echoed by the guest, Ctrl-] detaches"
since=(--since "@$(date +%s)")
tb systemctl restart coreos-vm@03.service
# Attached while node 3 boots: its boot messages arrive on the console.
typescript=$TESTBED_WORK/console.typescript
{
    for _ in $(seq 600); do
        grep -q "test-guest: ready" "$typescript" 2>/dev/null && break
        sleep 0.1
    done
    sleep 0.5
    printf 'hello from the console\r'
    sleep 2
    printf '\035'
    sleep 1
} | tb script --quiet --flush --return --command "coreos-cluster console 3" /dev/null > "$typescript" 2>&1 ||
    { cat "$typescript" >&2; fail "console exited with an error"; }
out=$(tr -d '\r' < "$typescript")
expect "attach message" "$out" "press Ctrl-] to detach"
expect "boot messages" "$out" "Run /init as init process"
expect "guest ready" "$out" "test-guest: ready"
expect "typed line echoed" "$out" "test-guest: echo: hello from the console"
expect "detached" "$out" "Detached from node 3."
# The journal kept the same serial output meanwhile.
journal_has "test-guest: echo: hello from the console" -u coreos-vm@03.service "${since[@]}" ||
    fail "the journal lacks what the console showed"

log "one console at a time; a stopped node has none"
first=$TESTBED_WORK/first-console.typescript
{ sleep 8; printf '\035'; } |
    tb script --quiet --flush --command "coreos-cluster console 1" /dev/null > "$first" 2>&1 &
first_pid=$!
for _ in $(seq 100); do grep -q "press Ctrl-]" "$first" 2>/dev/null && break; sleep 0.1; done
if second=$(tb coreos-cluster console 1 </dev/null 2>&1); then fail "a second console attached: $second"; fi
expect "second console refused" "$second" "another console is attached to node 1"
wait "$first_pid" || fail "first console: $(cat "$first")"
expect "first console detached" "$(cat "$first")" "Detached from node 1."

log "machinectl poweroff: the guest gets the ACPI power button and powers off"
since=(--since "@$(date +%s)")
tb machinectl poweroff coreos-vm-02
for _ in $(seq 300); do
    [ "$(tb systemctl is-active coreos-vm@02.service || true)" = inactive ] && break
    sleep 0.1
done
state=$(tb systemctl is-active coreos-vm@02.service || true)
[ "$state" = inactive ] || fail "coreos-vm@02 is $state after machinectl poweroff"
journal_has "test-guest: power button pressed, powering off" -u coreos-vm@02.service "${since[@]}" ||
    fail "no power button line from node 2"
[ "$(tb systemctl show -p NRestarts --value coreos-vm@02.service)" = 0 ] ||
    fail "a powered-off node was restarted"
wait_machines "coreos-vm-01 vm
coreos-vm-03 vm"
[ "$(complete_words coreos-cluster logs "")" = "1 3" ] || fail "after poweroff, logs completes to: $(complete_words coreos-cluster logs "")"
if out=$(tb coreos-cluster console 2 </dev/null 2>&1); then fail "console on a stopped node: $out"; fi
expect "stopped node refused" "$out" "node 2 is not running"

log "SIGKILL of a VM's QEMU: systemd restarts it and machined lists it again"
since=(--since "@$(date +%s)")
old_leader=$(tb systemctl show -p MainPID --value coreos-vm@01.service)
kill_qemu_wait_restart 01
wait_guest_ready 01 "${since[@]}"
wait_machines "coreos-vm-01 vm
coreos-vm-03 vm"
new_leader=$(tb systemctl show -p MainPID --value coreos-vm@01.service)
[ "$new_leader" != "$old_leader" ] || fail "leader unchanged after restart"
expect "new leader registered" "$(tb machinectl show coreos-vm-01)" "Leader=$new_leader"
json=$(tb coreos-cluster status --json)
python3 - "$json" <<'EOF'
import json, sys
s = json.loads(sys.argv[1])
nodes = {n["node"]: n for n in s["nodes"]}
assert nodes[1]["restarts"] == 1 and nodes[1]["uptime_sec"] < 60, nodes[1]
assert nodes[3]["restarts"] == 0 and nodes[3]["uptime_sec"] >= 1, nodes[3]
assert nodes[2]["uptime_sec"] is None, nodes[2]
EOF
expect "status shows uptime and restarts" "$(tb coreos-cluster status)" "UPTIME    RESTARTS"

log "machinectl terminate stops the node's unit"
tb machinectl terminate coreos-vm-03
for _ in $(seq 300); do
    [ "$(tb systemctl is-active coreos-vm@03.service || true)" = inactive ] && break
    sleep 0.1
done
[ "$(tb systemctl is-active coreos-vm@03.service || true)" = inactive ] || fail "coreos-vm@03 still running"
wait_machines "coreos-vm-01 vm"

log "stopping the cluster leaves no machine registered"
tb systemctl stop coreos-cluster@3.service
wait_machines ""
leftover=$(tb pgrep -u coreos-cluster -a || true)
[ -z "$leftover" ] || fail "processes of the service user left: $leftover"

log "PASS"
