#!/bin/bash
# Benchmark (figures, no timed assertion): `coreos-cluster fetch` of a 400 MiB
# signed initramfs from a local nginx, against curl of the same file in the
# same run (curl alone, and curl followed by an fsync of its file, which a
# cache that survives a crash must pay), and the time a separate signature
# check would add. Usage: tests/bench/fetch.sh [RUNS] (default 7).
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/lib/common.sh
cargo build --release --quiet --bin coreos-cluster || exit 1
BIN=$PWD/target/release/coreos-cluster
T=$(mktemp -d /tmp/fetch-bench.XXXXXX)
NGINX_PID=
trap '[ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null; rm -rf "$T"' EXIT
export GNUPGHOME=$T/gpg
mkdir -m 700 "$GNUPGHOME"
g() { gpg --batch --quiet --pinentry-mode loopback --passphrase '' "$@" 2>/dev/null; }
g --quick-gen-key 'Bench <b@test>' ed25519 cert never
FPR=$(gpg --with-colons --list-keys 2>/dev/null | awk -F: '/^fpr/ {print $10; exit}')
g --quick-add-key "$FPR" ed25519 sign never
REL=$T/www/stable/1.0.0
mkdir -p "$REL"
echo kernel >"$REL/flatcar_production_pxe.vmlinuz"
head -c $((400 * 1048576)) /dev/urandom >"$REL/flatcar_production_pxe_image.cpio.gz"
for f in "$REL"/flatcar_production_pxe*; do g --detach-sign -o "$f.sig" "$f"; done
g --armor --export "$FPR" >"$T/www/key.asc"
mkdir -p "$T/www/etcd/v9.9.9" "$T/e/etcd-v9.9.9-linux-amd64"
touch "$T/e/etcd-v9.9.9-linux-amd64/"{etcd,etcdctl}
tar -C "$T/e" -czf "$T/www/etcd/v9.9.9/etcd-v9.9.9-linux-amd64.tar.gz" .
SHA=$(sha256sum "$T/www/etcd/v9.9.9/etcd-v9.9.9-linux-amd64.tar.gz" | cut -d' ' -f1)
chmod 755 "$T" && chmod -R a+rX "$T/www"
loopback_nginx "$T/nginx" "$T/www" key.asc "access_log off; sendfile on;"
FILE=$URL/stable/1.0.0/flatcar_production_pxe_image.cpio.gz
root() {
    rm -rf "$T/root"
    mkdir -p "$T/root/etc/coreos-cluster"
    printf '[image]\nversion = "1.0.0"\nbase-url = "%s/stable"\nsigning-key = "%s/key.asc"\nsigning-key-fingerprint = "%s"\n[etcd]\nversion = "9.9.9"\nsha256 = "%s"\nbase-url = "%s/etcd"\n' \
        "$URL" "$URL" "$FPR" "$SHA" "$URL" >"$T/root/etc/coreos-cluster/cluster.toml"
}
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# The signature's digest, as Flatcar's own signatures have it (the fixtures'
# are SHA-256: digest algo 8).
gpg --list-packets "$REL/flatcar_production_pxe_image.cpio.gz.sig" 2>/dev/null | grep -m1 -o 'digest algo [0-9]*'
curl -s -o /dev/null "$FILE" # warm the page cache
root && "$BIN" --root "$T/root" fetch >/dev/null 2>&1 # and the binary's first run
RUNS=${1:-7}
for run in $(seq "$RUNS"); do
    # Each timed write starts with no dirty pages of the previous one.
    rm -f "$T/curl.out"; sync
    a=$(now); curl -s -o "$T/curl.out" "$FILE"; b=$(now)
    curl_s=$(secs "$a" "$b")
    # A cache that must survive a crash pays an fsync; curl alone does not.
    rm -f "$T/curl.out"; sync
    a=$(now); curl -s -o "$T/curl.out" "$FILE" && sync "$T/curl.out"; b=$(now)
    curlsync_s=$(secs "$a" "$b")
    a=$(now); gpg --batch --quiet --verify "$REL/flatcar_production_pxe_image.cpio.gz.sig" "$REL/flatcar_production_pxe_image.cpio.gz" 2>/dev/null; b=$(now)
    gpgv_s=$(secs "$a" "$b")
    root; sync
    a=$(now); "$BIN" --root "$T/root" fetch >/dev/null 2>"$T/fetch.err" || { echo "fetch failed:"; cat "$T/fetch.err"; }; b=$(now)
    fetch_s=$(secs "$a" "$b")
    printf 'run %d: curl %.2f s (%.0f MiB/s) | curl + fsync %.2f s | coreos-cluster fetch (download, verify, fsync) %.2f s (%.0f MiB/s) = %.2fx curl, %.2fx curl + fsync | a separate gpg --verify after curl would add %.2f s\n' \
        "$run" "$curl_s" "$(echo "400 / $curl_s" | bc -l)" "$curlsync_s" "$fetch_s" "$(echo "400 / $fetch_s" | bc -l)" \
        "$(echo "$fetch_s / $curl_s" | bc -l)" "$(echo "$fetch_s / $curlsync_s" | bc -l)" "$gpgv_s"
    echo "$(echo "$fetch_s / $curl_s" | bc -l) $(echo "$fetch_s / $curlsync_s" | bc -l)" >>"$T/ratios"
done
printf 'median of %d runs: fetch = %.2fx curl, %.2fx curl + fsync\n' "$RUNS" \
    "$(cut -d' ' -f1 "$T/ratios" | median)" "$(cut -d' ' -f2 "$T/ratios" | median)"
