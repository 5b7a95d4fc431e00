#!/bin/bash
# The whole boot path of isolated mode in a test bed, with nothing stood in:
# coreos-cluster-network.service writes the networkd files, networkd makes the
# bridge, the taps and serves DHCP + PXE; coreos-cluster-http.service is the
# real nginx; `systemctl start coreos-cluster@1` prepares and starts a QEMU VM
# (TCG) that network-boots the test guest, gets its static lease, fetches its
# cloud-config with its own address filled in and starts etcd. Once over iPXE
# and HTTP (the default), once over pxelinux and TFTP, once with QEMU loading
# the kernel itself (boot.method = "direct"). Prints the timings.
set -euo pipefail
source "$(dirname "$0")/../lib/testbed.sh"
testbed_reexec_private "$0" "$@"
trap testbed_shutdown EXIT

testbed_make_guest_root 512 5
r=$TESTBED_ROOT
cat > "$r/etc/coreos-cluster/cluster.toml" <<EOF
[cluster]
max-nodes = 4

[ksm]
enable = false
EOF

testbed_boot

# Realtime (µs) of the first journal line matching PATTERN.
journal_time() { # PATTERN [journalctl args]
    local pattern=$1
    shift
    tb journalctl -o short-unix --no-pager "$@" |
        awk -v p="$pattern" 'index($0, p) && !done {sub(/\./, "", $1); print $1; done = 1}'
}
ms_between() { echo $(( ($2 - $1) / 1000 )); }

log "network unit: networkd makes the bridge with its address and the taps"
tb systemctl start coreos-cluster-network.service
for _ in $(seq 50); do
    grep -q 10.77.0.1/24 <<<"$(tb ip -4 addr show coreos-br0 2>/dev/null)" && break
    sleep 0.1
done
expect "bridge address" "$(tb ip -4 addr show coreos-br0)" "inet 10.77.0.1/24"
taps=$(tb ip -d link show coreos-tap01)
expect "tap owned by the service user" "$taps" "tun type tap"
expect "tap on the bridge" "$taps" "master coreos-br0"
owner=$(tb cat /sys/class/net/coreos-tap01/owner)
[ "$owner" = "$(tb id -u coreos-cluster)" ] || fail "tap owner uid $owner"
networkd_log=$(tb journalctl -u systemd-networkd --no-pager -o cat)
if grep -E "coreos-cluster.*(Unknown|Failed to parse|ignoring)" <<<"$networkd_log"; then
    fail "networkd complained about our files"
fi
# Same config again: nothing rewritten (a rewrite would reset the DHCP server).
before=$(tb stat -c %i /run/systemd/network/50-coreos-cluster-bridge.network)
grep -q "(unchanged)" <<<"$(tb coreos-cluster setup-network)" || fail "setup-network rewrote unchanged files"
[ "$before" = "$(tb stat -c %i /run/systemd/network/50-coreos-cluster-bridge.network)" ] ||
    fail "bridge .network replaced"

