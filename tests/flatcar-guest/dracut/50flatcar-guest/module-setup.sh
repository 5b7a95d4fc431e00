#!/bin/bash
# The test guest's own dracut module: what Flatcar's initramfs does and
# Debian's upstream Ignition module leaves to the distribution.
# - flatcar.first_boot on the kernel line starts Ignition (upstream keys on
#   ignition.firstboot and ignition.platform.id);
# - networking for ignition-fetch (DHCP, client identifier = MAC);
# - the RAM root: a tmpfs over the squashfs appended to the initramfs;
# - is-live-image, so upstream skips its boot-disk targets.

check() {
    return 255
}

depends() {
    echo ignition systemd-networkd
}

# shellcheck disable=SC2154  # initdir, moddir, systemdutildir: set by dracut
install() {
    # Move upstream's generator aside; ours maps the kernel line, then runs it.
    local gens="$systemdutildir/system-generators"
    mkdir -p "$initdir/usr/lib/flatcar-guest"
    mv "$initdir$gens/ignition-generator" "$initdir/usr/lib/flatcar-guest/ignition-generator"
    inst_script "$moddir/flatcar-first-boot-generator" "$gens/ignition-generator"
    inst_script "$moddir/mount-ram-root" /usr/lib/flatcar-guest/mount-ram-root
    inst_script "$moddir/is-live-image" /usr/bin/is-live-image
    # Ignition relabels for SELinux when setfiles exists; this guest has none.
    inst_script "$moddir/setfiles" /usr/sbin/setfiles
    inst_multiple unshare mount mkdir modprobe

    inst_simple "$moddir/flatcar-guest-ram-root.service" \
        "$systemdsystemunitdir/flatcar-guest-ram-root.service"
    mkdir -p "$initdir$systemdsystemunitdir/initrd-root-fs.target.requires"
    ln_r "$systemdsystemunitdir/flatcar-guest-ram-root.service" \
        "$systemdsystemunitdir/initrd-root-fs.target.requires/flatcar-guest-ram-root.service"

    inst_simple "$moddir/50-flatcar-guest-console.conf" \
        /etc/systemd/journald.conf.d/50-flatcar-guest-console.conf
    inst_simple "$moddir/10-flatcar-guest-dhcp.network" \
        /etc/systemd/network/10-flatcar-guest-dhcp.network
    mkdir -p "$initdir$systemdsystemunitdir/initrd.target.wants"
    ln_r "$systemdsystemunitdir/systemd-networkd.service" \
        "$systemdsystemunitdir/initrd.target.wants/systemd-networkd.service"
}
