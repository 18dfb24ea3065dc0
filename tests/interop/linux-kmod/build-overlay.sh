#!/bin/sh
# Makes the kernel-module test image: the Linux guest image (tests/interop/linux-guest,
# which already holds nahanni_ivshmem.ko) with a second cpio archive appended that adds
# ivshmem-kmod and the kmod scenarios. The kernel unpacks concatenated archives in order.
#   build-overlay.sh OUTDIR BASE-INITRAMFS BASE-STATUS TOOL KMOD-STATUS
# OUTDIR gets initramfs.cpio.gz and status: the base image's, the kernel module's own "skip:"
# status when the module was not built, or "skip:" when the base image left the module out
# (its extra-modules, beside BASE-STATUS, says why: another kernel than the module's).
set -eu
outdir=$1 base_initramfs=$2 base_status=$3 tool=$4 kmod_status=$5
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$outdir"
status() { echo "$1" > "$outdir/status.tmp"; mv "$outdir/status.tmp" "$outdir/status"; }
kstatus=$(cat "$kmod_status" 2>/dev/null || echo "error: $kmod_status missing")
case $kstatus in
  ok*) ;;
  *) : > "$outdir/initramfs.cpio.gz"; status "$kstatus"; exit 0 ;;
esac
bstatus=$(cat "$base_status" 2>/dev/null || echo "error: $base_status missing")
case $bstatus in
  ok*) ;;
  *) : > "$outdir/initramfs.cpio.gz"; status "$bstatus"; exit 0 ;;
esac
extras=$(dirname "$base_status")/extra-modules
if ! grep -q "^in nahanni_ivshmem.ko " "$extras" 2>/dev/null; then
  why=$(sed -n 's/^out nahanni_ivshmem.ko: //p' "$extras" 2>/dev/null)
  : > "$outdir/initramfs.cpio.gz"
  status "skip: nahanni_ivshmem.ko is not in the Linux guest image: ${why:-$extras does not list it}"
  exit 0
fi
stage=$outdir/overlay.d
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/scenarios"
cp "$tool" "$stage/bin/ivshmem-kmod"
cp "$here"/scenarios/*.sh "$stage/scenarios/"
chmod 755 "$stage/bin/ivshmem-kmod" "$stage"/scenarios/*.sh
(cd "$stage" && find . | /bin/busybox cpio -o -H newc -R 0:0 2>/dev/null) | gzip -6 > "$outdir/overlay.cpio.gz"
cat "$base_initramfs" "$outdir/overlay.cpio.gz" > "$outdir/initramfs.cpio.gz.tmp"
mv "$outdir/initramfs.cpio.gz.tmp" "$outdir/initramfs.cpio.gz"
rm -rf "$stage" "$outdir/overlay.cpio.gz"
status "$bstatus"
