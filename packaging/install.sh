#!/bin/sh
# Installs coreos-cluster's files below DESTDIR, the way the package lays
# them out. Used by the PKGBUILD and by the tests, so both install the same.
#   packaging/install.sh DESTDIR BINDIR
# BINDIR holds the built coreos-cluster and coreos-cluster-generator.
set -eu
destdir=$1
bindir=$2
top=$(cd "$(dirname "$0")/.." && pwd)

install -Dm755 "$bindir/coreos-cluster" "$destdir/usr/bin/coreos-cluster"
install -Dm755 "$bindir/coreos-cluster-generator" \
    "$destdir/usr/lib/systemd/system-generators/coreos-cluster-generator"
for unit in "$top"/units/*; do
    install -Dm644 "$unit" "$destdir/usr/lib/systemd/system/$(basename "$unit")"
done
install -Dm644 "$top/packaging/coreos-cluster.sysusers" "$destdir/usr/lib/sysusers.d/coreos-cluster.conf"
install -Dm644 "$top/packaging/coreos-cluster.tmpfiles" "$destdir/usr/lib/tmpfiles.d/coreos-cluster.conf"
install -Dm644 "$top/packaging/cluster.toml.example" "$destdir/usr/share/doc/coreos-cluster/cluster.toml.example"
