#!/bin/bash
# End to end on a host that already runs servers of its own, like an Arch
# host with nginx: an unrelated nginx on 0.0.0.0:80 and an unrelated in.tftpd
# on 0.0.0.0:69 run in the test bed, started by this test.
# 1. `systemctl start coreos-cluster@3` works with the default settings, and
#    our own nginx (port 8777) served the boot files, not the host's.
# 2. With the test bed's br_netfilter settings on, no node-to-node connection
#    is connection-tracked and rewritten to the host's address, and a node
#    reaches an address outside the subnet through NAT (a namespace standing
#    in for the uplink, whose HTTP server sees the host's address).
# 3. With [http] port set to the taken port 80, the start fails at once with
#    one message naming the address, port, holder and key, and leaves no VM
#    or server of ours running.
set -euo pipefail
source "$(dirname "$0")/../lib/testbed.sh"
testbed_reexec_private "$0" "$@"
trap testbed_shutdown EXIT

WAN_HOST=198.51.100.2
WAN_URL=http://$WAN_HOST:8080/from-node
testbed_make_guest_root 512 10
r=$TESTBED_ROOT
# The test guest fetches this URL once it is up: node to outside the subnet.
printf '[boot]\nkernel-args = ["test-guest.fetch=%s"]\n' "$WAN_URL" \
    > "$r/etc/coreos-cluster/cluster.toml.d/50-probe.toml"
testbed_boot multi-user.target

# First, so the test bed has an address besides loopback: in.tftpd resolves
# its --address with AI_ADDRCONFIG.
log "the uplink stand-in: a namespace with an HTTP server at $WAN_HOST"
tb ip netns add wan
tb ip link add cc-wan type veth peer name wan0
tb ip link set wan0 netns wan
tb ip addr add 198.51.100.1/24 dev cc-wan
tb ip link set cc-wan up
tb ip -n wan addr add "$WAN_HOST/24" dev wan0
tb ip -n wan link set wan0 up
tb mkdir -p /run/wan-www
tb touch /run/wan-www/from-node
tb systemd-run --quiet --unit=wan-http -p WorkingDirectory=/run/wan-www \
    ip netns exec wan python3 -m http.server --bind "$WAN_HOST" 8080

log "the host's own servers: nginx on 0.0.0.0:80, in.tftpd on 0.0.0.0:69"
mkdir -p "$r/srv/host-www" "$r/srv/host-tftp"
echo "the host's own website" > "$r/srv/host-www/index.html"
cat > "$r/etc/host-nginx.conf" <<'CONF'
daemon off;
pid /run/host-nginx.pid;
error_log stderr;
events {}
http {
    access_log /run/host-nginx-access.log;
    server { listen 80; root /srv/host-www; }
}
CONF
tb systemd-run --quiet --unit=host-nginx /usr/sbin/nginx -c /etc/host-nginx.conf
tb systemd-run --quiet --unit=host-tftpd /usr/sbin/in.tftpd --listen --foreground \
    --address 0.0.0.0:69 --secure /srv/host-tftp
for _ in $(seq 50); do
    listening=$(tb ss -Hltnu)
    grep -q '0.0.0.0:80 ' <<<"$listening" && grep -q '0.0.0.0:69 ' <<<"$listening" && break
    sleep 0.1
done
grep -q '0.0.0.0:80 ' <<<"$listening" || fail "the host's nginx does not listen on 0.0.0.0:80:\n$listening"
grep -q '0.0.0.0:69 ' <<<"$listening" || fail "the host's in.tftpd does not listen on 0.0.0.0:69:\n$listening"

log "br_netfilter in the test bed"
nf_call=$(tb cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo absent)
if [ "$nf_call" = 1 ]; then
    log "bridge-nf-call-iptables = 1: bridged packets pass netfilter"
else
    # Loading br_netfilter would change the whole machine: not done here.
    log "NOTE: bridge-nf-call-iptables is $nf_call (br_netfilter not loaded); the NAT check runs without it"
fi

