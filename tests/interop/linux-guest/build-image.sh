#!/bin/sh
# Builds the Linux guest image for the end-to-end tests: Debian's kernel and a busybox
# initramfs holding the modules the guest needs, our guest tools and /init.
#
#   build-image.sh OUTDIR TOOL [EXTRA.ko...]
#
# OUTDIR gets vmlinuz (Debian's bzImage), vmlinux (its payload decompressed: an ELF that
# QEMU boots through its PVH entry; empty when it could not be extracted), initramfs.cpio.gz,
# extra-modules and status. status is one line: "ok RELEASE" (with " (instead of WANTED:
# WHY)" when the release kernel-abi.sh names could not be fetched and another 6.1 kernel was
# used), "skip: REASON" (a host tool is missing; tests exit 77) or "error: REASON" (apt could
# not fetch any kernel; tests fail with it). The script itself fails only on its own bugs, so
# a host without the network still builds and runs every other test.
# TOOL is the static ivshmem-guest binary; EXTRA.ko are out-of-tree modules (the nahanni
# kernel module) put under /lib/modules/RELEASE/extra, where modprobe finds them. A module
# that is empty (its build was skipped) or built for another release is left out: extra-modules
# says, one line per module, "in NAME RELEASE" or "out NAME: WHY".
#
# The kernel is linux-image-RELEASE (RELEASE from kernel-abi.sh), fetched with
# `apt-get download` and unpacked with dpkg-deb -x; nothing is installed on the host.
# The unpacked kernel and module subset are cached in $NAHANNI_GUEST_CACHE (default
# OUTDIR/cache), one folder per release, so the network is needed once per release.
# When the download fails, apt's lists are refreshed once (as root or with passwordless sudo)
# and the download retried; then, unless NAHANNI_GUEST_KERNEL pins the release, another Linux
# 6.1 kernel is used: linux-image-amd64's, a cached one, or the newest apt can fetch.
set -eu

outdir=$1; tool=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd)
# Kernel modules the guest loads (their dependencies are added from modules.dep).
guest_modules="uio uio_pci_generic"

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
status() { echo "$1" > "$outdir/status.tmp"; mv "$outdir/status.tmp" "$outdir/status"; }
finish_without_image() {
  # Outputs must exist for the build system; the status line says why they are empty. (rm
  # first: vmlinuz and vmlinux may be hard links into the cache.)
  for f in vmlinuz vmlinux initramfs.cpio.gz; do rm -f "$outdir/$f"; : > "$outdir/$f"; done
  echo "${1#*: }" | sed 's/^/out all: no guest image: /' > "$outdir/extra-modules"
  rm -rf "$outdir/initramfs.d"
  status "$1"
  case $1 in error:*) echo "build-image.sh: ${1#error: }" >&2 ;; esac
  exit 0
}

for t in apt-get apt-cache dpkg-deb gzip od; do
  command -v "$t" >/dev/null 2>&1 || finish_without_image "skip: $t not found (Linux guests need Debian's apt and dpkg)"
done

# True when ELF file $1 names a program interpreter (PT_INTERP), i.e. is dynamically linked.
le_field() { od -An -t "u$2" -j "$1" -N "$2" "$3" | tr -d ' '; }
elf_is_dynamic() {
  phoff=$(le_field 32 8 "$1"); phentsize=$(le_field 54 2 "$1"); phnum=$(le_field 56 2 "$1")
  i=0
  while [ "$i" -lt "$phnum" ]; do
    [ "$(le_field $((phoff + i * phentsize)) 4 "$1")" = 3 ] && return 0
    i=$((i + 1))
  done
  return 1
}
# The guest runs busybox as its only userland, with no libraries: it must be the static build
# (Debian's busybox-static; the busybox package is dynamically linked and conflicts with it).
busybox=/bin/busybox
if [ ! -x "$busybox" ] || ! "$busybox" 2>&1 | head -n 1 | grep -q BusyBox; then
  finish_without_image "skip: /bin/busybox not found (apt-get install busybox-static)"
fi
if [ "$(od -An -c -N 4 "$busybox" | tr -d ' ')" != 177ELF ] || [ "$(le_field 4 1 "$busybox")" != 2 ]; then
  finish_without_image "skip: /bin/busybox is not a 64-bit ELF executable (apt-get install busybox-static)"
