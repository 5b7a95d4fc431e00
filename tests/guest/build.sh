#!/bin/bash
# Builds the TEST GUEST: a stand-in for a CoreOS/Flatcar PXE image, which
# cannot be downloaded here. Debian's cloud kernel plus an initramfs with
# busybox and etcd whose /init (tests/guest/init) does what coreos-cloudinit
# does for the subset used: DHCP, cloud-config, etcd; and powers off on ACPI.
# It lives only in tests/ and is used through the same image settings
# ([image] source = "files") a user would point at Flatcar.
#   tests/guest/build.sh OUTDIR     -> OUTDIR/vmlinuz, OUTDIR/initrd.img
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
if [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.img" ] && [ "$out/initrd.img" -nt "$here/init" ] &&
    [ "$out/initrd.img" -nt "$here/build.sh" ] && [ "$out/initrd.img" -nt "$here/udhcpc-apply" ] &&
    [ "$out/initrd.img" -nt "$here/../../templates/guest/etcd-start.sh" ]; then
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"  # apt's sandbox user writes the downloads here
kernel_pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
[ -n "$kernel_pkg" ] || { echo "no Debian cloud kernel package found" >&2; exit 1; }
(cd "$work" && apt-get download -q "$kernel_pkg" busybox-static >/dev/null)
dpkg-deb -x "$work"/linux-image-*.deb "$work/kernel"
dpkg-deb -x "$work"/busybox-static_*.deb "$work/busybox"

root=$work/initramfs
mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,etc,lib/modules}
cp "$work/busybox/bin/busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
moddir=$(echo "$work"/kernel/lib/modules/*)
# Load order matters: each module after the ones it needs (no modprobe here).
for mod in drivers/acpi/button drivers/input/evdev \
    drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev \
    drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci net/core/failover \
    drivers/net/net_failover drivers/net/virtio_net; do
    if [ -f "$moddir/kernel/$mod.ko" ]; then
        cp "$moddir/kernel/$mod.ko" "$root/lib/modules/"
        basename "$mod" >> "$root/lib/modules/load-order"
    fi
done
install -m755 "$here/init" "$root/init"
install -m755 "$here/udhcpc-apply" "$root/bin/udhcpc-apply"
# The etcd start script Flatcar guests get through Ignition, rejoin rule included.
install -m755 "$here/../../templates/guest/etcd-start.sh" "$root/bin/coreos-cluster-etcd"
# Debian's etcd (package etcd-server) is linked against libc only.
for exe in /usr/bin/etcd /usr/bin/etcdctl; do
    [ -x "$exe" ] || { echo "$exe missing: install etcd-server and etcd-client" >&2; exit 1; }
    cp "$exe" "$root/bin/"
done
mkdir -p "$root/lib64" "$root/lib/x86_64-linux-gnu"
cp /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
cp /lib/x86_64-linux-gnu/libc.so.6 "$root/lib/x86_64-linux-gnu/"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out/initrd.img.tmp"
cp "$work"/kernel/boot/vmlinuz-* "$out/vmlinuz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$out/initrd.img.tmp" "$out/initrd.img"
echo "test guest built in $out ($kernel_pkg)" >&2
