#!/bin/bash
# Benchmark: boot speed and memory, in one test bed and one run (TCG).
# Two profiles:
#   quick (the default; what .ci/run prints, a few minutes): section 1 with
#     the small test guest at 1 and 3 nodes, ours against direct kernel boot,
#     the classic recipe at 1 node; section 2.
#   full (BENCH_FULL=1; what the README's dated figures come from, about
#     half an hour): every section below, both sizes of boot files, the
#     classic recipe at Flatcar's size with 3 nodes, 16 nodes in section 3.
#
# 1. Methods, at two sizes of boot files: the small test guest (~32 MB) and
#    the same guest at Flatcar's size (56 MiB kernel file, as LTS-2024's;
#    stable's is ~27 MB; ~456 MiB initrd: an incompressible cpio member
#    added), for 1 and 3 nodes:
#      ours-ipxe    `systemctl start coreos-cluster@N`: iPXE over HTTP
#      ours-direct  the same with boot.method = "direct" (QEMU's -kernel)
#      classic      the classic recipe: `qemu ... &` + `sleep 1`, dnsmasq with
#                   its defaults and its TFTP server, pxelinux over TFTP
#      direct       QEMU's -kernel/-initrd by hand: the lower bound
#    with the time of each phase, and HTTP's and TFTP's transfer rates.
# 2. The fixed cost of network boot at 1 node: where each second goes, iPXE
#    against direct, from the journal's timestamps.
# 3. Scale: start to all nodes healthy for 1, 3, 8 (and 16) nodes,
#    stagger-sec = 1, 0 and "auto".
# 4. Memory: at 8 nodes, each VM's RSS and KSM's savings after 2 minutes
#    (where /sys/kernel/mm/ksm is writable; its settings are put back).
#
# Prints the figures and ratios; BENCH_SECTIONS, BENCH_FILES and BENCH_NODES
# choose parts of a profile.
#   tests/bench/boot.sh
#   BENCH_FULL=1 tests/bench/boot.sh
set -euo pipefail
source "$(dirname "$0")/../lib/testbed.sh"
testbed_reexec_private "$0" "$@"

FULL=${BENCH_FULL:-}
# For trying parts of it: which sections, which sizes and node counts.
if [ -n "$FULL" ]; then
    SECTIONS=${BENCH_SECTIONS:-methods scale memory}
    METHOD_FILES=${BENCH_FILES:-small big}
else
    SECTIONS=${BENCH_SECTIONS:-methods}
    METHOD_FILES=${BENCH_FILES:-small}
fi
METHOD_NODES=${BENCH_NODES:-1 3}
SCALE_SIZES="1 3 8${FULL:+ 16}"
SCALE_MEMORY_MIB=256
KSM_WAIT_SEC=${BENCH_KSM_WAIT_SEC:-120}
testbed_keep_ksm
ksm_dir=$KSM_DIR

testbed_make_guest_root 512 10
r=$TESTBED_ROOT
guest=$TESTBED_TOP/target/test-guest
results=$TESTBED_WORK/results
: > "$results"
: > "$TESTBED_WORK/events"
: > "$TESTBED_WORK/transfers"
: > "$TESTBED_WORK/memory"
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# --- boot files at Flatcar's size ---------------------------------------------
# The test guest's kernel padded to 56 MiB (the kernel ignores bytes past its
# image) and its initrd followed by an uncompressed cpio of one random file
# (the kernel unpacks concatenated archives), ~456 MiB in all. Made once.
big=$TESTBED_TOP/target/bench-flatcar-size
if [[ " $METHOD_FILES " == *" big "* ]] && [ ! -f "$big/done" ]; then
    log "making boot files of Flatcar's size in $big"
    rm -rf "$big" && mkdir -p "$big/cpio"
    cp "$guest/vmlinuz" "$big/vmlinuz"
    head -c $(( 56 * 1024 * 1024 - $(stat -c %s "$guest/vmlinuz") )) /dev/urandom >> "$big/vmlinuz"
    head -c $(( 400 * 1024 * 1024 )) /dev/urandom > "$big/cpio/padding"
    cp "$guest/initrd.img" "$big/initrd.img"
    (cd "$big/cpio" && echo padding | cpio --quiet -o -H newc) >> "$big/initrd.img"
    rm -rf "$big/cpio"
    touch "$big/done"
fi

