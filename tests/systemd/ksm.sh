#!/bin/bash
# coreos-cluster-ksm.service on a writable /sys/kernel/mm/ksm: pulled in, it
# turns KSM on at the configured pace; when nothing needs it any more it stops
# and restores the values it found. /sys/kernel/mm/ksm is global to the
# machine: this test puts back the run, pages_to_scan and sleep_millisecs it
# found, whatever happens. Exits 77 (skipped) where the machine's KSM is not
# writable.
set -euo pipefail
source "$(dirname "$0")/../lib/testbed.sh"
testbed_reexec_private "$0" "$@"
ksm_dir=/sys/kernel/mm/ksm
ksm_run=$ksm_dir/run
[ -w "$ksm_run" ] || { log "SKIP: $ksm_run is not writable here"; exit 77; }
knobs=(run pages_to_scan sleep_millisecs)
declare -A original
for knob in "${knobs[@]}"; do original[$knob]=$(cat "$ksm_dir/$knob"); done
restore() {
    local knob
    for knob in "${knobs[@]}"; do
        echo "${original[$knob]}" > "$ksm_dir/$knob" || log "could not restore $ksm_dir/$knob to ${original[$knob]}"
    done
    testbed_shutdown
}
trap restore EXIT

# Waits up to 5 s for a KSM knob to hold a value.
knob_becomes() { # KNOB VALUE
    for _ in $(seq 50); do [ "$(cat "$ksm_dir/$1")" = "$2" ] && return 0; sleep 0.1; done
    return 1
}

testbed_make_root
# A pace away from the defaults (1000, 20) and from the kernel's (100, 20),
# read by the generator when the test bed boots.
mkdir -p "$TESTBED_ROOT/etc/coreos-cluster/cluster.toml.d"
cat > "$TESTBED_ROOT/etc/coreos-cluster/cluster.toml.d/50-ksm-pace.toml" <<'TOML'
[ksm]
pages-to-scan = 1234
sleep-millisecs = 33
TOML
export TESTBED_KSM_WRITABLE=1
testbed_boot
# Start from "off" at the kernel's pace, so the unit's restore is visible.
echo 0 > "$ksm_run"
echo 100 > "$ksm_dir/pages_to_scan"
echo 20 > "$ksm_dir/sleep_millisecs"
grep -q "KSM_PAGES_TO_SCAN=1234 KSM_SLEEP_MILLISECS=33" <<<"$(tb systemctl cat coreos-cluster-ksm.service)" ||
    fail "the generator's pace is not in the KSM unit"

log "a unit that wants KSM pulls it in: KSM on, at the configured pace"
tb systemd-run --quiet --unit=needs-ksm -p Wants=coreos-cluster-ksm.service \
    -p After=coreos-cluster-ksm.service sleep infinity
knob_becomes run 1 || { tb systemctl status coreos-cluster-ksm.service --no-pager >&2; tb ls -la /sys/kernel/mm/ksm/ >&2; fail "KSM not switched on"; }
[ "$(tb systemctl is-active coreos-cluster-ksm.service)" = active ] || fail "KSM unit not active"
[ "$(cat "$ksm_dir/pages_to_scan")" = 1234 ] || { tb journalctl -u coreos-cluster-ksm.service --no-pager -o cat >&2; fail "pages_to_scan is $(cat "$ksm_dir/pages_to_scan"), not 1234"; }
[ "$(cat "$ksm_dir/sleep_millisecs")" = 33 ] || { tb journalctl -u coreos-cluster-ksm.service --no-pager -o cat >&2; fail "sleep_millisecs is $(cat "$ksm_dir/sleep_millisecs"), not 33"; }
status=$(tb coreos-cluster status)
grep -q "ksm:       on" <<<"$status" || fail "status does not show KSM on"
grep -q "scanning 1234 pages every 33 ms" <<<"$status" || fail "status does not show the pace: $status"

log "nothing needs it any more: the unit stops and restores the old values"
tb systemctl stop needs-ksm.service
knob_becomes run 0 || fail "KSM not restored to 0: $(cat "$ksm_run")"
knob_becomes pages_to_scan 100 || fail "pages_to_scan not restored to 100: $(cat "$ksm_dir/pages_to_scan")"
knob_becomes sleep_millisecs 20 || fail "sleep_millisecs not restored to 20: $(cat "$ksm_dir/sleep_millisecs")"
state=$(tb systemctl is-active coreos-cluster-ksm.service || true)
[ "$state" = inactive ] || fail "KSM unit is $state"
log "PASS"
