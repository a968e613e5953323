# diffsynth.h build. `make` builds the CLI, `make test` builds and runs every test.
CC      ?= cc
CXX     ?= c++
ARCH    ?= -march=native
OPT     ?= -O2
WARN    := -Wall -Wextra -Wpedantic
CFLAGS  ?= $(OPT) $(ARCH) -std=c99 $(WARN)
LDLIBS  := -lm -lpthread
ifeq ($(SAN),1)
  CFLAGS  := -O1 -g $(ARCH) -std=c99 $(WARN) -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDLIBS  += -fsanitize=address,undefined
  BUILD   := build/san
else
  BUILD   := build
endif

TEST_SRCS := $(wildcard tests/test_*.c)
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/%,$(TEST_SRCS))
TOOL_SRCS := $(filter-out tools/diffsynth.c,$(wildcard tools/*.c))
TOOL_BINS := $(patsubst tools/%.c,$(BUILD)/%,$(TOOL_SRCS))
EXAMPLE_SRCS := $(wildcard examples/*.c)
EXAMPLE_BINS := $(patsubst examples/%.c,$(BUILD)/examples/%,$(EXAMPLE_SRCS))

.PHONY: all test clean fuzz
all: $(BUILD)/diffsynth $(TOOL_BINS) $(EXAMPLE_BINS)

$(BUILD)/diffsynth: tools/diffsynth.c diffsynth.h | $(BUILD)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

$(BUILD)/%: tools/%.c diffsynth.h | $(BUILD)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

$(BUILD)/examples/%: examples/%.c diffsynth.h | $(BUILD)
	@mkdir -p $(BUILD)/examples
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

$(BUILD)/test_%: tests/test_%.c diffsynth.h tests/ds_test.h | $(BUILD)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

$(BUILD):
	mkdir -p $(BUILD)

test: $(BUILD)/diffsynth $(TEST_BINS)
	@sh tests/run.sh $(BUILD) $(TEST_BINS) tests/compile_matrix.sh tests/cross.sh

# libFuzzer + ASan/UBSan over the file readers, FUZZ_TIME seconds each (clang only).
FUZZ_TIME ?= 60
fuzz:
	mkdir -p build/fuzz
	for f in safetensors:tests/fixtures/fuzz gguf:tests/fixtures/gguf pth:tests/fixtures/pth; do n=$${f%%:*}; \
	  clang -O1 -g -std=c99 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o build/fuzz/fuzz_$$n tests/fuzz_$$n.c -lm -lpthread && \
	  mkdir -p build/fuzz/corpus_$$n && \
	  build/fuzz/fuzz_$$n -max_total_time=$(FUZZ_TIME) -max_len=8192 -artifact_prefix=build/fuzz/ -print_final_stats=1 build/fuzz/corpus_$$n $${f#*:} || exit 1; \
	done

clean:
	rm -rf build
