#!/usr/bin/env bash
# Installs every Debian 12 package that nahanni's build and tests need.
# Idempotent: packages already present are not touched, and nothing is fetched then.
set -euo pipefail

build_deps=(meson ninja-build pkg-config g++ nlohmann-json3-dev libfmt-dev
            libgtest-dev libgmock-dev libxml2-dev)
# Test peers: never linked, only run (Debian's QEMU as the interop peer, xz to unpack the guest
# kernel, clang for fuzzing).
test_deps=(qemu-system-x86 busybox-static xz-utils clang libclang-rt-14-dev gnuplot-nox)

# The guest kernel module (guest/linux/kmod) is built against the headers of the Debian kernel the
# Linux test guests boot: linux-headers-RELEASE, RELEASE by tests/interop/linux-guest/kernel-abi.sh.
# Headers and kbuild only: no kernel image is installed on the host.
kernel_abi=$(dirname "$0")/../tests/interop/linux-guest/kernel-abi.sh
kernel_headers() { local release; release=$("$kernel_abi" 2>/dev/null) && echo "linux-headers-$release"; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for pkg in "${build_deps[@]}" "${test_deps[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
headers=$(kernel_headers || true)
if [ ${#missing[@]} -eq 0 ] && [ -n "$headers" ] && installed "$headers"; then
  exit 0
fi

sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -q
if [ ${#missing[@]} -ne 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# The release again, from the fresh lists: stale ones may name headers the mirror no longer has.
# Not fatal: without the headers the module is not built and its tests skip, saying why.
if ! headers=$(kernel_headers); then
  echo "install-deps: cannot tell the guest kernel release (kernel-abi.sh); kernel headers not installed" >&2
elif ! installed "$headers"; then
  echo "install-deps: installing $headers"
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "$headers" ||
    echo "install-deps: could not install $headers: nahanni_ivshmem.ko and its tests will be skipped" >&2
fi
