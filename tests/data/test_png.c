/* PNG folders: every colour type to 1 and 3 channels with exact values, crop /
 * pad / reject of other sizes, undecodable files, folder layout errors. */
#include <criterion/criterion.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_test_util.h"
#include "sharesnet/data.h"

static void fixture_init(void) { tmp_create(); }
static void fixture_fini(void) { tmp_remove(); }
TestSuite(png, .init = fixture_init, .fini = fixture_fini, .timeout = 60);

#define W 3
#define H 2
#define P (W * H)

static const uint8_t gray[P] = {0, 50, 100, 150, 200, 255};
static const uint8_t alpha[P] = {255, 0, 128, 64, 255, 1};
static const uint8_t red[P] = {255, 0, 10, 200, 33, 255};
static const uint8_t green[P] = {0, 255, 20, 100, 66, 255};
static const uint8_t blue[P] = {0, 0, 30, 7, 99, 255};

static unsigned composite(unsigned v, unsigned a) { return (v * a + 127) / 255; }
static unsigned luminance(unsigned r, unsigned g, unsigned b)
{
    return (299 * r + 587 * g + 114 * b + 500) / 1000;
}

/* Load ROOT/train/only/img.png (the only image) at W x H in `channels` and
 * compare with the expected colours. */
static void check_image(const uint8_t (*rgb)[3])
{
    for (int channels = 1; channels <= 3; channels += 2) {
        sn_dataset d;
        sn_data_options o = {.format = SN_DATA_PNG_FOLDER, .channels = channels,
                             .height = H, .width = W};
        cr_assert_eq(sn_dataset_load(&d, tmp_root, SN_SPLIT_TRAIN, &o), SN_OK, "%s",
                     sn_last_error());
        cr_assert_eq(d.count, 1);
        cr_assert_eq(d.channels, channels);
        cr_assert_eq(d.classes, 1);
        cr_assert_str_eq(d.class_names[0], "only");
        for (int k = 0; k < P; k++) {
            if (channels == 1) {
                unsigned want = luminance(rgb[k][0], rgb[k][1], rgb[k][2]);
                cr_assert_eq(d.images[k], want, "gray pixel %d: %u, want %u", k,
                             d.images[k], want);
            } else {
                for (int c = 0; c < 3; c++)
                    cr_assert_eq(d.images[c * P + k], rgb[k][c],
                                 "pixel %d channel %d: %u, want %u", k, c,
                                 d.images[c * P + k], rgb[k][c]);
            }
        }
        sn_dataset_free(&d);
    }
}

static const char *only_image(void)
{
    make_dirs(tmp_path("train/only"));
    return tmp_path("train/only/img.png");
}

Test(png, gray8)
{
    write_png(only_image(), W, H, PNG_COLOR_TYPE_GRAY, 8, gray, NULL, 0, NULL, 0);
    uint8_t rgb[P][3];
    for (int k = 0; k < P; k++)
        rgb[k][0] = rgb[k][1] = rgb[k][2] = gray[k];
    check_image(rgb);
}

Test(png, gray4_low_bit_depth)
{
    uint8_t samples[P];
    uint8_t rgb[P][3];
    for (int k = 0; k < P; k++) {
        samples[k] = (uint8_t)(k * 3);
        rgb[k][0] = rgb[k][1] = rgb[k][2] = (uint8_t)(k * 3 * 17);
    }
    write_png(only_image(), W, H, PNG_COLOR_TYPE_GRAY, 4, samples, NULL, 0, NULL, 0);
    check_image(rgb);
}

Test(png, gray_alpha8)
{
    uint8_t samples[P * 2];
    uint8_t rgb[P][3];
    for (int k = 0; k < P; k++) {
        samples[2 * k] = gray[k];
        samples[2 * k + 1] = alpha[k];
        rgb[k][0] = rgb[k][1] = rgb[k][2] = (uint8_t)composite(gray[k], alpha[k]);
    }
    write_png(only_image(), W, H, PNG_COLOR_TYPE_GRAY_ALPHA, 8, samples, NULL, 0, NULL, 0);
    check_image(rgb);
}

