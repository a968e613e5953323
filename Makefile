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

.PHONY: all test clean fuzz demo
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

# >>demo: the tiny FLUX/Wan models shipped in models/ (tools/train_demo.py), fixed prompt and seed, CPU.
DEMO_PROMPT ?= a red circle on the left
DEMO_SEED   ?= 42
DEMO_FLUX   := --diffusion-model models/flux_dit.safetensors --vae models/flux_vae.safetensors \
               --clip-l models/flux_clip_l.safetensors --t5xxl models/flux_t5xxl.safetensors \
               --clip-vocab models/clip_bpe.txt.gz --t5-tokenizer models/t5_spiece.model
DEMO_CLIP   ?= a green triangle moving left
DEMO_WAN    := --diffusion-model models/wan_dit.safetensors --vae models/wan_vae.safetensors \
               --t5 models/wan_umt5.safetensors --t5-tokenizer models/t5_spiece.model
demo: $(BUILD)/diffsynth
	$(BUILD)/diffsynth flux $(DEMO_FLUX) --text-len 12 -W 64 -H 64 --steps 4 --seed $(DEMO_SEED) -p "$(DEMO_PROMPT)" -o demo.png
	@if [ -f models/wan_dit.safetensors ]; then \
	    $(BUILD)/diffsynth wan $(DEMO_WAN) -W 64 -H 64 --frames 5 --steps 8 --shift 1 --cfg 1 -n "" --sampler euler \
	        --fps 4 --seed $(DEMO_SEED) -p "$(DEMO_CLIP)" -o demo.avi; \
	else echo "demo.avi: skipped, the demo Wan DiT (models/wan_dit.safetensors) is not trained yet (tools/train_demo.py wan)"; fi
	@echo
	@echo "demo.png: '$(DEMO_PROMPT)' by the demo FLUX (4.4 MB in models/, trained by tools/train_demo.py)."
	@echo "The same command runs real FLUX.1 files (schnell: --steps 4; dev: --steps 28 --guidance 3.5):"
	@echo "  $(BUILD)/diffsynth flux --diffusion-model flux1-schnell.safetensors --vae ae.safetensors \\"
	@echo "      --clip-l clip_l.safetensors --t5xxl t5xxl_fp16.safetensors --clip-vocab bpe_simple_vocab_16e6.txt.gz \\"
	@echo "      --t5-tokenizer spiece.model -W 1024 -H 1024 --steps 4 --seed 42 -p \"a photo of a fox\" -o fox.png"
	@echo "demo.avi: '$(DEMO_CLIP)', 5 frames by the demo Wan2.1. Real Wan2.1-T2V-1.3B (the files of its release):"
	@echo "  $(BUILD)/diffsynth wan --diffusion-model diffusion_pytorch_model.safetensors --vae Wan2.1_VAE.pth \\"
	@echo "      --t5 models_t5_umt5-xxl-enc-bf16.pth --t5-tokenizer google/umt5-xxl/spiece.model \\"
	@echo "      -W 832 -H 480 --frames 81 --steps 50 --seed 42 -p \"a cat walking in the snow\" -o cat.avi"
# <<demo

clean:
	rm -rf build
