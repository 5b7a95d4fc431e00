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
# The config: every line commented out, so the built-in defaults apply until edited.
install -Dm644 "$top/packaging/cluster.toml.example" "$destdir/etc/coreos-cluster/cluster.toml"
install -Dm644 "$top/packaging/cluster.toml.example" "$destdir/usr/share/doc/coreos-cluster/cluster.toml.example"
install -Dm644 "$top/LICENSE" "$destdir/usr/share/licenses/coreos-cluster/LICENSE"

# Man pages: hand-written for the generator and the config, generated from the CLI for the rest.
install -Dm644 "$top/packaging/man/coreos-cluster-generator.8" "$destdir/usr/share/man/man8/coreos-cluster-generator.8"
install -Dm644 "$top/packaging/man/cluster.toml.5" "$destdir/usr/share/man/man5/cluster.toml.5"
mkdir -p "$destdir/usr/share/man/man1"
"$bindir/coreos-cluster" man-page "$destdir/usr/share/man/man1"
chmod 644 "$destdir"/usr/share/man/man1/*.1

# Shell completions, generated from the CLI.
mkdir -p "$destdir/usr/share/bash-completion/completions" \
    "$destdir/usr/share/zsh/site-functions" "$destdir/usr/share/fish/vendor_completions.d"
"$bindir/coreos-cluster" completions bash > "$destdir/usr/share/bash-completion/completions/coreos-cluster"
"$bindir/coreos-cluster" completions zsh > "$destdir/usr/share/zsh/site-functions/_coreos-cluster"
"$bindir/coreos-cluster" completions fish > "$destdir/usr/share/fish/vendor_completions.d/coreos-cluster.fish"
