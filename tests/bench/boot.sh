#!/bin/bash
# Benchmark: time from "start" to etcd put/get working, for 1 and 3 nodes,
# with per-phase times (DHCP lease, initrd loaded, cloud-config fetched, etcd
# healthy), in one test bed and one run, for:
#   ours     `systemctl start coreos-cluster@N`: networkd DHCP with RAs and
#            option 60, iPXE over HTTP, 1 s stagger, unprivileged QEMU
#   classic  the classic recipe: a loop of `qemu ... &` and `sleep 1`, dnsmasq
#            with its defaults (no RAs) and its TFTP server, pxelinux over TFTP
#   direct   direct kernel boot (-kernel/-initrd): the lower bound
# All run the test guest under TCG. Prints the figures and the ratios to ours.
#   tests/bench/boot.sh
set -euo pipefail
source "$(dirname "$0")/../lib/testbed.sh"
testbed_reexec_private "$0" "$@"
trap testbed_shutdown EXIT

testbed_make_guest_root 512 10
r=$TESTBED_ROOT
guest=$TESTBED_TOP/target/test-guest
printf '[ksm]\nenable = false\n' > "$r/etc/coreos-cluster/cluster.toml.d/50-bench.toml"
testbed_boot multi-user.target
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# Watches the serial logs (files; "-" for ours, read from the journal) and the
# server logs, and prints the first time (ms since T0) each phase is seen.
# phases: dhcp initrd cloudconfig etcd putget
measure() { # LABEL N T0 SERIAL_CMD SERVER_CMD
    local label=$1 n=$2 t0=$3 serial_cmd=$4 server_cmd=$5
    local -A first=()
    local deadline=$(( t0 + ${BENCH_TIMEOUT_MS:-300000} )) serial server t i ip
    while [ "$(now_ms)" -lt "$deadline" ]; do
        t=$(( $(now_ms) - t0 ))
        serial=$(eval "$serial_cmd" 2>/dev/null || true)
        server=$(eval "$server_cmd" 2>/dev/null || true)
        [ -z "${first[dhcp]:-}" ] && [ "$(grep -c 'test-guest: address' <<<"$serial")" -ge "$n" ] && first[dhcp]=$t
        [ -z "${first[initrd]:-}" ] && [ "$(grep -c 'initrd' <<<"$server")" -ge "$n" ] && first[initrd]=$t
        [ -z "${first[cloudconfig]:-}" ] && [ "$(grep -c 'cloud-config fetched' <<<"$serial")" -ge "$n" ] && first[cloudconfig]=$t
        [ -z "${first[etcd]:-}" ] && [ "$(grep -c 'etcd healthy' <<<"$serial")" -ge "$n" ] && first[etcd]=$t
        if [ -n "${first[etcd]:-}" ]; then
            ip=$SUBNET.11
            if tb $IN_NETNS env ETCDCTL_API=3 etcdctl --endpoints "http://$ip:2379" --command-timeout=2s put bench "$label" >/dev/null 2>&1 &&
                [ "$(tb $IN_NETNS env ETCDCTL_API=3 etcdctl --endpoints "http://$SUBNET.1$n:2379" --command-timeout=2s get --print-value-only bench 2>/dev/null)" = "$label" ]; then
                first[putget]=$(( $(now_ms) - t0 ))
                break
            fi
        fi
        sleep 0.2
    done
    if [ -z "${first[putget]:-}" ]; then
        eval "$serial_cmd" | tail -20 >&2 || true
        eval "$server_cmd" | tail -5 >&2 || true
        tb journalctl --no-pager -o cat -u classic-dhcp 2>&1 | tail -10 >&2 || true
        fail "$label with $n nodes: put/get never worked"
    fi
    printf '%s %s %s %s %s %s %s\n' "$label" "$n" "${first[dhcp]:--}" "${first[initrd]:--}" \
        "${first[cloudconfig]:--}" "${first[etcd]:--}" "${first[putget]}" >> "$TESTBED_WORK/results"
}

# --- ours -------------------------------------------------------------------
SUBNET=10.77.0
IN_NETNS=
for n in ${BENCH_OURS_SIZES-1 3}; do
    log "ours, $n node(s): systemctl start coreos-cluster@$n"
    since="@$(date +%s)"
    tb systemctl start coreos-cluster-network.service coreos-cluster-http.service
    t0=$(now_ms)
    tb systemctl start "coreos-cluster@$n.service"
    measure ours "$n" "$t0" \
        "tb journalctl -o cat --no-pager --since $since -u 'coreos-vm@*'" \
        "tb journalctl -o cat --no-pager --since $since -t coreos_cluster_http | grep 'GET /coreos-cluster/initrd'"
    tb systemctl stop "coreos-cluster@$n.service"
    sleep 1
done
tb systemctl stop coreos-cluster-http.service

# --- the classic recipe, and direct kernel boot -------------------------------
# In a network namespace of its own, as on a host of its own: its dnsmasq
# must not meet networkd's DHCP server.
SUBNET=10.88.0
tb ip netns add classic
IN_NETNS="ip netns exec classic"
tb $IN_NETNS ip link set lo up
tb $IN_NETNS ip link add classic-br0 type bridge
tb $IN_NETNS ip addr add 10.88.0.1/24 dev classic-br0
tb $IN_NETNS ip link set classic-br0 up
for i in 1 2 3; do
    tb $IN_NETNS ip tuntap add dev "classic-tap$i" mode tap
    tb $IN_NETNS ip link set "classic-tap$i" master classic-br0 up
done
# TFTP tree and cloud-config as the recipe lays them out by hand.
mkdir -p "$r/srv/classic/pxelinux.cfg" "$r/srv/classic-http"
cp /usr/lib/PXELINUX/pxelinux.0 /usr/lib/syslinux/modules/bios/ldlinux.c32 "$r/srv/classic/"
cp "$guest/vmlinuz" "$guest/initrd.img" "$r/srv/classic/"
printf 'default coreos\nlabel coreos\n  kernel vmlinuz\n  append initrd=initrd.img cloud-config-url=http://10.88.0.1/cloud-config.yaml console=ttyS0\n' \
    > "$r/srv/classic/pxelinux.cfg/default"
# The same nginx substitution, on the classic bridge.
tb coreos-cluster setup-http /run/classic-http
tb cat /run/classic-http/nginx.conf | sed -e 's|listen 10.77.0.1:[0-9]*;|listen 10.88.0.1:80;|' \
    -e 's|root "/srv/coreos-cluster/http";|root "/srv/classic-http";|' > "$r/srv/classic-nginx.conf"
tb systemd-run --quiet --unit=classic-http $IN_NETNS /usr/sbin/nginx -c /srv/classic-nginx.conf
leases=()
for i in 1 2 3; do leases+=(--dhcp-host="52:54:00:88:00:0$i,10.88.0.1$i"); done
tb systemd-run --quiet --unit=classic-dhcp $IN_NETNS dnsmasq --keep-in-foreground --port=0 \
    --interface=classic-br0 --bind-interfaces --dhcp-range=10.88.0.100,10.88.0.200 "${leases[@]}" \
    --dhcp-boot=pxelinux.0 --enable-tftp --tftp-root=/srv/classic --log-facility=-

run_qemus() { # LABEL N EXTRA_ARGS...
    local label=$1 n=$2 i
    shift 2
    # The same cloud-config as ours for N nodes, on the classic subnet.
    tb coreos-cluster prepare "$n" >/dev/null
    sed 's/10\.77\.0\./10.88.0./g' "$r/srv/coreos-cluster/http/coreos-cluster/cloud-config.yaml" \
        > "$r/srv/classic-http/cloud-config.yaml"
    tb sh -c 'rm -f /run/classic-serial-*'
    tb systemctl restart classic-dhcp
    since="@$(date +%s)"
    t0=$(now_ms)
    # The recipe's loop: `qemu ... &` then `sleep 1`, as root, tap made beforehand.
    for i in $(seq "$n"); do
        tb systemd-run --quiet --unit="classic-vm$i" $IN_NETNS /usr/bin/qemu-system-x86_64 -accel tcg -m 512 \
            -nodefaults -display none -vga none \
            -netdev "tap,id=n0,ifname=classic-tap$i,script=no,downscript=no" \
            -device "virtio-net-pci,netdev=n0,mac=52:54:00:88:00:0$i" \
            -serial "file:/run/classic-serial-$i" "$@"
        sleep 1
    done
    measure "$label" "$n" "$t0" "tb sh -c 'cat /run/classic-serial-*'" \
        "tb journalctl -o cat --no-pager --since $since -u classic-dhcp | grep 'sent .*initrd'"
    for i in $(seq "$n"); do tb systemctl stop "classic-vm$i"; done
}
for n in 1 3; do
    log "classic recipe, $n node(s): qemu & + sleep 1, dnsmasq defaults, pxelinux over TFTP"
    run_qemus classic "$n"
    log "direct kernel boot, $n node(s)"
    run_qemus direct "$n" -kernel /srv/classic/vmlinuz -initrd /srv/classic/initrd.img \
        -append "cloud-config-url=http://10.88.0.1/cloud-config.yaml console=ttyS0"
done

echo
echo "Time from start to each phase, ms, when every node has reached it (TCG, test guest, one run):"
echo "dhcp = the guest's own lease, initrd = loaded over the network, put/get = etcdctl put on node 1, get on node N"
printf '%-8s %5s %8s %8s %12s %8s %8s %10s\n' how nodes dhcp initrd cloud-config etcd put/get "vs ours"
while read -r label n dhcp initrd cc etcd putget; do
    ours=$(awk -v n="$n" '$1 == "ours" && $2 == n {print $7}' "$TESTBED_WORK/results")
    printf '%-8s %5s %8s %8s %12s %8s %8s %9.2fx\n' "$label" "$n" "$dhcp" "$initrd" "$cc" "$etcd" "$putget" \
        "$(echo "scale=4; $putget / $ours" | bc)"
done < "$TESTBED_WORK/results"
echo "(direct kernel boot loads no initrd over the network: its initrd column stays empty)"
