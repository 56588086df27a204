#!/bin/bash
# Build the kiosk's bootable disk image from Debian's packages and this repository.
# Usage: image/build.sh ARCH [VARIANT]   (ARCH amd64|arm64; VARIANT kiosk (default) | baseline)
# Outputs var/image/<variant>-<arch>.img (raw, sparse) and .manifest. Needs root and the Debian
# tools `make image` installs. No loop devices: sfdisk on a file, mkfs.vfat -C, mcopy, mke2fs -d.
# Two cached layers: the base rootfs (Debian packages) and the final image (everything).
set -euo pipefail
# Parsed whole before it runs (the closing brace is at the end), so editing this file cannot
# derail a build in progress.
{

ARCH=${1:?usage: image/build.sh ARCH [kiosk|baseline]}
VARIANT=${2:-kiosk}
case $VARIANT in kiosk | baseline) ;; *) echo "build.sh: VARIANT must be kiosk or baseline, not '$VARIANT'" >&2; exit 2 ;; esac
case $ARCH in *[!a-z0-9]* | '') echo "build.sh: bad ARCH '$ARCH'" >&2; exit 2 ;; esac

REPO=$(cd "$(dirname "$0")/.." && pwd)
IMAGE_DIR=$REPO/image
cd "$REPO"
for f in "image/packages/$ARCH.list" "image/layout/$ARCH.sfdisk"; do
    [ -f "$f" ] || { echo "build.sh: $f missing: ARCH $ARCH has no recipe" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "build.sh: run as root (mmdebstrap --mode=root, mke2fs -d keeps owners)" >&2; exit 2; }

CACHE=${BRANCH_KIOSK_IMAGE_CACHE:-var/image-cache}
mkdir -p "$CACHE" var/image
CACHE=$(cd "$CACHE" && pwd)
OUT=$REPO/var/image
NAME=$VARIANT-$ARCH
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
# Reproducible: every timestamp from the last commit; fixed ids below and in layout/.
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 1700000000)
export SOURCE_DATE_EPOCH E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH LC_ALL=C TZ=UTC
# Fixed file system ids (the partitions' GPT UUIDs are in layout/<arch>.sfdisk).
ROOT_UUID=6b696f73-6b00-4000-8000-000000000002
ROOT_HASH_SEED=6b696f73-6b00-4000-8000-0000000000a2
ID_UUID=6b696f73-6b00-4000-8000-000000000003
ID_HASH_SEED=6b696f73-6b00-4000-8000-0000000000a3

log() { printf 'image: [%4ds] %s\n' "$SECONDS" "$*" >&2; }
packages() { cat "image/packages/common.list" "image/packages/$ARCH.list" | sed 's/#.*//' | tr -s ' \t\n' '\n' | grep -v '^$' | sort -u | paste -sd, -; }
# sha256 of file contents plus names and modes, in a stable order.
hash_files() { find "$@" -type f -o -type l 2>/dev/null | LC_ALL=C sort | while read -r f; do stat -c '%n %a' "$f"; if [ -L "$f" ]; then readlink "$f"; else sha256sum <"$f"; fi; done | sha256sum | cut -c1-16; }

# ---- layer 1: the base rootfs (Debian packages and the base hooks) ----
MMDEBSTRAP_ARGS=(
    --mode=root --format=tar --variant=apt --arch="$ARCH" --components=main,non-free-firmware
    --include="$(packages)"
    # No documentation or translations on a kiosk: tens of MiB (copyright files stay).
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*'
    --dpkgopt='path-exclude=/usr/share/info/*'
)
SOURCES=(
    "deb $MIRROR $SUITE main non-free-firmware"
    "deb $MIRROR $SUITE-updates main non-free-firmware"
    "deb http://deb.debian.org/debian-security $SUITE-security main non-free-firmware"
)
hooks_for_key=(image/hooks/essential.sh image/hooks/base.sh)
[ -e "image/hooks/arch-$ARCH.sh" ] && hooks_for_key+=("image/hooks/arch-$ARCH.sh")
# Not the commit time: a commit must not cost a new debootstrap (image timestamps are clamped
# to it later). Nor the mirror's state: delete $CACHE/base to pick up Debian's updates.
BASE_KEY=$( {
    printf '%s\n' "$SUITE" "${MMDEBSTRAP_ARGS[@]}" "${SOURCES[@]}"
    hash_files "${hooks_for_key[@]}"
} | sha256sum | cut -c1-16)
BASE_TAR=$CACHE/base/$ARCH-$BASE_KEY.tar
APT_CACHE=$CACHE/apt/$ARCH

