#!/bin/sh
# arm64 (Raspberry Pi 4): Debian's raspi-firmware fills the FAT boot partition (p1, mounted at
# /boot/firmware): the Pi's boot firmware, config.txt, cmdline.txt, the kernel and initrd.
# Usage: arch-arm64.sh essential|base|customize ROOTFS  |  arch-arm64.sh boot ROOTFS BOOTDIR
set -eu
phase=$1 root=$2
# Appended by raspi-firmware to cmdline.txt (after its root=… and rootwait): read-only root,
# freed pages zeroed (session data).
EXTRA_CMDLINE="ro init_on_free=1"

fail() { echo "arch-arm64: $*" >&2; exit 1; }

case $phase in
essential)
    # Before raspi-firmware and the kernel are installed. raspi-extra-cmdline is no conffile;
    # /etc/default/raspi-firmware is (a file there now would stop dpkg at a prompt): base phase.
    mkdir -p "$root/etc/default"
    printf '%s\n' "$EXTRA_CMDLINE" >"$root/etc/default/raspi-extra-cmdline"
    # The initrd mounts the root from the SD card (emmc2: sdhci-iproc) or a USB disk (VL805 on
    # PCIe: reset-raspberrypi, xhci; pcie-brcmstb is built in); MODULES=list loads only these.
    mkdir -p "$root/usr/share/initramfs-tools/modules.d"
    cat >"$root/usr/share/initramfs-tools/modules.d/branch-kiosk" <<'MODS'
sdhci_iproc
mmc_block
bcm2835
reset_raspberrypi
xhci_pci
usb_storage
uas
sd_mod
crc32c_generic
ext4
vfat
nls_cp437
nls_ascii
MODS
    ;;
base)
    # raspi-firmware's settings, then its kernel hook once more: it rewrites config.txt and
    # cmdline.txt from them and copies the kernel, initrd and device trees to /boot/firmware.
    cat >"$root/etc/default/raspi-firmware" <<'CONF'
# Branch Kiosk (image/hooks/arch-arm64.sh): read by raspi-firmware's kernel hooks.
# The root by file system label, as in /etc/fstab (no device names: SD card or USB disk).
ROOTPART=LABEL=kiosk-root
# Kernel messages on the screen only; gettys are masked, so no login either way.
CONSOLES="tty1"
# No cma= on the command line: the hook adds cma=64M when it cannot see a Pi 4 (in this build
# chroot), and that makes a Pi 4 unbootable (its own comment); the device tree's default applies.
CMA=0
CONF
    chroot "$root" env DEB_MAINT_PARAMS=configure /etc/kernel/postinst.d/z50-raspi-firmware
    ;;
customize) ;;
boot)
    boot=$3
    # raspi-firmware already wrote everything into the rootfs's /boot/firmware.
    src=$root/boot/firmware
    if [ "$(cd "$boot" && pwd -P)" != "$(cd "$src" && pwd -P)" ]; then
        cp -a "$src/." "$boot/"
    fi
    for f in start4.elf fixup4.dat bcm2711-rpi-4-b.dtb config.txt cmdline.txt; do
        [ -s "$boot/$f" ] || fail "$f missing in the boot partition: did raspi-firmware's hooks run?"
    done
    # config.txt names the kernel and initrd it copied (vmlinuz-<version>, initrd.img-<version>).
    kernel=$(sed -n 's/^kernel=//p' "$boot/config.txt")
    initrd=$(sed -n 's/^initramfs \([^ ]*\).*/\1/p' "$boot/config.txt")
    for f in "$kernel" "$initrd"; do
        [ -n "$f" ] && [ -s "$boot/$f" ] || fail "config.txt's kernel/initramfs '$f' is not on p1"
    done
    # raspi-firmware writes "rw" before the extra options: drop it, so the line says only ro
    # (the kernel would take the last of the two anyway).
    sed -i 's/\(^\| \)rw\( \|$\)/\1/' "$boot/cmdline.txt"
    for word in ro init_on_free=1 root=LABEL=kiosk-root; do
        grep -Eq "(^| )$word( |\$)" "$boot/cmdline.txt" || fail "cmdline.txt lacks $word"
    done
    ;;
*) echo "arch-arm64: unknown phase $phase" >&2; exit 2 ;;
esac