Test(png, rgb8)
{
    uint8_t samples[P * 3];
    uint8_t rgb[P][3];
    for (int k = 0; k < P; k++) {
        samples[3 * k] = rgb[k][0] = red[k];
        samples[3 * k + 1] = rgb[k][1] = green[k];
        samples[3 * k + 2] = rgb[k][2] = blue[k];
    }
    write_png(only_image(), W, H, PNG_COLOR_TYPE_RGB, 8, samples, NULL, 0, NULL, 0);
    check_image(rgb);
}

Test(png, rgba8)
{
    uint8_t samples[P * 4];
    uint8_t rgb[P][3];
    for (int k = 0; k < P; k++) {
        samples[4 * k] = red[k];
        samples[4 * k + 1] = green[k];
        samples[4 * k + 2] = blue[k];
        samples[4 * k + 3] = alpha[k];
        rgb[k][0] = (uint8_t)composite(red[k], alpha[k]);
        rgb[k][1] = (uint8_t)composite(green[k], alpha[k]);
        rgb[k][2] = (uint8_t)composite(blue[k], alpha[k]);
    }
    write_png(only_image(), W, H, PNG_COLOR_TYPE_RGBA, 8, samples, NULL, 0, NULL, 0);
    check_image(rgb);
}

Test(png, palette_with_transparency)
{
    static const uint8_t palette[4][3] = {{255, 0, 0}, {0, 128, 255}, {12, 34, 56}, {200, 200, 200}};
    static const uint8_t trans[2] = {255, 100};  /* index 1 is translucent */
    static const uint8_t index[P] = {0, 1, 2, 3, 1, 0};
    uint8_t rgb[P][3];
    for (int k = 0; k < P; k++) {
        unsigned a = index[k] < 2 ? trans[index[k]] : 255;
        for (int c = 0; c < 3; c++)
            rgb[k][c] = (uint8_t)composite(palette[index[k]][c], a);
    }
    write_png(only_image(), W, H, PNG_COLOR_TYPE_PALETTE, 8, index, palette, 4, trans, 2);
    check_image(rgb);
}

Test(png, gray16)
{
    uint8_t samples[P * 2];
    uint8_t rgb[P][3];
    for (int k = 0; k < P; k++) {
        unsigned v = gray[k] * 257u;  /* exact in 8 bits whatever the rounding */
        samples[2 * k] = (uint8_t)(v >> 8);
        samples[2 * k + 1] = (uint8_t)v;
        rgb[k][0] = rgb[k][1] = rgb[k][2] = gray[k];
    }
    write_png(only_image(), W, H, PNG_COLOR_TYPE_GRAY, 16, samples, NULL, 0, NULL, 0);
    check_image(rgb);
}

Test(png, rgba16)
{
    uint8_t samples[P * 8];
    uint8_t rgb[P][3];
    for (int k = 0; k < P; k++) {
        const uint8_t v8[4] = {red[k], green[k], blue[k], alpha[k]};
        for (int c = 0; c < 4; c++) {
            unsigned v = v8[c] * 257u;
            samples[8 * k + 2 * c] = (uint8_t)(v >> 8);
            samples[8 * k + 2 * c + 1] = (uint8_t)v;
        }
        for (int c = 0; c < 3; c++)
            rgb[k][c] = (uint8_t)composite(v8[c], alpha[k]);
    }
    write_png(only_image(), W, H, PNG_COLOR_TYPE_RGBA, 16, samples, NULL, 0, NULL, 0);
    check_image(rgb);
}

/* Default options: channels and size come from the first image. */
Test(png, auto_channels_and_size)
{
    write_png(only_image(), W, H, PNG_COLOR_TYPE_GRAY, 8, gray, NULL, 0, NULL, 0);
    write_text(tmp_path("train/only/notes.txt"), "not an image");
    sn_dataset d;
    cr_assert_eq(sn_dataset_load(&d, tmp_root, SN_SPLIT_TRAIN, NULL), SN_OK, "%s",
                 sn_last_error());
    cr_assert_eq(d.count, 1);
    cr_assert_eq(d.channels, 1);
    cr_assert_eq(d.height, H);
    cr_assert_eq(d.width, W);
    cr_assert_eq(memcmp(d.images, gray, P), 0);
    sn_dataset_free(&d);
}

