#!/bin/sh
# mmdebstrap --essential-hook: runs after the Essential packages, before the package lists are
# installed, so the settings below apply to the packages' own maintainer scripts.
# Usage: essential.sh ROOTFS ARCH
set -eu
root=$1 arch=$2
here=$(dirname "$0")

# man-db's trigger rebuilds an index we do not ship (no man pages): seconds per run, more under qemu-user.
printf 'man-db man-db/auto-update boolean false\n' | chroot "$root" debconf-set-selections

# The initrd: only the modules needed to find and mount the root (listed per arch in
# modules.d), zstd for a fast unpack; set before the kernel's postinst builds it.
mkdir -p "$root/etc/initramfs-tools/conf.d" "$root/usr/share/initramfs-tools/modules.d"
printf '# Branch Kiosk: a small initrd (modules.d/branch-kiosk), not MODULES=most.\nMODULES=list\nCOMPRESS=zstd\n' \
    >"$root/etc/initramfs-tools/conf.d/branch-kiosk.conf"

# No service may start inside the build chroot (openssh-server's postinst would try).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"

if [ -x "$here/arch-$arch.sh" ]; then
    "$here/arch-$arch.sh" essential "$root"
fi
