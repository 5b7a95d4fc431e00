#!/bin/bash
# Benchmark (figures, no timed assertion): the two local proxies a non-voting
# node can run, `etcd gateway` (TCP pass-through, v2 and v3) and `etcd
# grpc-proxy` (v3 only), side by side in front of 3 real etcd members on
# loopback (127.0.0.41-43; gateway .44, grpc-proxy .45), in a network
# namespace of its own.
#   0. both proxies start 5 s before any member: seconds from a proxy's start
#      to its first successful put (the proxy waits for the members);
#   then ROUNDS rounds, each with two SIGKILLs of one member:
#   a. the member the gateway forwards a held connection (a watch) to;
#   b. the leader (the grpc-proxy balances over all members: no one member is
#      its own);
#   and once at the end, c. the gateway's member killed and its address
#   blackholed (nft drops what is sent to it: a host that is gone, where a
#   killed process on a live host refuses connections at once).
#   After each kill, for each proxy: seconds until a put through it succeeds
#   again (polled every 0.1 s), until 10 puts in a row succeed (each a new
#   connection), and until a watch held through it delivers that put. The
#   killed member restarts on its data dir (it rejoins as itself) and the
#   cluster is healthy again before the next kill.
#   tests/bench/etcd-proxy.sh [ROUNDS]     (default 5)
# Needs etcd-server, etcd-client, curl, ss, nft (for c.); root or user
# namespaces (unshare --net).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/lib/common.sh"
rounds=${1:-5}
bound=${BOUND:-30}           # seconds a proxy may take after a kill
gone_bound=${GONE_BOUND:-180} # ... after the blackholing (Linux gives up a SYN after 127 s)
for tool in etcd etcdctl curl ss unshare; do
    command -v "$tool" >/dev/null || fail "$tool missing (tests/debian-packages.txt)"
done
if [ -z "${ETCD_PROXY_BENCH_IN_NETNS:-}" ]; then
    as_user=()
    [ "$(id -u)" = 0 ] || as_user=(--map-root-user)
    exec env ETCD_PROXY_BENCH_IN_NETNS=1 unshare --net "${as_user[@]}" "$0" "$@"
fi
ip link set lo up
work=$(mktemp -d /tmp/cc-etcd-proxy.XXXXXX)
client_port=$((21000 + RANDOM % 8000 * 2))
peer_port=$((client_port + 1))
declare -A pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

addr() { # member 1-3, gw, grpc
    case $1 in gw) echo 127.0.0.44 ;; grpc) echo 127.0.0.45 ;; *) echo "127.0.0.4$1" ;; esac
}
name() { case $1 in gw) echo gateway ;; grpc) echo grpc-proxy ;; *) echo "$1" ;; esac; }
client() { echo "http://$(addr "$1"):$client_port"; }
members="$(client 1),$(client 2),$(client 3)"
initial_cluster="m1=http://$(addr 1):$peer_port,m2=http://$(addr 2):$peer_port,m3=http://$(addr 3):$peer_port"
ctl() { ETCDCTL_API=3 etcdctl --endpoints="$(client "$1")" --dial-timeout=1s --command-timeout=2s "${@:2}"; }
now() { echo "$EPOCHREALTIME"; }
since() { echo "$(now) - $1" | bc; }

# start PROC CMD...: in the background, output to PROC.log, PID kept.
start() {
    local name=$1
    shift
    "$@" >>"$work/$name.log" 2>&1 &
    pids[$name]=$!
    disown # killed on purpose: no "Killed" notice
}
start_member() { # N; with a data dir already there, the cluster flags are unused
    local ip
    ip=$(addr "$1")
    start "m$1" etcd --name "m$1" --data-dir "$work/data$1" --enable-v2 \
        --listen-client-urls "http://$ip:$client_port" --advertise-client-urls "http://$ip:$client_port" \
        --listen-peer-urls "http://$ip:$peer_port" --initial-advertise-peer-urls "http://$ip:$peer_port" \
        --initial-cluster "$initial_cluster" --initial-cluster-state new --initial-cluster-token cc-proxy-bench
}
start_gateway() {
    start gw etcd gateway start --endpoints="$members" --listen-addr="$(addr gw):$client_port" --retry-delay=2s
}
start_grpc_proxy() {
    start grpc etcd grpc-proxy start --endpoints="$members" --listen-addr="$(addr grpc):$client_port" \
        --advertise-client-url=
}
kill_proc() { # NAME
    kill -KILL "${pids[$1]}"
    while kill -0 "${pids[$1]}" 2>/dev/null; do sleep 0.05; done
    unset "pids[$1]"
}

