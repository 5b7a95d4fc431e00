# shellcheck shell=bash
# A throwaway machine for tests: a real systemd as PID 1 in its own PID,
# mount, network, UTS, IPC and cgroup namespaces, on an overlay of the
# host's / (writes go to a tmpfs). Source this file from a test script that
# already runs in a private mount namespace (see `testbed_reexec_private`).
#
#   testbed_make_root          overlay root in $TESTBED_ROOT, project installed
#                              (from $TESTBED_PACKAGE with pacman -U when set)
#   testbed_use_test_guest     install the test guest and a test-bed config drop-in
#   testbed_boot [TARGET]      boot systemd there; sets TESTBED_LEADER
#   tb CMD...                  run CMD inside the test bed
#   testbed_reboot [TARGET]    power it off and boot it again on the same root
#   testbed_shutdown           power it off, wait, clean up
#   testbed_build              build the binaries, unless testing $TESTBED_PACKAGE
#   testbed_make_guest_root MEMORY_MIB POWERDOWN_TIMEOUT_SEC
#                              testbed_build, testbed_make_root, testbed_use_test_guest
#   testbed_syslinux_layout    Arch's syslinux paths in the root, from Debian's packages
#   journal_wait PATTERN SECONDS [journalctl args]   wait for a journal line
#   journal_has PATTERN [journalctl args]            the same, 15 s
#
# Never boots on the host's real /, never touches the host's interfaces.

TESTBED_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TESTBED_BIN=${TESTBED_BIN:-$TESTBED_TOP/target/debug}

# Re-runs the calling script in a private mount namespace, once.
testbed_reexec_private() {
    if [ -z "${TESTBED_PRIVATE:-}" ]; then
        export TESTBED_PRIVATE=1
        exec unshare --mount --propagation private -- "$@"
    fi
}

# shellcheck source=tests/lib/common.sh
source "$TESTBED_TOP/tests/lib/common.sh"

# pacman on the test bed's root, from the host (Debian has no Arch package DB:
# dependencies are not checked).
testbed_pacman() {
    pacman_root "$TESTBED_ROOT" "$TESTBED_ROOT/var/cache/pacman/pkg" -dd "$@"
}

# The binaries under test: the package's when testing one, else a fresh build.
testbed_build() {
    [ -n "${TESTBED_PACKAGE:-}" ] || (cd "$TESTBED_TOP" && cargo build --quiet --bins)
}

# The usual start of a test that boots VMs: the binaries, a root, the test guest.
testbed_make_guest_root() { # MEMORY_MIB POWERDOWN_TIMEOUT_SEC
    testbed_build
    testbed_make_root
    testbed_use_test_guest "$1" "$2"
}

# Arch's syslinux layout (/usr/lib/syslinux/bios), from Debian's packages.
testbed_syslinux_layout() {
    local r=$TESTBED_ROOT
    mkdir -p "$r/usr/lib/syslinux/bios"
    ln -sf /usr/lib/PXELINUX/pxelinux.0 "$r/usr/lib/syslinux/bios/pxelinux.0"
    ln -sf /usr/lib/syslinux/modules/bios/ldlinux.c32 "$r/usr/lib/syslinux/bios/ldlinux.c32"
}

journal_wait() { # PATTERN SECONDS [journalctl args]
    local pattern=$1 seconds=$2
    shift 2
    for _ in $(seq $((seconds * 10))); do
        # Read it all first: grep -q closing the pipe early is a SIGPIPE failure under pipefail.
        grep -q -- "$pattern" <<<"$(tb journalctl -o cat --no-pager "$@")" && return 0
        sleep 0.1
    done
    return 1
}

# Waits a little for journald to catch up.
journal_has() { # PATTERN [journalctl args]
    local pattern=$1
    shift
    journal_wait "$pattern" 15 "$@"
}

