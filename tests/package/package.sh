#!/bin/bash
# The Arch package as a package: built with makepkg from the committed tree,
# linted, installed with pacman into a throwaway root (scriptlets, sysusers,
# tmpfiles), its units verified and its binaries run in an installed root,
# and removed again leaving only .pacsave files.
#   tests/package/package.sh [PKGFILE]   (builds one when not given)
set -euo pipefail
source "$(dirname "$0")/../lib/testbed.sh"
testbed_reexec_private "$0" "$@"

work=$(mktemp -d /tmp/coreos-cluster-pkgtest.XXXXXX)
trap 'testbed_shutdown; rm -rf "$work"' EXIT
version=$(project_version "$TESTBED_TOP")
pkg=${1:-}
if [ -z "$pkg" ]; then
    log "building the package with makepkg (as a throwaway user)"
    pkg=$("$TESTBED_TOP/tests/package/build.sh" "$work/out" | tail -1)
fi
log "package: $pkg"

log "source package: PKGBUILD and its install= file side by side"
srcpkg=$(ls "$(dirname "$pkg")"/coreos-cluster-*.src.tar.gz 2>/dev/null | head -1)
[ -n "$srcpkg" ] || fail "no source package next to $pkg (makepkg --source)"
srclist=$(bsdtar -tf "$srcpkg")
for want in coreos-cluster/PKGBUILD coreos-cluster/coreos-cluster.install; do
    grep -qx "$want" <<<"$srclist" || fail "source package lacks $want:\n$srclist"
done
bsdtar -tf "$pkg" | grep -qx .INSTALL || fail "package has no .INSTALL scriptlet"

log "lint: .PKGINFO, paths, backup, modes, license, build paths"
info=$(bsdtar -xOf "$pkg" .PKGINFO)
field() { sed -n "s/^$1 = //p" <<<"$info"; }
[ "$(field pkgname)" = coreos-cluster ] || fail "pkgname: $(field pkgname)"
[ "$(field pkgver)" = "$version-1" ] || fail "pkgver $(field pkgver) does not match Cargo.toml $version"
[ "$(field arch)" = x86_64 ] || fail "arch: $(field arch)"
[ -n "$(field pkgdesc)" ] || fail "no pkgdesc"
[ "$(field license)" = MIT ] || fail "license: $(field license)"
for dep in systemd qemu-system-x86 nginx; do
    grep -qx "$dep" <<<"$(field depend)" || fail "missing depend $dep"
done
for opt in tftp-hpa syslinux; do
    grep -q "^$opt: ." <<<"$(field optdepend)" || fail "missing optdepend $opt with a reason"
done
listing=$(bsdtar -tvf "$pkg")
files=$(bsdtar -tf "$pkg" | grep -v '^\.' | grep -v '/$')
bad=$(grep -Ev '^(usr/(bin|lib|share)/|etc/)' <<<"$files" || true)
[ -z "$bad" ] || fail "files outside allowed paths:\n$bad"
bad=$(grep -E '^(usr/local|usr/sbin|bin|sbin|lib|lib64|usr/lib64)/' <<<"$files" || true)
[ -z "$bad" ] || fail "files in paths Arch does not use:\n$bad"
for etc in $(grep '^etc/' <<<"$files"); do
    grep -qx "$etc" <<<"$(field backup)" || fail "$etc is not in backup=()"
done
grep -qx usr/share/licenses/coreos-cluster/LICENSE <<<"$files" || fail "no license file"
mode_of() { awk -v f="$1" '$NF == f {print $1}' <<<"$listing"; }
for exe in usr/bin/coreos-cluster usr/lib/systemd/system-generators/coreos-cluster-generator; do
    [ "$(mode_of "$exe")" = -rwxr-xr-x ] || fail "$exe mode $(mode_of "$exe")"
done
for f in $(grep -Ev '^usr/(bin|lib/systemd/system-generators)/' <<<"$files"); do
    [ "$(mode_of "$f")" = -rw-r--r-- ] || fail "$f mode $(mode_of "$f")"
