#!/bin/bash
# coreos-cluster-ksm.service on a writable /sys/kernel/mm/ksm: pulled in, it
# turns KSM on; when nothing needs it any more it stops and restores the value
# it found. /sys/kernel/mm/ksm/run is global to the machine: this test puts
# back the value it found, whatever happens. Exits 77 (skipped) where the
# machine's KSM is not writable.
set -euo pipefail
source "$(dirname "$0")/../lib/testbed.sh"
testbed_reexec_private "$0" "$@"
ksm_run=/sys/kernel/mm/ksm/run
[ -w "$ksm_run" ] || { log "SKIP: $ksm_run is not writable here"; exit 77; }
original=$(cat "$ksm_run")
restore() {
    echo "$original" > "$ksm_run"
    testbed_shutdown
}
trap restore EXIT

testbed_make_root
export TESTBED_KSM_WRITABLE=1
testbed_boot
# Start from "off", so the unit's restore is visible.
echo 0 > "$ksm_run"

log "a unit that wants KSM pulls it in: KSM on"
tb systemd-run --quiet --unit=needs-ksm -p Wants=coreos-cluster-ksm.service \
    -p After=coreos-cluster-ksm.service sleep infinity
for _ in $(seq 50); do [ "$(cat "$ksm_run")" = 1 ] && break; sleep 0.1; done
[ "$(cat "$ksm_run")" = 1 ] || { tb systemctl status coreos-cluster-ksm.service --no-pager >&2; tb ls -la /sys/kernel/mm/ksm/ >&2; fail "KSM not switched on"; }
[ "$(tb systemctl is-active coreos-cluster-ksm.service)" = active ] || fail "KSM unit not active"
grep -q "ksm:       on" <<<"$(tb coreos-cluster status)" || fail "status does not show KSM on"

log "nothing needs it any more: the unit stops and restores the old value"
tb systemctl stop needs-ksm.service
for _ in $(seq 50); do [ "$(cat "$ksm_run")" = 0 ] && break; sleep 0.1; done
[ "$(cat "$ksm_run")" = 0 ] || fail "KSM not restored to 0: $(cat "$ksm_run")"
state=$(tb systemctl is-active coreos-cluster-ksm.service || true)
[ "$state" = inactive ] || fail "KSM unit is $state"
log "PASS"
