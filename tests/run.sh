#!/bin/bash
# Runs every test: formatting and lints, the Rust unit and golden tests, and
# the tests against real systemd, QEMU and friends in throwaway test beds.
# Needs root (namespaces, mounts). Prints one closing line: N passed, N failed,
# N skipped. A test that cannot run here exits 77 (as in automake): a skip,
# never counted as passed. Exits non-zero when anything failed.
set -uo pipefail
source "$(dirname "$0")/lib/as-root.sh"
source "$(dirname "$0")/lib/steps.sh"
cd "$(dirname "$0")/.."

EXIT_SKIP=77
passed=0
failed=0
skipped=0
# Each step's output is kept, so a failure's last lines can be repeated at
# the end of the run, where a truncated CI log still shows them.
LOGS=target/test-logs
rm -rf "$LOGS"
mkdir -p "$LOGS"
FAILED_LOGS=()
logged() { # LOG CMD...
    local log=$1
    shift
    "$@" 2>&1 | tee "$log"
    return "${PIPESTATUS[0]}"
}
step() { # NAME CMD...
    local name=$1 status log
    shift
    log="$LOGS/$(printf '%02d' $((passed + failed + skipped + 1))).log"
    printf '\n=== %s\n' "$name"
    timed "$name" logged "$log" "$@"
    status=$?
    case $status in
    0) passed=$((passed + 1)) ;;
    "$EXIT_SKIP")
        printf '=== SKIPPED: %s\n' "$name"
        skipped=$((skipped + 1))
        return 1
        ;;
    *)
        printf '=== FAILED: %s\n' "$name"
        failed=$((failed + 1))
        FAILED_LOGS+=("$name|$log")
        return 1
        ;;
    esac
}

step "cargo fmt --check" cargo fmt --check
step "cargo clippy" cargo clippy --all-targets --quiet -- -D warnings
step "cargo build" cargo build --quiet --bins
step "cargo test (unit and golden tests)" cargo test --quiet
for test in tests/systemd/*.sh; do
    step "$test" timeout 600 "$test"
done
for test in tests/faults/*.sh; do
    step "$test" timeout 600 "$test"
done
step "tests/prepare/discovery.sh (etcd, public service stand-in)" timeout 300 tests/prepare/discovery.sh
step "tests/fetch/fetch.sh (signed release tree on a local nginx)" timeout 600 tests/fetch/fetch.sh
step "tests/flatcar-guest/smoke.sh (Ignition, etcd, ssh, ACPI)" timeout 1500 tests/flatcar-guest/smoke.sh
step "tests/guest/etcd-rejoin.sh (guest etcd start script, real etcd)" timeout 300 tests/guest/etcd-rejoin.sh

# The package, built once with makepkg, is what the package and end-to-end tests install.
rm -rf target/package
if step "build the package (makepkg)" timeout 1800 tests/package/build.sh target/package; then
    export TESTBED_PACKAGE
    TESTBED_PACKAGE=$(ls "$PWD"/target/package/coreos-cluster-*.pkg.tar.zst)
    step "tests/package/package.sh (lint, pacman -U/-R, installed units)" \
        timeout 900 tests/package/package.sh "$TESTBED_PACKAGE"
    for test in tests/e2e/*.sh; do
        step "$test (from the package)" timeout 1200 "$test"
    done
fi

for entry in "${FAILED_LOGS[@]}"; do
    printf '\n== FAILED: %s, its last lines (all of them: %s)\n' "${entry%%|*}" "${entry#*|}"
    tail -n 60 "${entry#*|}"
done
timed_report "tests/run.sh"
printf '\n%d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
[ "$failed" -eq 0 ]