done
for want in usr/lib/systemd/system/coreos-vm@.service usr/lib/sysusers.d/coreos-cluster.conf \
    usr/lib/tmpfiles.d/coreos-cluster.conf usr/share/man/man1/coreos-cluster.1.gz \
    usr/share/man/man5/cluster.toml.5.gz usr/share/man/man8/coreos-cluster-generator.8.gz \
    usr/share/bash-completion/completions/coreos-cluster usr/share/zsh/site-functions/_coreos-cluster \
    usr/share/fish/vendor_completions.d/coreos-cluster.fish; do
    grep -qx "$want" <<<"$files" || fail "package lacks $want"
done
mkdir "$work/extract"
bsdtar -xf "$pkg" -C "$work/extract"
for exe in usr/bin/coreos-cluster usr/lib/systemd/system-generators/coreos-cluster-generator; do
    # Where a build happens, and where cargo keeps sources and toolchains.
    for build_path in /tmp/coreos-cluster-pkg /.cargo/registry /.rustup/toolchains /root/; do
        ! grep -qaF "$build_path" "$work/extract/$exe" || fail "$exe contains the build path $build_path"
    done
done

log "pacman -U into an empty root; scriptlet output, sysusers, tmpfiles"
R=$work/root
mkdir -p "$R/usr/bin" "$R/dev" "$R/var/lib/pacman"
# Scriptlets run chrooted with /bin/sh: give the empty root a static shell.
cp /bin/busybox "$R/usr/bin/busybox"
ln -s busybox "$R/usr/bin/sh"
ln -s usr/bin "$R/bin"
mknod -m 666 "$R/dev/null" c 1 3
pac() { pacman_root "$R" "$work/cache" "$@"; }
mkdir -p "$R/var/log"
out=$(pac -U -dd "$pkg")
grep -q "coreos-cluster: next steps" <<<"$out" || fail "post_install message missing:\n$out"
systemd-sysusers --root="$R"
systemd-tmpfiles --root="$R" --create
grep -q '^coreos-cluster:' "$R/etc/passwd" || fail "sysusers made no coreos-cluster user"
grep -q '^kvm:.*coreos-cluster' "$R/etc/group" || fail "coreos-cluster is not in group kvm"
[ -d "$R/var/lib/coreos-cluster/images" ] || fail "tmpfiles made no image directory"
pac -Qkk coreos-cluster >/dev/null

log "pacman -R leaves nothing but .pacsave for the edited config"
echo "[vm]" >> "$R/etc/coreos-cluster/cluster.toml"
pac -R coreos-cluster >/dev/null
left=$(cd "$R" && find . \( -type f -o -type l \) | sed 's|^\./||' |
    grep -Ev '^(usr/bin/(busybox|sh)|bin|dev/null|var/lib/pacman/|var/log/pacman.log|etc/(passwd|group|shadow|gshadow)-?$|etc/\.pwd\.lock$)' || true)
[ "$left" = "etc/coreos-cluster/cluster.toml.pacsave" ] || fail "left behind after pacman -R:\n$left"

log "installed on a full system (overlay of /): verify units, run the binaries"
TESTBED_PACKAGE=$pkg
testbed_make_root
testbed_mount_for_chroot
r=$TESTBED_ROOT
units=$(cd "$r/usr/lib/systemd/system" && ls coreos-* machine-coreos.slice | sed 's/@\./@01./')
out=$(chroot "$r" systemd-analyze verify $units 2>&1) || fail "verify failed:\n$out"
[ -z "$out" ] || fail "verify warned:\n$out"
grep -qx "coreos-cluster $version" <<<"$(chroot "$r" coreos-cluster --version)" || fail "--version"
grep -q "systemctl start coreos-cluster@3" <<<"$(chroot "$r" coreos-cluster --help)" || fail "--help"
grep -q "configuration is valid" <<<"$(chroot "$r" coreos-cluster check)" || fail "check of the shipped config"
mkdir -p "$r/tmp/gen"
chroot "$r" /usr/lib/systemd/system-generators/coreos-cluster-generator /tmp/gen
[ -f "$r/tmp/gen/coreos-vm@.service.d/50-coreos-cluster.conf" ] || fail "generator wrote nothing"
out=$(chroot "$r" env SYSTEMD_UNIT_PATH=/tmp/gen: systemd-analyze verify $units 2>&1)
[ -z "$out" ] || fail "verify with generated files:\n$out"
chroot "$r" man -w coreos-cluster cluster.toml coreos-cluster-generator >/dev/null || fail "man pages not found"
log "PASS"