boot_one() { # LABEL: start coreos-cluster@1, follow the guest, print timings, stop
    local label=$1 t_start t_kernel t_init t_addr t_cc t_etcd serial since
    # Only this boot's log lines count.
    sleep 1
    since=(--since "@$(date +%s)")
    log "$label: systemctl start coreos-cluster@1"
    tb systemctl start coreos-cluster@1.service || { tb systemctl --failed --no-pager; tb journalctl --no-pager -o cat -u coreos-cluster-http -u coreos-cluster@1 -u coreos-cluster-network | tail -30; fail "start"; }
    t_start=$(tb systemctl show -p ActiveEnterTimestamp --value coreos-vm@01.service)
    t_start=$(tb date -d "$t_start" +%s%6N)
    journal_wait "test-guest: etcd healthy" 120 -u coreos-vm@01.service "${since[@]}" || {
        tb journalctl -u coreos-vm@01.service --no-pager -o cat | tail -30
        fail "$label: the guest did not come up with etcd"
    }
    serial=$(tb journalctl -u coreos-vm@01.service --no-pager -o cat "${since[@]}")
    expect "$label: static lease" "$serial" "test-guest: address 10.77.0.11/24"
    expect "$label: cloud-config" "$serial" "test-guest: cloud-config fetched from http://10.77.0.1:8777/coreos-cluster/cloud-config.yaml"
    expect "$label: own address filled in" "$serial" "ETCD_NAME=10.77.0.11"
    expect "$label: initial-cluster" "$serial" "ETCD_INITIAL_CLUSTER=10.77.0.11=http://10.77.0.11:2380"
    leases=$(tb networkctl status coreos-br0 --no-pager 2>&1)
    expect "$label: networkd lease" "$leases" "10.77.0.11 (to 52:54:00:12:34:01)"
    health=$(tb curl -sf --max-time 5 http://10.77.0.11:2379/health)
    expect "$label: etcd health from the host" "$health" '"health":"true"'
    status=$(tb coreos-cluster status --json)
    python3 -c 'import json,sys; n=json.loads(sys.argv[1])["nodes"][0]; assert n["etcd_healthy"] is True and n["ip"]=="10.77.0.11" and n["rss_bytes"] > 64 << 20, n' "$status" ||
        fail "$label: status does not show a healthy node with its QEMU's memory: $status"
    expect "$label: status shows QEMU's memory" "$(tb coreos-cluster status)" "rss "

    tb test -e /run/coreos-cluster/vm-01/kernel-started || fail "$label: vm-exec did not mark the kernel started"
    ! tb test -e /var/lib/coreos-cluster/vm-01/boot-failure || fail "$label: an earlier boot's failure is still recorded"
    served=$(tb journalctl -t coreos_cluster_http --no-pager -o cat "${since[@]}")
    case $label in
        ipxe*)
            t_kernel=$(journal_time 'GET /coreos-cluster/initrd' -t coreos_cluster_http "${since[@]}")
            # SeaBIOS shows iPXE's banner on the serial port; vm-exec answers it.
            expect "$label: iPXE banner on the serial console" "$serial" "Press Ctrl-B for the iPXE command line"
            expect "$label: the banner's wait skipped" "$serial" "iPXE's banner: key pressed"
            ;;
        pxelinux*) t_kernel=$(journal_time 'coreos-cluster/initrd' -u coreos-cluster-tftp.service "${since[@]}") ;;
        direct*)
            t_kernel=$t_start
            qemu=$(tb ps -o args= -C qemu-system-x86_64)
            expect "$label: QEMU loads the kernel" "$qemu" "-kernel /srv/coreos-cluster/http/coreos-cluster/vmlinuz -initrd /srv/coreos-cluster/http/coreos-cluster/initrd"
            expect "$label: QEMU's kernel line" "$qemu" "-append cloud-config-url=http://10.77.0.1:8777/coreos-cluster/cloud-config.yaml console=tty0 console=ttyS0,115200n8"
            expect "$label: the NIC has no boot ROM" "$qemu" "romfile= "
            ! grep -qE 'GET /coreos-cluster/(boot.ipxe|vmlinuz|initrd)' <<<"$served" || fail "$label: boot files fetched over HTTP: $served"
            ! grep -q 'iPXE' <<<"$serial" || fail "$label: iPXE ran"
            ! grep -q BootFilename <<<"$(tb cat /run/systemd/network/50-coreos-cluster-bridge.network)" ||
                fail "$label: DHCP still hands out a boot file"
            ;;
    esac
    t_init=$(journal_time "test-guest: ready" -u coreos-vm@01.service "${since[@]}")
    t_addr=$(journal_time "test-guest: address" -u coreos-vm@01.service "${since[@]}")
    t_cc=$(journal_time "GET /coreos-cluster/cloud-config.yaml" -t coreos_cluster_http "${since[@]}")
    t_etcd=$(journal_time "test-guest: etcd healthy" -u coreos-vm@01.service "${since[@]}")
    [ -n "$t_kernel" ] || fail "$label: no log of the initrd being served"
    printf '%s: from VM start: initrd loaded (HTTP: served, TFTP: requested) %s ms, guest /init %s ms, DHCP %s ms, cloud-config %s ms, etcd healthy %s ms\n' \
        "$label" "$(ms_between "$t_start" "$t_kernel")" "$(ms_between "$t_start" "$t_init")" \
        "$(ms_between "$t_start" "$t_addr")" "$(ms_between "$t_start" "$t_cc")" \
        "$(ms_between "$t_start" "$t_etcd")" | tee -a "$TESTBED_WORK/timings"

    log "$label: systemctl stop coreos-cluster@1 (ACPI)"
    tb systemctl stop coreos-cluster@1.service
    expect "$label: ACPI power-off" "$(tb journalctl -u coreos-vm@01.service --no-pager -o cat "${since[@]}")" "guest powered off after"
    [ -z "$(tb pgrep -u coreos-cluster -f qemu-system || true)" ] || fail "$label: QEMU left running"
}

boot_one "ipxe over HTTP"

