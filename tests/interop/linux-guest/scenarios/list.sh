#!/bin/sh
# Lists the ivshmem devices and the kernel's view of them (a smoke test of the image).
ivshmem-guest list -v
