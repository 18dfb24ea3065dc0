#!/bin/sh
# Prints the Debian kernel release that nahanni's Linux guests use, e.g. "6.1.0-56-amd64".
#
# One rule for everyone (the guest image builder fetches linux-image-<release>, the kernel
# module is built against linux-headers-<release>): the release that Debian's
# linux-headers-amd64 metapackage currently depends on, as apt sees it.
# NAHANNI_GUEST_KERNEL overrides the rule (to pin a release, or to test another one).
#
# Exit status: 0 with the release on stdout; 1 with one error line on stderr when apt
# does not know the metapackage (no apt, or `apt-get update` never ran).
set -eu

if [ -n "${NAHANNI_GUEST_KERNEL:-}" ]; then
  echo "$NAHANNI_GUEST_KERNEL"
  exit 0
fi

if ! command -v apt-cache >/dev/null 2>&1; then
  echo "kernel-abi.sh: apt-cache not found: cannot tell which Debian kernel to use" >&2
  exit 1
fi

# `apt-cache depends` looks at the candidate version only, which is what apt would install.
release=$(apt-cache depends linux-headers-amd64 2>/dev/null |
          sed -n 's/^ *Depends: linux-headers-\([0-9][0-9.]*-[0-9][0-9]*-amd64\)$/\1/p' |
          head -n 1)
if [ -z "$release" ]; then
  echo "kernel-abi.sh: apt knows no linux-headers-amd64 depending on linux-headers-*-amd64 (run apt-get update)" >&2
  exit 1
fi
echo "$release"