static void write_gray(const char *relative, int width, int height)
{
    uint8_t *s = malloc((size_t)width * height);
    for (int i = 0; i < width * height; i++)
        s[i] = (uint8_t)(1 + i);
    write_png(tmp_path(relative), width, height, PNG_COLOR_TYPE_GRAY, 8, s, NULL, 0, NULL, 0);
    free(s);
}

Test(png, wrong_size_crop_and_pad)
{
    make_dirs(tmp_path("train/c"));
    write_gray("train/c/a.png", 2, 2);  /* padded by 1 on every side */
    write_gray("train/c/b.png", 6, 4);  /* cropped by 1 left and right */
    write_gray("train/c/c.png", 5, 3);  /* cropped 0 left 1 right, padded 1 below */
    sn_dataset d;
    sn_data_options o = {.channels = 1, .height = 4, .width = 4};
    cr_assert_eq(sn_dataset_load(&d, tmp_root, SN_SPLIT_TRAIN, &o), SN_OK, "%s",
                 sn_last_error());
    cr_assert_eq(d.count, 3);
    const uint8_t a[16] = {0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0};
    const uint8_t b[16] = {2, 3, 4, 5, 8, 9, 10, 11, 14, 15, 16, 17, 20, 21, 22, 23};
    const uint8_t c[16] = {1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14, 0, 0, 0, 0};
    cr_assert_eq(memcmp(d.images, a, 16), 0);
    cr_assert_eq(memcmp(d.images + 16, b, 16), 0);
    cr_assert_eq(memcmp(d.images + 32, c, 16), 0);
    sn_dataset_free(&d);
}

Test(png, wrong_size_rejected)
{
    make_dirs(tmp_path("train/c"));
    write_gray("train/c/a.png", 4, 4);
    write_gray("train/c/b.png", 2, 2);
    sn_dataset d;
    sn_data_options o = {.channels = 1, .height = 4, .width = 4, .reject_wrong_size = 1};
    sn_status s = sn_dataset_load(&d, tmp_root, SN_SPLIT_TRAIN, &o);
    cr_assert_eq(s, SN_ERR_SHAPE, "%s: %s", sn_status_name(s), sn_last_error());
    cr_assert(strstr(sn_last_error(), tmp_path("train/c/b.png")), "%s", sn_last_error());
    cr_assert(strstr(sn_last_error(), "wrong dims"), "%s", sn_last_error());
    o.skip_bad = 1;
    cr_assert_eq(sn_dataset_load(&d, tmp_root, SN_SPLIT_TRAIN, &o), SN_OK, "%s",
                 sn_last_error());
    cr_assert_eq(d.count, 1);
    cr_assert_eq(d.skipped, 1);
    sn_dataset_free(&d);
}

static void write_bad_tree(void)
{
    make_dirs(tmp_path("train/cat"));
    make_dirs(tmp_path("train/dog"));
    write_gray("train/cat/1.png", 4, 4);
    write_text(tmp_path("train/cat/2.png"), "this is not a PNG file at all");
    write_gray("train/dog/1.png", 4, 4);
}

Test(png, undecodable_reported_by_name)
{
    write_bad_tree();
    sn_dataset d;
    sn_status s = sn_dataset_load(&d, tmp_root, SN_SPLIT_TRAIN, NULL);
    cr_assert_eq(s, SN_ERR_FORMAT, "%s: %s", sn_status_name(s), sn_last_error());
    cr_assert(strstr(sn_last_error(), tmp_path("train/cat/2.png")), "%s", sn_last_error());
    cr_assert_null(d.images);
}

Test(png, undecodable_skipped_and_counted)
{
    write_bad_tree();
    sn_dataset d;
    sn_data_options o = {.skip_bad = 1};
    cr_assert_eq(sn_dataset_load(&d, tmp_root, SN_SPLIT_TRAIN, &o), SN_OK, "%s",
                 sn_last_error());
    cr_assert_eq(d.count, 2);
    cr_assert_eq(d.skipped, 1);
    cr_assert_eq(d.labels[0], 0);
    cr_assert_eq(d.labels[1], 1);
    cr_assert_eq(d.images[16], 1);  /* the dog image follows the good cat directly */
    sn_dataset_free(&d);
}

