#!/bin/bash
# Builds the Arch package from what is committed (git archive) with makepkg,
# as a throwaway unprivileged user (makepkg refuses root).
#   tests/package/build.sh OUTDIR     -> OUTDIR/coreos-cluster-VER-REL-x86_64.pkg.tar.zst
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/tests/lib/common.sh"
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
version=$(project_version "$top")
user=coreos-cluster-pkgbuild
# Arch's own defaults (LTO on, its CFLAGS/LDFLAGS/RUSTFLAGS), not Debian's.
makepkg_conf=${MAKEPKG_CONF:-$top/../shared/arch/makepkg.conf}
[ -r "$makepkg_conf" ] || { echo "build.sh: $makepkg_conf not found" >&2; exit 1; }

work=$(mktemp -d /tmp/coreos-cluster-pkg.XXXXXX)
cleanup() {
    userdel "$user" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
useradd --system --no-create-home --home-dir "$work/home" --shell /usr/sbin/nologin "$user"
mkdir -p "$work/home" "$work/build" "$work/src" "$work/pkg"

# The toolchain lives under /root (mode 700): give the build user a
# hard-linked copy instead of opening /root.
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
cargo_home=${CARGO_HOME:-$HOME/.cargo}
cp -al "$rustup_home" "$work/rustup"
mkdir -p "$work/cargo"
cp -al "$cargo_home/bin" "$work/cargo/bin"
# Reuse downloaded crates where there are some (cargo fetch gets the rest).
[ -d "$cargo_home/registry" ] && cp -al "$cargo_home/registry" "$work/cargo/registry"

(cd "$top" && git archive --format=tar.gz --prefix="coreos-cluster-$version/" -o "$work/src/coreos-cluster-$version.tar.gz" HEAD)
cp "$top/PKGBUILD" "$top/coreos-cluster.install" "$work/build/"
cp "$makepkg_conf" "$work/makepkg.conf"
chown -R "$user" "$work"

runuser -u "$user" -- env -i \
    HOME="$work/home" PATH="$work/cargo/bin:/usr/bin:/bin" \
    RUSTUP_HOME="$work/rustup" CARGO_HOME="$work/cargo" \
    SRCDEST="$work/src" PKGDEST="$work/pkg" BUILDDIR="$work/build/work" \
    PKGEXT=.pkg.tar.zst LANG=C.UTF-8 \
    bash -c "cd '$work/build' && makepkg --config '$work/makepkg.conf' -d --noconfirm --nosign" >&2
# The source package too: it must carry the install= file from beside the PKGBUILD.
runuser -u "$user" -- env -i \
    HOME="$work/home" PATH="$work/cargo/bin:/usr/bin:/bin" \
    SRCDEST="$work/src" SRCPKGDEST="$work/pkg" LANG=C.UTF-8 \
    bash -c "cd '$work/build' && makepkg --config '$work/makepkg.conf' --source --noconfirm" >&2
cp "$work"/pkg/*.pkg.tar.zst "$work"/pkg/*.src.tar.gz "$out/"
ls "$out"/coreos-cluster-"$version"-*.pkg.tar.zst
