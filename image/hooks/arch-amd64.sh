#!/bin/sh
# amd64 (x86-64 mini PCs): UEFI only, systemd-boot on the ESP (p1), kernel and initrd copied there.
# Usage: arch-amd64.sh essential|base|customize ROOTFS  |  arch-amd64.sh boot ROOTFS BOOTDIR
set -eu
phase=$1 root=$2
# The contract's command line: ro root by label, freed pages zeroed (session data), the serial
# console the booted tests read (gettys are masked, so it offers no login).
CMDLINE="root=LABEL=kiosk-root ro init_on_free=1 console=tty0 console=ttyS0,115200"

case $phase in
essential)
    # What the initrd needs to mount root on a mini PC (NVMe, SATA, USB, eMMC) and under QEMU
    # (virtio): MODULES=list loads only these (plus their dependencies).
    cat >"$root/usr/share/initramfs-tools/modules.d/branch-kiosk" <<'MODS'
virtio_pci
virtio_blk
virtio_scsi
nvme
vmd
ahci
sd_mod
xhci_pci
usb_storage
uas
mmc_block
sdhci_pci
sdhci_acpi
crc32c_generic
ext4
vfat
nls_cp437
nls_ascii
MODS
    ;;
base) ;;
customize)
    # Written down where kernel-install would look for it; the boot phase puts it in the entry.
    mkdir -p "$root/etc/kernel"
    printf '%s\n' "$CMDLINE" >"$root/etc/kernel/cmdline"
    ;;
boot)
    boot=$3
    mkdir -p "$boot/EFI/BOOT" "$boot/loader/entries"
    # The removable-media path: firmware boots it with no NVRAM entry (a freshly flashed disk).
    cp "$root/usr/lib/systemd/boot/efi/systemd-bootx64.efi" "$boot/EFI/BOOT/BOOTX64.EFI"
    kernel=$(find "$root/boot" -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -n 1)
    initrd="$root/boot/initrd.img-${kernel##*/vmlinuz-}"
    [ -f "$kernel" ] && [ -f "$initrd" ] || { echo "arch-amd64: no kernel/initrd in $root/boot" >&2; exit 1; }
    cp "$kernel" "$boot/vmlinuz"
    cp "$initrd" "$boot/initrd.img"
    # timeout 0: boot at once; editor no: nobody at the touchscreen edits the command line
    # (e.g. init=/bin/sh would bypass every guarantee).
    printf 'default kiosk.conf\ntimeout 0\neditor no\nauto-entries no\nauto-firmware no\n' >"$boot/loader/loader.conf"
    printf 'title Branch Kiosk\nlinux /vmlinuz\ninitrd /initrd.img\noptions %s\n' "$CMDLINE" \
        >"$boot/loader/entries/kiosk.conf"
    ;;
*) echo "arch-amd64: unknown phase $phase" >&2; exit 2 ;;
esac
