#!/bin/bash
# PID 1 of a test bed's new namespaces until it execs systemd: mounts the
# kernel file systems of a container on ROOT, pivots into it and boots.
#   testbed-init.sh ROOT TARGET
set -eu
r=$1
target=$2

mount --make-rprivate /
mount -t proc proc "$r/proc"
mount --bind "$r/proc/sys" "$r/proc/sys"
mount -o remount,bind,ro "$r/proc/sys"
# A read-only /sys: networkd then creates links without waiting for udev.
mount -t sysfs -o ro sysfs "$r/sys"
mount -t cgroup2 -o nsdelegate cgroup2 "$r/sys/fs/cgroup"
# KSM's switch is global to the machine: writable only for a test that asks
# (TESTBED_KSM_WRITABLE=1) and restores it.
# The host's /sys is still mounted here (a new sysfs would share the
# read-only one's superblock).
if [ "${TESTBED_KSM_WRITABLE:-}" = 1 ]; then
    mount --bind /sys/kernel/mm/ksm "$r/sys/kernel/mm/ksm"
fi

mount -t tmpfs -o mode=755,nosuid tmpfs "$r/dev"
for node in null zero full random urandom tty; do
    touch "$r/dev/$node"
    mount --bind "/dev/$node" "$r/dev/$node"
done
mkdir -p "$r/dev/net" "$r/dev/pts" "$r/dev/shm"
# Our own node, mode 0666 as udev makes it on a real host (this host's is 0600).
mknod -m 0666 "$r/dev/net/tun" c 10 200
if [ -e /dev/kvm ]; then
    touch "$r/dev/kvm"
    mount --bind /dev/kvm "$r/dev/kvm"
fi
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$r/dev/pts"
ln -s pts/ptmx "$r/dev/ptmx"
# A private console: nothing in the test bed can reach the host's terminal.
touch "$r/dev/console"
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$r/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$r/tmp"

cd "$r"
mkdir -p .testbed-oldroot
pivot_root . .testbed-oldroot
umount -l /.testbed-oldroot
rmdir /.testbed-oldroot
export container=coreos-cluster-testbed
exec /lib/systemd/systemd --system --unit="$target" --log-target=console --log-color=no
