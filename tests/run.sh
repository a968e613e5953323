#!/bin/sh
# Runs every test binary; each prints lines "PASS ..."/"FAIL ..." and a last line "<name>: P passed, F failed".
# Prints the total as the last line: "N passed, N failed".
build=$1; shift
pass=0; fail=0
for t in "$@"; do
    out=$("$t" 2>&1); rc=$?
    echo "$out" | grep -E '^(FAIL|SKIP)' 
    line=$(echo "$out" | grep -E '^[a-z_0-9]+: [0-9]+ passed, [0-9]+ failed$' | tail -1)
    if [ -z "$line" ]; then
        echo "FAIL $t crashed or printed no summary (exit $rc)"; echo "$out" | tail -5; fail=$((fail+1)); continue
    fi
    echo "$line"
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')
    pass=$((pass+p)); fail=$((fail+f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then echo "FAIL $t exited $rc"; fail=$((fail+1)); fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
