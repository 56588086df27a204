#!/bin/bash
# image/venv.sh ROOTFS ARCH CACHE
#
# Builds the kiosk's virtual environment at ROOTFS/opt/branch-kiosk/.venv for ARCH (amd64|arm64)
# from the pinned constraints. Wheels are fetched on the host (`pip download --platform`, binary
# only: nothing is compiled, least of all under qemu-user) into CACHE/wheels/<arch>; the install
# then runs inside the chroot with `--no-index`, so the venv is built by the target's own python3
# (Debian 12's 3.11.2). The runtime dependencies come from the project wheel's metadata
# (pyproject.toml's `dependencies`, no extras), so this script never parses pyproject.toml.
#
# The rootfs needs: python3, python3-venv, python3-evdev (pen tablets: evdev has no wheels) and the
# libraries pygame-ce's SDL opens at run time for kmsdrm (libdrm2, libgbm1, libegl1, libgles2,
# libegl-mesa0, libgl1-mesa-dri). With ROOTFS's /proc not mounted (not run from an mmdebstrap
# hook) it mounts it for the chroot and unmounts it again.
#
# Host needs: a Python with pip >= 23 (BRANCH_KIOSK_HOST_PYTHON, default the repo's .venv), network
# on a cold cache (PyPI); a warm cache (same constraints) builds offline. Foreign ARCH needs
# binfmt (image/binfmt.sh). Exit codes: 2 bad arguments, 1 build failure.
set -euo pipefail

die() { echo "venv.sh: $*" >&2; exit 1; }
usage() { echo "usage: image/venv.sh ROOTFS ARCH(amd64|arm64) CACHE" >&2; exit 2; }

[ $# -eq 3 ] || usage
ROOTFS=$1 ARCH=$2 CACHE=$3
case "$ARCH" in
    amd64) PYARCH=x86_64 ;;
    arm64) PYARCH=aarch64 ;;
    *) echo "venv.sh: unknown ARCH '$ARCH' (expected amd64 or arm64)" >&2; exit 2 ;;
esac
[ -d "$ROOTFS" ] || { echo "venv.sh: ROOTFS '$ROOTFS' is not a directory" >&2; exit 2; }
ROOTFS=$(cd "$ROOTFS" && pwd)
[ "$ROOTFS" != / ] || { echo "venv.sh: refusing to build into the host's /" >&2; exit 2; }
[ -x "$ROOTFS/usr/bin/python3" ] \
    || die "$ROOTFS has no /usr/bin/python3: install python3 and python3-venv in the image"
[ -d "$ROOTFS/usr/lib/python3/dist-packages/evdev" ] \
    || die "$ROOTFS has no python3-evdev: add python3-evdev to the image's package list"
[ "$(id -u)" = 0 ] || die "needs root (chroot)"

REPO=$(cd "$(dirname "$0")/.." && pwd)
HOST_PYTHON=${BRANCH_KIOSK_HOST_PYTHON:-$REPO/.venv/bin/python}
"$HOST_PYTHON" -m pip --version >/dev/null 2>&1 \
    || die "no pip in $HOST_PYTHON: run 'make venv' or set BRANCH_KIOSK_HOST_PYTHON"
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
WHEELS=$CACHE/wheels/$ARCH
BUILD_WHEELS=$CACHE/wheels/build
mkdir -p "$WHEELS" "$BUILD_WHEELS"

VENV=/opt/branch-kiosk/.venv
# Staging inside the rootfs: the chroot's pip reads it from there; removed on every exit.
STAGE_REL=tmp/branch-kiosk-venv
STAGE=$ROOTFS/$STAGE_REL
SRC=$(mktemp -d)
MOUNTED_PROC=
cleanup() {
    rm -rf "$STAGE" "$SRC"
    if [ -n "$MOUNTED_PROC" ]; then umount "$ROOTFS/proc" || true; fi
}
trap cleanup EXIT
rm -rf "$STAGE"
mkdir -p "$STAGE/wheels" "$STAGE/project"

# (The filter drops this host's warnings about file:// indexes that exist only on some machines.)
pip_host() {
    "$HOST_PYTHON" -m pip --disable-pip-version-check "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2)
}

# 1. The project as a wheel, built from the work tree's tracked and new (not ignored) files, so
#    local build leftovers (build/, *.egg-info) never reach the image.
git -C "$REPO" ls-files -z --cached --others --exclude-standard \
    | (cd "$REPO" && xargs -0 cp --parents -t "$SRC" 2>/dev/null || true)
[ -f "$SRC/pyproject.toml" ] || die "could not copy the source tree from $REPO"
# The build backend (setuptools>=77, pyproject's build-system) is cached too: warm builds are offline.
if ! pip_host wheel -q --no-deps --no-index --find-links "$BUILD_WHEELS" -w "$STAGE/project" "$SRC" \
    >/dev/null 2>&1; then
    pip_host download -q --only-binary=:all: -d "$BUILD_WHEELS" "setuptools>=77" wheel
    pip_host wheel -q --no-deps --no-index --find-links "$BUILD_WHEELS" -w "$STAGE/project" "$SRC"
fi
PROJECT_WHEEL=$(ls "$STAGE"/project/branch_kiosk-*.whl)

