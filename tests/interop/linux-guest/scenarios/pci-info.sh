#!/bin/sh
# Prints what a guest can observe about each PCI device, from sysfs and config space:
# IDs, revision, interrupt pin and line, capabilities, resources, and the bound driver.
for d in /sys/bus/pci/devices/*; do
  pin=$(hexdump -s 61 -n 1 -e '1/1 "%u"' "$d/config")
  echo "pci $(basename "$d") $(cat "$d/vendor"):$(cat "$d/device") rev $(cat "$d/revision") class $(cat "$d/class") pin $pin irq $(cat "$d/irq") driver $(basename "$(readlink "$d/driver" 2>/dev/null)" 2>/dev/null)"
  # Capability list: each entry is an ID byte then a next pointer.
  status=$(hexdump -s 6 -n 2 -e '1/2 "%u"' "$d/config")
  if [ $((status & 16)) -ne 0 ]; then
    ptr=$(hexdump -s 52 -n 1 -e '1/1 "%u"' "$d/config")
    caps=""
    while [ "$ptr" -ne 0 ]; do
      caps="$caps $(hexdump -s "$ptr" -n 1 -e '1/1 "0x%02x"' "$d/config")"
      ptr=$(hexdump -s $((ptr + 1)) -n 1 -e '1/1 "%u"' "$d/config")
    done
    echo "  capabilities:$caps"
  fi
  n=0
  while read -r start end flags; do
    [ "$start" != 0x0000000000000000 ] && echo "  resource$n $start $end $flags"
    n=$((n + 1))
  done < "$d/resource"
done
ls /sys/class/uio 2>/dev/null && for u in /sys/class/uio/*; do echo "$u: $(ls "$u/maps" 2>/dev/null)"; done
exit 0
