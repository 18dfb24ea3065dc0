#!/bin/sh
# plain-pair ROLE: two guests and the host share one memory-backend-file (1 MiB).
# [0, 256K) holds the host's pattern 1; guest a writes pattern 2 to [256K, 512K), guest b
# pattern 3 to [512K, 768K); each guest then waits for the other's pattern.
set -e
case $1 in
  a) mine=2 mine_at=256K theirs=3 theirs_at=512K ;;
  b) mine=3 mine_at=512K theirs=2 theirs_at=256K ;;
  *) echo "plain-pair: role must be a or b"; exit 1 ;;
esac
ivshmem-guest list
ivshmem-guest check -d plain --seed 1 --offset 0 --length 256K
ivshmem-guest fill -d plain --seed $mine --offset $mine_at --length 256K
ivshmem-guest check -d plain --seed $theirs --offset $theirs_at --length 256K --wait 90
