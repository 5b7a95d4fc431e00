#!/bin/bash
# Installs the Debian packages listed in tests/debian-packages.txt (root).
# Packages must not start their services on this machine (tftpd-hpa, nginx,
# etcd): the tests start their own, inside test beds.
set -euo pipefail
source "$(dirname "$0")/lib/as-root.sh"
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
created_policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
fi
apt-get update
# shellcheck disable=SC2046
apt-get install -y --no-install-recommends $(grep -v '^#' tests/debian-packages.txt)
[ -z "$created_policy" ] || rm -f /usr/sbin/policy-rc.d
