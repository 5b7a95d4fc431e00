#!/bin/bash
# Benchmark (figures, no timed assertion): does the serial console's speed
# change a guest's boot time under QEMU (TCG)? Boots the Flatcar-like test
# guest with direct kernel boot and a served minimal Ignition config, with
# `console=ttyS0` (the kernel's default, 9600 baud) and
# `console=ttyS0,115200n8` (Flatcar's docs) alternating, and times each boot
# from QEMU's start to "Reached target ... Multi-User System" on the serial
# console. Root only; QEMU's user networking in a network namespace of its own.
#   tests/bench/console.sh [BOOTS_EACH]   (default 3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
source "$top/tests/lib/common.sh"
guest=$top/target/flatcar-guest
each=${1:-3}
[ "$(id -u)" = 0 ] || fail "run as root"

if [ -z "${CONSOLE_BENCH_IN_NETNS:-}" ]; then
    "$top/tests/flatcar-guest/build.sh" "$guest"
    exec env CONSOLE_BENCH_IN_NETNS=1 unshare --net "$0" "$@"
fi

ip link set lo up
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
http_port=8080
mkdir "$work/srv"
echo '{"ignition": {"version": "3.3.0"}}' >"$work/srv/config.ign"
(cd "$work/srv" && exec python3 -m http.server "$http_port" --bind 127.0.0.1) 2>/dev/null &
pids+=($!)

boot_seconds() { # CONSOLE_ARG: one boot, prints seconds to multi-user
    local serial=$work/serial.log qemu t0 i
    rm -f "$serial"
    t0=$(date +%s%N)
    qemu-system-x86_64 -accel tcg -m 1024 -no-reboot -display none -vga none \
        -serial "file:$serial" \
        -kernel "$guest/flatcar_production_pxe.vmlinuz" \
        -initrd "$guest/flatcar_production_pxe_image.cpio.gz" \
        -append "initrd=flatcar_production_pxe_image.cpio.gz flatcar.first_boot=1 ignition.config.url=http://10.0.2.2:$http_port/config.ign console=tty0 $1" \
        -netdev user,id=n0 -device virtio-net-pci,netdev=n0 &
    qemu=$!
    pids+=("$qemu")
    for i in $(seq 3000); do
        grep -q "Reached target.*Multi-User System" "$serial" 2>/dev/null && break
        kill -0 "$qemu" 2>/dev/null || fail "QEMU exited during boot"
        sleep 0.1
    done
    [ "$i" -lt 3000 ] || fail "no multi-user within 300 s with $1"
    echo "scale=1; ($(date +%s%N) - $t0) / 1000000000" | bc
    kill "$qemu"
    wait "$qemu" 2>/dev/null || true
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for run in $(seq "$each"); do
    for console in console=ttyS0 console=ttyS0,115200n8; do
        s=$(boot_seconds "$console")
        printf 'boot %d, %-22s %5.1f s to multi-user\n' "$run" "$console:" "$s"
        echo "$s" >>"$work/$console"
    done
done
slow=$(median <"$work/console=ttyS0")
fast=$(median <"$work/console=ttyS0,115200n8")
printf 'median of %d boots each: console=ttyS0 %.1f s, console=ttyS0,115200n8 %.1f s (%.2fx)\n' \
    "$each" "$slow" "$fast" "$(echo "$fast / $slow" | bc -l)"