images=/var/lib/coreos-cluster/images
for size in small big; do
    mkdir -p "$r$images/bench-$size"
done
cp "$guest/vmlinuz" "$guest/initrd.img" "$r$images/bench-small/"
[ ! -f "$big/done" ] || cp "$big/vmlinuz" "$big/initrd.img" "$r$images/bench-big/"
declare -A MEMORY=([small]=512 [big]=2048)
bytes() { echo $(( $(stat -c %s "$r$images/bench-$1/vmlinuz") + $(stat -c %s "$r$images/bench-$1/initrd.img") )); }

printf '[ksm]\nenable = false\n[cluster]\nmax-nodes = 16\n' > "$r/etc/coreos-cluster/cluster.toml.d/50-bench.toml"
testbed_boot multi-user.target

# The config of one run of ours: image size, boot method, stagger, memory.
configure_ours() { # SIZE METHOD STAGGER MEMORY_MIB [KSM]
    cat > "$r/etc/coreos-cluster/cluster.toml.d/60-run.toml" <<EOF
[image]
kernel = "$images/bench-$1/vmlinuz"
initrd = "$images/bench-$1/initrd.img"
[boot]
method = "$2"
[cluster]
stagger-sec = $3
[vm]
memory-mib = $4
[ksm]
enable = ${5:-false}
EOF
    tb systemctl daemon-reload
    # DHCP's boot file depends on the method.
    tb systemctl restart coreos-cluster-network.service
    tb systemctl restart coreos-cluster-http.service
}

# Nothing of the previous run may remain: no QEMU, no VM unit, and no node
# address answering. Says so, or fails.
assert_clean() { # SUBNET NETNS_PREFIX
    local subnet=$1 in_netns=$2 ip
    [ -z "$(tb pgrep qemu-system || true)" ] || fail "QEMU still running: $(tb pgrep -a qemu-system)"
    [ -z "$(tb systemctl list-units --no-legend --state=active,activating,deactivating 'coreos-vm@*' | grep -v '^$' || true)" ] ||
        fail "VM units still up: $(tb systemctl list-units --no-legend 'coreos-vm@*')"
    tb $in_netns ip neigh flush all
    local answering
    answering=$(for ip in $(seq -f "$subnet.%g" 11 26); do
        tb $in_netns curl -s --max-time 0.5 -o /dev/null "http://$ip:2379/health" && echo "$ip" &
    done; wait)
    [ -z "$answering" ] || fail "still answering on :2379: $answering"
    log "clean start: no QEMU, no coreos-vm unit, $subnet.11-26 silent"
}

