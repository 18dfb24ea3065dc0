#!/usr/bin/env bash
# make bench: a release build, then every benchmark, side by side with QEMU, into bench/results/latest.md.
set -euo pipefail
build=build-release
[ -f $build/build.ninja ] || ./configure --builddir=$build --enable-release
ninja -C $build
qemu=$(command -v qemu-system-x86_64 || true)
out=bench/results/latest.md
{
  echo "# nahanni benchmarks ($(date -u +%Y-%m-%d), $(nproc) cores)"
  echo
  echo "Medians of alternating runs on the same inputs; the peer is Debian's QEMU 7.2 (TCG, -S)."
  echo
  if [ -n "$qemu" ]; then
    $build/bench/startup-bench "$PWD/$build/nahanni-system-x86_64" "$qemu" 20
  else
    echo "QEMU not installed: no side-by-side figures."
  fi
  server=$build/contrib/ivshmem-server/ivshmem-server
  if [ -x "$server" ]; then
    echo
    echo "## ivshmem-server"
    echo
    $build/bench/server-bench "$PWD/$server"
  fi
} > "$out"
cat "$out"
