#!/bin/bash
# End to end with the default image source, as a user on a fresh install runs
# it: `[image] source = "flatcar"`, nothing cached. The release host is a local
# server in the test bed laid out like Flatcar's (version.txt, a version's
# directory, detached signatures by a key made here), serving the
# Flatcar-like test guest (tests/flatcar-guest/: real Ignition 2.14, real
# systemd) under Flatcar's file names, and an etcd release tarball made from
# Debian's etcd. So the whole start path runs: fetch, verify, cache, serve,
# PXE boot (iPXE), Ignition, our etcd unit.
#   1. `systemctl start coreos-cluster@3`: fetched and verified, an etcd
#      cluster forms; put on node 1, get on node 3; status --json; our nginx
#      served the Ignition config and etcd; `coreos-cluster ssh N` with the key works
#   2. SIGKILL node 2's QEMU: it comes back with an empty RAM root and rejoins
#   3. `systemctl stop coreos-cluster@3`: ACPI power-off, nothing left
#   4. `systemctl enable coreos-cluster@3`, reboot the test bed: the cluster
#      comes back from the cache (the release server is gone)
set -euo pipefail
source "$(dirname "$0")/../lib/as-root.sh"
source "$(dirname "$0")/../lib/testbed.sh"
testbed_reexec_private "$0" "$@"
work=$(mktemp -d /tmp/coreos-cluster-flatcar-e2e.XXXXXX)
trap 'testbed_shutdown; rm -rf "$work"' EXIT

guest=$TESTBED_TOP/target/flatcar-guest
"$TESTBED_TOP/tests/flatcar-guest/build.sh" "$guest" >&2
testbed_build
testbed_make_root
r=$TESTBED_ROOT

log "a release tree like Flatcar's, signed by a key made here"
version=$(sed -n 's/^FLATCAR_VERSION=//p' "$guest/version.txt")
[ -n "$version" ] || fail "no FLATCAR_VERSION in $guest/version.txt"
export GNUPGHOME=$work/gpg
mkdir -m 700 "$GNUPGHOME"
g() { gpg --batch --quiet --pinentry-mode loopback --passphrase '' "$@"; }
g --quick-gen-key 'Test Image Signing <sign@test>' ed25519 cert never 2>/dev/null
primary=$(gpg --with-colons --list-keys 2>/dev/null | awk -F: '/^fpr/ {print $10; exit}')
g --quick-add-key "$primary" ed25519 sign never 2>/dev/null
signing=$(gpg --with-colons --list-keys 2>/dev/null | awk -F: '/^fpr/ {print $10}' | sed -n 2p)
release=$r/srv/release
rel=$release/stable/$version
mkdir -p "$rel" "$release/stable/current"
cp "$guest/version.txt" "$release/stable/current/version.txt"
cp "$guest/version.txt" "$rel/version.txt"
for f in flatcar_production_pxe.vmlinuz flatcar_production_pxe_image.cpio.gz; do
    ln "$guest/$f" "$rel/$f" 2>/dev/null || cp "$guest/$f" "$rel/$f"
    g -u "$signing!" --detach-sign -o "$rel/$f.sig" "$rel/$f"
done
mkdir -p "$r/etc/coreos-cluster/cluster.toml.d"
g --armor --export "$primary" > "$r/etc/coreos-cluster/test-signing-key.asc"

log "an etcd release tarball from Debian's etcd"
etcd_version=$(etcd --version | sed -n 's/^etcd Version: //p')
top=etcd-v$etcd_version-linux-amd64
mkdir -p "$work/$top" "$release/etcd/v$etcd_version"
cp /usr/bin/etcd /usr/bin/etcdctl "$work/$top/"
tar -C "$work" -czf "$release/etcd/v$etcd_version/$top.tar.gz" "$top"
etcd_sha256=$(sha256sum "$release/etcd/v$etcd_version/$top.tar.gz" | cut -d' ' -f1)

ssh-keygen -q -t ed25519 -N '' -C 'e2e key: with a comment' -f "$work/id"
install -Dm600 "$work/id" "$r/root/.ssh-e2e-id"
release_port=8099
cat > "$r/etc/coreos-cluster/cluster.toml.d/40-test-bed.toml" <<TOML
# The test bed: KVM hangs on these machines; the release host is local.
[vm]
accelerator = "tcg"
powerdown-timeout-sec = 60

[image]
source = "flatcar"
channel = "stable"
base-url = "http://127.0.0.1:$release_port/stable"
signing-key = "/etc/coreos-cluster/test-signing-key.asc"
signing-key-fingerprint = "$primary"

[etcd]
version = "$etcd_version"
sha256 = "$etcd_sha256"
base-url = "http://127.0.0.1:$release_port/etcd"

