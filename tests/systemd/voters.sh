#!/bin/bash
# Voters and proxies in the test bed: `systemctl start coreos-cluster@5` with
# etcd.members = 3 and etcd.v2-api = true (static discovery, iPXE, the test
# guest): nodes 1-3 vote, 4 and 5 run etcd gateway.
#   1. put on node 5 (a proxy), get on node 1; status --json shows the roles
#      and the members; the classic recipe's v2 checks on a proxy and a member
#   2. SIGKILL node 4 (a proxy): it comes back as a proxy, the members unchanged
#   3. SIGKILL node 2 (a voter): it rejoins, through its peers
set -euo pipefail
source "$(dirname "$0")/../lib/as-root.sh"
source "$(dirname "$0")/../lib/testbed.sh"
testbed_reexec_private "$0" "$@"
trap testbed_shutdown EXIT

testbed_make_guest_root 384 10
cat > "$TESTBED_ROOT/etc/coreos-cluster/cluster.toml.d/50-voters.toml" <<'TOML'
[etcd]
members = 3
v2-api = true
TOML
testbed_boot multi-user.target

# The roles as status --json has them: "1:member 2:member ...".
roles() {
    python3 -c 'import json,sys; print(" ".join("%d:%s" % (n["node"], n["etcd_role"]) for n in json.loads(sys.argv[1])["nodes"]))' \
        "$(tb coreos-cluster status --json)"
}
member_ids() { etcdctl_on 10.77.0.11 member list | cut -d, -f1 | sort | tr '\n' ' '; }
v2ctl() { # NODE_IP ARGS...: the classic recipe's etcdctl (v2 API)
    local ip=$1
    shift
    tb env ETCDCTL_API=2 etcdctl --endpoints "http://$ip:2379" "$@"
}

v2_healthy() { grep -q "cluster is healthy" <<<"$(v2ctl "$1" cluster-health)"; }
roles_are() { [ "$(roles)" = "$1" ]; }
status_says() { grep -qF -- "$1" <<<"$(tb coreos-cluster status)"; }
v2_get_is() { [ "$(v2ctl "$1" get "$2")" = "$3" ]; }                             # NODE_IP KEY VALUE
v2_http_is() { grep -qF "\"value\":\"$3\"" <<<"$(tb curl -sL "http://$1:2379/v2/keys/$2")"; } # NODE_IP KEY VALUE

log "scenario 1: systemctl start coreos-cluster@5, 3 voters"
start=$(date +%s%N)
tb systemctl start coreos-cluster@5.service
wait_cluster_healthy 300 5
log "5 nodes healthy $(( ($(date +%s%N) - start) / 1000000 )) ms after systemctl start"
expect "prepare said the voters" "$(tb journalctl -u coreos-cluster@5 -o cat --no-pager)" \
    "etcd: 3 of 5 nodes vote, 2 proxy to them"
# The test guest relays the start script's lines from its log (tail -f polls
# each second), so such a line may reach the console after "etcd healthy".
for i in 4 5; do
    journal_wait "test-guest: proxy on 0.0.0.0:2379 to the members http://10.77.0.11:2379,http://10.77.0.12:2379,http://10.77.0.13:2379" \
        10 -u "coreos-vm@0$i" || fail "node $i is not a proxy to nodes 1-3"
done
etcdctl_on 10.77.0.15 put greeting "put on node 5" >/dev/null
got=$(etcdctl_on 10.77.0.11 get --print-value-only greeting)
[ "$got" = "put on node 5" ] || fail "get on node 1 of a put on proxy 5: '$got'"
# Each status probes every node afresh (2 s bound), so a probe that a busy
# machine delays shows as "no role": ask again rather than fail at once.
wait_for 30 "roles 1-3 member, 4-5 proxy" roles_are "1:member 2:member 3:member 4:proxy 5:proxy"
wait_for 30 "status naming 3 healthy members" status_says "etcd:      3 members (10.77.0.11, 10.77.0.12, 10.77.0.13), 3 healthy"
expect "status shows a proxy's role" "$(tb coreos-cluster status)" " proxy "
# The classic recipe's "Confirm Functionality", on a proxy and on a member.
wait_for 20 "v2 cluster-health on proxy 4" v2_healthy 10.77.0.14
v2ctl 10.77.0.14 mk /testing testdata >/dev/null
# A v2 read is served from the answering member's own store (v3 reads are
# linearizable), so a member may trail the write by a moment.
wait_for 10 "v2 get on member 2 of a mk on proxy 4" v2_get_is 10.77.0.12 /testing testdata
wait_for 10 "v2 keys over HTTP on proxy 5" v2_http_is 10.77.0.15 testing testdata
wait_for 10 "v2 keys over HTTP on member 1" v2_http_is 10.77.0.11 testing testdata

log "scenario 2: SIGKILL node 4 (a proxy): it comes back as a proxy"
ids=$(member_ids)
since=(--since "@$(date +%s)")
kill_qemu_wait_restart 04
journal_wait "test-guest: etcd healthy" 180 -u coreos-vm@04 "${since[@]}" || fail "proxy 4 did not come back"
journal_wait "test-guest: proxy on " 10 -u coreos-vm@04 "${since[@]}" || fail "node 4 is not a proxy again"
[ "$(etcdctl_on 10.77.0.14 get --print-value-only greeting)" = "put on node 5" ] || fail "get through proxy 4"
[ "$(member_ids)" = "$ids" ] || fail "a proxy's restart changed the members: $ids -> $(member_ids)"

log "scenario 3: SIGKILL node 2 (a voter): it rejoins"
since=(--since "@$(date +%s)")
kill_qemu_wait_restart 02
journal_wait "test-guest: etcd healthy" 180 -u coreos-vm@02 "${since[@]}" || fail "node 2 did not come back"
journal_wait "test-guest: rejoining: member" 10 -u coreos-vm@02 "${since[@]}" || fail "node 2 did not rejoin"
wait_cluster_healthy 120 5
[ "$(grep -c ', started, ' <<<"$(etcdctl_on 10.77.0.15 member list)")" = 3 ] || fail "members after the rejoin"
[ "$(etcdctl_on 10.77.0.12 get --print-value-only greeting)" = "put on node 5" ] || fail "node 2 lacks the data"
wait_for 30 "roles after the rejoin" roles_are "1:member 2:member 3:member 4:proxy 5:proxy"
log "PASS"
