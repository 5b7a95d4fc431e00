#!/bin/bash
# Installs the Debian packages the tests and the demo need (root). Packages
# do not start their services here: the tests start their own, in test beds.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
created_policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
fi
apt-get update
apt-get install -y --no-install-recommends \
    systemd dbus iproute2 procps util-linux bc time man-db cpio curl python3 \
    qemu-system-x86 ipxe-qemu nginx-light tftpd-hpa pxelinux syslinux-common \
    etcd-server etcd-client dnsmasq-base \
    makepkg pacman-package-manager libarchive-tools fakeroot zstd busybox-static
[ -z "$created_policy" ] || rm -f /usr/sbin/policy-rc.d
