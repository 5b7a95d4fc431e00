#!/bin/bash
# The guest's etcd start script (templates/guest/etcd-start.sh) against real
# etcd processes on loopback (127.0.0.21-23, high ports), under the shells
# that run it: busybox ash (the test guest) and bash (Flatcar).
#   1. a fresh cluster: no node rejoins; the cluster identity is recorded;
#   2. a member killed and its data wiped: it rejoins (remove, add, existing);
#   3. a leftover cluster of another start (another token) on the same
#      addresses: the node does not rejoin and leaves that cluster alone;
#   4. voters and proxies, static: nodes 1-3 vote, 4 and 5 proxy (5 started
#      before any member: it waits); put through a proxy, get on a member,
#      the v2 API through a proxy; a killed proxy comes back as a proxy;
#   5. voters and proxies, discovery (a token of size 3 on a self-hosted
#      registry): 4 nodes at once, the first 3 registrants vote, the 4th
#      proxies; a 5th that finds the registry full proxies at once.
# Needs etcd-server, etcd-client and busybox-static. Not root.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/tests/lib/common.sh" # wait_for; fail as below
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
# The self-hosted discovery registry (an etcd v2 keys endpoint) of scenario 5.
registry_port=$((client_port + 2))
registry=http://127.0.0.29:$registry_port/v2/keys/_etcd/registry

