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

# Each test binary compiles the whole header: build them on every core (make -jN still overrides).
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)

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
	@sh tests/run.sh $(BUILD) $(TEST_BINS) tests/compile_matrix.sh tests/cross.sh tests/fuzz.sh

# libFuzzer + ASan/UBSan over the file readers, FUZZ_TIME seconds each (clang only); make test runs 20 s each.
FUZZ_TIME ?= 60
fuzz:
	FUZZ_TIME=$(FUZZ_TIME) sh tests/fuzz.sh

clean:
	rm -rf build