all_healthy() {
    local n
    for n in 1 2 3; do ctl "$n" endpoint health || return 1; done
    [ "$(ctl 1 member list | grep -c ', started, ')" = 3 ]
}
leader() { # the member number of the leader
    local n
    for n in 1 2 3; do
        [ "$(ctl "$n" endpoint status | awk -F', ' '{print $5}')" != true ] || { echo "$n"; return; }
    done
    return 1
}
# The member a held connection through the gateway goes to: the gateway's
# established connections to a member's client port (the watch's, between
# the short put connections).
gateway_backend() {
    local n
    for n in 1 2 3; do
        grep -q "$(addr "$n"):$client_port .*pid=${pids[gw]}," <<<"$(ss -tnpH state established)" &&
            { echo "$n"; return; }
    done
    return 1
}

# poll PROXY KEY START OUT [STREAK]: put KEY through PROXY every 0.1 s until
# STREAK (1 if not given) puts in a row succeed or $bound s pass. Writes to
# OUT the seconds from START (an $EPOCHREALTIME) to the first success and to
# the first success of that streak (">BOUND" if none), and the failed puts
# until then; or "exited" if the proxy died.
poll() {
    local proxy=$1 key=$2 t0=$3 out=$4 streak=${5:-1} first=timeout run=0 run_start failed=0
    while :; do
        if ctl "$proxy" put "$key" x >/dev/null 2>&1; then
            [ $run -gt 0 ] || run_start=$(since "$t0")
            [ "$first" != timeout ] || first=$run_start
            run=$((run + 1))
            [ $run -lt "$streak" ] || { echo "$first $run_start $failed" >"$out"; return; }
        else
            run=0 failed=$((failed + 1))
        fi
        case $proxy in gw | grpc) kill -0 "${pids[$proxy]}" 2>/dev/null || { echo "exited exited -" >"$out"; return; } ;; esac
        [ "$(echo "$(since "$t0") < $bound" | bc)" = 1 ] ||
            { echo "${first/timeout/>$bound} >$bound $failed" >"$out"; return; }
        sleep 0.1
    done
}
# watch_seen PROXY KEY START OUT: the seconds from START until the watch held
# through PROXY printed KEY (polled every 0.1 s).
watch_seen() {
    local proxy=$1 key=$2 t0=$3 out=$4
    until grep -qxF "$key" "$work/watch-$proxy.log"; do
        kill -0 "${pids[watch-$proxy]}" 2>/dev/null || { echo "watch-exited" >"$out"; return; }
        [ "$(echo "$(since "$t0") < $bound" | bc)" = 1 ] || { echo ">$bound" >"$out"; return; }
        sleep 0.1
    done
    since "$t0" >"$out"
}
start_watch() { # PROXY: watches its own prefix, through the proxy
    start "watch-$1" env ETCDCTL_API=3 etcdctl --endpoints="$(client "$1")" watch --prefix "/bench/$1/"
}

results=$work/results
: >"$results"
# measure ROUND KILL WHAT [gone]: kill member KILL (and blackhole its address
# with "gone"), time both proxies, restart it.
measure() {
    local round=$1 victim=$2 what=$3 gone=${4:-} t0 p key role=follower bound=$bound
    [ "$victim" != "$(leader)" ] || role=leader
    [ -z "$gone" ] || bound=$gone_bound
    # Gone: nothing it sends (the FINs of its sockets included) or is sent arrives.
    [ -z "$gone" ] || nft add rule inet bench out ip daddr "$(addr "$victim")" drop \; \
        add rule inet bench out ip saddr "$(addr "$victim")" drop
    t0=$(now)
    kill_proc "m$victim"
    for p in gw grpc; do
        key=/bench/$p/r$round-$what
        poll "$p" "$key" "$t0" "$work/put-$p" 10 &
        watch_seen "$p" "$key" "$t0" "$work/watch-$p" &
    done
    wait
    for p in gw grpc; do
        printf '%s %s %s m%s(%s) %s %s\n' "$p" "$round" "$what" "$victim" "$role" \
            "$(cat "$work/put-$p")" "$(cat "$work/watch-$p")" >>"$results"
    done
    [ -z "$gone" ] || nft flush chain inet bench out
    start_member "$victim"
    wait_for 60 "m$victim rejoined and healthy" all_healthy
    # A watch that ended (counted in the table as watch-exited) starts again.
    for p in gw grpc; do kill -0 "${pids[watch-$p]}" 2>/dev/null || start_watch "$p"; done
    sleep 2.5 # past the gateway's retry delay: it uses the restarted member again
    wait_for 10 "the gateway's watch connection" gateway_backend
}