[guest]
ssh-authorized-keys = ["$(cat "$work/id.pub")"]
ignition-merge = ["/etc/coreos-cluster/placeholder.ign"]
TOML
# A merged config holding a placeholder: served as written, so its SHA-512
# holds and the node boots with the text as the user wrote it.
cat > "$r/etc/coreos-cluster/placeholder.ign" <<'JSON'
{"ignition": {"version": "3.3.0"},
 "storage": {"files": [{"path": "/etc/merged-by-ignition", "mode": 420,
   "contents": {"source": "data:,kept%20as%20written%3A%20$private_ipv4"}}]}}
JSON
testbed_boot multi-user.target
tb systemd-run --quiet --unit=release-server python3 -m http.server --bind 127.0.0.1 \
    --directory /srv/release "$release_port"
for _ in $(seq 50); do tb curl -fsS -o /dev/null "http://127.0.0.1:$release_port/" && break; sleep 0.1; done

# The product's own ssh command, as a user reaches a node.
on_node() { # NODE COMMAND...
    local node=$1
    shift
    tb coreos-cluster ssh -i /root/.ssh-e2e-id "$node" "$@" </dev/null
}
log "scenario 1: systemctl start coreos-cluster@3 from an empty cache"
start=$(date +%s)
tb systemctl start coreos-cluster@3.service || {
    tb journalctl -u coreos-cluster@3 -o cat --no-pager | tail -20 >&2
    fail "start"
}
prepare_log=$(tb journalctl -u coreos-cluster@3 -o cat --no-pager)
expect "prepare fetched the image" "$prepare_log" "image: flatcar-stable $version"
served=$(tb journalctl -u release-server -o cat --no-pager)
for path in "/stable/current/version.txt" "/stable/$version/flatcar_production_pxe.vmlinuz.sig" \
    "/stable/$version/flatcar_production_pxe_image.cpio.gz" "/etcd/v$etcd_version/$top.tar.gz"; do
    expect "the release server served $path" "$served" "\"GET $path HTTP/1.1\" 200"
done
cache=/var/lib/coreos-cluster/images/flatcar-stable
[ "$(tb readlink "$cache/current")" = "$version" ] || fail "cache's current link: $(tb readlink "$cache/current")"
tb cmp "$cache/current/flatcar_production_pxe_image.cpio.gz" /srv/release/stable/$version/flatcar_production_pxe_image.cpio.gz
wait_cluster_healthy 900
log "etcd cluster of Flatcar-like guests healthy $(($(date +%s) - start)) s after systemctl start"
etcdctl_on 10.77.0.11 put greeting "hello from node 1" >/dev/null
got=$(etcdctl_on 10.77.0.13 get --print-value-only greeting)
[ "$got" = "hello from node 1" ] || fail "get on node 3: '$got'"
status=$(tb coreos-cluster status --json)
python3 - "$status" "$version" <<'EOF'
import json, sys
s = json.loads(sys.argv[1])
assert s["image"] == "flatcar-stable " + sys.argv[2], s["image"]
assert s["cluster"]["size"] == 3 and s["cluster"]["active_state"] == "active", s["cluster"]
for n in s["nodes"]:
    assert n["ip"] == "10.77.0.%d" % (10 + n["node"]) and n["etcd_healthy"] is True, n
EOF
http_log=$(tb journalctl -u coreos-cluster-http -o cat --no-pager)
for path in /coreos-cluster/config.ign /coreos-cluster/merge/1.ign /coreos-cluster/etcd/etcd /coreos-cluster/etcd/etcdctl; do
    expect "our nginx served $path" "$http_log" "GET $path"
done
for i in 1 2 3; do
    hostname=$(on_node "$i" hostname) || fail "coreos-cluster ssh $i"
    [ "$hostname" = "coreos-10-77-0-1$i" ] || fail "node $i host name: $hostname"
done
merged=$(on_node 1 cat /etc/merged-by-ignition)
[ "$merged" = 'kept as written: $private_ipv4' ] || fail "the merged config's file on node 1: '$merged'"
cmdline=$(on_node 1 cat /proc/cmdline)
expect "Flatcar's kernel line" "$cmdline" "flatcar.first_boot=1 ignition.config.url=http://10.77.0.1:8777/coreos-cluster/config.ign"
log "coreos-cluster ssh N works on every node; host names from nginx; the Ignition config came from our nginx"

log "scenario 2: SIGKILL node 2's QEMU: an empty RAM root rejoins its cluster"
member_id() { # NODE_IP: its member ID, as the other members list it
    etcdctl_on 10.77.0.11 member list | awk -F', ' -v ip="$1" '$3 == ip && $2 == "started" {print $1}'
}
old_id=$(member_id 10.77.0.12)
[ -n "$old_id" ] || fail "node 2 is not a started member"
kill_qemu_wait_restart 02
# An empty RAM root cannot start as the old member: the start script removes
# it and adds the node again, so it comes back under a new member ID.
rejoined=
for _ in $(seq 180); do
    new_id=$(member_id 10.77.0.12 2>/dev/null) || true
    if [ -n "$new_id" ] && [ "$new_id" != "$old_id" ] &&
        [ "$(etcdctl_on 10.77.0.12 get --print-value-only greeting 2>/dev/null)" = "hello from node 1" ]; then
        rejoined=1
        break
    fi
    sleep 5