log "a network boot that finds nothing to boot: status shows the failure, up stops at that node"
since=(--since "@$(date +%s)")
tb coreos-cluster prepare 2 >/dev/null
tb rm /srv/coreos-cluster/http/coreos-cluster/boot.ipxe
up_started=$(date +%s%3N)
if up_out=$(tb coreos-cluster up 2 2>&1); then fail "up went on past a node with nothing to boot: $up_out"; fi
up_ms=$(($(date +%s%3N) - up_started))
expect "up names the node and SeaBIOS's line" "$up_out" "node 1 (coreos-vm@01.service) failed to boot: No bootable device"
[ "$(tb systemctl is-active coreos-vm@02.service)" != active ] || fail "up started node 2 after node 1 failed"
journal_has "GET /coreos-cluster/boot.ipxe HTTP/1.1\" 404" -t coreos_cluster_http "${since[@]}" ||
    fail "our nginx was not asked for the missing boot script"
failed=$(tb coreos-cluster status --json)
python3 -c 'import json,sys; n=json.loads(sys.argv[1])["nodes"][0]; assert n["node"] == 1 and "No bootable device" in (n["boot_failure"] or ""), n' "$failed" ||
    fail "status --json does not show node 1's failed boot: $failed"
expect "status shows the failed boot" "$(tb coreos-cluster status)" "boot failed (active/running): No bootable device"
log "up reported the failed boot after $up_ms ms, without starting node 2: $up_out"
tb systemctl stop coreos-vm@01.service

log "nginx: each client sees its own address in the cloud-config"
# Two clients on the bridge, each in a network namespace of its own.
for n in 1 2; do
    tb ip netns add "client$n"
    tb ip link add "cc-client$n" type veth peer name "cc-port$n"
    tb ip link set "cc-port$n" master coreos-br0 up
    tb ip link set "cc-client$n" netns "client$n"
    tb ip -n "client$n" addr add "10.77.0.20$n/24" dev "cc-client$n"
    tb ip -n "client$n" link set "cc-client$n" up
done
for n in 1 2; do
    client=10.77.0.20$n
    body=$(tb ip netns exec "client$n" curl -sf --retry 5 --retry-connrefused --retry-delay 1 \
        http://10.77.0.1:8777/coreos-cluster/cloud-config.yaml)
    expect "cloud-config for $client" "$body" "name: \"$client\""
    expect "cloud-config for $client" "$body" "advertise_client_urls: \"http://$client:2379\""
    ! grep -qF '$private_ipv4' <<<"$body" || fail "\$private_ipv4 left for $client"
done
log "nginx: a merged Ignition config is served as written (Ignition checks its SHA-512)"
merge=/srv/coreos-cluster/http/coreos-cluster/merge/1.ign
tb install -D -m 644 /dev/stdin "$merge" <<<'{"ignition": {"version": "3.3.0"}, "x": "$private_ipv4 $private_hostname"}'
tb ip netns exec client1 curl -sf -o /tmp/merge-served.ign http://10.77.0.1:8777/coreos-cluster/merge/1.ign
tb cmp "$merge" /tmp/merge-served.ign || fail "the merge file was rewritten: $(tb cat /tmp/merge-served.ign)"
tb rm "$merge" /tmp/merge-served.ign
for n in 1 2; do
    tb ip link delete "cc-port$n"
    tb ip netns delete "client$n"
done

log "switching to pxelinux over TFTP (our coreos-cluster-tftp.service, Arch's syslinux layout)"
testbed_syslinux_layout
printf '[boot]\nmethod = "pxelinux"\n' > "$r/etc/coreos-cluster/cluster.toml.d/50-pxelinux.toml"
tb systemctl daemon-reload
tb systemctl restart coreos-cluster-network.service || { tb journalctl -u coreos-cluster-network.service --no-pager -o cat | tail; fail "network restart"; }
boot_one "pxelinux over TFTP"
tb test -f /srv/coreos-cluster/tftp/pxelinux.cfg/default || fail "no pxelinux.cfg/default"
# Our in.tftpd (--verbose, to syslog: the journal here) served the boot loader.
journal_has "RRQ from 10.77.0.11 filename pxelinux.0" -u coreos-cluster-tftp.service ||
    fail "coreos-cluster-tftp did not serve pxelinux.0"

log "switching to the direct boot method (QEMU's -kernel/-initrd, config still over HTTP)"
rm "$r/etc/coreos-cluster/cluster.toml.d/50-pxelinux.toml"
printf '[boot]\nmethod = "direct"\n' > "$r/etc/coreos-cluster/cluster.toml.d/50-direct.toml"
tb systemctl daemon-reload
tb systemctl restart coreos-cluster-network.service || { tb journalctl -u coreos-cluster-network.service --no-pager -o cat | tail; fail "network restart"; }
boot_one "direct (QEMU loads the kernel)"

cat "$TESTBED_WORK/timings"
log "PASS"