log "0. both proxies first, the members 5 s later (a proxy answers after at most ${bound}s)"
t0=$(now)
start_gateway
start_grpc_proxy
poll gw /bench/start "$t0" "$work/start-gw" &
poll grpc /bench/start "$t0" "$work/start-grpc" &
sleep 5
tm=$(now)
for n in 1 2 3; do start_member "$n"; done
poll 1 /bench/start "$tm" "$work/start-m1"
wait
start_status=()
for p in gw grpc; do
    read -r s _ <"$work/start-$p"
    if [ "$s" = exited ]; then
        start_status+=("$p: exited before answering ($(grep -m1 -oE '"msg":"[^"]*"' "$work/$p.log" | tail -1))")
        if [ "$p" = gw ]; then start_gateway; else start_grpc_proxy; fi
        wait_for 20 "$p started again" ctl "$p" put /bench/start x
    fi
done
wait_for 60 "a healthy cluster" all_healthy

log "v2 (curl /v2/keys) through each proxy"
ETCDCTL_API=2 etcdctl --endpoints="$(client 1)" set /bench-v2 v2value >/dev/null
v2=()
for p in gw grpc; do
    v2+=("$(name "$p"): HTTP $(curl -s -o "$work/v2-$p" -w '%{http_code}' "$(client "$p")/v2/keys/bench-v2") $(head -c 80 "$work/v2-$p")")
done

# One put's cost through each proxy, process start included (the resolution
# of every figure below).
declare -A base=()
for p in gw grpc 1; do
    a=$(now)
    for _ in 1 2 3 4 5; do ctl "$p" put /bench/base x >/dev/null; done
    base[$p]=$(echo "scale=3; ($(now) - $a) / 5" | bc)
done

start_watch gw
start_watch grpc
wait_for 10 "the gateway's watch connection" gateway_backend
for round in $(seq "$rounds"); do
    log "round $round/$rounds"
    measure "$round" "$(gateway_backend)" gw-backend
    measure "$round" "$(leader)" leader
done
if command -v nft >/dev/null; then
    log "the gateway's member gone (killed, its address blackholed; up to ${gone_bound}s)"
    nft add table inet bench
    nft add chain inet bench out '{ type filter hook output priority 0; }'
    measure 1 "$(gateway_backend)" gw-gone gone
fi

median() { grep -E '^[0-9.]+$' | sort -n | awk '{v[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
fmt() { case $1 in *[!0-9.]*) echo "$1" ;; *) printf '%.2f' "$1" ;; esac; }
column() { # COLUMN [AWK-CONDITION]: the median of a column of the results
    awk -v c="$1" "${2:-1} {print \$c}" "$results" | median
}
row='%-11s %-5s %-11s %-13s %8s %8s %7s %8s\n'

echo
echo "etcd $(etcd --version | awk '/^etcd Version/ {print $3}'), 3 members on loopback; one put costs (etcdctl start included):" \
    "through the gateway ${base[gw]} s, the grpc-proxy ${base[grpc]} s, on a member ${base[1]} s"
echo
echo "0. proxies started 5 s before the members: seconds from a proxy's start to its first put"
for p in gw grpc; do
    read -r s _ <"$work/start-$p"
    printf '   %-11s %8s\n' "$(name "$p")" "$(fmt "$s")"
done
read -r s _ <"$work/start-m1"
printf '   %-11s %8s   (from the members'"'"' start, on member 1)\n' member "$(fmt "$s")"
for s in "${start_status[@]}"; do echo "   $s"; done
echo
echo "v2 through the proxies:"
for s in "${v2[@]}"; do echo "   $s"; done
echo
echo "seconds from the SIGKILL until through the proxy: a put succeeds (put), 10 puts in a row succeed"
echo "(10 ok; failed: the puts that failed until then, each up to 1 s dial + 2 s command timeout), a watch"
echo "held through the proxy delivers that put (watch)"
printf "$row" proxy round killed member put "10 ok" failed watch
while read -r p round what victim put steady failed watch; do
    printf "$row" "$(name "$p")" "$round" "$what" "$victim" "$(fmt "$put")" "$(fmt "$steady")" "$failed" "$(fmt "$watch")"
done <"$results"
echo
echo "median of $rounds rounds"
printf "$row" proxy "" killed "" put "10 ok" failed watch
for p in gw grpc; do
    for what in gw-backend leader "gw-backend|leader"; do
        cond="\$1 == \"$p\" && \$3 ~ /^($what)\$/"
        printf "$row" "$(name "$p")" "" "${what/gw-backend|leader/both}" "" "$(fmt "$(column 5 "$cond")")" \
            "$(fmt "$(column 6 "$cond")")" "$(column 7 "$cond")" "$(fmt "$(column 8 "$cond")")"
    done
done
echo "this namespace: net.ipv4.tcp_syn_retries $(cat /proc/sys/net/ipv4/tcp_syn_retries)," \
    "net.ipv4.tcp_retries2 $(cat /proc/sys/net/ipv4/tcp_retries2)"
echo "gateway log: $(grep -c '"msg":"deactivated endpoint"' "$work/gw.log" || true) endpoint deactivations," \
    "$(grep -c '"msg":"activated"' "$work/gw.log" || true) reactivations"
