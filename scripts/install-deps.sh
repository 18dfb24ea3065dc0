#!/usr/bin/env bash
# Installs every Debian 12 package that nahanni's build and tests need.
# Idempotent: packages already present are not touched, and nothing is fetched then.
set -euo pipefail

build_deps=(meson ninja-build pkg-config g++ nlohmann-json3-dev libfmt-dev
            libgtest-dev libgmock-dev libxml2-dev)
# Test peers: never linked, only run (Debian's QEMU as the interop peer, clang for fuzzing).
test_deps=(qemu-system-x86 busybox-static clang libclang-rt-14-dev gnuplot-nox)

missing=()
for pkg in "${build_deps[@]}" "${test_deps[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