log "1. systemctl start coreos-cluster@3 with the default settings"
start=$(date +%s%N)
tb systemctl start coreos-cluster@3.service || {
    tb journalctl --no-pager -o cat -u coreos-cluster@3 -u coreos-cluster-http -u coreos-cluster-network | tail -30
    fail "start"
}
log "started in $(( ($(date +%s%N) - start) / 1000000 )) ms"
ours=$(tb ss -Hltnp 'sport = :8777')
grep -q '10.77.0.1:8777 .*nginx' <<<"$ours" || fail "our nginx does not listen on 10.77.0.1:8777:\n$ours"
boot_url=$(tb grep '^BootFilename=' /run/systemd/network/50-coreos-cluster-bridge.network)
[ "$boot_url" = BootFilename=http://10.77.0.1:8777/coreos-cluster/boot.ipxe ] || fail "DHCP boot file: $boot_url"

ips=()
for _ in $(seq 180); do
    json=$(tb coreos-cluster status --json)
    mapfile -t ips < <(python3 -c '
import json, sys
s = json.loads(sys.argv[1])
if len(s["nodes"]) == 3 and all(n["etcd_healthy"] for n in s["nodes"]):
    print("\n".join(n["ip"] for n in s["nodes"]))' "$json")
    [ "${#ips[@]}" = 3 ] && break
    sleep 1
done
[ "${#ips[@]}" = 3 ] || fail "status does not show 3 healthy nodes:\n$json"
log "etcd healthy on ${ips[*]}, $(( ($(date +%s%N) - start) / 1000000 )) ms after start"
tb env ETCDCTL_API=3 etcdctl --endpoints "http://${ips[0]}:2379" put arch host >/dev/null
got=$(tb env ETCDCTL_API=3 etcdctl --endpoints "http://${ips[2]}:2379" get --print-value-only arch)
[ "$got" = host ] || fail "get on node 3 returned '$got'"

# Our nginx served the boot files (its access log is the journal, tag
# coreos_cluster_http); the host's nginx saw none of it.
for file in boot.ipxe vmlinuz initrd cloud-config.yaml; do
    journal_has "10.77.0.11 .*GET /coreos-cluster/$file HTTP" -t coreos_cluster_http ||
        fail "our nginx did not serve $file to node 1"
done
host_log=$(tb cat /run/host-nginx-access.log)
! grep -q coreos-cluster <<<"$host_log" || fail "the host's nginx served cluster files:\n$host_log"
[ "$(tb curl -sf http://10.77.0.1/)" = "the host's own website" ] || fail "the host's nginx stopped answering"
perms=$(tb stat -c '%a %G' /srv/coreos-cluster/http/coreos-cluster/cloud-config.yaml)
[ "$perms" = "640 coreos-cluster" ] || fail "cloud-config mode and group: $perms"

log "2. conntrack: node-to-node traffic is not NATed, traffic out of the subnet is"
tb nft list table ip coreos-cluster >/dev/null || fail "our nftables table is not loaded"
# etcd's peers talk all the time: a put makes sure they just did.
tb env ETCDCTL_API=3 etcdctl --endpoints "http://${ips[1]}:2379" put again yes >/dev/null
tracked=$(tb conntrack -L 2>/dev/null)
node_to_node=$(awk '{
    src = ""; dst = ""
    for (i = 1; i <= NF; i++) {
        if (src == "" && $i ~ /^src=/) src = substr($i, 5)
        else if (dst == "" && $i ~ /^dst=/) dst = substr($i, 5)
    }
    if (src ~ /^10\.77\.0\.1[0-9]$/ && dst ~ /^10\.77\.0\.1[0-9]$/) print
}' <<<"$tracked")
[ -z "$node_to_node" ] || fail "node-to-node connections are tracked (and NATed):\n$node_to_node"
rewritten=$(grep -E 'src=10\.77\.0\.1[0-9] dst=10\.77\.0\.1[0-9] .*src=10\.77\.0\.1[0-9] dst=10\.77\.0\.1 ' <<<"$tracked" || true)
[ -z "$rewritten" ] || fail "node-to-node connections rewritten to the host:\n$rewritten"
log "no node-to-node connection tracked ($(wc -l <<<"$tracked") entries in the table)"

journal_wait "test-guest: fetched $WAN_URL" 60 -u coreos-vm@01.service ||
    fail "node 1 did not reach $WAN_URL:\n$(tb journalctl -u coreos-vm@01 -o cat --no-pager | grep test-guest | tail -5)"
wan_log=$(tb journalctl -u wan-http -o cat --no-pager)
grep -q '^198\.51\.100\.1 .*GET /from-node' <<<"$wan_log" ||
    fail "the server outside did not see the host's address:\n$wan_log"
! grep -q '^10\.77\.0\.' <<<"$wan_log" || fail "a node's own address left the subnet:\n$wan_log"
grep -qE 'src=10\.77\.0\.11 dst=198\.51\.100\.2 .*dst=198\.51\.100\.1 ' <<<"$(tb conntrack -L 2>/dev/null)" ||
    fail "node 1's connection out is not NATed to the host in conntrack"
log "node 1 reached $WAN_HOST as 198.51.100.1 (NAT)"

tb systemctl stop coreos-cluster@3.service coreos-cluster-http.service

log "3. http.port = 80, taken by the host's nginx"
printf '[http]\nport = 80\n' > "$r/etc/coreos-cluster/cluster.toml.d/60-port-80.toml"
tb systemctl daemon-reload
since="@$(date +%s)"
start=$(date +%s%N)
if tb systemctl start coreos-cluster@3.service 2>/dev/null; then
    fail "the cluster started on a taken port"
fi
took=$(( ($(date +%s%N) - start) / 1000000 ))
log "the start failed after $took ms"
[ "$took" -lt 10000 ] || fail "the failing start took $took ms"
want="cannot listen on 10.77.0.1:80/tcp: port 80 is already in use by nginx (pid [0-9]*); stop that server or choose another port with http.port in /etc/coreos-cluster/cluster.toml"
journal_has "$want" -u coreos-cluster-http.service --since "$since" ||
    fail "no clear message:\n$(tb journalctl -u coreos-cluster-http -o cat --no-pager --since "$since")"
holder=$(tb journalctl -u coreos-cluster-http -o cat --no-pager --since "$since" | grep -o 'nginx (pid [0-9]*)' | head -1)
host_pid=$(tb systemctl show -P MainPID host-nginx.service)
[ "$holder" = "nginx (pid $host_pid)" ] || fail "holder named as '$holder', the host's nginx is pid $host_pid"
for unit in coreos-cluster@3 coreos-cluster-http coreos-vm@01 coreos-vm@02 coreos-vm@03; do
    state=$(tb systemctl is-active "$unit.service" || true)
    case $state in inactive|failed) ;; *) fail "$unit is $state after the failed start" ;; esac
done
[ -z "$(tb pgrep -u coreos-cluster || true)" ] || fail "a process of ours is left: $(tb pgrep -a -u coreos-cluster)"
log "message: $(tb journalctl -u coreos-cluster-http -o cat --no-pager --since "$since" | grep 'cannot listen' | head -1)"
log "PASS"