build_base() {
    mkdir -p "$CACHE/base" "$APT_CACHE"
    log "base rootfs $ARCH: mmdebstrap (key $BASE_KEY; debs cached in $APT_CACHE)"
    local t0=$SECONDS
    # sync-in/sync-out: downloaded .debs survive in the cache, so a rebuild downloads only news.
    mmdebstrap "${MMDEBSTRAP_ARGS[@]}" \
        --setup-hook='mkdir -p "$1"/var/cache/apt/archives' \
        --setup-hook="sync-in '$APT_CACHE' /var/cache/apt/archives" \
        --essential-hook="'$IMAGE_DIR/hooks/essential.sh' \"\$1\" $ARCH" \
        --customize-hook="sync-out /var/cache/apt/archives '$APT_CACHE'" \
        --customize-hook="'$IMAGE_DIR/hooks/base.sh' \"\$1\" $ARCH" \
        --customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb' \
        "$SUITE" "$BASE_TAR.part" "${SOURCES[@]}"
    mv "$BASE_TAR.part" "$BASE_TAR"
    # Evict: keep this key and the newest other one per arch.
    ls -t "$CACHE/base/$ARCH-"*.tar 2>/dev/null | tail -n +3 | xargs -r rm -f
    log "base rootfs built in $((SECONDS - t0)) s"
}

# A foreign ARCH's chroot steps (dpkg, pip) run under qemu-user: register binfmt first
# (image/binfmt.sh; host-kernel-global, see image/README.md).
if [ "$ARCH" != "$(dpkg --print-architecture)" ]; then
    "$IMAGE_DIR/binfmt.sh"
fi
# One base build per arch at a time (kiosk and baseline share it): the second waits, then reuses.
exec 8>"$CACHE/.base-$ARCH.lock"
flock 8
if [ -f "$BASE_TAR" ]; then
    log "base rootfs $ARCH: reused $BASE_TAR"
else
    build_base
fi
flock -u 8
[ "${BUILD_BASE_ONLY:-}" = 1 ] && exit 0

# ---- layer 2: the image (overlay, kiosk, venv, boot partition, assembly) ----
# Key: the base plus every other input. The kiosk's code is hashed from the work tree
# (tracked and untracked-but-not-ignored files), so an uncommitted change rebuilds too.
SHIPPED=(appliance drivers kiosk_ui protocol provisioning hub signing)
FINAL_KEY=$( {
    printf '%s\n' "$BASE_KEY" "$VARIANT"
    hash_files image/build.sh image/hooks/customize.sh image/enable.list "image/layout/$ARCH.sfdisk" image/overlay testbed/guest_probe.py
    if [ "$VARIANT" = kiosk ]; then
        # README.md: the wheel's METADATA embeds it (pyproject readme).
        hash_files image/venv.sh constraints.txt pyproject.toml README.md systemd/kiosk.service systemd/run-kiosk-session.mount docs/vault.md
        git ls-files -s -- "${SHIPPED[@]}"
        git ls-files -z -co --exclude-standard -- "${SHIPPED[@]}" | LC_ALL=C sort -z | xargs -0 -r sha256sum
    fi
} | sha256sum | cut -c1-16)
IMG=$OUT/$NAME.img
# One build of this image at a time (they share the work directory).
exec 9>"$OUT/.$NAME.lock"
flock 9
if [ -f "$IMG" ] && [ "$(cat "$OUT/$NAME.key" 2>/dev/null)" = "$FINAL_KEY" ]; then
    log "$IMG is up to date (key $FINAL_KEY): nothing to do"
    exit 0
fi
t0=$SECONDS
WORK=$OUT/work-$NAME
ROOTFS=$WORK/rootfs
BOOT=$WORK/boot
rm -rf "$WORK"
mkdir -p "$ROOTFS" "$BOOT"
# The unpacked rootfs in RAM when we may mount: unpacking, mke2fs -d and the clean-up of ~45,000
# files take seconds instead of a minute on a busy disk. Unmounted (lazily) on any exit.
if mount -t tmpfs -o mode=0755,size=4g tmpfs "$ROOTFS" 2>/dev/null; then
    trap 'umount -l "$ROOTFS"; rm -rf "$WORK"' EXIT
else
    trap 'rm -rf "$WORK"' EXIT
fi
log "$NAME: unpacking the base rootfs"
tar -C "$ROOTFS" --numeric-owner --xattrs --xattrs-include='*' -xpf "$BASE_TAR"

# A private mount namespace: /proc, /sys, /dev and a scratch /tmp for the chroot steps
# (the venv's pip), gone with the namespace, so nothing of them ends up in the image.
log "$NAME: customizing (overlay, units, $([ "$VARIANT" = kiosk ] && echo 'kiosk, venv' || echo 'no kiosk'))"
unshare --mount --propagation private -- bash -euo pipefail -c '
    r=$1
    mount -t proc proc "$r/proc"
    mount -t sysfs sysfs "$r/sys"
    mount --rbind /dev "$r/dev"
    mount -t tmpfs tmpfs "$r/tmp"
    mount -t tmpfs tmpfs "$r/run"
    shift
    "$@"
' _ "$ROOTFS" "$IMAGE_DIR/hooks/customize.sh" "$ROOTFS" "$ARCH" "$VARIANT" "$CACHE"
for d in proc sys tmp; do
    # Mount points only: nothing the chroot steps left there may reach the image.
    [ -z "$(ls -A "$ROOTFS/$d")" ] || { echo "build.sh: $ROOTFS/$d is not empty after customizing" >&2; exit 1; }