fi
if elf_is_dynamic "$busybox"; then
  finish_without_image "skip: /bin/busybox is dynamically linked, the guest needs the static one (apt-get install busybox-static)"
fi

# apt-get update, at most once per run, as root or through passwordless sudo: lists that are
# stale name a kernel the mirror no longer has. Fails when it cannot run or did run already.
apt_refreshed=no
refresh_apt_lists() {
  [ $apt_refreshed = no ] || return 1
  apt_refreshed=yes
  if [ "$(id -u)" = 0 ]; then set -- apt-get
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then set -- sudo -n apt-get
  else
    echo "build-image.sh: cannot refresh apt's lists (not root, no passwordless sudo)" >&2
    return 1
  fi
  echo "build-image.sh: running apt-get update once, then retrying" >&2
  if ! "$@" update -q > "$outdir/apt-update.log" 2>&1; then
    echo "build-image.sh: apt-get update failed: $(tail -n 1 "$outdir/apt-update.log")" >&2
    return 1
  fi
}

if ! wanted=$("$here/kernel-abi.sh" 2>"$outdir/abi.err"); then
  if [ -n "${NAHANNI_GUEST_KERNEL:-}" ] || ! refresh_apt_lists || ! wanted=$("$here/kernel-abi.sh" 2>"$outdir/abi.err"); then
    finish_without_image "error: $(cat "$outdir/abi.err")"
  fi
fi
rm -f "$outdir/abi.err"

cache_root=${NAHANNI_GUEST_CACHE:-$outdir/cache}
mkdir -p "$cache_root"
cache_root=$(cd "$cache_root" && pwd)

# 1. Kernel and modules, once per release. download_kernel RELEASE puts linux-image-RELEASE's
# .deb into $cache_root/RELEASE, or fails with apt's last line in $fetch_error.
cached() { [ -s "$cache_root/$1/vmlinuz" ] && [ -s "$cache_root/$1/modules.dep" ]; }
fetch_error=""
download_kernel() {
  dl=$cache_root/$1
  mkdir -p "$dl"
  ls "$dl"/linux-image-"$1"_*.deb > /dev/null 2>&1 && return 0
  echo "build-image.sh: fetching linux-image-$1 with apt-get download (once per release)" >&2
  if ! (cd "$dl" && apt-get download -q "linux-image-$1" > "$dl/apt.log" 2>&1); then
    fetch_error="apt-get download linux-image-$1 failed: $(tail -n 1 "$dl/apt.log")"
    echo "build-image.sh: $fetch_error" >&2
    rm -rf "$dl"
    return 1
  fi
}

# Other Linux kernels of the same series, best first: what kernel-abi.sh names now (after a
# refresh), linux-image-amd64's dependency, releases already cached (newest first), then the
# newest that apt knows.
fallback_releases() {
  series=${wanted%%-*}
  { "$here/kernel-abi.sh" 2>/dev/null || true
    apt-cache depends linux-image-amd64 2>/dev/null |
      sed -n 's/^ *Depends: linux-image-\([0-9][0-9.]*-[0-9][0-9]*-amd64\)$/\1/p'
    for d in "$cache_root"/*/; do r=$(basename "$d"); cached "$r" && echo "$r"; done | sort -t- -k2,2nr
    apt-cache search --names-only '^linux-image-[0-9.]+-[0-9]+-amd64$' 2>/dev/null |
      sed -n 's/^linux-image-\([^ ]*\) .*/\1/p' | sort -t- -k2,2nr | head -n 3
  } | grep -F "$series-" | awk '!seen[$0]++' | grep -vxF "$wanted" || true
}

release=""
if cached "$wanted" || download_kernel "$wanted"; then
  release=$wanted
else
  why=$fetch_error
  if refresh_apt_lists && download_kernel "$wanted"; then
    release=$wanted
  elif [ -z "${NAHANNI_GUEST_KERNEL:-}" ]; then
    for r in $(fallback_releases); do
      if cached "$r" || download_kernel "$r"; then release=$r; break; fi
    done
  fi
  [ -n "$release" ] ||
    finish_without_image "error: $why (is the network or an apt mirror reachable? run apt-get update); no other Linux ${wanted%%-*} kernel could be fetched or was cached"
  echo "build-image.sh: using linux-image-$release instead of linux-image-$wanted" >&2
  release_note=" (instead of $wanted: $why)"
