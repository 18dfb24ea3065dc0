#!/bin/sh
# Builds the Linux guest image for the end-to-end tests: Debian's kernel and a busybox
# initramfs holding the modules the guest needs, our guest tools and /init.
#
#   build-image.sh OUTDIR TOOL [EXTRA.ko...]
#
# OUTDIR gets vmlinuz (Debian's bzImage), vmlinux (its payload decompressed: an ELF that
# QEMU boots through its PVH entry; empty when it could not be extracted), initramfs.cpio.gz
# and status. status is one line: "ok RELEASE",
# "skip: REASON" (a host tool is missing; tests exit 77) or "error: REASON" (apt could not
# fetch the kernel; tests fail with it). The script itself fails only on its own bugs, so a
# host without the network still builds and runs every other test.
# TOOL is the static ivshmem-guest binary; EXTRA.ko are out-of-tree modules (the nahanni
# kernel module) put under /lib/modules/RELEASE/extra, where modprobe finds them.
#
# The kernel is linux-image-RELEASE (RELEASE from kernel-abi.sh), fetched with
# `apt-get download` and unpacked with dpkg-deb -x; nothing is installed on the host.
# The unpacked kernel and module subset are cached in $NAHANNI_GUEST_CACHE (default
# OUTDIR/cache), one folder per release, so the network is needed once per release.
set -eu

outdir=$1; tool=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd)
# Kernel modules the guest loads (their dependencies are added from modules.dep).
guest_modules="uio uio_pci_generic"

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
status() { echo "$1" > "$outdir/status.tmp"; mv "$outdir/status.tmp" "$outdir/status"; }
finish_without_image() {
  # Outputs must exist for the build system; the status line says why they are empty.
  : > "$outdir/vmlinuz"; : > "$outdir/vmlinux"; : > "$outdir/initramfs.cpio.gz"
  status "$1"
  case $1 in error:*) echo "build-image.sh: ${1#error: }" >&2 ;; esac
  exit 0
}

for t in apt-get apt-cache dpkg-deb gzip; do
  command -v "$t" >/dev/null 2>&1 || finish_without_image "skip: $t not found (Linux guests need Debian's apt and dpkg)"
done
# The guest runs it as its only userland, so it must be the static build.
if [ ! -x /bin/busybox ] || ! /bin/busybox 2>&1 | head -n 1 | grep -q BusyBox; then
  finish_without_image "skip: /bin/busybox not found (install busybox-static)"
fi
busybox=/bin/busybox
if ! release=$("$here/kernel-abi.sh" 2>"$outdir/abi.err"); then
  finish_without_image "error: $(cat "$outdir/abi.err")"
fi
rm -f "$outdir/abi.err"

cache=${NAHANNI_GUEST_CACHE:-$outdir/cache}/$release
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# 1. Kernel and modules, once per release.
if [ ! -s "$cache/vmlinuz" ] || [ ! -s "$cache/modules.dep" ]; then
  deb=$(ls "$cache"/linux-image-"$release"_*.deb 2>/dev/null | head -n 1 || true)
  if [ -z "$deb" ]; then
    echo "build-image.sh: fetching linux-image-$release with apt-get download (once per release)" >&2
    if ! (cd "$cache" && apt-get download -q "linux-image-$release" > "$cache/apt.log" 2>&1); then
      finish_without_image "error: apt-get download linux-image-$release failed (is the network or an apt mirror reachable? run apt-get update): $(tail -n 1 "$cache/apt.log")"
    fi
    deb=$(ls "$cache"/linux-image-"$release"_*.deb | head -n 1)
  fi
  tree=$cache/tree
  rm -rf "$tree"
  dpkg-deb -x "$deb" "$tree"
  # The package has no modules.dep (depmod runs at install time); make one in the copy.
  "$busybox" depmod -b "$tree" "$release"
  cp "$tree/boot/vmlinuz-$release" "$cache/vmlinuz.tmp"
  cp "$tree/lib/modules/$release/modules.dep" "$cache/modules.dep.full"
  # Keep only the modules we load and what they depend on.
  rm -rf "$cache/modules"; mkdir -p "$cache/modules"
  for m in $guest_modules; do
    line=$(grep -E "(^|/)$m\.ko(\.xz|\.zst|\.gz)?:" "$cache/modules.dep.full" | head -n 1)
    [ -n "$line" ] || { echo "build-image.sh: module $m not in linux-image-$release" >&2; exit 1; }
    for f in $(echo "$line" | tr -d ':'); do
      mkdir -p "$cache/modules/$(dirname "$f")"
      cp "$tree/lib/modules/$release/$f" "$cache/modules/$f"
    done
  done
  rm -rf "$tree"
  mv "$cache/vmlinuz.tmp" "$cache/vmlinuz"
  cp "$cache/modules.dep.full" "$cache/modules.dep"
