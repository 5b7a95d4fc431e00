#!/bin/bash
# Benchmark (figures, no timed assertion): one host at scale, in one test bed
# and one run (TCG, the small test guest at MEMORY_MIB).
# 1. Forming: seconds from `systemctl start coreos-cluster@N` to a put on
#    node 1 read back on every node, for each N:MEMBERS of SCALE_FORM, and
#    seconds per added node; the load average when it formed.
# 2. Recovery, at the largest "auto" size of SCALE_FORM: after SIGKILL of a
#    voter (node 2) and of a proxy (the last node), the seconds until the
#    cluster takes a put again (through node 1) and until the killed node
#    answers a get again.
# 3. Memory against N (SCALE_MEMORY), KSM off and then on at the configured
#    pace: the VMs started a step at a time, each step measured once every
#    node answers and SCALE_SETTLE_SEC have passed: the sum of the QEMU
#    processes' RSS (as `status --json` reports it), the drop of the host's
#    MemAvailable, KSM's pages_sharing. With KSM on, the savings are sampled
#    for SCALE_KSM_SAMPLE_SEC more at the last step: how long they take to
#    build up. Drawn as an SVG with gnuplot when it is installed.
# /sys/kernel/mm/ksm is global to the machine: its settings are put back.
#   tests/bench/scale.sh                 quick (a few minutes)
#   BENCH_FULL=1 tests/bench/scale.sh    N up to 20 (about half an hour)
# SCALE_FORM, SCALE_MEMORY, SCALE_SETTLE_SEC, SCALE_KSM_SAMPLE_SEC and
# SCALE_SVG (default target/bench/scale-memory.svg) override the profile.
set -euo pipefail
source "$(dirname "$0")/../lib/testbed.sh"
testbed_reexec_private "$0" "$@"

if [ -n "${BENCH_FULL:-}" ]; then
    FORM=${SCALE_FORM-1:auto 3:auto 3:all 8:auto 8:all 16:auto 20:auto}
    MEMORY=${SCALE_MEMORY-3 4 8 12 16 20}
    SETTLE=${SCALE_SETTLE_SEC:-30}
    KSM_SAMPLE=${SCALE_KSM_SAMPLE_SEC:-120}
else
    FORM=${SCALE_FORM-1:auto 3:auto 3:all 5:auto}
    MEMORY=${SCALE_MEMORY-3 5}
    SETTLE=${SCALE_SETTLE_SEC:-20}
    KSM_SAMPLE=${SCALE_KSM_SAMPLE_SEC:-0}
fi
SVG=${SCALE_SVG:-$TESTBED_TOP/target/bench/scale-memory.svg}
FORM_TIMEOUT_SEC=600
# The smallest the test guest's voters run in: etcd 3.4 preallocates two
# 64 MiB WAL segments in its tmpfs (half the RAM); at 256 MiB a voter of the
# 20-node run died of "no space left on device".
MEMORY_MIB=384
max_nodes=$(for n in $MEMORY $FORM; do echo "${n%%:*}"; done | sort -n | tail -1)
# The memory pass runs members = "auto": with 3 or more nodes, nodes 1-3 vote
# and none of them answers before the other two run.
memory_last=$(echo "$MEMORY" | tr ' ' '\n' | tail -1)
memory_voters=$((memory_last <= 2 ? 1 : 3))
memory_first=$(echo "$MEMORY" | tr ' ' '\n' | head -1)
[ "$memory_first" -ge "$memory_voters" ] ||
    { echo "SCALE_MEMORY: the first step ($memory_first) must start the $memory_voters voters" >&2; exit 2; }

testbed_keep_ksm
ksm_dir=$KSM_DIR

testbed_make_guest_root "$MEMORY_MIB" 10
r=$TESTBED_ROOT
printf '[cluster]\nmax-nodes = %d\n' "$max_nodes" > "$r/etc/coreos-cluster/cluster.toml.d/50-bench.toml"
testbed_boot multi-user.target
results=$TESTBED_WORK/results
: > "$results"

now_ms() { date +%s%3N; }
node_ip() { echo "10.77.0.$((10 + $1))"; }
configure() { # MEMBERS KSM_ENABLE
    local members=$1
    [[ $members =~ ^[0-9]+$ ]] || members="\"$members\""
    printf '[etcd]\nmembers = %s\n[ksm]\nenable = %s\n' "$members" "$2" > "$r/etc/coreos-cluster/cluster.toml.d/60-run.toml"
    tb systemctl daemon-reload
}
# A put on node 1, read back on nodes 1..N.
answers_everywhere() { # N KEY
    local i got
    etcdctl_on "$(node_ip 1)" put "$2" "$2" >/dev/null 2>&1 || return 1
    for i in $(seq "$1"); do
        got=$(etcdctl_on "$(node_ip "$i")" get --print-value-only "$2" 2>/dev/null) || return 1
        [ "$got" = "$2" ] || return 1
    done
}
# Waits until FROM..TO answer /health; fails after SECONDS.
wait_answering() { # FROM TO SECONDS
    local deadline=$(($(date +%s) + $3)) i
    for i in $(seq "$1" "$2"); do
        until tb curl -sf --max-time 2 "http://$(node_ip "$i"):2379/health" | grep -q '"health":"true"'; do
            if [ "$(date +%s)" -ge "$deadline" ]; then
                tb systemctl status --no-pager "coreos-vm@$(printf %02x "$i").service" >&2 || true
                tb journalctl -u "coreos-vm@$(printf %02x "$i").service" -o cat --no-pager | tail -20 >&2
                fail "node $i does not answer after $3 s"
            fi
            sleep 1
        done
    done
}
# Seconds since T0_MS, one decimal.
since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f\n", (b - a) / 1000 }'; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }

