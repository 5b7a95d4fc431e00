#!/bin/bash
# Runs every test: formatting and lints, the Rust unit and golden tests, and
# the tests against real systemd, QEMU and friends in throwaway test beds.
# Needs root (namespaces, mounts). Prints one closing line: N passed, N failed.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
step() { # NAME CMD...
    local name=$1
    shift
    printf '\n=== %s\n' "$name"
    if "$@"; then
        passed=$((passed + 1))
    else
        printf '=== FAILED: %s\n' "$name"
        failed=$((failed + 1))
        return 1
    fi
}

step "cargo fmt --check" cargo fmt --check
step "cargo clippy" cargo clippy --all-targets --quiet -- -D warnings
step "cargo build" cargo build --quiet --bins
step "cargo test (unit and golden tests)" cargo test --quiet
for test in tests/systemd/*.sh; do
    step "$test" timeout 600 "$test"
done
step "tests/prepare/discovery.sh (etcd, public service stand-in)" timeout 300 tests/prepare/discovery.sh
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

printf '\n%d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