Test(png, truncated_png_reported)
{
    make_dirs(tmp_path("train/c"));
    write_gray("train/c/a.png", 16, 16);
    FILE *f = fopen(tmp_path("train/c/a.png"), "rb");
    uint8_t bytes[4096];
    size_t n = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    write_bytes(tmp_path("train/c/a.png"), bytes, n - 20);  /* cut inside IDAT/IEND */
    write_bytes(tmp_path("train/c/b.png"), bytes, 40);      /* cut inside the header */
    sn_dataset d;
    sn_data_options o = {.channels = 1, .height = 16, .width = 16};
    sn_status s = sn_dataset_load(&d, tmp_root, SN_SPLIT_TRAIN, &o);
    cr_assert_eq(s, SN_ERR_FORMAT, "%s: %s", sn_status_name(s), sn_last_error());
    cr_assert(strstr(sn_last_error(), tmp_path("train/c/a.png")), "%s", sn_last_error());
    o.skip_bad = 1;
    s = sn_dataset_load(&d, tmp_root, SN_SPLIT_TRAIN, &o);
    cr_assert_eq(s, SN_ERR_FORMAT, "%s", sn_status_name(s));
    cr_assert(strstr(sn_last_error(), "no decodable images"), "%s", sn_last_error());
}

Test(png, empty_class_folder)
{
    make_dirs(tmp_path("train/cat"));
    make_dirs(tmp_path("train/dog"));
    write_gray("train/cat/1.png", 4, 4);
    write_text(tmp_path("train/dog/readme.txt"), "no pngs here");
    sn_dataset d;
    sn_status s = sn_dataset_load(&d, tmp_root, SN_SPLIT_TRAIN, NULL);
    cr_assert_eq(s, SN_ERR_FORMAT, "%s: %s", sn_status_name(s), sn_last_error());
    cr_assert(strstr(sn_last_error(), tmp_path("train/dog")), "%s", sn_last_error());
    cr_assert(strstr(sn_last_error(), "empty class folder"), "%s", sn_last_error());
}

Test(png, classes_sorted_and_shared_by_test_split)
{
    const char *classes[3] = {"zebra", "ant", "Moose"};  /* strcmp order: Moose ant zebra */
    for (int i = 0; i < 3; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "train/%s", classes[i]);
        make_dirs(tmp_path(rel));
        snprintf(rel, sizeof rel, "train/%s/x.png", classes[i]);
        write_gray(rel, 4, 4);
    }
    make_dirs(tmp_path("test/ant"));
    write_gray("test/ant/y.png", 4, 4);
    write_gray("test/ant/z.png", 4, 4);
    sn_dataset d;
    cr_assert_eq(sn_dataset_load(&d, tmp_root, SN_SPLIT_TRAIN, NULL), SN_OK, "%s",
                 sn_last_error());
    cr_assert_eq(d.classes, 3);
    cr_assert_str_eq(d.class_names[0], "Moose");
    cr_assert_str_eq(d.class_names[1], "ant");
    cr_assert_str_eq(d.class_names[2], "zebra");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(d.labels[i], i);
    sn_dataset_free(&d);
    cr_assert_eq(sn_dataset_load(&d, tmp_root, SN_SPLIT_TEST, NULL), SN_OK, "%s",
                 sn_last_error());
    cr_assert_eq(d.classes, 3);
    cr_assert_eq(d.count, 2);
    cr_assert_eq(d.labels[0], 1);
    cr_assert_eq(d.labels[1], 1);
    sn_dataset_free(&d);

    make_dirs(tmp_path("test/unicorn"));
    write_gray("test/unicorn/u.png", 4, 4);
    sn_status s = sn_dataset_load(&d, tmp_root, SN_SPLIT_TEST, NULL);
    cr_assert_eq(s, SN_ERR_FORMAT);
    cr_assert(strstr(sn_last_error(), "unicorn"), "%s", sn_last_error());
}
