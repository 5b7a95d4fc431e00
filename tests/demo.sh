#!/bin/bash
# Demo: coreos-cluster installed in a throwaway machine with a real systemd
# (the test bed; no Arch host needed), run as a user would: the generator at
# boot, the config check, and cluster VMs started and stopped by systemd
# under QEMU (TCG). Needs root; touches nothing outside its namespaces.
set -euo pipefail
source "$(dirname "$0")/lib/testbed.sh"
testbed_reexec_private "$0" "$@"
trap testbed_shutdown EXIT

(cd "$TESTBED_TOP" && cargo build --quiet --bins)
testbed_make_root
r=$TESTBED_ROOT
mkdir -p "$r/etc/coreos-cluster"
cat > "$r/etc/coreos-cluster/cluster.toml" <<'EOF2'
# KVM hangs on this machine: emulate. Small VMs: no real image boots here.
[vm]
accelerator = "tcg"
memory-mib = 256
powerdown-timeout-sec = 2

[image]
source = "files"
kernel = "/var/lib/coreos-cluster/images/test/vmlinuz"
initrd = "/var/lib/coreos-cluster/images/test/initrd.img"

[node.2]
memory-mib = 384
EOF2
testbed_boot
show() { printf '\n$ %s\n' "$*"; tb "$@"; }

show cat /etc/coreos-cluster/cluster.toml
show coreos-cluster check
show systemctl cat coreos-vm@02.service --no-pager
# The network oneshot's files come with `coreos-cluster setup-network`; until
# then the taps are made by hand, as networkd would make them.
tb systemd-sysusers coreos-cluster.conf
tb systemctl mask --runtime --quiet coreos-cluster-network.service
for i in 01 02 03; do
    tb ip tuntap add dev "coreos-tap$i" mode tap user coreos-cluster
    tb ip link set "coreos-tap$i" up
done
show systemctl start coreos-vm@01.service coreos-vm@02.service coreos-vm@03.service
show systemctl list-units --no-pager 'coreos-vm@*'
show systemd-cgls --no-pager -u machine-coreos.slice
show systemctl stop coreos-vm@01.service coreos-vm@02.service coreos-vm@03.service
show journalctl --no-pager -o cat -u coreos-vm@01.service
