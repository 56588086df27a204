#!/bin/sh
# image/binfmt.sh [--check]
#
# Lets this amd64 host run arm64 binaries (the arm64 rootfs's dpkg, python3 and pip under
# qemu-user) by registering ONLY qemu-aarch64 with binfmt_misc, mounting binfmt_misc first if
# needed. Idempotent: an existing, enabled qemu-aarch64 entry is left as it is.
#
# binfmt_misc is global to the host KERNEL, not to this container: the entry also applies to
# every other container and CI job on the same host until it is removed (as root:
# `echo -1 > /proc/sys/fs/binfmt_misc/qemu-aarch64`). That is why nothing else is registered.
# The F flag (Debian's qemu-user-static entry) makes the kernel open the emulator at
# registration time, so chroots need no copy of it.
#
# --check: register nothing, exit 0 when arm64 binaries can run, 1 (with the reason) when not.
# Needs: root (to mount and register), Debian's qemu-user-static.
set -eu

BM=/proc/sys/fs/binfmt_misc
CONF=/usr/lib/binfmt.d/qemu-aarch64.conf
ENTRY=$BM/qemu-aarch64

fail() { echo "binfmt.sh: $*" >&2; exit 1; }

enabled() { [ -r "$ENTRY" ] && [ "$(head -n1 "$ENTRY")" = enabled ]; }

case "${1:-}" in
    --check)
        enabled || fail "qemu-aarch64 is not registered with binfmt_misc: run image/binfmt.sh as root"
        exit 0 ;;
    "") ;;
    *) echo "usage: image/binfmt.sh [--check]" >&2; exit 2 ;;
esac

if enabled; then
    echo "binfmt.sh: qemu-aarch64 already registered"
    exit 0
fi
[ "$(id -u)" = 0 ] || fail "needs root to register qemu-aarch64 with binfmt_misc"
[ -r "$CONF" ] || fail "$CONF is missing: apt-get install qemu-user-static"
if [ ! -e "$BM/register" ]; then
    mount -t binfmt_misc binfmt_misc "$BM" \
        || fail "cannot mount binfmt_misc (a container needs CAP_SYS_ADMIN for that)"
fi
if [ -e "$ENTRY" ]; then
    echo 1 >"$ENTRY"  # registered but disabled: turn it back on
else
    # The conf line is the kernel's register format (:name:type:offset:magic:mask:interp:flags).
    grep '^:qemu-aarch64:' "$CONF" >"$BM/register" \
        || fail "the kernel refused the qemu-aarch64 entry from $CONF"
fi
enabled || fail "qemu-aarch64 is registered but not enabled"
echo "binfmt.sh: registered qemu-aarch64 (host-kernel-global: affects every container on this host)"
