#!/bin/bash
# End to end, bridged mode: the classic recipe's topology. The bridge enslaves
# an uplink to a "LAN" (a network namespace in the test bed) whose own DHCP
# server (dnsmasq) hands out addresses, next-server and pxelinux.0; the nodes
# boot pxelinux over TFTP from our own TFTP server (tftp-hpa's in.tftpd in
# coreos-cluster-tftp.service), and find each other through a
# self-hosted etcd v2 discovery endpoint on the LAN.
# `systemctl start coreos-cluster@3` → the registry lists 3 members, put/get works.
set -euo pipefail
source "$(dirname "$0")/../lib/testbed.sh"
testbed_reexec_private "$0" "$@"
trap testbed_shutdown EXIT

testbed_make_guest_root 512 10
r=$TESTBED_ROOT
testbed_syslinux_layout
cat > "$r/etc/coreos-cluster/cluster.toml.d/50-bridged.toml" <<EOF
[network]
mode = "bridged"
bridge = "br0"
uplink = "cc-uplink"
bridge-mac = "52:54:00:fe:00:01"

[discovery]
mode = "etcd"
url = "http://192.168.77.2:2379"
EOF
testbed_boot multi-user.target

log "the LAN: a namespace with dnsmasq (DHCP, next-server, pxelinux.0) and etcd"
tb ip netns add lan
tb ip link add cc-uplink type veth peer name lan0
tb ip link set lan0 netns lan
tb ip -n lan addr add 192.168.77.2/24 dev lan0
tb ip -n lan link set lan0 up
tb ip -n lan link set lo up
tb systemd-run --quiet --unit=lan-dhcp ip netns exec lan dnsmasq --keep-in-foreground \
    --port=0 --interface=lan0 --bind-interfaces --dhcp-leasefile=/run/lan-dnsmasq.leases \
    --dhcp-range=192.168.77.100,192.168.77.150,255.255.255.0,1h \
    --dhcp-host=52:54:00:fe:00:01,192.168.77.1 --dhcp-boot=pxelinux.0,,192.168.77.1 --log-dhcp
tb systemd-run --quiet --unit=lan-etcd ip netns exec lan etcd --name lan-etcd \
    --data-dir /run/lan-etcd --enable-v2 \
    --listen-client-urls http://192.168.77.2:2379 --advertise-client-urls http://192.168.77.2:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster lan-etcd=http://127.0.0.1:2380

log "systemctl start coreos-cluster@3 (bridged, pxelinux over TFTP, etcd discovery)"
start=$(date +%s%N)
tb systemctl start coreos-cluster@3.service || {
    tb journalctl --no-pager -o cat -u coreos-cluster@3 -u coreos-cluster-http -u coreos-cluster-tftp -u systemd-networkd | tail -30
    fail "start"
}
bridge_ip=$(tb ip -4 -o addr show br0 | awk '{print $4}')
[ "$bridge_ip" = 192.168.77.1/24 ] || fail "bridge address from the LAN's DHCP: $bridge_ip"
discovery=$(tb cat /run/coreos-cluster/discovery-url)
[[ $discovery =~ ^http://192\.168\.77\.2:2379/v2/keys/_etcd/registry/[0-9a-f]{32}$ ]] || fail "discovery: $discovery"

registry_members() {
    tb curl -sf "$discovery" | python3 -c '
import json, sys
nodes = json.load(sys.stdin)["node"].get("nodes", [])
print(len([n for n in nodes if not n["key"].endswith("/_config")]))'
}
members=0
for _ in $(seq 240); do
    members=$(registry_members 2>/dev/null || echo 0)
    [ "$members" = 3 ] && break
    sleep 1
done
[ "$members" = 3 ] || {
    for i in 01 02 03; do tb journalctl -u "coreos-vm@$i" -o cat --no-pager | grep test-guest | tail -5 >&2; done
    fail "the discovery registry lists $members members"
}
log "the discovery registry lists 3 members, $(( ($(date +%s%N) - start) / 1000000 )) ms after start"

# Addresses came from the LAN's DHCP server; status finds them in the neighbour table.
ips=()
for _ in $(seq 120); do
    json=$(tb coreos-cluster status --json)
    mapfile -t ips < <(python3 -c '
import json, sys
s = json.loads(sys.argv[1])
if all(n["etcd_healthy"] for n in s["nodes"]) and len(s["nodes"]) == 3:
    print("\n".join(n["ip"] for n in s["nodes"]))' "$json")
    [ "${#ips[@]}" = 3 ] && break
    sleep 1
done
[ "${#ips[@]}" = 3 ] || fail "status does not show 3 healthy nodes:\n$json"
for ip in "${ips[@]}"; do
    [[ $ip =~ ^192\.168\.77\.1[0-5][0-9]$ ]] || fail "node address $ip is not from the LAN's pool"
done
tb env ETCDCTL_API=3 etcdctl --endpoints "http://${ips[0]}:2379" put classic "recipe" >/dev/null
got=$(tb env ETCDCTL_API=3 etcdctl --endpoints "http://${ips[2]}:2379" get --print-value-only classic)
[ "$got" = recipe ] || fail "get on node 3 returned '$got'"
grep -q "DHCPACK(lan0).*52:54:00:12:34:01" <<<"$(tb journalctl -u lan-dhcp -o cat --no-pager)" ||
    fail "node 1 was not served by the LAN's DHCP server"
tb test -f /srv/coreos-cluster/tftp/pxelinux.cfg/default || fail "no pxelinux config"
# Our own TFTP server served the boot loader to the nodes (its --verbose log).
tftp_log=$(tb journalctl -u coreos-cluster-tftp.service -o cat --no-pager)
grep -q "RRQ from 192\.168\.77\.1[0-5][0-9] filename pxelinux.0" <<<"$tftp_log" ||
    fail "coreos-cluster-tftp did not serve pxelinux.0:\n$tftp_log"
# nginx answers only the bridge's LAN, on the bridge's address and its port.
nginx_conf=$(tb cat /run/coreos-cluster-http/nginx.conf)
grep -q "listen 192.168.77.1:8777;" <<<"$nginx_conf" || fail "nginx listen:\n$nginx_conf"
grep -q "allow 192.168.77.0/24;" <<<"$nginx_conf" || fail "nginx allow:\n$nginx_conf"
# The cloud-config is not world-readable.
perms=$(tb stat -c '%a %G' /srv/coreos-cluster/http/coreos-cluster/cloud-config.yaml)
[ "$perms" = "640 coreos-cluster" ] || fail "cloud-config mode and group: $perms"
tb coreos-cluster status

tb systemctl stop coreos-cluster@3.service
[ -z "$(tb pgrep -u coreos-cluster -f qemu-system || true)" ] || fail "QEMU left running"
log "PASS"
