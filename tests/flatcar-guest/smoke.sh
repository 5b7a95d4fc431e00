#!/bin/bash
# Smoke test of the Flatcar-like test guest (build.sh), booted the way the
# product boots Flatcar: its kernel line, a served spec-3.3.0 Ignition config.
# Real Ignition must fetch the config and, with sha512 verification, etcd and
# etcdctl; real systemd must run the etcd unit Ignition enabled; sshd must let
# `core` in with the configured key; the ACPI power button must power it off;
# and a boot whose Ignition fails must end by itself. Prints boot timings.
# QEMU (TCG) uses user networking inside a network namespace of its own, so
# the guest reaches only this test's HTTP server (10.0.2.2 = the namespace's
# loopback). Root only.
#   tests/flatcar-guest/smoke.sh [OUTDIR]   (default target/flatcar-guest)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
guest=${1:-$top/target/flatcar-guest}
log() { printf '%s %s\n' "$(date +%T.%3N)" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || fail "run as root"

if [ -z "${FLATCAR_SMOKE_IN_NETNS:-}" ]; then
    log "building (or reusing) the guest in $guest"
    started=$(date +%s)
    "$here/build.sh" "$guest"
    log "guest ready after $(( $(date +%s) - started )) s: $(du -h "$guest/flatcar_production_pxe_image.cpio.gz" | cut -f1) image, $(du -h "$guest/flatcar_production_pxe.vmlinuz" | cut -f1) kernel"
    exec env FLATCAR_SMOKE_IN_NETNS=1 unshare --net "$0" "$guest"
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
host=10.0.2.2  # QEMU user networking: the namespace's loopback, as the guest sees it
guest_ip=10.0.2.15
etcd_fwd=12379
ssh_fwd=10022
hostname=flatcar-smoke

mkdir "$work/srv"
ssh-keygen -q -t ed25519 -N '' -C smoke -f "$work/key"
for exe in /usr/bin/etcd /usr/bin/etcdctl; do
    [ -x "$exe" ] || fail "$exe missing: install etcd-server and etcd-client"
    cp "$exe" "$work/srv/"
done
# A hand-written spec-3.3.0 config of the shape the product emits for Flatcar.
write_config() { # FILE ETCD_HASH
    local unit
    unit=$(python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))' <<UNIT
[Unit]
Description=etcd (single node)
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/opt/bin/etcd --name $hostname --data-dir /var/lib/etcd \\
  --listen-client-urls http://0.0.0.0:2379 --advertise-client-urls http://$guest_ip:2379 \\
  --listen-peer-urls http://0.0.0.0:2380 --initial-advertise-peer-urls http://$guest_ip:2380 \\
  --initial-cluster $hostname=http://$guest_ip:2380
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT
)
    cat > "$1" <<JSON
{
  "ignition": {"version": "3.3.0"},
  "passwd": {"users": [{"name": "core", "sshAuthorizedKeys": ["$(cat "$work/key.pub")"]}]},
  "storage": {"files": [
    {"path": "/etc/hostname", "mode": 420, "overwrite": true,
     "contents": {"source": "data:,$hostname%0A"}},
    {"path": "/opt/bin/etcd", "mode": 493,
     "contents": {"source": "http://$host:$http_port/etcd", "verification": {"hash": "sha512-$2"}}},
    {"path": "/opt/bin/etcdctl", "mode": 493,
     "contents": {"source": "http://$host:$http_port/etcdctl",
                  "verification": {"hash": "sha512-$(sha512sum "$work/srv/etcdctl" | cut -d' ' -f1)"}}}
  ]},
  "systemd": {"units": [{"name": "etcd-member.service", "enabled": true, "contents": $unit}]}
}
JSON
    ignition-validate "$1" || fail "ignition-validate refused $1"
}
write_config "$work/srv/config.ign" "$(sha512sum "$work/srv/etcd" | cut -d' ' -f1)"
write_config "$work/srv/bad-hash.ign" "$(sha512sum "$work/srv/etcdctl" | cut -d' ' -f1)"

(cd "$work/srv" && exec python3 -m http.server "$http_port" --bind 127.0.0.1) 2> "$work/http.log" &
pids+=($!)

boot() { # CONFIG_NAME: start QEMU in the background, sets qemu and t0
    rm -f "$work/serial.log"
    t0=$(date +%s%3N)
    qemu-system-x86_64 -accel tcg -m "${FLATCAR_GUEST_MEMORY_MIB:-1024}" -no-reboot \
        -display none -vga none -serial "file:$work/serial.log" \
        -qmp "unix:$work/qmp.sock,server=on,wait=off" \
        -kernel "$guest/flatcar_production_pxe.vmlinuz" \
        -initrd "$guest/flatcar_production_pxe_image.cpio.gz" \
        -append "initrd=flatcar_production_pxe_image.cpio.gz flatcar.first_boot=1 ignition.config.url=http://$host:$http_port/$1 console=tty0 console=ttyS0,115200n8" \
        -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$etcd_fwd-:2379,hostfwd=tcp:127.0.0.1:$ssh_fwd-:22" \
        -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:01 &
    qemu=$!
    pids+=("$qemu")
}
since() { echo "$(( ($(date +%s%3N) - t0) / 100 ))" | sed -E 's/(.)$/.\1/; s/^\./0./'; }
serial() { sed 's/\x1b\[[0-9;]*[a-zA-Z]//g' "$work/serial.log" 2>/dev/null; }
# Reads it all first: grep -q closing a pipe early fails the pipe under pipefail.
serial_has() { grep -q -- "$1" <<<"$(serial)"; }
ssh_guest() {
    ssh -i "$work/key" -p "$ssh_fwd" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o LogLevel=ERROR -o ConnectTimeout=5 -o BatchMode=yes core@127.0.0.1 "$@"
}

