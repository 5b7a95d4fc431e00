#!/bin/bash
# `coreos-cluster ssh N COMMAND...` reaches node N's address as `core` with
# the given key, passes the command through, and records no host key.
#
# The node is a stand-in by default: OpenSSH's sshd (Debian's package,
# unpacked, not installed: its scripts would start it on the host) listening
# on node 1's address inside the test bed, for a user `core`. Any guest with
# sshd at that address serves the same way.
set -euo pipefail
source "$(dirname "$0")/../lib/testbed.sh"
testbed_reexec_private "$0" "$@"
trap testbed_shutdown EXIT

sshd_dir=$TESTBED_TOP/target/sshd-standin
if [ ! -x "$sshd_dir/usr/sbin/sshd" ]; then
    download=$(mktemp -d)
    (cd "$download" && apt-get download openssh-server >/dev/null 2>&1) ||
        { rm -rf "$download"; log "cannot download Debian's openssh-server"; exit 77; }
    mkdir -p "$sshd_dir"
    dpkg -x "$download"/openssh-server_*.deb "$sshd_dir"
    rm -rf "$download"
fi

testbed_build
testbed_make_root
r=$TESTBED_ROOT
install -Dm755 "$sshd_dir/usr/sbin/sshd" "$r/usr/sbin/sshd"
cat > "$r/etc/ssh/sshd_config" <<'EOF'
ListenAddress 10.77.0.11
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
EOF
testbed_boot

log "a node at node 1's address (isolated mode: 10.77.0.11) with sshd and the user core"
tb ip link set lo up
tb ip addr add 10.77.0.11/32 dev lo
tb useradd --system --home-dir /run/sshd --shell /usr/sbin/nologin sshd
tb useradd --create-home --shell /bin/sh core
# No password, but not locked ("!"), which sshd refuses without PAM.
tb usermod --password "*" core
tb mkdir -p /run/sshd
tb ssh-keygen -A -q
key=/root/node-key
tb ssh-keygen -q -t ed25519 -N "" -f "$key"
tb install -d -m700 -o core -g core /home/core/.ssh
tb install -m600 -o core -g core "$key.pub" /home/core/.ssh/authorized_keys
tb /usr/sbin/sshd

log "ssh N COMMAND runs the command on the node as core"
out=$(tb coreos-cluster ssh -i "$key" 1 id -un)
[ "$out" = core ] || fail "ssh 1 id -un printed: $out"
# Options after the node belong to the command; ssh joins the words with spaces.
out=$(tb coreos-cluster ssh --identity "$key" 1 echo -x 'two words')
[ "$out" = "-x two words" ] || fail "the command did not pass through: $out"
out=$(tb coreos-cluster ssh --identity "$key" 1 -- uname -n)
[ "$out" = "$(tb uname -n)" ] || fail "ssh 1 -- uname -n printed: $out"
if tb coreos-cluster ssh -i "$key" 1 exit 3; then fail "the remote exit status was lost"; else status=$?; fi
[ "$status" = 3 ] || fail "remote exit 3 came back as $status"

log "no host key recorded: the node's key changes at every boot"
tb test ! -e /root/.ssh/known_hosts || fail "known_hosts written: $(tb cat /root/.ssh/known_hosts)"

log "PASS"
