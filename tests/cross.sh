#!/bin/sh
# Portability, checked not claimed: every tests/test_*.c cross-compiled for aarch64 (NEON kernels) and run
# under qemu-aarch64, and for Windows (mingw-w64, Win32 threads and file mapping) and run under wine.
# A target whose toolchain is missing is reported and counted as failed under CI (CI=true), skipped otherwise.
cd "$(dirname "$0")/.." || exit 1
mkdir -p build/cross
# Emulation is 20-50x slower than native: run the kernel, format and model-fixture tests there (they
# exercise every NEON / Win32 path), not the long pipeline tests.
CROSS_TESTS=${CROSS_TESTS:-"tests/test_core.c tests/test_quant.c tests/test_gguf.c tests/test_pth.c tests/test_rng.c tests/test_image.c tests/test_sched.c tests/test_models.c"}
pass=0; fail=0
need() { # tool: present, or fail under CI / note otherwise
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ -n "${CI:-}" ]; then echo "FAIL cross: $1 is not installed"; fail=$((fail+1)); else echo "SKIP cross: $1 is not installed"; fi
    return 1
}
run_all() { # label, compiler, runner, exe suffix, extra flags
    label=$1; cc=$2; runner=$3; sfx=$4; shift 4
    for src in $CROSS_TESTS; do
        [ -f "$src" ] || continue
        name=$(basename "$src" .c); exe=build/cross/$name.$label$sfx
        if ! $cc -O2 -std=c99 -Wall -Wextra -Wpedantic "$@" -o "$exe" "$src" -lm >build/cross/$name.$label.log 2>&1; then
            echo "FAIL cross $label: $name does not build"; head -5 build/cross/$name.$label.log; fail=$((fail+1)); continue
        fi
        out=$($runner "$exe" 2>/dev/null); line=$(echo "$out" | grep -E '^[a-z_0-9]+: [0-9]+ passed, [0-9]+ failed' | tail -1)
        if [ -z "$line" ]; then echo "FAIL cross $label: $name crashed"; fail=$((fail+1)); continue; fi
        echo "$out" | grep '^FAIL' | sed "s/^/  [$label] /"
        p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
        echo "  $label $line"
        pass=$((pass+p)); fail=$((fail+f))
    done
}
if need aarch64-linux-gnu-gcc && need qemu-aarch64; then run_all aarch64 aarch64-linux-gnu-gcc qemu-aarch64 "" -static -lpthread; fi
if need x86_64-w64-mingw32-gcc && need wine; then
    WINEDEBUG=-all; export WINEDEBUG
    run_all win64 x86_64-w64-mingw32-gcc wine .exe
fi
echo "cross: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
