#!/bin/sh
# mmdebstrap --customize-hook for the cached base layer (Debian packages only, no kiosk):
# undo what the build chroot needed and drop what must be unique per device.
# Usage: base.sh ROOTFS ARCH
set -eu
root=$1 arch=$2
here=$(dirname "$0")

rm -f "$root/usr/sbin/policy-rc.d"
# ssh host keys made by openssh-server's postinst would be shared by every kiosk flashed from
# this image: they are generated on the device, into the identity partition (customize.sh).
rm -f "$root"/etc/ssh/ssh_host_*
# apt lists and caches: megabytes nobody reads on a read-only root.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/debconf/*-old \
    "$root"/var/log/*.log "$root"/var/log/apt/*

# Kernel modules zstd-compressed (kmod loads .ko.zst): ~400 MiB of Debian's modules shrink to
# a third, which is most of the image's size; the initrd, built earlier, is unaffected.
for kdir in "$root"/usr/lib/modules/*/; do
    [ -d "$kdir" ] || continue
    find "$kdir" -name '*.ko' -print0 | xargs -0 -r -n 64 -P "$(nproc)" zstd -q --rm
    chroot "$root" depmod "$(basename "$kdir")"
done

if [ -x "$here/arch-$arch.sh" ]; then
    "$here/arch-$arch.sh" base "$root"
fi
