#!/bin/sh
# The installed nahanni-domxml: exit codes, what goes to stdout and stderr, input forms.
# Usage: domxml-cli-test.sh PATH-TO-nahanni-domxml DATA-DIR
set -u
tool=$1
data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then
    echo "ok - $1"
  else
    echo "not ok - $1"
    echo "  expected: $2"
    echo "  actual:   $3"
    failures=$((failures + 1))
  fi
}

"$tool" "$data/shmem-plain-doorbell.xml" >"$tmp/out" 2>"$tmp/err"
check "golden exit status" 0 $?
check "golden line count" 16 "$(wc -l <"$tmp/out" | tr -d ' ')"
check "golden first line" \
  "-object '{\"qom-type\":\"memory-backend-file\",\"id\":\"shmmem-shmem0\",\"mem-path\":\"/dev/shm/shmem0\",\"size\":4194304,\"share\":true}'" \
  "$(head -n1 "$tmp/out")"
check "golden stderr empty" "" "$(cat "$tmp/err")"

"$tool" - <"$data/shmem-plain-doorbell.xml" >"$tmp/stdin-out"
check "stdin input" "$(cat "$tmp/out")" "$(cat "$tmp/stdin-out")"

"$tool" --format=keyval "$data/shmem-plain-doorbell.xml" >"$tmp/kv"
check "keyval first line" \
  "-object memory-backend-file,id=shmmem-shmem0,mem-path=/dev/shm/shmem0,size=4194304,share=on" \
  "$(head -n1 "$tmp/kv")"

# The output is shell words: a shell (through eval) and xargs read it back unchanged.
eval "set -- $(tr '\n' ' ' <"$tmp/out")"
check "eval gives 32 words" 32 $#
check "eval second word" \
  '{"qom-type":"memory-backend-file","id":"shmmem-shmem0","mem-path":"/dev/shm/shmem0","size":4194304,"share":true}' "$2"
check "xargs gives 32 words" 32 "$(xargs printf '%s\n' <"$tmp/out" | wc -l | tr -d ' ')"

"$tool" --reverse "$tmp/out" >"$tmp/rev" 2>"$tmp/rev-err"
check "reverse from file" "$(cat "$data/shmem-plain-doorbell.reversed.xml")" "$(cat "$tmp/rev")"
check "reverse notes on stderr" 4 "$(wc -l <"$tmp/rev-err" | tr -d ' ')"
"$tool" --reverse <"$tmp/out" >"$tmp/rev-stdin" 2>/dev/null
check "reverse from stdin" "$(cat "$tmp/rev")" "$(cat "$tmp/rev-stdin")"
"$tool" --reverse -- "$@" >"$tmp/rev-args" 2>/dev/null
check "reverse from arguments" "$(cat "$tmp/rev")" "$(cat "$tmp/rev-args")"

# The reversed XML is a <devices> document the forward direction reads again.
"$tool" "$tmp/rev" >"$tmp/again"
check "reversed XML gives the same command line" "$(cat "$tmp/out")" "$(cat "$tmp/again")"

printf '%s\n' "<domain><devices><shmem name='a'><model type='ivshmem-plain'/><size unit='M'>3</size></shmem></devices></domain>" >"$tmp/bad.xml"
"$tool" "$tmp/bad.xml" >"$tmp/bad-out" 2>"$tmp/bad-err"
check "error exit status" 1 $?
check "error message" "nahanni-domxml: error: XML error: shmem size must be a power of two" "$(cat "$tmp/bad-err")"
check "error prints no arguments" "" "$(cat "$tmp/bad-out")"

printf '%s\n' "<domain><devices><shmem name='a'/></devices></domain>" >"$tmp/legacy.xml"
"$tool" "$tmp/legacy.xml" >"$tmp/legacy-out" 2>"$tmp/legacy-err"
check "legacy exit status" 0 $?
check "legacy output" "-device ivshmem,id=shmem0,size=4m,shm=a,bus=pci.0,addr=0x2" "$(cat "$tmp/legacy-out")"
check "legacy deprecation note" \
  "nahanni-domxml: warning: shmem 'a': model 'ivshmem' is deprecated and current libvirt refuses it; emitting the legacy '-device ivshmem' for nahanni's compatibility shim, use 'ivshmem-plain' or 'ivshmem-doorbell'" \
  "$(cat "$tmp/legacy-err")"
"$tool" --strict "$tmp/legacy.xml" >/dev/null 2>"$tmp/strict-err"
check "strict exit status" 1 $?
check "strict message" "nahanni-domxml: error: unsupported configuration: ivshmem device is no longer supported" "$(cat "$tmp/strict-err")"

"$tool" --reverse -- -device ivshmem-plain,memdev=none >/dev/null 2>"$tmp/rev-bad"
check "reverse error exit status" 1 $?
check "reverse error message" \
  "nahanni-domxml: error: -device ivshmem-plain,memdev=none: cannot map to <shmem>: memdev 'none' is not defined by any -object" \
  "$(cat "$tmp/rev-bad")"

"$tool" "$tmp/missing.xml" >/dev/null 2>"$tmp/missing-err"
check "missing file exit status" 1 $?
check "missing file message" "nahanni-domxml: error: cannot read '$tmp/missing.xml': No such file or directory" "$(cat "$tmp/missing-err")"

"$tool" --bogus >/dev/null 2>&1
check "unknown option exit status" 1 $?
"$tool" --help >"$tmp/help"
check "help exit status" 0 $?
check "help first line" "Usage: nahanni-domxml [--format=json|keyval] [--strict] DOMAIN.xml|-" "$(head -n1 "$tmp/help")"

[ "$failures" -eq 0 ] || { echo "$failures failed"; exit 1; }
