#!/bin/sh
# Bounded fuzzing of the three checkpoint readers (libFuzzer + ASan/UBSan, clang), FUZZ_TIME seconds each,
# seeded with the committed hostile-file corpora. Any crash, leak or sanitizer report fails the run.
cd "$(dirname "$0")/.." || exit 1
T=${FUZZ_TIME:-20}; pass=0; fail=0
if ! command -v clang >/dev/null 2>&1; then
    if [ -n "${CI:-}" ]; then echo "FAIL fuzz: clang is not installed"; echo "fuzz: 0 passed, 1 failed"; exit 1; fi
    echo "SKIP fuzz: clang is not installed"; echo "fuzz: 0 passed, 0 failed"; exit 0
fi
mkdir -p build/fuzz
for f in safetensors:tests/fixtures/fuzz gguf:tests/fixtures/gguf pth:tests/fixtures/pth; do
    n=${f%%:*}; seeds=${f#*:}
    if ! clang -O1 -g -std=c99 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
            -o build/fuzz/fuzz_$n tests/fuzz_$n.c -lm -lpthread >build/fuzz/$n.build.log 2>&1; then
        echo "FAIL fuzz $n: does not build"; head -5 build/fuzz/$n.build.log; fail=$((fail+1)); continue
    fi
    mkdir -p build/fuzz/corpus_$n
    if build/fuzz/fuzz_$n -max_total_time=$T -max_len=8192 -artifact_prefix=build/fuzz/ -print_final_stats=1 \
            build/fuzz/corpus_$n $seeds >build/fuzz/$n.log 2>&1; then
        echo "  fuzz $n: $(grep -o 'stat::number_of_executed_units: [0-9]*' build/fuzz/$n.log | sed 's/.*: //') inputs, no crash"
        pass=$((pass+1))
    else
        echo "FAIL fuzz $n: see build/fuzz/$n.log"; grep -m3 -E 'ERROR|SUMMARY' build/fuzz/$n.log; fail=$((fail+1))
    fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
