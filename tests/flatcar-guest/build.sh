#!/bin/bash
# Builds the Flatcar-like TEST GUEST from Debian packages: Debian's cloud
# kernel and a dracut initramfs with systemd, systemd-networkd and Debian's
# real Ignition (2.14, dracut module 30ignition). The guest's root is a
# squashfs appended to the initramfs as an uncompressed cpio, the way
# Flatcar's PXE image carries usr.squashfs, and runs from RAM (tmpfs over the
# squashfs). It answers Flatcar's kernel line:
#   initrd=flatcar_production_pxe_image.cpio.gz flatcar.first_boot=1
#   ignition.config.url=http://HOST/PATH console=tty0 console=ttyS0,115200n8
# It lives only in tests/ and is served under Flatcar's PXE file names:
#   tests/flatcar-guest/build.sh OUTDIR -> OUTDIR/flatcar_production_pxe.vmlinuz,
#   OUTDIR/flatcar_production_pxe_image.cpio.gz, OUTDIR/version.txt
# A build is skipped when OUTDIR was built from the same inputs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}
kernel_name=flatcar_production_pxe.vmlinuz
image_name=flatcar_production_pxe_image.cpio.gz
suite=bookworm
# The guest's packages: systemd as init, sshd, what an etcd rejoin script
# needs (sh, coreutils, curl, iproute2; etcdctl needs only libc), and what
# builds the initramfs (dracut, Ignition's module, the kernel).
packages=(
    systemd systemd-sysv udev dbus libpam-systemd openssh-server iproute2 curl
    passwd procps kmod linux-image-cloud-amd64
    dracut-core dracut-network ignition
)
# Failed boots end themselves (QEMU -no-reboot turns the reboot into an exit).
initrd_cmdline="rd.emergency=poweroff rd.shell=0"

inputs=$( (cd "$here" && find build.sh dracut root -type f | sort | xargs sha256sum)
    echo "$suite ${packages[*]} $initrd_cmdline")
inputs_hash=$(sha256sum <<<"$inputs" | cut -c1-16)
if [ -s "$out/$kernel_name" ] && [ -s "$out/$image_name" ] &&
    grep -qx "TEST_GUEST_INPUTS=$inputs_hash" "$out/version.txt" 2>/dev/null; then
    exit 0
fi
started=$(date +%s)
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root

# mmdebstrap reads the machine's own apt sources (mirror, snapshot).
sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || sources=/etc/apt/sources.list
# Hooks run in mmdebstrap with the root as $1.
# shellcheck disable=SC2016
mmdebstrap --quiet --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook="cp -a '$here/root/.' \"\$1/\"" \
    --customize-hook="cp -a '$here/dracut/.' \"\$1/usr/lib/dracut/modules.d/\"" \
    --customize-hook="install -m644 '$here/dracut/50flatcar-guest/10-flatcar-guest-dhcp.network' \"\$1/etc/systemd/network/\"" \
    --customize-hook='chroot "$1" systemctl enable systemd-networkd.service' \
    --customize-hook='rm -f "$1/etc/hostname" "$1/etc/resolv.conf"' \
    --customize-hook="chroot \"\$1\" sh -c 'dracut --quiet --force --no-hostonly --reproducible \
        --add \"ignition systemd-networkd flatcar-guest\" \
        --omit \"plymouth lvm crypt dm dmraid mdraid multipath nfs iscsi nbd fcoe btrfs resume \
            biosdevname i18n rngd memstrack nvdimm\" \
        --drivers \"virtio_net virtio_pci squashfs loop overlay\" \
        --kernel-cmdline \"$initrd_cmdline\" \
        /boot/initramfs.img \$(ls /lib/modules)'" \
    "$suite" "$root" "$sources"

cp "$root"/boot/vmlinuz-* "$work/$kernel_name"
# mmdebstrap empties machine-id last; "uninitialized" makes the guest's first
# boot a first boot, so systemd applies the presets Ignition wrote (enabled units).
echo uninitialized > "$root/etc/machine-id"
# The root image leaves out what only built the initramfs.
# zstd level 3: a 2-second build, 15% larger than the default level's minute.
mksquashfs "$root" "$work/root.squashfs" -quiet -comp zstd -Xcompression-level 3 -noappend \
    -e boot usr/lib/dracut var/cache/apt var/lib/apt/lists
# The kernel reads a cpio appended to the compressed one only at a 4-byte
# boundary: pad the dracut image, then add the squashfs uncompressed.
cp "$root/boot/initramfs.img" "$work/$image_name"
truncate -s %512 "$work/$image_name"
(cd "$work" && echo root.squashfs | cpio -o -H newc --quiet) >> "$work/$image_name"

kernel_version=$(ls "$root/lib/modules")
# shellcheck disable=SC2016
ignition_version=$(chroot "$root" dpkg-query -W -f '${Version}' ignition)
cat > "$work/version.txt" <<VERSION
FLATCAR_VERSION=0.0.0
FLATCAR_VERSION_ID=0.0.0
FLATCAR_BUILD_ID="test-guest-$inputs_hash"
TEST_GUEST_KERNEL=$kernel_version
TEST_GUEST_IGNITION=$ignition_version
TEST_GUEST_INPUTS=$inputs_hash
VERSION
chmod 644 "$work/$kernel_name" "$work/$image_name" "$work/version.txt"
mv "$work/$kernel_name" "$work/$image_name" "$out/"
mv "$work/version.txt" "$out/"
echo "Flatcar-like test guest built in $out in $(( $(date +%s) - started )) s" \
    "(kernel $kernel_version, Ignition $ignition_version)" >&2