fi
release_note=${release_note:-}
cache=$cache_root/$release

if ! cached "$release"; then
  deb=$(ls "$cache"/linux-image-"$release"_*.deb | head -n 1)
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
# is at 0x24c. An unknown compression (or no xz on the host) leaves vmlinux empty and the tests
# use the bzImage; vmlinux.unhandled records an unknown compression, so it is not tried again.
extract_vmlinux() {
  setup_sects=$(le_field 0x1f1 1 "$1")
  payload_offset=$(le_field 0x248 4 "$1")
  payload_length=$(le_field 0x24c 4 "$1")
  start=$(( (setup_sects + 1) * 512 + payload_offset ))
  magic=$(od -An -t x1 -j "$start" -N 6 "$1" | tr -d ' \n')
  case $magic in
    # The payload ends with the 4-byte uncompressed size: read one stream, ignore the rest.
    fd377a585a00)
      if ! command -v xz >/dev/null 2>&1; then
        echo "build-image.sh: xz not found (apt-get install xz-utils): the kernel is not decompressed, guests boot the bzImage (slower)" >&2
        return 1
      fi
      tail -c +$((start + 1)) "$1" | head -c "$payload_length" | xz -dc --single-stream > "$2.tmp" ;;
    *) echo "build-image.sh: bzImage payload compression ($magic) not handled; guests boot the bzImage" >&2
       : > "$2.unhandled"
       return 1 ;;
  esac
  [ "$(od -An -t x1 -N 4 "$2.tmp" | tr -d ' \n')" = 7f454c46 ] || { rm -f "$2.tmp"; return 1; }
  mv "$2.tmp" "$2"
}
if [ ! -s "$cache/vmlinux" ] && [ ! -e "$cache/vmlinux.unhandled" ]; then
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
# The kernel loads compressed modules only when built to; decompress them to be safe (Debian's
# 6.1 ships plain .ko).
for z in xz:xz:xz-utils zst:zstd:zstd; do
  ext=${z%%:*}; prog=${z#*:}; prog=${prog%%:*}
  if [ -n "$(cd "$cache/modules" && find . -name "*.ko.$ext")" ] && ! command -v "$prog" >/dev/null 2>&1; then
    finish_without_image "skip: $prog not found (apt-get install ${z##*:}): linux-image-$release's modules are .ko.$ext"
  fi
done
(cd "$cache/modules" && find . -type f) | while read -r f; do
  mkdir -p "$stage/lib/modules/$release/$(dirname "$f")"
  case $f in
    *.ko.xz) xz -dc "$cache/modules/$f" > "$stage/lib/modules/$release/${f%.xz}" ;;
    *.ko.zst) zstd -qdc "$cache/modules/$f" > "$stage/lib/modules/$release/${f%.zst}" ;;
    *) cp "$cache/modules/$f" "$stage/lib/modules/$release/$f" ;;
  esac
done
# Out-of-tree modules go in only when they were built (a skipped build leaves an empty .ko,
# which would break depmod) and for this very kernel (modprobe refuses another vermagic).
: > "$outdir/extra-modules.tmp"
for ko in "$@"; do
  name=$(basename "$ko")
  if [ ! -s "$ko" ]; then
    echo "out $name: its build was skipped" >> "$outdir/extra-modules.tmp"
    continue
  fi
  built_for=$(tr '\0' '\n' < "$ko" | sed -n 's/^vermagic=\([^ ]*\).*/\1/p' | head -n 1)
  if [ "$built_for" != "$release" ]; then
    echo "out $name: built for ${built_for:-an unknown kernel}, but the guest kernel is $release$release_note" >> "$outdir/extra-modules.tmp"
    continue
  fi
  cp "$ko" "$stage/lib/modules/$release/extra/"
  echo "in $name $release" >> "$outdir/extra-modules.tmp"
done
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
mv "$outdir/extra-modules.tmp" "$outdir/extra-modules"
status "ok $release$release_note"