# Waits until put/get works across the cluster (etcdctl put on node 1, get on
# node N, every 0.5 s: polling costs the guests' CPU little), then reads the
# journal once and records the time (ms since T0) at which the N-th node
# reached each phase:
#   fwdhcp  the firmware's DHCP done (iPXE's "Configuring ... ok" on serial)
#   kernel  the kernel file served (HTTP: nginx; TFTP: dnsmasq)
#   initrd  the initrd served
#   linux   the guest kernel's first line
#   dhcp    the guest's own lease
#   config  the guest config fetched
#   etcd    etcd healthy on the node
measure() { # LABEL SIZE N T0 SINCE SUBNET NETNS JOURNAL_FILTERS...
    local label=$1 size=$2 n=$3 t0=$4 since=$5 subnet=$6 in_netns=$7 putget= entry phase pattern
    shift 7
    local deadline=$(( t0 + ${BENCH_TIMEOUT_MS:-900000} ))
    local etcdctl=(env ETCDCTL_API=3 etcdctl --dial-timeout=0.5s --command-timeout=2s)
    while [ "$(now_ms)" -lt "$deadline" ]; do
        if tb $in_netns "${etcdctl[@]}" --endpoints "http://$subnet.11:2379" put bench "$label" >/dev/null 2>&1 &&
            [ "$(tb $in_netns "${etcdctl[@]}" --endpoints "http://$subnet.$((10 + n)):2379" get --print-value-only bench 2>/dev/null)" = "$label" ]; then
            putget=$(( $(now_ms) - t0 ))
            break
        fi
        sleep 0.5
    done
    # One journalctl per filter (filters on different fields would AND);
    # -a: a serial line with the firmware's escape codes is kept as binary.
    local journal filter
    journal=$(for filter in "$@"; do
        # shellcheck disable=SC2086 # a filter is "-u UNIT" or "-t TAG"
        tb journalctl -a -o short-unix --no-pager --since "$since" $filter
    done | sort -n -k1,1)
    if [ -z "$putget" ]; then
        grep -v '\] ' <<<"$journal" | tail -40 >&2 || true
        fail "$label ($size) with $n nodes: put/get never worked"
    fi
    local row="$label $size $n"
    # phase, then an extended regular expression for its line (one per node).
    for entry in 'fwdhcp Configuring \\(net0' "kernel (GET /coreos-cluster/|sent /srv/classic/)vmlinuz" \
        "initrd (GET /coreos-cluster/initrd|sent /srv/classic/initrd)" "linux Linux version" \
        "dhcp test-guest: address" "config cloud-config fetched" "etcd test-guest: etcd healthy"; do
        read -r phase pattern <<<"$entry"
        # The time of the N-th matching line.
        row+=" $(awk -v p="$pattern" -v n="$n" -v t0="$t0" '$0 ~ p && ++seen == n {printf "%.0f", $1 * 1000 - t0; exit}' <<<"$journal")"
        [[ "$row" != *" " ]] || row+="-"
    done
    echo "$row $putget" >> "$results"
}

# Realtime (ms) of the first journal line since SINCE matching PATTERN.
event_ms() { # SINCE PATTERN [journalctl args]
    local since=$1 pattern=$2
    shift 2
    tb journalctl -a -o short-unix --no-pager --since "$since" "$@" |
        awk -v p="$pattern" 'index($0, p) && !done {printf "%.0f\n", $1 * 1000; done = 1}'
}

# One run of ours: start coreos-cluster@N, measure, keep the journal's
# timestamps of a 1-node run for the fixed-cost table, stop.
run_ours() { # LABEL SIZE N METHOD STAGGER MEMORY_MIB [KSM]
    local label=$1 size=$2 n=$3 method=$4 stagger=$5 memory=$6 ksm=${7:-false} since t0
    log "$label ($size boot files), $n node(s): boot.method = $method, stagger-sec = $stagger, $memory MiB"
    configure_ours "$size" "$method" "$stagger" "$memory" "$ksm"
    assert_clean 10.77.0 ""
    since="@$(date +%s.%N)"
    t0=$(now_ms)
    tb systemctl start "coreos-cluster@$n.service"
    measure "$label" "$size" "$n" "$t0" "$since" 10.77.0 "" "-u coreos-vm@*" "-t coreos_cluster_http"
    if [ "$n" = 1 ]; then
        fixed_cost_events "$label-$size" "$since" "$t0"
    fi
    if [ "$ksm" = true ]; then
        ksm_report "$n"
    fi
    tb systemctl stop "coreos-cluster@$n.service"
}

# The 1-node timeline of ours, in ms since start, for section 2.
fixed_cost_events() { # KEY SINCE T0
    local key=$1 since=$2 t0=$3 name pattern ms
    local -a events=(
        "qemu|New machine coreos-vm-01"
        "banner|iPXE's banner: key pressed"
        "fwdhcp|Configuring (net0"
        "script|GET /coreos-cluster/boot.ipxe"
        "kernel|GET /coreos-cluster/vmlinuz"
        "initrd|GET /coreos-cluster/initrd"
        "linux|Linux version"
        "init|test-guest: ready"
        "dhcp|test-guest: address"
        "config|test-guest: cloud-config fetched"
        "etcd|test-guest: etcd healthy"
    )
    for event in "${events[@]}"; do
        name=${event%%|*}
        pattern=${event#*|}
        ms=$(event_ms "$since" "$pattern")
        echo "$key $name ${ms:+$(( ms - t0 ))}" >> "$TESTBED_WORK/events"
    done
}

# --- the classic recipe and direct kernel boot, in a namespace of their own --
# As on a host of its own: its dnsmasq must not meet networkd's DHCP server.
tb ip netns add classic
IN_CLASSIC="ip netns exec classic"
tb $IN_CLASSIC ip link set lo up
tb $IN_CLASSIC ip link add classic-br0 type bridge
tb $IN_CLASSIC ip addr add 10.88.0.1/24 dev classic-br0
tb $IN_CLASSIC ip link set classic-br0 up
for i in 1 2 3; do
    tb $IN_CLASSIC ip tuntap add dev "classic-tap$i" mode tap
    tb $IN_CLASSIC ip link set "classic-tap$i" master classic-br0 up
done
mkdir -p "$r/srv/classic/pxelinux.cfg" "$r/srv/classic-http"
cp /usr/lib/PXELINUX/pxelinux.0 /usr/lib/syslinux/modules/bios/ldlinux.c32 "$r/srv/classic/"
printf 'default coreos\nlabel coreos\n  kernel vmlinuz\n  append initrd=initrd.img cloud-config-url=http://10.88.0.1/cloud-config.yaml console=ttyS0\n' \
    > "$r/srv/classic/pxelinux.cfg/default"
# The same nginx substitution, on the classic bridge (setup-http checks our
# bridge, which the network unit makes).
tb systemctl start coreos-cluster-network.service
tb coreos-cluster setup-http /run/classic-http
tb cat /run/classic-http/nginx.conf | sed -e 's|listen 10.77.0.1:[0-9]*;|listen 10.88.0.1:80;|' \
    -e 's|root "/srv/coreos-cluster/http";|root "/srv/classic-http";|' > "$r/srv/classic-nginx.conf"
tb systemd-run --quiet --unit=classic-http $IN_CLASSIC /usr/sbin/nginx -c /srv/classic-nginx.conf
leases=()
for i in 1 2 3; do leases+=(--dhcp-host="52:54:00:88:00:0$i,10.88.0.1$i"); done
tb systemd-run --quiet --unit=classic-dhcp $IN_CLASSIC dnsmasq --keep-in-foreground --port=0 \
    --interface=classic-br0 --bind-interfaces --dhcp-range=10.88.0.100,10.88.0.200 "${leases[@]}" \
    --dhcp-boot=pxelinux.0 --enable-tftp --tftp-root=/srv/classic --log-facility=-

run_qemus() { # LABEL SIZE N QEMU_ARGS...
    local label=$1 size=$2 n=$3 i since t0
    shift 3
    log "$label ($size boot files), $n node(s)"
    cp "$r$images/bench-$size/vmlinuz" "$r$images/bench-$size/initrd.img" "$r/srv/classic/"
    # The same cloud-config as ours for N nodes, on the classic subnet.
    configure_ours "$size" ipxe 1 "${MEMORY[$size]}"
    tb coreos-cluster prepare "$n" >/dev/null
    sed 's/10\.77\.0\./10.88.0./g' "$r/srv/coreos-cluster/http/coreos-cluster/cloud-config.yaml" \
        > "$r/srv/classic-http/cloud-config.yaml"
    tb systemctl restart classic-dhcp
    assert_clean 10.88.0 "$IN_CLASSIC"
    since="@$(date +%s.%N)"
    t0=$(now_ms)
    # The recipe's loop: `qemu ... &` then `sleep 1`, as root, tap made beforehand.
    for i in $(seq "$n"); do
        tb systemd-run --quiet --unit="classic-vm$i" $IN_CLASSIC /usr/bin/qemu-system-x86_64 -accel tcg \
            -m "${MEMORY[$size]}" -nodefaults -display none -vga none \
            -netdev "tap,id=n0,ifname=classic-tap$i,script=no,downscript=no" \
            -device "virtio-net-pci,netdev=n0,mac=52:54:00:88:00:0$i" \
            -serial stdio "$@"
        [ "$i" = "$n" ] || sleep 1
    done
    measure "$label" "$size" "$n" "$t0" "$since" 10.88.0 "$IN_CLASSIC" "-u classic-vm* -u classic-dhcp"
    if [ "$label" = classic ] && [ "$n" = 1 ]; then
        # The TFTP transfer of kernel + initrd: from the pxelinux config sent
        # to the initrd sent.
        local from to
        from=$(event_ms "$since" "pxelinux.cfg/default" -u classic-dhcp)
        to=$(event_ms "$since" "initrd.img" -u classic-dhcp)
        echo "tftp $size $(( to - from ))" >> "$TESTBED_WORK/transfers"
    fi
    for i in $(seq "$n"); do tb systemctl stop "classic-vm$i"; done
}

# --- 1. methods at two sizes -----------------------------------------------------
section() { [[ " $SECTIONS " == *" $1 "* ]]; }
section methods && for size in $METHOD_FILES; do
    for n in $METHOD_NODES; do
        run_ours ours-ipxe "$size" "$n" ipxe 1 "${MEMORY[$size]}"
        run_ours ours-direct "$size" "$n" direct 1 "${MEMORY[$size]}"
        run_qemus direct "$size" "$n" -kernel /srv/classic/vmlinuz -initrd /srv/classic/initrd.img \
            -append "cloud-config-url=http://10.88.0.1/cloud-config.yaml console=ttyS0"
        # The classic recipe's TFTP takes a minute at 3 nodes of the test guest
        # and minutes at Flatcar's size: beyond 1 node, only in the full profile.
        if [ "$n" = 1 ] || [ -n "$FULL" ]; then
            run_qemus classic "$size" "$n"
        fi
    done
done

# A run of many nodes that never forms its cluster is reported ("-") and
# the benchmark goes on; 7 minutes is far beyond any run that worked.
fail() { log "FAIL: $*"; }
BENCH_TIMEOUT_MS=420000

# --- 3. scale --------------------------------------------------------------------
section scale && for pace in 1 0 '"auto"'; do
    for n in $SCALE_SIZES; do
        run_ours "scale-${pace//\"/}" small "$n" ipxe "$pace" "$SCALE_MEMORY_MIB"
    done
done

# --- 4. memory and KSM at 8 nodes ---------------------------------------------
ksm_report() { # N
    local n=$1 i pid rss merged page
    page=$(getconf PAGESIZE)
    log "KSM on; waiting ${KSM_WAIT_SEC} s with $n identical guests running"
    sleep "$KSM_WAIT_SEC"
    {
        echo "Memory at $n nodes, ${KSM_WAIT_SEC} s after all were healthy (KSM: pages_to_scan $(cat $ksm_dir/pages_to_scan), sleep $(cat $ksm_dir/sleep_millisecs) ms):"
        printf '%-6s %10s %12s\n' node "RSS MiB" "KSM-merged MiB"
        for i in $(seq -f %02g "$n"); do
            pid=$(tb pgrep -P "$(tb systemctl show -p MainPID --value "coreos-vm@$i")" qemu-system)
            rss=$(tb awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status")
            merged=$(tb cat "/proc/$pid/ksm_merging_pages" 2>/dev/null || echo 0)
            printf '%-6s %10s %12s\n' "$i" "$rss" "$(( merged * page / 1048576 ))"
        done
        echo "system: pages_sharing $(cat $ksm_dir/pages_sharing) = $(( $(cat $ksm_dir/pages_sharing) * page / 1048576 )) MiB saved"
        echo "coreos-cluster status:"
        tb coreos-cluster status
    } >> "$TESTBED_WORK/memory"
}
if ! section memory; then
    :
elif [ -n "${TESTBED_KSM_WRITABLE:-}" ]; then
    run_ours "ksm" small 8 ipxe 0 "$SCALE_MEMORY_MIB" true
else
    echo "KSM: $ksm_dir is not writable here; not measured" >> "$TESTBED_WORK/memory"
fi

# --- report ----------------------------------------------------------------------
# Whatever is missing shows as "-"; the figures are all printed.
set +e
# A / B to two decimals, or "-" when either is missing.
ratio() { if [ -n "$1" ] && [ -n "$2" ] && [ "$2" != 0 ]; then printf '%.2f' "$(echo "scale=4; $1 / $2" | bc)"; else echo -; fi; }
echo
echo "== Boot benchmark, $(date -u +%F), TCG, one run; ms from start until every node reached the phase"
echo "   (fwdhcp = firmware DHCP; kernel/initrd = served over the network; linux = guest kernel's first line;"
echo "    dhcp = the guest's own lease; config = guest config fetched; put/get = etcdctl put on node 1, get on node N)"
printf '%-12s %-5s %5s %7s %7s %7s %7s %7s %7s %7s %8s %9s\n' how files nodes fwdhcp kernel initrd linux dhcp config etcd put/get "vs direct"
awk '$1 !~ /^(scale|ksm)/' "$results" | while read -r label size n fwdhcp kernel initrd linux dhcp config etcd putget; do
    direct=$(awk -v s="$size" -v n="$n" '$1 == "direct" && $2 == s && $3 == n {print $11}' "$results")
    printf '%-12s %-5s %5s %7s %7s %7s %7s %7s %7s %7s %8s %8sx\n' "$label" "$size" "$n" "$fwdhcp" "$kernel" "$initrd" \
        "$linux" "$dhcp" "$config" "$etcd" "$putget" "$(ratio "$putget" "$direct")"
done
declare -A FILES_ARE=([small]="test guest" [big]="Flatcar's size")
for size in $METHOD_FILES; do
    echo "($size = ${FILES_ARE[$size]}, $(( $(bytes "$size") / 1048576 )) MiB kernel + initrd)"
done

echo
echo "== Goals: ours-ipxe within 1.2x of direct kernel boot (1.3x at 1 node); HTTP >= 10x TFTP"
for size in $METHOD_FILES; do
    for n in $METHOD_NODES; do
        direct=$(awk -v s="$size" -v n="$n" '$1 == "direct" && $2 == s && $3 == n {print $11}' "$results")
        for how in ours-ipxe ours-direct classic; do
            # The classic recipe beyond 1 node runs in the full profile only.
            [ "$how" != classic ] || [ "$n" = 1 ] || [ -n "$FULL" ] || continue
            ours=$(awk -v h="$how" -v s="$size" -v n="$n" '$1 == h && $2 == s && $3 == n {print $11}' "$results")
            printf '%s / direct, %s, %s node(s): %sx\n' "$how" "$size" "$n" "$(ratio "$ours" "$direct")"
        done
    done
done
for size in $METHOD_FILES; do
    # HTTP: from boot.ipxe served to the initrd served (kernel + initrd), 1 node.
    script=$(awk -v k="ours-ipxe-$size" '$1 == k && $2 == "script" {print $3}' "$TESTBED_WORK/events")
    initrd=$(awk -v k="ours-ipxe-$size" '$1 == k && $2 == "initrd" {print $3}' "$TESTBED_WORK/events")
    tftp=$(awk -v s="$size" '$1 == "tftp" && $2 == s {print $3}' "$TESTBED_WORK/transfers")
    http=$(( ${initrd:-0} - ${script:-0} ))
    mib=$(( $(bytes "$size") / 1048576 ))
    printf '%s: kernel + initrd %d MiB, 1 node: HTTP %s ms (%s MiB/s), TFTP %s ms (%s MiB/s): HTTP %sx faster\n' "$size" \
        "$mib" "$http" "$(ratio "$(( mib * 1000 ))" "$http")" "${tftp:--}" "$(ratio "$(( mib * 1000 ))" "$tftp")" "$(ratio "$tftp" "$http")"
done

echo
echo "== Fixed cost at 1 node: ms since start (journal timestamps), ours-ipxe against ours-direct"
fixed_keys=()
for size in $METHOD_FILES; do fixed_keys+=("ours-ipxe-$size" "ours-direct-$size"); done
printf '%-8s' event
for key in "${fixed_keys[@]}"; do printf ' %18s' "$key"; done
echo
for name in qemu banner fwdhcp script kernel initrd linux init dhcp config etcd; do
    printf '%-8s' "$name"
    for key in "${fixed_keys[@]}"; do
        printf ' %18s' "$(awk -v k="$key" -v e="$name" '$1 == k && $2 == e {print ($3 == "" ? "-" : $3)}' "$TESTBED_WORK/events")"
    done
    echo
done

if section scale; then
    echo
    echo "== Scale: ms from start to put/get across all nodes (test guest, $SCALE_MEMORY_MIB MiB each)"
    printf '%-10s' stagger
    for n in $SCALE_SIZES; do printf ' %8s' "$n nodes"; done
    printf ' %s\n' "  ms per added node (1 -> 3, 3 -> 8${FULL:+, 8 -> 16})"
    for pace in 1 0 auto; do
        printf '%-10s' "$pace"
        prev_n= prev_t=
        slopes=
        for n in $SCALE_SIZES; do
            t=$(awk -v l="scale-$pace" -v n="$n" '$1 == l && $3 == n {print $11}' "$results")
            printf ' %8s' "${t:--}"
            if [ -n "$prev_t" ] && [ -n "$t" ]; then slopes+=" $(( (t - prev_t) / (n - prev_n) ))"; fi
            prev_n=$n prev_t=$t
        done
        echo "  $slopes"
    done
fi

echo
cat "$TESTBED_WORK/memory" 2>/dev/null || true
[ -n "$FULL" ] || echo "(quick profile; BENCH_FULL=1 adds Flatcar's size, the classic recipe at 3 nodes, scale to 16 nodes and KSM)"
