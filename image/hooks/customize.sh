#!/bin/bash
# The image layer on an unpacked base rootfs: the OS guarantees that need more than copied files,
# the kiosk (user, units, venv) and the run-time state a read-only root must not carry.
# Usage: customize.sh ROOTFS ARCH VARIANT CACHE   (run by build.sh as root, with /proc, /sys,
# /dev and a scratch /tmp mounted in ROOTFS, inside a private mount namespace)
set -euo pipefail
root=$1 arch=$2 variant=$3 cache=$4
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

# Files copied verbatim (fstab, journald/system/logind drop-ins, sysctl, network, ssh, kiosk.toml).
cp -a --no-preserve=ownership "$repo/image/overlay/." "$root/"
# The booted tests' probe (branch-kiosk-probe.service, inert outside a VM with its port): Python,
# so its source lives with the test tooling (testbed/), not in the recipe.
install -D -m 0644 "$repo/testbed/guest_probe.py" "$root/usr/lib/branch-kiosk/probe.py"

# DNS through resolved's stub in /run (the root is read-only; no resolv.conf written at run time).
ln -sfn /run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
# No login anywhere: every getty template masked (consoles, VTs, the serial line the tests read).
chroot "$root" systemctl mask --quiet getty@.service serial-getty@.service console-getty.service container-getty@.service
# An empty machine-id is "first boot" to some tools; the prompt-driven firstboot must never wait on a kiosk.
chroot "$root" systemctl mask --quiet systemd-firstboot.service
# Timers that write to the read-only root or fetch from Debian (apt, dpkg's backup, e2scrub's
# snapshots): nothing to do on an appliance that is reflashed, not upgraded in place.
chroot "$root" systemctl mask --quiet apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
    e2scrub_all.timer e2scrub_reap.service
# resolved's postinst backup of the build's resolv.conf: nothing to restore on a kiosk.
rm -f "$root/etc/.resolv.conf.systemd-resolved.bak"
# Mount points: the boot partition (config) and the identity partition (0700: the kiosk's alone).
install -d -m 0755 "$root/boot/firmware"
install -d -m 0700 "$root/var/lib/branch-kiosk"

if [ "$variant" = kiosk ]; then
    # The kiosk's system user; video/audio/input/render: camera, sound, touch/pen, GPU (kmsdrm).
    groups=video,audio,input
    grep -q '^render:' "$root/etc/group" && groups=$groups,render
    useradd --root "$root" --system --user-group --groups "$groups" --home-dir /nonexistent \
        --no-create-home --shell /usr/sbin/nologin kiosk
    # The units from systemd/ (the hub's unit stays off the kiosk).
    install -m 0644 "$repo/systemd/kiosk.service" "$repo/systemd/run-kiosk-session.mount" "$root/etc/systemd/system/"
    # The configuration lives on the FAT boot partition (editable from a laptop); the units keep their path.
    install -d -m 0755 "$root/etc/branch-kiosk"
    ln -sfn /boot/firmware/branch-kiosk/kiosk.toml "$root/etc/branch-kiosk/kiosk.toml"
    install -d -m 0755 "$root/opt/branch-kiosk/docs"
    install -m 0644 "$repo/docs/vault.md" "$root/opt/branch-kiosk/docs/vault.md"
    # The venv for the target architecture from pinned, prebuilt wheels (image/venv.sh).
    "$repo/image/venv.sh" "$root" "$arch" "$cache"
fi

# Units from enable.list; the baseline image has no kiosk, so it skips the units from systemd/.
sed 's/#.*//' "$repo/image/enable.list" | while read -r unit; do
    [ -n "$unit" ] || continue
    if [ "$variant" = baseline ] && [ -e "$repo/systemd/$unit" ]; then continue; fi
    chroot "$root" systemctl enable --quiet "$unit"
done

if [ -x "$here/arch-$arch.sh" ]; then
    "$here/arch-$arch.sh" customize "$root"
fi

# Read-only root: do at build time what first boot would otherwise try to write.
# A fresh linker cache (ldconfig.service cannot write /etc/ld.so.cache at boot).
chroot "$root" /sbin/ldconfig
# Empty machine-id: systemd makes a transient one in /run at every boot (no id shared by all
# kiosks, none persisted); D-Bus reads the same file.
: >"$root/etc/machine-id"
mkdir -p "$root/var/lib/dbus"
ln -sfn /etc/machine-id "$root/var/lib/dbus/machine-id"
# The system clock's floor before time sync (no RTC on a Pi): the build's commit time, not 1970.
touch -d "@$SOURCE_DATE_EPOCH" "$root/usr/lib/clock-epoch"
# Nothing of the build's run-time state: logs, caches, temp files, stray ssh host keys.
rm -rf "$root"/var/log/* "$root"/var/cache/* "$root"/var/tmp/* "$root"/etc/ssh/ssh_host_* \
    "$root"/var/lib/systemd/random-seed "$root"/root/.cache
