#!/bin/bash
# The guest's etcd start script (templates/guest/etcd-start.sh) against real
# etcd processes on loopback (127.0.0.21-23, high ports), under the shells
# that run it: busybox ash (the test guest) and bash (Flatcar).
#   1. a fresh cluster: no node rejoins; the cluster identity is recorded;
#   2. a member killed and its data wiped: it rejoins (remove, add, existing);
#   3. a leftover cluster of another start (another token) on the same
#      addresses: the node does not rejoin and leaves that cluster alone.
# Needs etcd-server, etcd-client and busybox-static. Not root.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
script=$here/templates/guest/etcd-start.sh
for tool in etcd etcdctl busybox setsid; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool missing (tests/debian-packages.txt)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/cc-etcd-rejoin.XXXXXX)
client_port=$((21000 + RANDOM % 8000 * 2))
peer_port=$((client_port + 1))
declare -A pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$work"/*.log; do echo "--- $f" >&2; grep coreos-cluster-etcd: "$f" >&2 || true; done; exit 1; }
addr() { echo "127.0.0.2$1"; }
client() { echo "http://$(addr "$1"):$client_port"; }
ctl() { ETCDCTL_API=3 etcdctl --endpoints="$(client "$1")" --dial-timeout=2s --command-timeout=3s "${@:2}"; }
initial_cluster="$(addr 1)=http://$(addr 1):$peer_port,$(addr 2)=http://$(addr 2):$peer_port,$(addr 3)=http://$(addr 3):$peer_port"

# start_node SHELL N TOKEN: the script as its own process group, env as the unit gives it.
start_node() {
    local ip
    ip=$(addr "$2")
    # setsid in a background job does not fork: $! is the new group's id.
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        ETCD_NAME="$ip" ETCD_DATA_DIR="$work/data$2" \
        ETCD_INITIAL_CLUSTER="$initial_cluster" ETCD_INITIAL_CLUSTER_STATE=new \
        ETCD_INITIAL_CLUSTER_TOKEN="$3" \
        ETCD_ADVERTISE_CLIENT_URLS="http://$ip:$client_port" \
        ETCD_INITIAL_ADVERTISE_PEER_URLS="http://$ip:$peer_port" \
        ETCD_LISTEN_CLIENT_URLS="http://$ip:$client_port" \
        ETCD_LISTEN_PEER_URLS="http://$ip:$peer_port" \
        setsid $1 "$script" >>"$work/node$2.log" 2>&1 &
    pids[$2]=$!
    disown  # killed on purpose: no "Killed" notice
}

kill_node() {
    kill -KILL -- "-${pids[$1]}"
    while kill -0 -- "-${pids[$1]}" 2>/dev/null; do sleep 0.1; done
    unset "pids[$1]"
}

wait_for() { # wait_for SECONDS WHAT COMMAND...
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || fail "timed out waiting for $what"
        sleep 0.5
    done
}

all_healthy() { for n in 1 2 3; do ctl "$n" endpoint health || return 1; done; }
started_members() { ctl 1 member list | grep -c ', started, '; }
identity_is() { [ "$(ctl 1 get --print-value-only /coreos-cluster/identity)" = "$1" ]; }

run_scenarios() {
    local shell=$1 token_a token_b
    token_a=coreos-cluster-3-$(head -c8 /dev/urandom | od -An -tx1 | tr -d ' \n')
    token_b=coreos-cluster-3-$(head -c8 /dev/urandom | od -An -tx1 | tr -d ' \n')
    rm -rf "$work"/data* "$work"/*.log
    echo "== $shell: 1. fresh cluster"
    for n in 1 2 3; do start_node "$shell" "$n" "$token_a"; done
    wait_for 60 "a healthy fresh cluster" all_healthy
    wait_for 20 "the identity" identity_is "$token_a"
    [ "$(started_members)" = 3 ] || fail "fresh cluster: $(ctl 1 member list)"
    ! grep -q rejoining "$work"/node*.log || fail "a node of a fresh cluster rejoined"
    [ "$(grep -l 'starting as a new member' "$work"/node*.log | wc -l)" = 3 ] || fail "not all started as new"
    ctl 1 put /test/key "from node 1" >/dev/null

    echo "== $shell: 2. node 3 killed, data lost: rejoins"
    local before
    before=$(ctl 1 member list | awk -F', ' -v n="$(addr 3)" '$3 == n {print $1}')
    kill_node 3
    rm -rf "$work/data3"
    : >"$work/node3.log"
    start_node "$shell" 3 "$token_a"
    wait_for 60 "node 3 rejoined and healthy" ctl 3 endpoint health
    wait_for 30 "3 started members" test "$(started_members)" = 3
    grep -q "rejoining: member $before ($(addr 3))" "$work/node3.log" || fail "node 3 did not rejoin"
    [ "$(ctl 3 get --print-value-only /test/key)" = "from node 1" ] || fail "node 3 lacks the data"
    after=$(ctl 1 member list | awk -F', ' -v n="$(addr 3)" '$3 == n {print $1}')
    [ -n "$after" ] && [ "$after" != "$before" ] || fail "member not replaced ($before -> $after)"

    echo "== $shell: 3. a leftover cluster (another token) on the same addresses: no rejoin"
    local members
    kill_node 3
    rm -rf "$work/data3"
    : >"$work/node3.log"
    members=$(ctl 1 member list)
    start_node "$shell" 3 "$token_b"
    wait_for 30 "node 3's decision" grep -q 'starting as a new member' "$work/node3.log"
    grep -q "is of another cluster (identity $token_a)" "$work/node3.log" || fail "identity not compared"
    ! grep -q rejoining "$work/node3.log" || fail "node 3 rejoined a leftover cluster (the misfire)"
    sleep 3
    [ "$(ctl 1 member list)" = "$members" ] || fail "the leftover cluster's members were changed"
    ! ctl 3 get /test/key >/dev/null 2>&1 || fail "node 3 joined the leftover cluster"
    for n in 1 2 3; do kill_node "$n"; done
    echo "ok: $shell"
}

run_scenarios "busybox sh"
run_scenarios bash
echo "PASS: etcd start script: fresh cluster, rejoin after data loss, no misfire on a leftover cluster"
