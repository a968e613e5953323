#!/bin/sh
# The header must compile warning-free as C99 and C++17 under gcc and clang, and with the feature
# switches. Syntax and semantic checks only (-fsyntax-only), so this stays quick.
cd "$(dirname "$0")/.." || exit 1
pass=0; fail=0
W="-Wall -Wextra -Wpedantic -Werror"
src=build/compile_matrix.c
mkdir -p build
printf '#define DIFFSYNTH_IMPLEMENTATION\n#include "../diffsynth.h"\nint main(void) { return ds_version()[0] == 0; }\n' > $src
try() { # name, command...
    name=$1; shift
    if out=$("$@" 2>&1); then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL compile $name"; echo "$out" | head -20; fi
}
for cc in gcc clang; do
    command -v $cc >/dev/null 2>&1 || continue
    try "$cc c99" $cc -std=c99 $W -fsyntax-only $src
    try "$cc c11 -march=native" $cc -std=c11 -march=native $W -fsyntax-only $src
    try "$cc DS_NO_THREADS" $cc -std=c99 $W -DDS_NO_THREADS -fsyntax-only $src
    try "$cc DS_NO_SIMD" $cc -std=c99 -march=native $W -DDS_NO_SIMD -fsyntax-only $src
    try "$cc DS_NO_MMAP" $cc -std=c99 $W -DDS_NO_MMAP -fsyntax-only $src
done
for cxx in g++ clang++; do
    command -v $cxx >/dev/null 2>&1 || continue
    try "$cxx c++17" $cxx -std=c++17 -x c++ -march=native $W -fsyntax-only $src
done
# the table of contents in the doc block lists exactly the // >>section markers, in order
toc=$(sed -n '/TABLE OF CONTENTS/,/^$/p' diffsynth.h | grep -oE '^ +>>[a-z_0-9]+' | tr -d ' ' | tr '\n' ' ')
marks=$(grep -oE '^// >>[a-z_0-9]+' diffsynth.h | sed 's|// ||' | tr '\n' ' ')
try "table of contents matches the markers" test "$toc" = "$marks"
command -v gcc >/dev/null 2>&1 && try "gcc DS_USE_OPENMP" gcc -std=c99 -fopenmp $W -DDS_USE_OPENMP -fsyntax-only $src
echo "compile_matrix: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
