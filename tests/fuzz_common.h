/* Shared body of the libFuzzer harnesses (tests/fuzz_*.c; `make fuzz` builds and runs them).
   Each input goes to a file (DS_NO_MMAP: read into an exact-size heap buffer, so ASan sees any
   read past the end), is opened as weights, and every tensor's first and last byte is touched. */
#define DS_NO_MMAP
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include <stdio.h>
#include <unistd.h>

static int fuzz_open(const uint8_t *data, size_t size, const char *magic) {
    static char path[64];
    static ds_ctx *ctx;
    ds_weights *w = NULL; FILE *f; size_t ml = magic ? strlen(magic) : 0; volatile uint8_t sink = 0; int64_t i;
    if (!ctx) { ds_ctx_desc d; memset(&d, 0, sizeof d); d.n_threads = 1; if (ds_ctx_create(&d, &ctx) != DS_SUCCESS) return 0; }
    if (!path[0]) snprintf(path, sizeof path, "/tmp/ds_fuzz_%d.bin", (int)getpid());
    f = fopen(path, "wb");
    if (!f) return 0;
    if (ml && (size < ml || memcmp(data, magic, ml) != 0)) fwrite(magic, 1, ml, f);   /* keep the format's magic */
    if (size) fwrite(data, 1, size, f);
    fclose(f);
    if (ds_weights_open(ctx, path, &w) == DS_SUCCESS) {
        for (i = 0; i < ds_weights_count(w); i++) {
            const ds_tensor *t = ds_weights_at(w, i);
            if (t->nbytes) sink ^= ((const uint8_t *)t->data)[0] ^ ((const uint8_t *)t->data)[t->nbytes - 1];
            if (t->nbytes && t->nbytes <= (1u << 16)) { const float *x = ds__f32(ctx, t); if (x) sink ^= (uint8_t)(x[0] != x[0]); }
        }
        { const char *m = ds_weights_meta(w, "general.architecture"); if (m) sink ^= (uint8_t)m[0]; }
        ds_weights_close(w);
    }
    (void)sink;
    return 0;
}