done
[ -n "$rejoined" ] || fail "node 2 did not rejoin (member $old_id, now '${new_id:-none}'):\n$(etcdctl_on 10.77.0.11 member list)"
members=$(etcdctl_on 10.77.0.11 member list)
[ "$(grep -c ', started, ' <<<"$members")" = 3 ] || fail "members after rejoin:\n$members"
log "node 2 rejoined with an empty RAM root: member $old_id replaced by $new_id"

log "scenario 3: systemctl stop coreos-cluster@3: ACPI power-off, nothing left"
since=(--since "@$(date +%s)")
tb systemctl stop coreos-cluster@3.service
for i in 01 02 03; do
    expect "node $i powered off by ACPI" "$(tb journalctl -u "coreos-vm@$i" -o cat --no-pager "${since[@]}")" \
        "guest powered off after"
done
active=$(tb systemctl list-units --plain --no-legend --state=active,activating,deactivating,failed 'coreos-vm@*' 'coreos-cluster@*')
[ -z "$active" ] || fail "left in the unit list: $active"

log "scenario 4: systemctl enable coreos-cluster@3, reboot the test bed: back from the cache"
# The release server does not come back with the reboot: the cache is enough.
tb systemctl stop release-server.service
tb systemctl enable coreos-cluster@3.service
testbed_reboot multi-user.target
wait_cluster_healthy 900
etcdctl_on 10.77.0.11 put after-reboot "back after reboot" >/dev/null
got=$(etcdctl_on 10.77.0.13 get --print-value-only after-reboot)
[ "$got" = "back after reboot" ] || fail "get on node 3 after the reboot: '$got'"
[ "$(tb systemctl is-active coreos-cluster@3.service)" = active ] || fail "cluster unit not active after reboot"
tb systemctl stop coreos-cluster@3.service

log "scenario 5: a merged config changed after prepare: Ignition refuses it, status shows the node failed"
since=(--since "@$(date +%s)")
tb systemctl start coreos-cluster-network.service coreos-cluster-http.service
tb coreos-cluster prepare 1 >/dev/null
# Its SHA-512 in the served config.ign no longer holds.
tb sed -i 's/kept%20as%20written/changed%20after%20prepare/' /srv/coreos-cluster/http/coreos-cluster/merge/1.ign
tb systemctl start coreos-vm@01.service
boot_failure() { # the node's boot_failure in status --json
    python3 -c 'import json,sys; print(json.loads(sys.argv[1])["nodes"][0]["boot_failure"] or "")' \
        "$(tb coreos-cluster status --json)"
}
for _ in $(seq 600); do
    line=$(boot_failure)
    [ -n "$line" ] && break
    sleep 1
done
noticed=$(date +%s%6N)
[ -n "$line" ] || { tb journalctl -u coreos-vm@01 -o cat --no-pager | tail -30 >&2; fail "status never showed node 1's failed boot"; }
expect "status shows Ignition's own line" "$line" "Ignition failed: hash verification failed"
journal_has "GET /coreos-cluster/merge/1.ign HTTP/1.1\" 200" -t coreos_cluster_http "${since[@]}" ||
    fail "the guest did not fetch the changed merge file from our nginx"
# The serial line's own time against when status showed it (polled each second).
# Read it all first: awk leaving early would be a SIGPIPE failure under pipefail.
journal=$(tb journalctl -u coreos-vm@01 -o short-unix --no-pager "${since[@]}")
seen=$(awk -v l="$line" '{gsub(/\033\[[0-9;]*[a-zA-Z]/, "")} index($0, l) {sub(/\./, "", $1); print $1; exit}' <<<"$journal")
[ -n "$seen" ] || fail "the failing line is not in node 1's journal: $line"
log "status showed \"$line\" $(( (noticed - seen) / 1000 )) ms after the guest printed it (status polled each second)"
# This guest powers off from its emergency target: the unit fails and is not restarted.
node_1_failed() { [ "$(tb systemctl is-active coreos-vm@01.service)" = failed ]; }
wait_for 300 "node 1's unit to fail" node_1_failed
[ "$(tb systemctl show -p ExecMainStatus --value coreos-vm@01.service)" = 78 ] ||
    fail "vm-exec's exit status after a failed boot: $(tb systemctl show -p ExecMainStatus --value coreos-vm@01.service)"
[ "$(tb systemctl show -p NRestarts --value coreos-vm@01.service)" = 0 ] || fail "a failed boot was restarted"
[ "$(boot_failure)" = "$line" ] || fail "status forgot the failed boot once the VM stopped: '$(boot_failure)'"
expect "status, text" "$(tb coreos-cluster status)" "boot failed (failed/failed): $line"
log "node 1: unit failed with status 78, not restarted; status keeps Ignition's line"
log "PASS"
