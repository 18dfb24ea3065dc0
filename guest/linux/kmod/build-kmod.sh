#!/bin/sh
# Builds nahanni_ivshmem.ko for the Debian guest kernel, for meson (guest/linux/kmod/meson.build).
#   build-kmod.sh SRCDIR OUTDIR KERNEL-ABI-SCRIPT
# Kbuild builds in the module's own folder, so the sources are copied to OUTDIR/src first
# (only when changed, so an unchanged module is not rebuilt) and the source tree stays clean.
# OUTDIR gets nahanni_ivshmem.ko and kmod-status: "ok RELEASE", or "skip: REASON" (with an
# empty .ko) when the release or its headers are unknown here. A compile error fails.
set -eu
src=$1 out=$2 abi=$3
mkdir -p "$out/src"
out=$(cd "$out" && pwd)  # Kbuild needs an absolute M=
status() { echo "$1" > "$out/kmod-status.tmp"; mv "$out/kmod-status.tmp" "$out/kmod-status"; }
skip() { : > "$out/nahanni_ivshmem.ko"; status "skip: $1"; exit 0; }

release=$("$abi" 2>"$out/abi.err") || skip "no guest kernel release: $(cat "$out/abi.err")"
rm -f "$out/abi.err"
kdir=/lib/modules/$release/build
[ -f "$kdir/Makefile" ] ||
  skip "linux-headers-$release is not installed (scripts/install-deps.sh installs it), so nahanni_ivshmem.ko was not built"
command -v make >/dev/null 2>&1 || skip "make not found, so nahanni_ivshmem.ko was not built"

for f in Kbuild ivshmem-uapi.h ivshmem-drv.h ivshmem-main.c ivshmem-irq.c ivshmem-file.c; do
  cmp -s "$src/$f" "$out/src/$f" || cp "$src/$f" "$out/src/$f"
done
# Kbuild is chatty; keep its output for a failure only.
if ! make -C "$kdir" M="$out/src" -j2 modules > "$out/kbuild.log" 2>&1; then
  cat "$out/kbuild.log" >&2
  echo "build-kmod.sh: building nahanni_ivshmem.ko against $kdir failed" >&2
  exit 1
fi
cp "$out/src/nahanni_ivshmem.ko" "$out/nahanni_ivshmem.ko.tmp"
mv "$out/nahanni_ivshmem.ko.tmp" "$out/nahanni_ivshmem.ko"
status "ok $release"
