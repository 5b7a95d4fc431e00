#!/bin/bash
# coreos-cluster fetch against a local nginx serving a fake Flatcar release tree,
# signed at test time with gpg (faked clocks for expiry and revocation cases).
# Every bad case must be refused with a clear message and leave nothing visible.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/lib/common.sh
BIN=${BIN:-$PWD/target/debug/coreos-cluster}
[ -x "$BIN" ] || cargo build --quiet --bin coreos-cluster || exit 1

T=$(mktemp -d /tmp/fetch-test.XXXXXX)
NGINX_PID=
cleanup() {
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
pass=0
fail=0
ok() { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
check() { # DESCRIPTION CMD...
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}

# --- keys and signatures (faked clocks: 2024-01-01 onwards) ---------------
export GNUPGHOME=$T/gpg
mkdir -m 700 "$GNUPGHOME"
g() { gpg --batch --quiet --pinentry-mode loopback --passphrase '' "$@" 2>>"$T/gpg.log"; }
at() { echo "--faked-system-time=$1T120000!"; }
g "$(at 20240101)" --quick-gen-key 'Test Image Signing <sign@test>' ed25519 cert never
PRIMARY=$(gpg --with-colons --list-keys 2>/dev/null | awk -F: '/^fpr/ {print $10; exit}')
for _ in S1 SE SC SR; do
    g "$(at 20240101)" --quick-add-key "$PRIMARY" ed25519 sign never
done
subkey() { gpg --with-colons --list-keys 2>/dev/null "$PRIMARY" | awk -F: '/^fpr/ {print $10}' | sed -n "$(($1 + 1))p"; }
S1=$(subkey 1) SE=$(subkey 2) SC=$(subkey 3) SR=$(subkey 4)
g "$(at 20240101)" --quick-gen-key 'Other Key <other@test>' ed25519 cert never
OTHER=$(gpg --with-colons --list-keys 2>/dev/null other@test | awk -F: '/^fpr/ {print $10; exit}')
g "$(at 20240101)" --quick-add-key "$OTHER" ed25519 sign never

WWW=$T/www
REL=$WWW/cdn/stable
make_release() { # VERSION SUBKEY DATE [INITRD_MIB]
    local dir=$REL/$1
    mkdir -p "$dir"
    printf 'kernel %s\n' "$1" >"$dir/flatcar_production_pxe.vmlinuz"
    if [ -n "${4:-}" ]; then
        head -c "$(($4 * 1048576))" /dev/urandom >"$dir/flatcar_production_pxe_image.cpio.gz"
    else
        printf 'initrd %s\n' "$1" >"$dir/flatcar_production_pxe_image.cpio.gz"
    fi
    for f in flatcar_production_pxe.vmlinuz flatcar_production_pxe_image.cpio.gz; do
        g "$(at "$3")" -u "$2!" --detach-sign -o "$dir/$f.sig" "$dir/$f"
    done
    printf 'FLATCAR_VERSION=%s\n' "$1" >"$dir/version.txt"
}
make_release 1.0.0 "$S1" 20240201
make_release 1.1.0 "$S1" 20240201 # PXE kernel .sig missing: image kernel's .sig
cp "$REL/1.1.0/flatcar_production_pxe.vmlinuz.sig" "$REL/1.1.0/flatcar_production_image.vmlinuz.sig"
rm "$REL/1.1.0/flatcar_production_pxe.vmlinuz.sig"
mkdir -p "$REL/1.2.0" && echo 'FLATCAR_VERSION=1.2.0' >"$REL/1.2.0/version.txt" # no PXE files
make_release 1.3.0 "$S1" 20240201
echo tampered >>"$REL/1.3.0/flatcar_production_pxe_image.cpio.gz"
make_release 1.4.0 "$S1" 20240201 48 # big: resume and disk-space cases
make_release 1.5.0 "$SE" 20240201    # before the subkey expired
make_release 1.6.0 "$SE" 20240401    # after
make_release 1.7.0 "$SC" 20240201    # subkey later revoked as compromised
make_release 1.8.0 "$SR" 20240201    # before the subkey was retired
make_release 1.9.0 "$SR" 20240401    # after
g "$(at 20240115)" --quick-set-expire "$PRIMARY" 20240301T000000 "$SE"
revoke() { # SUBKEY-INDEX REASON-CODE DATE
    printf 'key %s\nrevkey\ny\n%s\n\ny\nsave\n' "$1" "$2" |
        g "$(at "$3")" --command-fd 0 --edit-key "$PRIMARY"
}
revoke 3 1 20240301 # gpg menu: 1 = compromised
revoke 4 3 20240301 # gpg menu: 3 = no longer used (retired)
g --armor --export "$PRIMARY" >"$WWW/key.asc"
g --armor --export "$OTHER" >"$WWW/other-key.asc"
# The rotation: a new subkey, published later, signs release 2.0.0.
g "$(at 20240501)" --quick-add-key "$PRIMARY" ed25519 sign never
S2=$(subkey 5)
make_release 2.0.0 "$S2" 20240502
g --armor --export "$PRIMARY" >"$T/key-rotated.asc"
# `current` moved between version.txt and the downloads: its files are 1.9.0's.
mkdir -p "$REL/current"
echo 'FLATCAR_VERSION=1.0.0' >"$REL/current/version.txt"
cp "$REL/1.9.0"/flatcar_production_pxe* "$REL/current/"
# etcd release stand-in
mkdir -p "$T/etcd/etcd-v9.9.9-linux-amd64" "$WWW/etcd/v9.9.9"
for b in etcd etcdctl; do printf '#!/bin/sh\necho %s\n' "$b" >"$T/etcd/etcd-v9.9.9-linux-amd64/$b"; done
tar -C "$T/etcd" -czf "$WWW/etcd/v9.9.9/etcd-v9.9.9-linux-amd64.tar.gz" etcd-v9.9.9-linux-amd64
ETCD_SHA=$(sha256sum "$WWW/etcd/v9.9.9/etcd-v9.9.9-linux-amd64.tar.gz" | cut -d' ' -f1)

# --- nginx on loopback (its workers run unprivileged) ---------------------
chmod 755 "$T"
chmod -R a+rX "$WWW"
loopback_nginx "$T/nginx" "$WWW" key.asc "
    access_log $T/nginx/access.log;
    log_format ranges '\$request_uri \$status range=\$http_range';
    access_log $T/nginx/ranges.log ranges;" "
        # The \"release host\" answers with a redirect to the \"CDN\".
        location /release/ { rewrite ^/release/(.*)\$ /cdn/\$1 redirect; }
        location /cdn/stable/1.4.0/ { limit_rate 8m; }"

# --- helpers ----------------------------------------------------------------
new_root() { # NAME VERSION [extra toml]
    local root=$T/roots/$1
    mkdir -p "$root/etc/coreos-cluster"
    {
        echo '[image]'
        echo "base-url = \"$URL/release/stable\""
        echo "signing-key = \"$URL/key.asc\""
        echo "signing-key-fingerprint = \"$PRIMARY\""
        [ "$2" != current ] && echo "version = \"$2\""
        echo '[etcd]'
        echo "version = \"9.9.9\""
        echo "sha256 = \"$ETCD_SHA\""
        echo "base-url = \"$URL/etcd\""
        printf '%s\n' "${3:-}"
    } >"$root/etc/coreos-cluster/cluster.toml"
    echo "$root"
}
CACHE=var/lib/coreos-cluster/images/flatcar-stable
fetch() { # ROOT -> output in $OUT, status in $RC
    OUT=$("$BIN" --root "$1" fetch 2>&1)
    RC=$?
}
refused() { # DESCRIPTION ROOT VERSION PATTERN [CURRENT-BEFORE]
    local what=$1 root=$2 version=$3 pattern=$4 before=${5:-}
    fetch "$root"
    if [ "$RC" -ne 0 ] && grep -q -- "$pattern" <<<"$OUT"; then ok "$what: refused ($(grep -m1 -o -- "$pattern.*" <<<"$OUT" | head -c 120))"; else
        bad "$what: expected refusal matching '$pattern', got rc=$RC: $OUT"
    fi
    if [ -e "$root/$CACHE/$version" ]; then bad "$what: $version visible in the cache"; else ok "$what: nothing visible under $version/"; fi
    if find "$root/$CACHE" -path "*/$version/*" -name 'flatcar_production_*' ! -name '*.part' 2>/dev/null | grep -v '/\.' | grep -q .; then
        bad "$what: a file under its final name"
    fi
    local now
    now=$(readlink "$root/$CACHE/current" 2>/dev/null)
    if [ "$now" = "$before" ]; then ok "$what: current unchanged (${before:-none})"; else bad "$what: current moved from '${before}' to '$now'"; fi
}
same_files() { # ROOT VERSION
    cmp -s "$1/$CACHE/$2/flatcar_production_pxe.vmlinuz" "$REL/$2/flatcar_production_pxe.vmlinuz" &&
        cmp -s "$1/$CACHE/$2/flatcar_production_pxe_image.cpio.gz" "$REL/$2/flatcar_production_pxe_image.cpio.gz"
}

# --- cases --------------------------------------------------------------------
R=$(new_root good current)
fetch "$R"
check "current resolved through a redirect to the CDN, files of 1.0.0 cached (rc=$RC)" \
    test "$RC" -eq 0 -a "$(readlink "$R/$CACHE/current")" = 1.0.0
check "cached files are 1.0.0's, not current/'s (which moved to 1.9.0)" same_files "$R" 1.0.0
check "the release host answered with a redirect" grep -q '^/release/stable/1.0.0/flatcar_production_pxe_image.cpio.gz 302' "$T/nginx/ranges.log"
check "no file read from current/ except version.txt" \
    bash -c "! grep '/current/' '$T/nginx/ranges.log' | grep -v 'current/version.txt'"
check "etcd and etcdctl unpacked from the checked tarball" \
    test -x "$R/var/lib/coreos-cluster/images/etcd-v9.9.9/etcd" -a -x "$R/var/lib/coreos-cluster/images/etcd-v9.9.9/etcdctl"
lines=$(wc -l <"$T/nginx/ranges.log")
fetch "$R"
check "a second fetch of the cached release downloads nothing" \
    bash -c "! tail -n +$((lines + 1)) '$T/nginx/ranges.log' | grep -q 'flatcar_production_pxe_image.cpio.gz 200'"

R=$(new_root sigfallback 1.1.0)
fetch "$R"
check "missing PXE kernel .sig: the image kernel's .sig verifies it (rc=$RC)" same_files "$R" 1.1.0

refused "release without PXE files" "$(new_root nopxe 1.2.0)" 1.2.0 "Flatcar 1.2.0 has no PXE image"
grep -q 'pin' <<<"$OUT" && ok "no-PXE message suggests pinning" || bad "no-PXE message: $OUT"

R=$(new_root tampered 1.3.0)
refused "tampered file" "$R" 1.3.0 "does not match its signature"
check "tampered: the part file was deleted" bash -c "! find '$R' -name '*.part' | grep -q ."
# The kernel verified before the initrd failed is kept in staging: the next
# try checks it from disk instead of fetching it again.
lines=$(wc -l <"$T/nginx/ranges.log")
refused "tampered file, again" "$R" 1.3.0 "does not match its signature"
check "tampered, again: the verified kernel is reused" \
    grep -q 'flatcar_production_pxe.vmlinuz (1.3.0): verified in an earlier try, reused' <<<"$OUT"
check "tampered, again: the kernel was not fetched again" \
    bash -c "! tail -n +$((lines + 1)) '$T/nginx/ranges.log' | grep -q '1.3.0/flatcar_production_pxe.vmlinuz 200'"

R=$(new_root resume 1.4.0)
"$BIN" --root "$R" fetch >"$T/resume.log" 2>&1 &
FETCH_PID=$!
PART=$R/$CACHE/.1.4.0.partial/flatcar_production_pxe_image.cpio.gz.part
for _ in $(seq 100); do
    [ "$(stat -c %s "$PART" 2>/dev/null || echo 0)" -gt 8000000 ] && break
    sleep 0.1
done
kill -9 "$FETCH_PID"
wait "$FETCH_PID" 2>/dev/null
had=$(stat -c %s "$PART" 2>/dev/null || echo 0)
check "connection cut mid-file: $had bytes kept in the .part, nothing published" \
    test "$had" -gt 0 -a ! -e "$R/$CACHE/1.4.0"
fetch "$R"
check "resumed download verifies and is published (rc=$RC)" same_files "$R" 1.4.0
check "the server saw a Range request resuming at $had" \
    grep -q "1.4.0/flatcar_production_pxe_image.cpio.gz 206 range=bytes=$had-" "$T/nginx/ranges.log"

R=$(new_root smalldisk 1.4.0)
mkdir -p "$R/var/lib/coreos-cluster/images"
OUT=$(unshare -m bash -c "mount -t tmpfs -o size=24m tmpfs '$R/var/lib/coreos-cluster/images' &&
    '$BIN' --root '$R' fetch 2>&1; echo rc=\$?; find '$R/var/lib/coreos-cluster/images' -name 'flatcar_production_*' -size +1M")
if grep -q 'not enough space' <<<"$OUT" && ! grep -q 'rc=0' <<<"$OUT" && ! grep -q '\.cpio\.gz$' <<<"$OUT"; then
    ok "too-small disk: refused before writing ($(grep -m1 -o 'not enough space.*' <<<"$OUT"))"
else bad "too-small disk: $OUT"; fi

R=$(new_root expired-before 1.5.0)
fetch "$R"
check "expired subkey, signature made before expiry: accepted (rc=$RC)" same_files "$R" 1.5.0
refused "expired subkey, signature made after expiry" "$(new_root expired-after 1.6.0)" 1.6.0 "after the subkey expired"
refused "subkey revoked as compromised" "$(new_root compromised 1.7.0)" 1.7.0 "revoked as compromised"
R=$(new_root retired-before 1.8.0)
fetch "$R"
check "retired subkey, signature made before retirement: accepted (rc=$RC)" same_files "$R" 1.8.0
refused "retired subkey, signature made after retirement" "$(new_root retired-after 1.9.0)" 1.9.0 "after the subkey was retired"
R=$(new_root wrongkey 1.0.0)
sed -i "s|$URL/key.asc|$URL/other-key.asc|" "$R/etc/coreos-cluster/cluster.toml"
refused "key with another primary fingerprint" "$R" 1.0.0 "is not the pinned"

# Rotation: the cached key lacks the new subkey; the key is fetched again.
R=$(new_root rotation 1.0.0)
fetch "$R"
before=$(grep -c '^/key.asc 200' "$T/nginx/ranges.log")
cp "$T/key-rotated.asc" "$WWW/key.asc"
sed -i 's/version = "1.0.0"/version = "2.0.0"/' "$R/etc/coreos-cluster/cluster.toml"
fetch "$R"
after=$(grep -c '^/key.asc 200' "$T/nginx/ranges.log")
check "unknown issuer: key fetched again ($before -> $after requests), 2.0.0 verified (rc=$RC)" \
    bash -c "[ $after -eq $((before + 1)) ] && [ \"\$(readlink '$R/$CACHE/current')\" = 2.0.0 ]"
check "the old release is kept (last two versions)" test -d "$R/$CACHE/1.0.0"

R=$(new_root etcd-bad 1.0.0 "")
sed -i "s/$ETCD_SHA/$(printf '0%.0s' $(seq 64))/" "$R/etc/coreos-cluster/cluster.toml"
fetch "$R"
if [ "$RC" -ne 0 ] && grep -q 'SHA-256 is' <<<"$OUT" && [ ! -e "$R/var/lib/coreos-cluster/images/etcd-v9.9.9" ]; then
    ok "etcd tarball with the wrong checksum: refused, nothing cached"
else bad "etcd bad checksum: rc=$RC $OUT"; fi

echo "fetch tests: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
