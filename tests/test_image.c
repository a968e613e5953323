/* Image and video writers: PNG round trip through our decoder, deflate round trip, and an independent
   decode of PNG, JPEG-in-AVI by Pillow (tools/check_media.py) when python3 with Pillow is present. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

static void make_image(uint8_t *p, int w, int h, int t) {
    int x, y;
    for (y = 0; y < h; y++) for (x = 0; x < w; x++) {
        uint8_t *o = p + ((size_t)y * w + x) * 3;
        int inside = (x - w / 2 - t) * (x - w / 2 - t) + (y - h / 2) * (y - h / 2) < (w / 4) * (w / 4);
        o[0] = (uint8_t)(inside ? 220 : x * 255 / w); o[1] = (uint8_t)(y * 255 / h); o[2] = (uint8_t)(inside ? 30 : 128);
    }
}

int main(void) {
    ds_ctx *ctx; ds_ctx_desc d; int w = 67, h = 45, i, ok; uint8_t *img = (uint8_t *)malloc((size_t)w * h * 3 * 5);
    const char *text[] = {"prompt", "a red circle", "seed", "42", NULL};
    ds_image back; ds_result r;
    memset(&d, 0, sizeof d); d.n_threads = 1;
    if (ds_ctx_create(&d, &ctx) != DS_SUCCESS) return 1;
    for (i = 0; i < 5; i++) make_image(img + (size_t)i * w * h * 3, w, h, i * 3);
    CHECK(ds_png_write(ctx, "build/t_image.png", img, w, h, text) == DS_SUCCESS, "png write");
    r = ds_image_load(ctx, "build/t_image.png", &back);
    CHECK(r == DS_SUCCESS && back.width == w && back.height == h && back.rgb && !memcmp(back.rgb, img, (size_t)w * h * 3), "png round trip is lossless");
    ds_image_free(ctx, &back);
    {   /* deflate round trip on compressible and random data */
        ds__buf z, out; uint8_t src[70000]; size_t k;
        for (k = 0; k < sizeof src; k++) src[k] = (uint8_t)(k < 35000 ? (k / 7) % 13 : (k * 2654435761u) >> 24);
        memset(&z, 0, sizeof z); memset(&out, 0, sizeof out); z.ctx = out.ctx = ctx;
        ok = ds__zlib_compress(ctx, &z, src, sizeof src) == DS_SUCCESS && ds__inflate(ctx, z.p, z.n, &out, sizeof src) == DS_SUCCESS;
        CHECK(ok && out.n == sizeof src && !memcmp(out.p, src, sizeof src), "deflate round trip (%llu -> %llu bytes)", (unsigned long long)sizeof src, (unsigned long long)z.n);
        out.n = 0;
        CHECK(ds__inflate(ctx, z.p, z.n / 2, &out, sizeof src) == DS_ERR_BAD_FORMAT, "truncated deflate stream is an error");
        ds__free(ctx, z.p); ds__free(ctx, out.p);
    }
    CHECK(ds_avi_write(ctx, "build/t_video.avi", img, 5, w, h, 16, 90) == DS_SUCCESS, "avi write");
    CHECK(ds_image_load(ctx, "build/does-not-exist.png", &back) == DS_ERR_IO, "missing image");
    CHECK(ds_png_write(ctx, "build/no-such-dir/x.png", img, w, h, NULL) == DS_ERR_IO, "unwritable path is an error");
#if defined(_WIN32)
    if (0) {   /* cross runs (wine) have no python3: the native run does the independent decode */
#else
    if (system("python3 -c 'import PIL' 2>/dev/null") == 0) {
#endif
        int rc = system("python3 tools/check_media.py build/t_image.png build/t_video.avi > build/t_media.txt 2>&1");
        CHECK(rc == 0, "Pillow decodes the PNG and every AVI frame (see build/t_media.txt)");
        if (rc == 0) {
            FILE *f = fopen("build/t_media.txt", "r"); char line[512]; int frames = 0;
            while (f && fgets(line, sizeof line, f)) if (strstr(line, "frames=5") && strstr(line, "67x45")) frames = 1;
            if (f) fclose(f);
            CHECK(frames, "the AVI has 5 frames of 67x45");
        }
    } else {
#if !defined(_WIN32)
        CHECK(getenv("CI") == NULL, "python3 with Pillow is needed for the independent decode check");
#endif
    }
    free(img);
    ds_ctx_destroy(ctx);
    DS_TEST_END("test_image");
}
