#!/usr/bin/env bash
# The README's demo: two emulators sharing memory and exchanging doorbells through ivshmem-server.
set -euo pipefail
build=${1:-build}
export QTEST_QEMU_BINARY="$PWD/$build/nahanni-system-x86_64"
exec "$build/tests/qtest/ivshmem-demo" "$build/contrib/ivshmem-server/ivshmem-server"