# 2. Runtime wheels for the target: every manylinux tag glibc 2.36 (Debian 12) accepts.
PLATFORMS=(--platform "manylinux2014_$PYARCH")
for minor in $(seq 17 36); do PLATFORMS+=(--platform "manylinux_2_${minor}_$PYARCH"); done
TARGET=(--only-binary=:all: "${PLATFORMS[@]}" --implementation cp --python-version 3.11
    --abi cp311 -c "$REPO/constraints.txt")
# Offline first (a warm cache needs no network); the copy into the stage is exactly the set used.
if pip_host download -q --no-index --find-links "$WHEELS" "${TARGET[@]}" -d "$STAGE/wheels" \
    "$PROJECT_WHEEL" >/dev/null 2>&1; then
    echo "venv.sh: $ARCH wheels reused from $WHEELS"
else
    echo "venv.sh: downloading $ARCH wheels into $WHEELS"
    # pip saves the project wheel next to its dependencies and would reuse a stale one by name.
    rm -f "$WHEELS"/branch_kiosk-*.whl
    pip_host download -q "${TARGET[@]}" -d "$WHEELS" "$PROJECT_WHEEL"
    rm -f "$WHEELS"/branch_kiosk-*.whl
    rm -f "$STAGE"/wheels/*
    pip_host download -q --no-index --find-links "$WHEELS" "${TARGET[@]}" -d "$STAGE/wheels" \
        "$PROJECT_WHEEL"
fi
rm -f "$STAGE"/wheels/branch_kiosk-*.whl
cp "$REPO/constraints.txt" "$STAGE/constraints.txt"

# 3. The venv, created and filled by the target's python3 (under qemu-user for arm64).
if [ ! -e "$ROOTFS/proc/self" ]; then
    mount -t proc proc "$ROOTFS/proc"
    MOUNTED_PROC=1
fi
rm -rf "${ROOTFS:?}$VENV"
in_root() {
    chroot "$ROOTFS" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
        PYGAME_HIDE_SUPPORT_PROMPT=1 "$@"
}
in_root python3 -m venv "$VENV"
in_root "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-index \
    --no-cache-dir --no-compile --find-links "/$STAGE_REL/wheels" \
    -c "/$STAGE_REL/constraints.txt" "/$STAGE_REL/project/$(basename "$PROJECT_WHEEL")"
# Bytecode (the root is read-only at run time, so it must be there now). It does not depend on
# the CPU: a host CPython 3.11 writes the same .pyc files natively, where qemu-user takes minutes.
# unchecked-hash: never compared with the sources' mtimes, which build.sh clamps afterwards (a
# stale timestamp pyc would be recompiled in memory at every start); also reproducible.
SITE_DIR=$(cd "$ROOTFS$VENV/lib" && ls -d python3.*/site-packages)
COMPILE=(-m compileall -q --invalidation-mode unchecked-hash)
if [ "$("$HOST_PYTHON" -c 'import sys; print(sys.version_info[:2] == (3, 11))')" = True ]; then
    "$HOST_PYTHON" "${COMPILE[@]}" -j 0 -s "$ROOTFS" -p / "$ROOTFS$VENV/lib/$SITE_DIR" >/dev/null \
        || die "compileall failed for the $ARCH venv"
else
    in_root "$VENV/bin/python" "${COMPILE[@]}" "$VENV/lib/$SITE_DIR" >/dev/null \
        || die "compileall failed for the $ARCH venv"
fi
in_root "$VENV/bin/python" -m pip check -q --disable-pip-version-check >/dev/null \
    || die "pip check failed in the $ARCH venv"

# 4. evdev from Debian (PyPI's has no wheels): a .pth adds a directory that holds only a link to
#    Debian's evdev package, so the venv stays isolated from the rest of dist-packages.
SITE=$SITE_DIR
mkdir -p "$ROOTFS$VENV/debian-site"
ln -sfn /usr/lib/python3/dist-packages/evdev "$ROOTFS$VENV/debian-site/evdev"
echo "$VENV/debian-site" >"$ROOTFS$VENV/lib/$SITE/branch-kiosk-debian.pth"

# 5. The touch UI needs SDL's kmsdrm driver (no desktop): refuse a pygame whose SDL lacks it.
SDL=$(ls "$ROOTFS$VENV/lib/$SITE"/pygame*.libs/libSDL2-2*.so* 2>/dev/null | head -n1 || true)
[ -n "$SDL" ] || die "no bundled libSDL2 in the $ARCH venv's pygame"
grep -qa KMSDRM "$SDL" || die "$(basename "$SDL") has no KMSDRM video driver: pin pygame-ce, \
not pygame (pygame 2.6.1's wheels lack kmsdrm)"
in_root "$VENV/bin/python" -c "import appliance, aiortc, av, pygame, evdev" \
    || die "the $ARCH venv cannot import the kiosk"

# Which wheels went in, for the image manifest (sorted: same inputs, same file).
(cd "$STAGE/wheels" && sha256sum -- *.whl | LC_ALL=C sort -k2) >"$ROOTFS/opt/branch-kiosk/wheels.sha256"
echo "venv.sh: $ARCH venv ready at $VENV ($(wc -l <"$ROOTFS/opt/branch-kiosk/wheels.sha256") wheels)"
