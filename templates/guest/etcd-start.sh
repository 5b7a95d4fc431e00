#!/bin/sh
# coreos-cluster-etcd: starts etcd on a coreos-cluster guest. etcd reads its
# settings from the ETCD_* environment (the unit's EnvironmentFile=).
#
# A network-booted guest keeps etcd's data in RAM: after a crash or kill it
# comes back empty and cannot start as "new" in a running cluster. It rejoins
# (removes its old member, adds itself again, starts as "existing") only if
#   - a healthy peer holds /coreos-cluster/identity equal to this cluster's
#     identity (the initial-cluster-token, unique to each cluster start, or
#     the discovery URL), and
#   - that peer lists a started member with this node's name.
# Otherwise it starts as new: a member of an earlier cluster on the same
# addresses has another identity and is never taken for this node's.
# Once etcd is healthy, the identity is recorded if no node did it yet.
#
# Only some nodes vote (etcd.members); every other node runs `etcd gateway`,
# a TCP pass-through to the members on the same client port, so it answers
# v3 and v2 alike on 127.0.0.1 and its own address, and `member list` through
# it names the real members. Static discovery: the members are those in
# ETCD_INITIAL_CLUSTER. Discovery: the first <size> registrants by creation
# order (etcd's own rule); a node that finds the registry full proxies, and
# etcd itself exits on a registry that fills while it registers (fallback
# "exit": the default "proxy" is the v2 proxy, which serves no v3 client).
# Messages start with "coreos-cluster-etcd:". POSIX sh (busybox ash too).
set -u
PATH=/opt/bin:$PATH
identity_key=/coreos-cluster/identity
identity=${ETCD_DISCOVERY:-${ETCD_INITIAL_CLUSTER_TOKEN:-}}
own_client_url=${ETCD_ADVERTISE_CLIENT_URLS%%,*}
own_peer_url=${ETCD_INITIAL_ADVERTISE_PEER_URLS%%,*}
# Every node uses the same client port; peers are known by their peer URLs.
client_port=${own_client_url##*:}

say() { echo "coreos-cluster-etcd: $*"; }

ctl() { # ctl ENDPOINT ARGS...
    endpoint=$1
    shift
    ETCDCTL_API=3 etcdctl --endpoints="$endpoint" --dial-timeout=2s --command-timeout=3s "$@"
}

fetch() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsS --max-time 5 "$1"
    else
        wget -q -T 5 -O - "$1"
    fi
}

# The size the discovery token was made for.
discovery_size() {
    fetch "$ETCD_DISCOVERY/_config/size" 2>/dev/null | sed -n 's/.*"value":"\([0-9]*\)".*/\1/p'
}

# The members, "name=peer URL" a line: the static initial cluster, or the
# first <size> registrants by creation order (the _config directory has no
# value). Fails when the registry cannot be read.
members() {
    if [ -z "${ETCD_DISCOVERY:-}" ]; then
        echo "${ETCD_INITIAL_CLUSTER:-}" | tr ',' '\n'
        return
    fi
    size=$(discovery_size)
    [ -n "$size" ] || return 1
    registry=$(fetch "$ETCD_DISCOVERY" 2>/dev/null) || return 1
    echo "$registry" | tr '{' '\n' |
        sed -n 's/.*"value":"\([^"]*\)".*"createdIndex":\([0-9]*\).*/\2 \1/p' |
        sort -n | head -n "$size" | cut -d' ' -f2-
}

# The members' peer URLs, one a line.
peer_urls() {
    members | sed 's/^[^=]*=//; s/,.*//'
}

# "member" or "proxy". Under discovery, a registry that is not full yet (or
# cannot be read) makes this node a candidate: etcd decides as it registers.
role() {
    list=$(members) || { echo member; return; }
    if echo "$list" | grep -qxF "$ETCD_NAME=$own_peer_url"; then
        echo member
    elif [ -n "${ETCD_DISCOVERY:-}" ] && [ "$(echo "$list" | grep -c .)" -lt "$(discovery_size)" ]; then
        echo member
    else
        echo proxy
    fi
}

