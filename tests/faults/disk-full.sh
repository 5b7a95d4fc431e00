#!/bin/bash
# The disk fills while `prepare` writes: the served tree lives on a 2 MiB
# tmpfs in a private mount namespace (nothing of the host is mounted over).
# A first prepare fits; then the kernel grows past the free space. prepare
# must fail naming the path it could not write, and leave the old kernel,
# initrd and cloud-config intact, with no temporary file behind.
# Also: a missing or unreadable image names its path (and how to fetch it).
set -euo pipefail
source "$(dirname "$0")/../lib/as-root.sh"
source "$(dirname "$0")/../lib/common.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
cli=$top/target/debug/coreos-cluster
[ -x "$cli" ] || (cd "$top" && cargo build --quiet --bins)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/etc/coreos-cluster" "$root/images" "$root/srv/coreos-cluster/http" "$root/run"
cat >"$root/etc/coreos-cluster/cluster.toml" <<'TOML'
[image]
source = "files"
kernel = "/images/vmlinuz"
initrd = "/images/initrd"
TOML
head -c 300K /dev/urandom >"$root/images/vmlinuz"
head -c 300K /dev/urandom >"$root/images/initrd"
# Readable by others but not by its group: the served copy keeps exactly that.
chmod 0604 "$root/images/initrd"

# Inside the namespace: mount the small disk, prepare, grow, prepare again.
out=$(unshare -m --propagation private bash -c '
    set -u
    root=$1 cli=$2
    mount -t tmpfs -o size=2M tmpfs "$root/srv/coreos-cluster/http" || exit 3
    "$cli" --root "$root" prepare 3 >/dev/null || exit 4
    served=$root/srv/coreos-cluster/http/coreos-cluster
    sha256sum "$served/vmlinuz" "$served/initrd" "$served/cloud-config.yaml" >"$root/before"
    stat -c %a "$served/initrd" >"$root/initrd-mode"
    head -c 3M /dev/urandom >"$root/images/vmlinuz"
    if "$cli" --root "$root" prepare 3 2>"$root/stderr"; then exit 5; fi
    sha256sum "$served/vmlinuz" "$served/initrd" "$served/cloud-config.yaml" >"$root/after"
    ls -A "$served" >"$root/listing"
' _ "$root" "$cli" 2>&1) || fail "setup step exited $? : $out"

[ "$(cat "$root/initrd-mode")" = 604 ] ||
    fail "a 0604 initrd was published with mode $(cat "$root/initrd-mode")"
stderr=$(cat "$root/stderr")
log "prepare on a full disk: $stderr"
expect "the error names the path" "$stderr" "/images/vmlinuz"
expect "the error names the destination" "$stderr" "/srv/coreos-cluster/http/coreos-cluster/vmlinuz"
expect "the error says why" "$stderr" "No space left on device"
cmp -s "$root/before" "$root/after" || fail "served files changed: $(diff "$root/before" "$root/after")"
listing=$(cat "$root/listing")
[ "$listing" = "$(printf 'boot.ipxe\ncloud-config.yaml\ninitrd\nvmlinuz')" ] ||
    fail "leftovers in the served tree: $listing"

# A missing Flatcar image: the path and the command that fetches it.
cat >"$root/etc/coreos-cluster/cluster.toml" <<'TOML'
[image]
dir = "/images"
TOML
if out=$("$cli" --root "$root" prepare 3 2>&1); then fail "prepare without an image succeeded"; fi
expect "missing image names its path" "$out" "/images/flatcar-stable/current/flatcar_production_pxe.vmlinuz"
expect "missing image names the fetch command" "$out" "coreos-cluster fetch"

# An image the service user could not read is refused, not published.
# (cached as fetch leaves it: a version's directory and `current`; the guests
# get Ignition, so the etcd served is a file of the test's own)
mkdir -p "$root/images/flatcar-stable/1.0.0"
ln -s 1.0.0 "$root/images/flatcar-stable/current"
head -c 1K /dev/urandom >"$root/images/flatcar-stable/1.0.0/flatcar_production_pxe.vmlinuz"
head -c 1K /dev/urandom >"$root/images/flatcar-stable/1.0.0/flatcar_production_pxe_image.cpio.gz"
chmod 600 "$root/images/flatcar-stable/1.0.0/flatcar_production_pxe.vmlinuz"
printf '#!/bin/sh\n' >"$root/images/etcd"
cp "$root/images/etcd" "$root/images/etcdctl"
printf '[etcd]\nbinary = "/images/etcd"\n' >>"$root/etc/coreos-cluster/cluster.toml"
if out=$("$cli" --root "$root" prepare 3 2>&1); then fail "prepare published a 0600 kernel"; fi
expect "unreadable image names its path" "$out" "flatcar_production_pxe.vmlinuz (mode 0600) is not readable by the coreos-cluster user"
log "PASS: disk full, no widened modes, missing and unreadable images"
