#!/bin/bash
# Benchmark (figures, no timed assertion): `coreos-cluster fetch` of a 400 MiB
# signed initramfs from a local nginx, against curl of the same file in the
# same run, and the time the signature check adds (verify-while-downloading
# means only the final public-key operation is extra).
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
curl -s -o /dev/null "$FILE" # warm the page cache
for run in 1 2 3; do
    rm -f "$T/curl.out"
    a=$(now); curl -s -o "$T/curl.out" "$FILE"; b=$(now)
    curl_s=$(echo "$b - $a" | bc)
    a=$(now); curl -s "$FILE" | sha256sum >/dev/null; b=$(now)
    curlsha_s=$(echo "$b - $a" | bc)
    a=$(now); gpg --batch --quiet --verify "$REL/flatcar_production_pxe_image.cpio.gz.sig" "$REL/flatcar_production_pxe_image.cpio.gz" 2>/dev/null; b=$(now)
    gpgv_s=$(echo "$b - $a" | bc)
    root
    a=$(now); "$BIN" --root "$T/root" fetch >/dev/null 2>"$T/fetch.err" || { echo "fetch failed:"; cat "$T/fetch.err"; }; b=$(now)
    fetch_s=$(echo "$b - $a" | bc)
    printf 'run %d: curl %.2f s (%.0f MiB/s) | curl|sha256sum %.2f s | coreos-cluster fetch (download+verify) %.2f s (%.0f MiB/s) = %.2fx curl | separate gpg --verify after download would add %.2f s\n' \
        "$run" "$curl_s" "$(echo "400 / $curl_s" | bc -l)" "$curlsha_s" "$fetch_s" "$(echo "400 / $fetch_s" | bc -l)" \
        "$(echo "$fetch_s / $curl_s" | bc -l)" "$gpgv_s"
done
