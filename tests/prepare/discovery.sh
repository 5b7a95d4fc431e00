#!/bin/bash
# `coreos-cluster prepare` allocating discovery against real peers on the
# loopback: a self-hosted etcd 3.4 (--enable-v2) and a local stand-in for the
# public discovery service with its failure cases (5xx, garbage, timeout).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${TESTBED_BIN:-$top/target/debug}/coreos-cluster
source "$top/tests/lib/common.sh"

work=$(mktemp -d /tmp/coreos-cluster-discovery.XXXXXX)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# A fake root: the image files prepare copies, and a config per test.
root=$work/root
mkdir -p "$root/etc/coreos-cluster" "$root/img" "$root/srv/coreos-cluster/http" "$root/run"
echo kernel > "$root/img/vmlinuz"
echo initrd > "$root/img/initrd"
configure() { # MODE URL [ETCD_MEMBERS]
    cat > "$root/etc/coreos-cluster/cluster.toml" <<EOF
[discovery]
mode = "$1"
url = "$2"

[etcd]
members = ${3:-"\"auto\""}

[image]
source = "files"
kernel = "/img/vmlinuz"
initrd = "/img/initrd"
EOF
}
prepare() { "$bin" --root "$root" prepare "$@"; }
cloud_config=$root/srv/coreos-cluster/http/coreos-cluster/cloud-config.yaml

log "self-hosted etcd: a fresh token with _config/size = the number of voters"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
etcd_port=$(free_port)
peer_port=$(free_port)
etcd --name discovery --data-dir "$work/etcd" --enable-v2 \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "discovery=http://127.0.0.1:$peer_port" > "$work/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$etcd_port/health" >/dev/null 2>&1 && break
    sleep 0.1
done
configure etcd "http://127.0.0.1:$etcd_port"
out=$(prepare 3)
url=$(cat "$root/run/coreos-cluster/discovery-url")
[[ $url =~ ^http://127\.0\.0\.1:$etcd_port/v2/keys/_etcd/registry/[0-9a-f]{32}$ ]] || fail "discovery URL: $url"
grep -qF "discovery: $url" <<<"$out" || fail "prepare did not say the URL: $out"
size=$(curl -sf "$url/_config/size")
python3 -c 'import json,sys; assert json.loads(sys.argv[1])["node"]["value"] == "3", sys.argv[1]' "$size" ||
    fail "_config/size: $size"
grep -qF "    discovery: \"$url\"" "$cloud_config" || fail "cloud-config lacks the discovery URL"
registry_size() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["node"]["value"])' "$(curl -sf "$1/_config/size")"; }
out=$(prepare 5)
url2=$(cat "$root/run/coreos-cluster/discovery-url")
[ "$url2" != "$url" ] || fail "a second prepare reused the token"
grep -qF "    discovery: \"$url2\"" "$cloud_config" || fail "cloud-config not updated"
[ "$(registry_size "$url2")" = 3 ] || fail "5 nodes, members auto: _config/size $(registry_size "$url2")"
grep -qF "etcd: 3 of 5 nodes vote, 2 proxy to them" <<<"$out" || fail "prepare did not say the voters: $out"
for members_size in '"all" 5 5' '5 7 5' '5 4 3' '1 5 1'; do
    read -r members size expected <<<"$members_size"
    configure etcd "http://127.0.0.1:$etcd_port" "$members"
    prepare "$size" >/dev/null
    got=$(registry_size "$(cat "$root/run/coreos-cluster/discovery-url")")
    [ "$got" = "$expected" ] || fail "members = $members, $size nodes: _config/size $got, not $expected"
done

log "self-hosted etcd that is not there: a clear error"
configure etcd "http://127.0.0.1:1"
if out=$(prepare 3 2>&1); then fail "prepare succeeded without etcd"; fi
grep -q "PUT http://127.0.0.1:1/v2/keys/_etcd/registry/.*/_config/size failed after 3 attempts" <<<"$out" ||
    fail "unclear error: $out"

log "public discovery: a local stand-in for the service"
python3 "$top/tests/prepare/fake-discovery.py" "$work/port" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
base=http://127.0.0.1:$(cat "$work/port")
configure public "$base/ok"
prepare 3 >/dev/null
url=$(cat "$root/run/coreos-cluster/discovery-url")
[[ $url =~ ^$base/ok/[0-9a-f]{32}-3$ ]] || fail "public discovery URL: $url"
prepare 8 >/dev/null
url=$(cat "$root/run/coreos-cluster/discovery-url")
[[ $url =~ ^$base/ok/[0-9a-f]{32}-3$ ]] || fail "8 nodes, members auto: not a token of size 3: $url"

configure public "$base/error"
if out=$(prepare 3 2>&1); then fail "prepare succeeded on 503"; fi
grep -q "GET $base/error/new?size=3 failed after 3 attempts: HTTP 503 Service Unavailable: \"service unavailable\"" <<<"$out" ||
    fail "unclear 5xx error: $out"

configure public "$base/garbage"
if out=$(prepare 3 2>&1); then fail "prepare accepted garbage"; fi
grep -q 'the answer is not a discovery URL: "<html><body>oops</body></html>"' <<<"$out" || fail "unclear garbage error: $out"

configure public "$base/flaky"
out=$(prepare 3 2>&1) || fail "flaky service not retried: $out"
grep -q "attempt 2 failed: HTTP 503" <<<"$out" || fail "no retry shown: $out"

configure public "$base/slow"
start=$(date +%s)
out=$(prepare 3 2>&1) || fail "slow service: $out"
took=$(( $(date +%s) - start ))
grep -qi "attempt 1 failed: .*time" <<<"$out" || fail "no timeout shown: $out"
[ "$took" -lt 15 ] || fail "the timeout did not cut the hanging request ($took s)"
log "PASS"