# Forwards this node's client port to the members, for the rest of its life.
proxy() {
    endpoints=$(peer_urls | sed "s|:[0-9]*\$|:$client_port|" | tr '\n' ',')
    endpoints=${endpoints%,}
    # Where this node's member would listen (the first client URL's host:port).
    listen=${ETCD_LISTEN_CLIENT_URLS%%,*}
    listen=${listen#*://}
    say "proxy on $listen to the members $endpoints"
    # A dead endpoint is retried after 2 s (the gateway's default: a minute).
    exec etcd gateway start --endpoints="$endpoints" --listen-addr="$listen" --retry-delay=2s
}

# Succeeds (with the etcd settings changed) when this node rejoined.
rejoin_if_lost() {
    [ -n "$identity" ] || return 1
    for peer in $(peer_urls); do
        [ "$peer" = "$own_peer_url" ] && continue
        url=${peer%:*}:$client_port
        ctl "$url" endpoint health >/dev/null 2>&1 || continue
        theirs=$(ctl "$url" get --print-value-only "$identity_key" 2>/dev/null) || continue
        if [ "$theirs" != "$identity" ]; then
            say "peer $url is of another cluster (identity ${theirs:-none}), not this one's"
            continue
        fi
        id=$(ctl "$url" member list 2>/dev/null |
            awk -F', ' -v name="$ETCD_NAME" '$2 == "started" && $3 == name { print $1; exit }')
        [ -n "$id" ] || return 1
        say "rejoining: member $id ($ETCD_NAME) lost its data, replacing it via $url"
        if ! ctl "$url" member remove "$id" >/dev/null; then
            say "rejoin failed: could not remove member $id"
            exit 1
        fi
        # etcd refuses an add until the leader has seen a quorum for a few
        # seconds ("unhealthy cluster"), which a remove can briefly upset.
        tries=0
        until added=$(ctl "$url" member add "$ETCD_NAME" --peer-urls="$own_peer_url"); do
            tries=$((tries + 1))
            if [ "$tries" -ge 30 ]; then
                say "rejoin failed: could not add $ETCD_NAME again"
                exit 1
            fi
            sleep 1
        done
        ETCD_INITIAL_CLUSTER=$(echo "$added" | sed -n 's/^ETCD_INITIAL_CLUSTER="\(.*\)"$/\1/p')
        ETCD_INITIAL_CLUSTER_STATE=existing
        export ETCD_INITIAL_CLUSTER ETCD_INITIAL_CLUSTER_STATE
        unset ETCD_DISCOVERY
        return 0
    done
    return 1
}

record_identity() {
    [ -n "$identity" ] || return 0
    printf 'create("%s") = "0"\n\nput %s %s\n\n\n' "$identity_key" "$identity_key" "$identity" |
        ctl "$own_client_url" txn >/dev/null 2>&1
    recorded=$(ctl "$own_client_url" get --print-value-only "$identity_key" 2>/dev/null)
    say "cluster identity: ${recorded:-not recorded}"
}

[ -n "${ETCD_DISCOVERY:-}" ] && export ETCD_DISCOVERY_FALLBACK=exit
if [ "$(role)" = proxy ]; then
    proxy
fi
if [ -d "${ETCD_DATA_DIR:?}/member" ]; then
    say "starting the member whose data is in $ETCD_DATA_DIR"
elif ! rejoin_if_lost; then
    say "starting as a new member of ${identity:-a cluster}"
fi
mkdir -p "$ETCD_DATA_DIR"
etcd &
etcd_pid=$!
trap 'kill -TERM "$etcd_pid" 2>/dev/null' TERM INT
while kill -0 "$etcd_pid" 2>/dev/null; do
    if ctl "$own_client_url" endpoint health >/dev/null 2>&1; then
        record_identity
        break
    fi
    sleep 1
done
wait "$etcd_pid"
status=$?
# A signal ends the first wait early; etcd is still shutting down.
if kill -0 "$etcd_pid" 2>/dev/null; then
    wait "$etcd_pid"
    status=$?
fi
# The registry filled while this node registered: etcd exited, it proxies.
if [ "$status" -ne 0 ] && [ -n "${ETCD_DISCOVERY:-}" ] && [ "$(role)" = proxy ]; then
    proxy
fi
exit "$status"
