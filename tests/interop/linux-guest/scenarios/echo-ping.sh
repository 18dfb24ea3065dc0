#!/bin/sh
# echo-ping PEER COUNT: ring PEER (an ivshmem-client --echo on the host) and wait for its
# ring back, COUNT times; then show that the host client's ring reached us.
set -e
ivshmem-guest info -d doorbell
ivshmem-guest ping -d doorbell --echo --peer "$1" --count "$2" -v