fi

# 2. The uncompressed kernel. The guest would otherwise decompress 8 MB of XZ itself, which
# under TCG is most of a boot (12 s against 5 s measured on a loaded 2-core host). Boot
# protocol >= 2.08: the payload starts payload_offset (0x248) bytes into the protected-mode
# code, which follows the (setup_sects (0x1f1) + 1) 512-byte setup sectors; payload_length
# is at 0x24c. An unknown compression leaves vmlinux empty and the tests use the bzImage.
le_field() { od -An -t "u$2" -j "$1" -N "$2" "$3" | tr -d ' '; }
extract_vmlinux() {
  setup_sects=$(le_field 0x1f1 1 "$1")
  payload_offset=$(le_field 0x248 4 "$1")
  payload_length=$(le_field 0x24c 4 "$1")
  start=$(( (setup_sects + 1) * 512 + payload_offset ))
  magic=$(od -An -t x1 -j "$start" -N 6 "$1" | tr -d ' \n')
  case $magic in
    # The payload ends with the 4-byte uncompressed size: read one stream, ignore the rest.
    fd377a585a00) tail -c +$((start + 1)) "$1" | head -c "$payload_length" | xz -dc --single-stream > "$2.tmp" ;;
    *) echo "build-image.sh: bzImage payload compression ($magic) not handled; guests boot the bzImage" >&2
       return 1 ;;
  esac
  [ "$(od -An -t x1 -N 4 "$2.tmp" | tr -d ' \n')" = 7f454c46 ] || { rm -f "$2.tmp"; return 1; }
  mv "$2.tmp" "$2"
}
if [ ! -e "$cache/vmlinux" ]; then
  extract_vmlinux "$cache/vmlinuz" "$cache/vmlinux" || : > "$cache/vmlinux"
fi

# 3. The initramfs, rebuilt every time (it is small and holds our tools).
stage=$outdir/initramfs.d
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/proc" "$stage/sys" "$stage/dev" "$stage/tmp" "$stage/scenarios" \
         "$stage/lib/modules/$release/extra"
cp "$busybox" "$stage/bin/busybox"
cp "$here/init" "$stage/init"
cp "$here"/scenarios/*.sh "$stage/scenarios/"
[ -s "$tool" ] || { echo "build-image.sh: guest tool $tool missing" >&2; exit 1; }
# Debug info is useless in the guest and would triple the initramfs.
strip --strip-all -o "$stage/bin/ivshmem-guest" "$tool" 2>/dev/null || cp "$tool" "$stage/bin/ivshmem-guest"
(cd "$cache/modules" && find . -type f) | while read -r f; do
  mkdir -p "$stage/lib/modules/$release/$(dirname "$f")"
  case $f in
    # The kernel loads compressed modules only when built to; decompress to be safe.
    *.ko.xz) xz -dc "$cache/modules/$f" > "$stage/lib/modules/$release/${f%.xz}" ;;
    *.ko.zst) zstd -qdc "$cache/modules/$f" > "$stage/lib/modules/$release/${f%.zst}" ;;
    *) cp "$cache/modules/$f" "$stage/lib/modules/$release/$f" ;;
  esac
done
for ko in "$@"; do cp "$ko" "$stage/lib/modules/$release/extra/"; done
# modules.dep for the subset (and the extra modules), for the guest's modprobe.
"$busybox" depmod -b "$stage" "$release"
chmod 755 "$stage/init" "$stage"/scenarios/*.sh
(cd "$stage" && find . | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -6 > "$outdir/initramfs.cpio.gz.tmp"
mv "$outdir/initramfs.cpio.gz.tmp" "$outdir/initramfs.cpio.gz"
# Hard links where possible: the cache and the outputs are usually on one file system.
for k in vmlinuz vmlinux; do
  [ "$cache/$k" -ef "$outdir/$k" ] && continue
  rm -f "$outdir/$k.tmp"
  ln "$cache/$k" "$outdir/$k.tmp" 2>/dev/null || cp "$cache/$k" "$outdir/$k.tmp"
  mv -f "$outdir/$k.tmp" "$outdir/$k"
done
rm -rf "$stage"
status "ok $release"