log "boot with a good config"
boot config.ign
t_ign='' t_etcd='' t_ssh=''
deadline=$(( $(date +%s) + ${FLATCAR_SMOKE_TIMEOUT_SEC:-400} ))
while [ -z "$t_ign" ] || [ -z "$t_etcd" ] || [ -z "$t_ssh" ]; do
    kill -0 "$qemu" 2>/dev/null || { serial | tail -40; fail "QEMU exited during boot"; }
    [ "$(date +%s)" -lt "$deadline" ] || { serial | tail -60; fail "not up in time (ignition '$t_ign', etcd '$t_etcd', ssh '$t_ssh')"; }
    if [ -z "$t_ign" ] && serial_has "Reached target.*Ignition Complete"; then
        t_ign=$(since); log "Ignition done at $t_ign s"
    fi
    if [ -z "$t_etcd" ] && curl -sf --max-time 2 "http://127.0.0.1:$etcd_fwd/health" | grep -q '"health":"true"'; then
        t_etcd=$(since); log "etcd healthy (from the host) at $t_etcd s"
    fi
    if [ -z "$t_ssh" ] && out=$(ssh_guest 'hostname; id -un' 2>/dev/null); then
        [ "$out" = "$hostname"$'\n'core ] || fail "ssh: unexpected output: $out"
        t_ssh=$(since); log "ssh core@ with the key at $t_ssh s"
    fi
    sleep 0.5
done

log "checks inside the guest over ssh"
inside=$(ssh_guest 'systemctl is-active etcd-member.service; systemctl is-system-running --wait;
    /opt/bin/etcdctl --endpoints=http://127.0.0.1:2379 put smoke ok >/dev/null &&
    /opt/bin/etcdctl --endpoints=http://127.0.0.1:2379 get --print-value-only smoke;
    stat -c %a /opt/bin/etcd; findmnt -no FSTYPE /; cat /proc/cmdline') || fail "ssh commands failed"
printf '%s\n' "$inside" | sed 's/^/  guest: /' >&2
expect_line() { grep -qx -- "$2" <<<"$inside" || fail "$1: '$2' not in the guest's answers"; }
expect_line "etcd unit active" active
expect_line "boot finished without failed units" running
expect_line "etcdctl in the guest" ok
expect_line "mode of /opt/bin/etcd" 755
expect_line "RAM root" overlay
grep -q "flatcar.first_boot=1 ignition.config.url=" <<<"$inside" || fail "kernel line not Flatcar's"
! grep -q "ignition.firstboot" <<<"$inside" || fail "the mapping leaked onto the kernel line"
for path in config.ign etcd etcdctl; do
    grep -q "\"GET /$path HTTP/1.1\" 200" "$work/http.log" || { cat "$work/http.log"; fail "server did not serve /$path"; }
done

log "ACPI power button (QMP system_powerdown)"
t_down=$(date +%s%3N)
python3 - "$work/qmp.sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
for command in ("qmp_capabilities", "system_powerdown"):
    f.write(json.dumps({"execute": command}) + "\n")
    f.flush()
    while "return" not in (reply := json.loads(f.readline())):
        if "error" in reply:
            sys.exit(f"QMP {command}: {reply}")
PY
for _ in $(seq 600); do kill -0 "$qemu" 2>/dev/null || break; sleep 0.1; done
kill -0 "$qemu" 2>/dev/null && { serial | tail -20; fail "guest still running 60 s after the power button"; }
wait "$qemu" || fail "QEMU exit status $?"
serial_has "reboot: Power down" || fail "no power-off in the guest's log"
t_down=$(( $(date +%s%3N) - t_down ))
log "powered off ${t_down} ms after the button"

log "boot with a wrong sha512 for etcd: Ignition fails, the guest powers itself off"
boot bad-hash.ign
for _ in $(seq "${FLATCAR_SMOKE_TIMEOUT_SEC:-400}"); do kill -0 "$qemu" 2>/dev/null || break; sleep 1; done
kill -0 "$qemu" 2>/dev/null && { serial | tail -20; fail "a failed boot did not end by itself"; }
wait "$qemu" || true
# Ignition's own reason goes to the journal; the console shows the failed stage.
serial_has "Failed to start ignition-files.service" || { serial | tail -30; fail "Ignition's files stage did not fail"; }
grep -q '"GET /etcd HTTP/1.1" 200' <<<"$(tail -n 3 "$work/http.log")" || fail "the failed boot did not fetch etcd"
serial_has "reboot: Power down" || { serial | tail -20; fail "the failed boot did not power off"; }
log "failed boot ended by itself after $(since) s"

printf 'flatcar-guest boot (TCG, %s MiB, direct kernel boot): Ignition done %s s, etcd healthy %s s, ssh %s s, ACPI power-off %s ms\n' \
    "${FLATCAR_GUEST_MEMORY_MIB:-1024}" "$t_ign" "$t_etcd" "$t_ssh" "$t_down"
log PASS