new_token() { echo "coreos-cluster-$1-$(head -c8 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }

# start_node SHELL N TOKEN: the script as its own process group, env as the
# unit gives it, nodes 1-3 in the initial cluster. A TOKEN that is a URL is a
# discovery URL instead.
start_node() {
    local ip bootstrap
    ip=$(addr "$2")
    case $3 in
    http://*) bootstrap=(ETCD_DISCOVERY="$3") ;;
    *) bootstrap=(ETCD_INITIAL_CLUSTER="$initial_cluster" ETCD_INITIAL_CLUSTER_STATE=new
        ETCD_INITIAL_CLUSTER_TOKEN="$3") ;;
    esac
    # setsid in a background job does not fork: $! is the new group's id.
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        ETCD_NAME="$ip" ETCD_DATA_DIR="$work/data$2" "${bootstrap[@]}" ETCD_ENABLE_V2=true \
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

all_healthy() { # [NODE...], nodes 1-3 if none
    local n nodes=("$@")
    [ $# -gt 0 ] || nodes=(1 2 3)
    for n in "${nodes[@]}"; do ctl "$n" endpoint health || return 1; done
}
started_members() { ctl "${1:-1}" member list | grep -c ', started, '; }
member_names() { ctl "$1" member list | awk -F', ' '{print $3}' | sort | tr '\n' ' '; }
identity_is() { [ "$(ctl 1 get --print-value-only /coreos-cluster/identity)" = "$1" ]; }

run_scenarios() {
    local shell=$1 token_a token_b
    token_a=$(new_token 3)
    token_b=$(new_token 3)
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

    echo "== $shell: 4. static: nodes 1-3 vote, 4 and 5 proxy"
    local token_c ids
    token_c=$(new_token 5)
    rm -rf "$work"/data* "$work"/*.log
    start_node "$shell" 5 "$token_c"
    wait_for 10 "node 5's proxy" grep -q 'proxy on ' "$work/node5.log"
    sleep 2
    for n in 1 2 3 4; do start_node "$shell" "$n" "$token_c"; done
    wait_for 60 "a healthy cluster through every node" all_healthy 1 2 3 4 5
    [ "$(member_names 5)" = "$(addr 1) $(addr 2) $(addr 3) " ] || fail "members through proxy 5: $(member_names 5)"
    for n in 4 5; do
        grep -q "proxy on $(addr "$n"):$client_port to the members $(client 1),$(client 2),$(client 3)\$" "$work/node$n.log" ||
            fail "node $n is not a proxy to the members"
        [ ! -d "$work/data$n" ] || fail "proxy $n made a data directory"
    done
    ctl 5 put /proxy/key "via node 5" >/dev/null
    [ "$(ctl 1 get --print-value-only /proxy/key)" = "via node 5" ] || fail "put on proxy 5, get on node 1"
    # The classic recipe's v2 checks, through a proxy.
    ETCDCTL_API=2 etcdctl --endpoints="$(client 4)" mk /testing testdata >/dev/null || fail "v2 mk via proxy 4"
    [ "$(ETCDCTL_API=2 etcdctl --endpoints="$(client 2)" get /testing)" = testdata ] || fail "v2 get on node 2"
    grep -q '"value":"testdata"' <<<"$(curl -sL "$(client 5)/v2/keys/testing")" || fail "v2 curl via proxy 5"
    grep -q 'cluster is healthy' <<<"$(ETCDCTL_API=2 etcdctl --endpoints="$(client 5)" cluster-health)" ||
        fail "v2 cluster-health via proxy 5"
    ids=$(ctl 1 member list | cut -d, -f1 | sort | tr '\n' ' ')
    kill_node 4
    : >"$work/node4.log"
    start_node "$shell" 4 "$token_c"
    wait_for 20 "proxy 4 back" ctl 4 endpoint health
    grep -q 'proxy on ' "$work/node4.log" || fail "node 4 came back as something else than a proxy"
    [ "$(ctl 1 member list | cut -d, -f1 | sort | tr '\n' ' ')" = "$ids" ] || fail "a proxy's restart changed the members"
    for n in 1 2 3 4 5; do kill_node "$n"; done

    echo "== $shell: 5. discovery: the first 3 registrants vote, the others proxy"
    local url voters proxies
    url=$registry/$(new_token 5)
    curl -fsS -X PUT "$url/_config/size" -d value=3 >/dev/null || fail "making the discovery token"
    rm -rf "$work"/data* "$work"/*.log
    for n in 1 2 3 4; do start_node "$shell" "$n" "$url"; done
    wait_for 60 "a healthy cluster through nodes 1-4" all_healthy 1 2 3 4
    start_node "$shell" 5 "$url"
    wait_for 20 "node 5 answering" ctl 5 endpoint health
    voters=$(grep -l 'starting as a new member' "$work"/node*.log | wc -l)
    proxies=$(grep -l 'proxy on ' "$work"/node*.log | wc -l)
    [ "$voters/$proxies" = 4/2 ] || [ "$voters/$proxies" = 3/2 ] || fail "voters/proxies: $voters/$proxies"
    ! grep -q 'starting as a new member' "$work/node5.log" || fail "node 5 tried to join a full registry"
    [ "$(started_members 5)" = 3 ] || fail "members through proxy 5: $(ctl 5 member list)"
    # The members are the first 3 registrants, as etcd decides.
    local first3
    first3=$(curl -fsS "$url" | tr '{' '\n' | sed -n 's/.*"value":"\([^=]*\)=.*"createdIndex":\([0-9]*\).*/\2 \1/p' |
        sort -n | head -3 | cut -d' ' -f2 | sort | tr '\n' ' ')
    [ "$(member_names 5)" = "$first3" ] || fail "members $(member_names 5), first registrants $first3"
    ctl 5 put /proxy/key "via node 5" >/dev/null
    for n in 1 2 3 4; do
        [ "$(ctl "$n" get --print-value-only /proxy/key)" = "via node 5" ] || fail "get on node $n"
    done
    for n in 1 2 3 4 5; do kill_node "$n"; done
    echo "ok: $shell"
}

# The registry of scenario 5: its own process group, like the nodes.
setsid etcd --name registry --data-dir "$work/registry" --enable-v2 \
    --listen-client-urls "http://127.0.0.29:$registry_port" \
    --advertise-client-urls "http://127.0.0.29:$registry_port" \
    --listen-peer-urls "http://127.0.0.29:$((registry_port + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.29:$((registry_port + 1))" \
    --initial-cluster "registry=http://127.0.0.29:$((registry_port + 1))" >"$work/registry.out" 2>&1 &
pids[registry]=$!
disown
wait_for 20 "the discovery registry" curl -fsS "http://127.0.0.29:$registry_port/health"

run_scenarios "busybox sh"
run_scenarios bash
echo "PASS: etcd start script: fresh cluster, rejoin after data loss, no misfire on a leftover cluster, proxies to the voters (static and discovery)"
