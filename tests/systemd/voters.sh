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

log "scenario 1: systemctl start coreos-cluster@5, 3 voters"
start=$(date +%s%N)
tb systemctl start coreos-cluster@5.service
wait_cluster_healthy 300 5
log "5 nodes healthy $(( ($(date +%s%N) - start) / 1000000 )) ms after systemctl start"
expect "prepare said the voters" "$(tb journalctl -u coreos-cluster@5 -o cat --no-pager)" \
    "etcd: 3 of 5 nodes vote, 2 proxy to them"
for i in 4 5; do
    expect "node $i is a proxy to nodes 1-3" "$(tb journalctl -u "coreos-vm@0$i" -o cat --no-pager)" \
        "test-guest: proxy on 0.0.0.0:2379 to the members http://10.77.0.11:2379,http://10.77.0.12:2379,http://10.77.0.13:2379"
done
etcdctl_on 10.77.0.15 put greeting "put on node 5" >/dev/null
got=$(etcdctl_on 10.77.0.11 get --print-value-only greeting)
[ "$got" = "put on node 5" ] || fail "get on node 1 of a put on proxy 5: '$got'"
[ "$(roles)" = "1:member 2:member 3:member 4:proxy 5:proxy" ] || fail "roles: $(roles)"
status=$(tb coreos-cluster status)
expect "status names the members" "$status" "etcd:      3 members (10.77.0.11, 10.77.0.12, 10.77.0.13), 3 healthy"
expect "status shows a proxy's role" "$status" " proxy "
# The classic recipe's "Confirm Functionality", on a proxy and on a member.
expect "v2 cluster-health on proxy 4" "$(v2ctl 10.77.0.14 cluster-health)" "cluster is healthy"
v2ctl 10.77.0.14 mk /testing testdata >/dev/null
[ "$(v2ctl 10.77.0.12 get /testing)" = testdata ] || fail "v2 get on member 2 of a mk on proxy 4"
expect "v2 keys over HTTP on proxy 5" "$(tb curl -sL http://10.77.0.15:2379/v2/keys/testing)" '"value":"testdata"'
expect "v2 keys over HTTP on member 1" "$(tb curl -sL http://10.77.0.11:2379/v2/keys/testing)" '"value":"testdata"'

log "scenario 2: SIGKILL node 4 (a proxy): it comes back as a proxy"
ids=$(member_ids)
since=(--since "@$(date +%s)")
kill_qemu_wait_restart 04
journal_wait "test-guest: etcd healthy" 180 -u coreos-vm@04 "${since[@]}" || fail "proxy 4 did not come back"
expect "node 4 is a proxy again" "$(tb journalctl -u coreos-vm@04 -o cat --no-pager "${since[@]}")" "test-guest: proxy on "
[ "$(etcdctl_on 10.77.0.14 get --print-value-only greeting)" = "put on node 5" ] || fail "get through proxy 4"
[ "$(member_ids)" = "$ids" ] || fail "a proxy's restart changed the members: $ids -> $(member_ids)"

log "scenario 3: SIGKILL node 2 (a voter): it rejoins"
since=(--since "@$(date +%s)")
kill_qemu_wait_restart 02
journal_wait "test-guest: etcd healthy" 180 -u coreos-vm@02 "${since[@]}" || fail "node 2 did not come back"
expect "node 2 rejoined" "$(tb journalctl -u coreos-vm@02 -o cat --no-pager "${since[@]}")" "test-guest: rejoining: member"
wait_cluster_healthy 120 5
[ "$(grep -c ', started, ' <<<"$(etcdctl_on 10.77.0.15 member list)")" = 3 ] || fail "members after the rejoin"
[ "$(etcdctl_on 10.77.0.12 get --print-value-only greeting)" = "put on node 5" ] || fail "node 2 lacks the data"
[ "$(roles)" = "1:member 2:member 3:member 4:proxy 5:proxy" ] || fail "roles after the rejoin: $(roles)"
log "PASS"