testbed_make_root() {
    TESTBED_WORK=$(mktemp -d /tmp/coreos-cluster-testbed.XXXXXX)
    mount -t tmpfs -o mode=755 tmpfs "$TESTBED_WORK"
    mkdir "$TESTBED_WORK/upper" "$TESTBED_WORK/work" "$TESTBED_WORK/root"
    mount -t overlay overlay \
        -o "lowerdir=/,upperdir=$TESTBED_WORK/upper,workdir=$TESTBED_WORK/work" \
        "$TESTBED_WORK/root"
    TESTBED_ROOT=$TESTBED_WORK/root
    local r=$TESTBED_ROOT

    # A fresh machine: no host configuration leaks in, none of the host's
    # enabled services (nginx, etcd, ...) start in it.
    rm -rf "$r/etc/coreos-cluster" "$r/etc/systemd/network" "$r"/etc/systemd/system/*.wants
    # Nor its SysV init scripts (Debian's tftpd-hpa would hold port 69): a
    # test that wants a competing server starts one on purpose.
    mkdir -p "$r/etc/systemd/system-generators"
    ln -sf /dev/null "$r/etc/systemd/system-generators/systemd-sysv-generator"
    if [ -n "${TESTBED_PACKAGE:-}" ]; then
        testbed_pacman -U "$TESTBED_PACKAGE" >&2
    else
        "$TESTBED_TOP/packaging/install.sh" "$r" "$TESTBED_BIN"
    fi
    # Arch's layout where Debian's differs: binaries in /usr/bin (the
    # product is not bent to Debian).
    local tool
    for tool in nginx in.tftpd nft; do
        if [ -x "$r/usr/sbin/$tool" ] && [ ! -e "$r/usr/bin/$tool" ]; then
            ln -s "/usr/sbin/$tool" "$r/usr/bin/$tool"
        fi
    done
    : > "$r/etc/machine-id"
    # Units of the host that have no business in a test bed.
    local unit
    for unit in console-getty.service getty.target systemd-networkd-wait-online.service \
        systemd-timesyncd.service systemd-resolved.service; do
        ln -sf /dev/null "$r/etc/systemd/system/$unit"
    done
}

# Mounts what chroot needs to run tools (systemd-analyze, the binaries) in
# $TESTBED_ROOT without booting it.
testbed_mount_for_chroot() {
    local r=$TESTBED_ROOT
    mount -t proc proc "$r/proc"
    mount --rbind /dev "$r/dev"
    mount -t tmpfs tmpfs "$r/run"
    mount -t tmpfs tmpfs "$r/tmp"
}

# Builds the test guest and installs it where a user would put Flatcar's PXE
# images, with a config drop-in for the test bed: TCG (KVM hangs on these
# machines) and the guest as [image] source = "files". Sets TESTBED_IMAGES.
# The served trees are made too (the package's tmpfiles.d does it at boot).
testbed_use_test_guest() { # MEMORY_MIB POWERDOWN_TIMEOUT_SEC
    local guest=$TESTBED_TOP/target/test-guest r=$TESTBED_ROOT
    "$TESTBED_TOP/tests/guest/build.sh" "$guest"
    TESTBED_IMAGES=/var/lib/coreos-cluster/images/test-guest
    install -Dm644 "$guest/vmlinuz" "$r$TESTBED_IMAGES/vmlinuz"
    install -Dm644 "$guest/initrd.img" "$r$TESTBED_IMAGES/initrd.img"
    mkdir -p "$r/srv/coreos-cluster/http" "$r/srv/coreos-cluster/tftp" \
        "$r/etc/coreos-cluster/cluster.toml.d"
    cat > "$r/etc/coreos-cluster/cluster.toml.d/40-test-bed.toml" <<TOML
# The test bed: KVM hangs on these machines; the test guest stands in for Flatcar.
[vm]
accelerator = "tcg"
memory-mib = $1
powerdown-timeout-sec = $2

[image]
source = "files"
kernel = "$TESTBED_IMAGES/vmlinuz"
initrd = "$TESTBED_IMAGES/initrd.img"
TOML
}

# Boots systemd as PID 1 of new namespaces on $TESTBED_ROOT.
testbed_boot() {
    local target=${1:-basic.target}
    TESTBED_CGROUP=/sys/fs/cgroup/unified/coreos-cluster-testbed-$$
    [ -d /sys/fs/cgroup/unified ] || TESTBED_CGROUP=/sys/fs/cgroup/coreos-cluster-testbed-$$
    mkdir -p "$TESTBED_CGROUP"
    TESTBED_CONSOLE=$TESTBED_WORK/console.log
    # The unshare process joins the fresh cgroup, which becomes the testbed's root.
    (
        echo $BASHPID > "$TESTBED_CGROUP/cgroup.procs"
        exec unshare --pid --fork --kill-child --mount --uts --ipc --net --cgroup \
            -- "$TESTBED_TOP/tests/lib/testbed-init.sh" "$TESTBED_ROOT" "$target"
    ) > "$TESTBED_CONSOLE" 2>&1 &
    TESTBED_UNSHARE=$!
    local i
    for i in $(seq 100); do
        TESTBED_LEADER=$(cat "/proc/$TESTBED_UNSHARE/task/$TESTBED_UNSHARE/children" 2>/dev/null | awk '{print $1}')
        [ -n "$TESTBED_LEADER" ] && break
        sleep 0.05
    done
    [ -n "$TESTBED_LEADER" ] || fail "test bed did not start: $(cat "$TESTBED_CONSOLE")"
    local state=""
    for i in $(seq 300); do
        state=$(tb systemctl is-system-running 2>/dev/null) || true
        case $state in running|degraded) break ;; esac
        sleep 0.1
    done
    case $state in
        running|degraded) log "test bed up (systemd PID $TESTBED_LEADER on the host, $state)" ;;
        *) cat "$TESTBED_CONSOLE" >&2; fail "test bed did not boot (state: ${state:-none})" ;;
    esac
}

# Runs a command inside the test bed.
tb() {
    nsenter -t "$TESTBED_LEADER" -a -- "$@"
}

# D-Bus address of the test bed's system bus, for clients on the host.
testbed_bus() {
    echo "unix:path=/proc/$TESTBED_LEADER/root/run/dbus/system_bus_socket"
}

# Powers the test bed's systemd off and boots it again on the same root:
# what a host reboot is to the product.
testbed_reboot() {
    testbed_poweroff
    testbed_boot "$@"
}

testbed_poweroff() {
    if [ -n "${TESTBED_UNSHARE:-}" ] && kill -0 "$TESTBED_UNSHARE" 2>/dev/null; then
        # SIGRTMIN+4 asks systemd for poweroff; in a container it then exits.
        kill -s RTMIN+4 "$TESTBED_LEADER" 2>/dev/null || true
        local i
        for i in $(seq 100); do
            kill -0 "$TESTBED_UNSHARE" 2>/dev/null || break
            sleep 0.1
        done
        # Still there: end it (kills the whole PID namespace).
        kill -KILL "$TESTBED_LEADER" 2>/dev/null || true
        wait "$TESTBED_UNSHARE" 2>/dev/null || true
    fi
    TESTBED_UNSHARE=
    TESTBED_LEADER=
    if [ -n "${TESTBED_CGROUP:-}" ]; then
        # Children first; retry while the kernel finishes tearing down.
        for i in $(seq 50); do
            find "$TESTBED_CGROUP" -depth -type d -exec rmdir {} + 2>/dev/null || true
            [ -d "$TESTBED_CGROUP" ] || break
            sleep 0.1
        done
    fi
}

testbed_shutdown() {
    testbed_poweroff
    if [ -n "${TESTBED_WORK:-}" ]; then
        umount -R "$TESTBED_WORK" 2>/dev/null || umount -l "$TESTBED_WORK" 2>/dev/null || true
        rmdir "$TESTBED_WORK" 2>/dev/null || true
        TESTBED_WORK=
    fi
}

# For benchmarks that let the product drive KSM: /sys/kernel/mm/ksm is global
# to the machine, so where it is writable its settings are kept here, put back
# by testbed_shutdown_restoring_ksm (the EXIT trap this sets).
KSM_DIR=/sys/kernel/mm/ksm
testbed_keep_ksm() {
    TESTBED_KSM_KEPT=()
    if [ -w "$KSM_DIR/run" ]; then
        local f
        for f in run pages_to_scan sleep_millisecs; do TESTBED_KSM_KEPT+=("$f=$(cat "$KSM_DIR/$f")"); done
        export TESTBED_KSM_WRITABLE=1
    fi
    trap testbed_shutdown_restoring_ksm EXIT
}
testbed_shutdown_restoring_ksm() {
    local kv
    for kv in "${TESTBED_KSM_KEPT[@]}"; do echo "${kv#*=}" > "$KSM_DIR/${kv%%=*}"; done
    testbed_shutdown
}

# Stand-ins for prepare and the network and HTTP units, for tests about the
# running VMs (they make the taps by hand); network-boot.sh and the
# end-to-end tests run the real ones.
testbed_standin_units() {
    local r=$TESTBED_ROOT unit
    for unit in coreos-cluster@.service coreos-cluster-network.service coreos-cluster-http.service; do
        mkdir -p "$r/etc/systemd/system/$unit.d"
    done
    printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/coreos-cluster check --quiet --size %%i\n' \
        > "$r/etc/systemd/system/coreos-cluster@.service.d/test-standin.conf"
    for unit in coreos-cluster-network.service coreos-cluster-http.service; do
        printf '[Service]\nExecStartPre=\nExecStart=\nExecStart=/bin/true\nExecStartPost=\nExecStopPost=\n' \
            > "$r/etc/systemd/system/$unit.d/test-standin.conf"
    done
    ln -s /dev/null "$r/etc/systemd/system/systemd-networkd-wait-online@coreos-br0:no-carrier.service"
}

# etcdctl (v3 API) against one node, from inside the test bed.
etcdctl_on() { # NODE_IP ARGS...
    local ip=$1
    shift
    tb env ETCDCTL_API=3 etcdctl --endpoints "http://$ip:2379" --command-timeout=5s "$@"
}

# Puts KEY on node 1 and reads it back from another node (node 3 unless told).
put_get() { # KEY VALUE [NODE_IP]
    local ip=${3:-10.77.0.13} got
    etcdctl_on 10.77.0.11 put "$1" "$2" >/dev/null
    got=$(etcdctl_on "$ip" get --print-value-only "$1")
    [ "$got" = "$2" ] || fail "get $1 on $ip returned '$got', want '$2'"
}

# Waits until every node of a cluster (3 nodes unless told) reports etcd
# healthy; on failure shows status and the end of each VM's serial log.
wait_cluster_healthy() { # SECONDS [NODES]
    local deadline=$(($(date +%s) + $1)) nodes=${2:-3} json
    while [ "$(date +%s)" -lt "$deadline" ]; do
        json=$(tb coreos-cluster status --json 2>/dev/null) || true
        if python3 -c 'import json,sys; s=json.loads(sys.argv[1]); assert len(s["nodes"]) == int(sys.argv[2]) and all(n["etcd_healthy"] for n in s["nodes"])' "$json" "$nodes" 2>/dev/null; then
            return 0
        fi
        sleep 1
    done
    tb coreos-cluster status >&2 || true
    local i
    for i in $(seq -f %02g "$nodes"); do tb journalctl -u "coreos-vm@$i" -o cat --no-pager | tail -8 >&2; done
    fail "the cluster did not become healthy within $1 s"
}

# SIGKILLs a VM's QEMU (the child of the unit's vm-exec) and waits until
# systemd has restarted the unit.
kill_qemu_wait_restart() { # INSTANCE
    local unit=coreos-vm@$1.service leader qemu restarts
    restarts=$(tb systemctl show -p NRestarts --value "$unit")
    leader=$(tb systemctl show -p MainPID --value "$unit")
    qemu=$(tb pgrep -P "$leader" qemu-system) || fail "no QEMU under $unit's $leader"
    tb kill -KILL "$qemu"
    for _ in $(seq 100); do
        [ "$(tb systemctl show -p NRestarts --value "$unit")" = $((restarts + 1)) ] && return 0
        sleep 0.1
    done
    fail "$unit not restarted after its QEMU was killed"
}