done

# The boot partition's files: the arch's boot loader/firmware plus the overlay's branch-kiosk/
# (kiosk.toml), everything under the rootfs's /boot/firmware, which stays an empty mount point.
"$IMAGE_DIR/hooks/arch-$ARCH.sh" boot "$ROOTFS" "$ROOTFS/boot/firmware"
[ "$VARIANT" = kiosk ] || rm -rf "$ROOTFS/boot/firmware/branch-kiosk"
cp -a "$ROOTFS/boot/firmware/." "$BOOT/"
find "$ROOTFS/boot/firmware" -mindepth 1 -delete
# Every timestamp clamped to the commit time (mke2fs -d and mcopy copy them).
find "$ROOTFS" "$BOOT" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

# The manifest: what is in the image, without timestamps, so two builds can be compared.
manifest() {
    echo "# $NAME image manifest (image/build.sh; recipe key $FINAL_KEY)"
    echo "## rootfs: type mode uid:gid size path [-> target]"
    (cd "$ROOTFS" && find . -printf '%y %#m %U:%G %s\t%p\t%l\n' | awk -F '\t' '{
        split($1, a, " "); if (a[1] != "f") a[4] = "-"   # directory sizes depend on history
        line = a[1] " " a[2] " " a[3] " " a[4] " " $2; if (a[1] == "l") line = line " -> " $3; print line
    }' | LC_ALL=C sort -t ' ' -k5)
    echo "## boot partition: size path"
    (cd "$BOOT" && find . -type f -printf '%s %p\n' | LC_ALL=C sort -k2)
    echo "## packages (dpkg-query -W)"
    dpkg-query --admindir="$ROOTFS/var/lib/dpkg" -W | LC_ALL=C sort
    if [ -f "$ROOTFS/opt/branch-kiosk/wheels.sha256" ]; then
        echo "## wheels (sha256)"
        LC_ALL=C sort -k2 "$ROOTFS/opt/branch-kiosk/wheels.sha256"
    fi
}
manifest >"$WORK/manifest"

# ---- assembly: partitions as files, then copied into the disk file (no loop devices) ----
LAYOUT=image/layout/$ARCH.sfdisk
# "start=S, size=N" of each partition line, in order (sectors of 512 bytes).
mapfile -t PARTS < <(sed -n 's/^start= *\([0-9]*\), *size= *\([0-9]*\),.*/\1 \2/p' "$LAYOUT")
[ "${#PARTS[@]}" -eq 3 ] || { echo "build.sh: $LAYOUT must define 3 partitions (boot, root, identity)" >&2; exit 1; }
read -r p3_start p3_size <<<"${PARTS[2]}"
DISK=$WORK/disk.img
# One spare MiB after the last partition: the backup GPT.
truncate -s $(((p3_start + p3_size + 2048) * 512)) "$DISK"
grep -v '^#' "$LAYOUT" | sfdisk --quiet --no-reread --no-tell-kernel "$DISK"
read -r start size <<<"${PARTS[0]}"
log "$NAME: p1 FAT32 KIOSKBOOT ($((size / 2048)) MiB)"
# --invariant: a fixed volume id (1234-ABCD) and no build-time timestamps in the FAT.
mkfs.vfat -C "$WORK/p1.img" $((size / 2)) -F 32 -n KIOSKBOOT --invariant >/dev/null
MTOOLS_SKIP_CHECK=1 mcopy -s -m -Q -i "$WORK/p1.img" "$BOOT"/* ::/
read -r start size <<<"${PARTS[1]}"
log "$NAME: p2 ext4 kiosk-root ($((size / 2048)) MiB) from the rootfs"
mke2fs -q -t ext4 -L kiosk-root -U "$ROOT_UUID" -E "root_owner=0:0,hash_seed=$ROOT_HASH_SEED" \
    -d "$ROOTFS" "$WORK/p2.img" $((size / 2))k
read -r start size <<<"${PARTS[2]}"
log "$NAME: p3 ext4 kiosk-id ($((size / 2048)) MiB, empty)"
mke2fs -q -t ext4 -L kiosk-id -U "$ID_UUID" -E "root_owner=0:0,hash_seed=$ID_HASH_SEED" \
    "$WORK/p3.img" $((size / 2))k
for i in 0 1 2; do
    read -r start size <<<"${PARTS[$i]}"
    dd if="$WORK/p$((i + 1)).img" of="$DISK" bs=1M seek=$((start / 2048)) conv=notrunc,sparse status=none
done

mv "$WORK/manifest" "$OUT/$NAME.manifest"
mv "$DISK" "$IMG"
echo "$FINAL_KEY" >"$OUT/$NAME.key"
log "$NAME: wrote $IMG ($(du -m "$IMG" | cut -f1) MiB allocated, $(($(stat -c %s "$IMG") / 1048576)) MiB apparent) in $((SECONDS - t0)) s"
exit 0
}