# --- 1. forming, 2. recovery ---------------------------------------------------
recovery_size=$(for run in $FORM; do [ "${run#*:}" = auto ] && echo "${run%:*}"; done | sort -n | tail -1)
recovery() { # N: SIGKILL a voter, then a proxy
    local n=$1 node kind t0 put_s get_s unit qemu
    for node in 2 "$n"; do
        kind=voter # members = "auto" with 3 or more nodes: nodes 1-3 vote
        [ "$node" -le 3 ] || kind=proxy
        unit=coreos-vm@$(printf %02x "$node").service
        qemu=$(tb pgrep -P "$(tb systemctl show -p MainPID --value "$unit")" qemu-system) ||
            fail "no QEMU under $unit"
        t0=$(now_ms)
        tb kill -KILL "$qemu"
        until etcdctl_on "$(node_ip 1)" put after-kill "$node" >/dev/null 2>&1; do sleep 0.2; done
        put_s=$(since "$t0")
        until [ "$(etcdctl_on "$(node_ip "$node")" get --print-value-only after-kill 2>/dev/null)" = "$node" ]; do
            [ "$(since "$t0" | cut -d. -f1)" -lt 300 ] || fail "node $node did not answer within 300 s of its SIGKILL"
            sleep 0.5
        done
        get_s=$(since "$t0")
        echo "recovery $n $kind $node $put_s $get_s" >> "$results"
        log "SIGKILL of $kind node $node: the cluster took a put after $put_s s, node $node answered after $get_s s"
    done
}
for run in $FORM; do
    n=${run%:*} members=${run#*:}
    log "forming $n node(s), etcd.members = $members"
    configure "$members" false
    t0=$(now_ms)
    tb systemctl start "coreos-cluster@$n.service"
    formed=''
    while [ "$(since "$t0" | cut -d. -f1)" -lt "$FORM_TIMEOUT_SEC" ]; do
        if answers_everywhere "$n" "formed-$n"; then formed=$(since "$t0"); break; fi
        sleep 1
    done
    load=$(loadavg)
    voters=$(etcdctl_on "$(node_ip 1)" member list 2>/dev/null | grep -c ', started, ' || true)
    echo "form $n $members ${formed:-none} $voters $load" >> "$results"
    log "$n node(s), members = $members: $([ -n "$formed" ] && echo "formed after $formed s" || echo "not formed"), $voters voters, load $load"
    if [ -n "$formed" ] && [ "$members" = auto ] && [ "$n" = "$recovery_size" ] && [ "$n" -ge 4 ]; then
        recovery "$n"
    fi
    tb systemctl stop "coreos-cluster@$n.service"
done

# --- 3. memory against N, KSM off and on ---------------------------------------
mem_available_mib() { awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo; }
rss_sum_mib() {
    python3 -c 'import json,sys; print(sum(n.get("rss_bytes") or 0 for n in json.loads(sys.argv[1])["nodes"]) // 1048576)' \
        "$(tb coreos-cluster status --json)"
}
ksm_saved_mib() { [ -r "$ksm_dir/pages_sharing" ] && echo $(($(cat "$ksm_dir/pages_sharing") * $(getconf PAGESIZE) / 1048576)) || echo 0; }
memory_pass() { # KSM_ENABLE
    local ksm=$1 last=$memory_last started=0 n i base t0
    configure auto "$ksm"
    tb systemctl start coreos-cluster-network.service coreos-cluster-http.service
    tb coreos-cluster prepare "$last" >/dev/null
    if [ "$ksm" = true ]; then
        # What coreos-cluster@.service does: want the KSM unit while it runs.
        tb systemd-run --quiet --unit=bench-needs-ksm -p Wants=coreos-cluster-ksm.service \
            -p After=coreos-cluster-ksm.service sleep infinity
        wait_for 10 "KSM on" grep -qx 1 "$ksm_dir/run"
        KSM_PACE="pages_to_scan $(cat "$ksm_dir/pages_to_scan"), sleep_millisecs $(cat "$ksm_dir/sleep_millisecs")"
    fi
    sleep 5
    base=$(mem_available_mib)
    for n in $MEMORY; do
        for i in $(seq $((started + 1)) "$n"); do tb systemctl start --no-block "coreos-vm@$(printf %02x "$i").service"; done
        wait_answering $((started + 1)) "$n" 600
        started=$n
        sleep "$SETTLE"
        echo "memory $ksm $n $(rss_sum_mib) $((base - $(mem_available_mib))) $(ksm_saved_mib)" >> "$results"
        log "KSM $ksm, $n VMs, ${SETTLE} s after all answered: QEMU RSS $(rss_sum_mib) MiB, MemAvailable -$((base - $(mem_available_mib))) MiB, KSM saves $(ksm_saved_mib) MiB"
    done
    if [ "$ksm" = true ] && [ "$KSM_SAMPLE" -gt 0 ]; then
        t0=$(now_ms)
        while [ "$(since "$t0" | cut -d. -f1)" -lt "$KSM_SAMPLE" ]; do
            echo "ksm-buildup $n $(echo "$SETTLE + $(since "$t0")" | bc) $(ksm_saved_mib) $((base - $(mem_available_mib)))" >> "$results"
            sleep 15
        done
    fi
    tb systemctl stop 'coreos-vm@*.service'
    [ "$ksm" = true ] && tb systemctl stop bench-needs-ksm.service
    tb systemctl stop coreos-cluster-http.service coreos-cluster-network.service
}
memory_pass false
if [ -n "${TESTBED_KSM_WRITABLE:-}" ]; then
    memory_pass true
else
    log "KSM: $ksm_dir is not writable here; memory measured with KSM off only"
fi

# --- the figures -------------------------------------------------------------
echo
echo "== forming: systemctl start coreos-cluster@N to a put on node 1 read on every node (TCG, $MEMORY_MIB MiB guests)"
printf '%4s %8s %10s %7s %6s %14s\n' N members seconds voters load "s/added node"
prev_n='' prev_s=''
while read -r _ n members secs voters load; do
    per=''
    if [ "$members" = auto ] && [ "$secs" != none ]; then
        [ -n "$prev_n" ] && per=$(echo "scale=1; ($secs - $prev_s) / ($n - $prev_n)" | bc)
        prev_n=$n prev_s=$secs
    fi
    printf '%4s %8s %10s %7s %6s %14s\n' "$n" "$members" "$secs" "$voters" "$load" "${per:--}"
done < <(grep '^form ' "$results")
if grep -q '^recovery ' "$results"; then
    echo
    echo "== recovery after SIGKILL (seconds from the kill)"
    printf '%4s %6s %5s %20s %22s\n' N kind node "cluster takes a put" "the node answers again"
    grep '^recovery ' "$results" | while read -r _ n kind node put get; do
        printf '%4s %6s %5s %20s %22s\n' "$n" "$kind" "$node" "$put" "$get"
    done
fi
echo
echo "== memory after ${SETTLE} s (MiB; KSM's pace: ${KSM_PACE:-KSM not run})"
printf '%4s %14s %14s %14s %14s %12s %16s\n' N "RSS, KSM off" "drop, KSM off" "RSS, KSM on" "drop, KSM on" "KSM saves" "saved per VM"
for n in $MEMORY; do
    read -r _ _ _ rss_off drop_off _ < <(grep "^memory false $n " "$results")
    read -r _ _ _ rss_on drop_on saved < <(grep "^memory true $n " "$results" || echo "- - - - - -")
    per='-'
    [ "$saved" != - ] && per=$((saved / n))
    printf '%4s %14s %14s %14s %14s %12s %16s\n' "$n" "$rss_off" "$drop_off" "$rss_on" "$drop_on" "$saved" "$per"
done
if grep -q '^ksm-buildup ' "$results"; then
    echo
    echo "== KSM's savings building up at $(grep '^ksm-buildup ' "$results" | head -1 | cut -d' ' -f2) VMs (seconds after all answered: MiB saved, MemAvailable drop)"
    grep '^ksm-buildup ' "$results" | awk '{printf "%6.0f s: %6d MiB saved, drop %6d MiB\n", $3, $4, $5}'
fi
if command -v gnuplot >/dev/null; then
    mkdir -p "$(dirname "$SVG")"
    grep '^memory false ' "$results" | cut -d' ' -f3- > "$TESTBED_WORK/off.dat"
    grep '^memory true ' "$results" | cut -d' ' -f3- > "$TESTBED_WORK/on.dat"
    plots="'$TESTBED_WORK/off.dat' using 1:3 with linespoints title 'MemAvailable drop, KSM off', '$TESTBED_WORK/off.dat' using 1:2 with linespoints dashtype 2 title 'sum of QEMU RSS, KSM off'"
    [ -s "$TESTBED_WORK/on.dat" ] && plots+=", '$TESTBED_WORK/on.dat' using 1:3 with linespoints title 'MemAvailable drop, KSM on', '$TESTBED_WORK/on.dat' using 1:4 with linespoints title 'saved by KSM'"
    gnuplot <<GNUPLOT
set terminal svg size 720,420 dynamic font "sans,12"
set output '$SVG'
set title "Host memory against VMs ($MEMORY_MIB MiB test guests, ${SETTLE} s after all answered; $(date -u +%F))"
set xlabel "VMs"
set ylabel "MiB"
set key left top
set grid
plot $plots
GNUPLOT
    echo "chart: $SVG"
else
    echo "chart: gnuplot is not installed; no SVG drawn"
fi
