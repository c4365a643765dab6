/* One PNG file to 8-bit CHW pixels of 1 or 3 channels, through libpng's
 * classic API: png_set_expand turns palette, low bit depths and tRNS into
 * plain 8-bit gray/RGB(+alpha), png_set_scale_16 scales 16-bit samples; the
 * channel conversion and the alpha compositing are done here so that the
 * values are exact (the simplified png_image API applies gamma to 16-bit
 * and alpha data). */
#include "data_internal.h"
#include "runtime/error_internal.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bigger images than this are refused rather than decoded (256 Mpixel). */
#define PNG_MAX_PIXELS ((uint64_t)1 << 28)

typedef struct png_reader {
    const char *path;
    FILE *file;
    png_structp png;
    png_infop info;
    uint8_t *pixels;      /* decoded rows, `row_bytes` apart */
    png_bytep *rows;
    size_t row_bytes;
    int channels;         /* after the transforms: 1 G, 2 GA, 3 RGB, 4 RGBA */
    png_uint_32 width, height;
    int color_type;
    char message[256];    /* libpng's error text */
} png_reader;

static void on_png_error(png_structp png, png_const_charp message)
{
    png_reader *r = png_get_error_ptr(png);
    snprintf(r->message, sizeof r->message, "%s", message);
    png_longjmp(png, 1);
}

/* The library never prints: libpng's warnings (bad ancillary chunks...) are
 * dropped; only errors matter. */
static void on_png_warning(png_structp png, png_const_charp message)
{
    (void)png;
    (void)message;
}

static void close_reader(png_reader *r)
{
    if (r->png)
        png_destroy_read_struct(&r->png, r->info ? &r->info : NULL, NULL);
    if (r->file)
        fclose(r->file);
    free(r->pixels);
    free(r->rows);
}

static sn_status open_reader(png_reader *r, const char *path)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    r->file = fopen(path, "rb");
    if (!r->file)
        return sn_fail(SN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t signature[8];
    size_t got = fread(signature, 1, sizeof signature, r->file);
    if (got < sizeof signature || png_sig_cmp(signature, 0, sizeof signature) != 0)
        return sn_fail(SN_ERR_FORMAT, "%s: cannot decode PNG: not a PNG file (bad "
                       "signature%s)", path, got < sizeof signature ? ", file too short" : "");
    r->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, r, on_png_error, on_png_warning);
    if (r->png)
        r->info = png_create_info_struct(r->png);
    if (!r->png || !r->info)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "%s: cannot create a libpng reader", path);
    return SN_OK;
}

/* Read the header; with `pixels`, also every row after the transforms. The
 * setjmp lives here, the one function that calls into libpng; every value
 * it changes lives in *r, so nothing is lost by the longjmp. */
static sn_status read_png(png_reader *r, int pixels)
{
    if (setjmp(png_jmpbuf(r->png)))
        return sn_fail(SN_ERR_FORMAT, "%s: cannot decode PNG: %s", r->path, r->message);
    png_init_io(r->png, r->file);
    png_set_sig_bytes(r->png, 8);
    png_read_info(r->png, r->info);
    int depth = 0;
    png_get_IHDR(r->png, r->info, &r->width, &r->height, &depth, &r->color_type,
                 NULL, NULL, NULL);
    if (!pixels)
        return SN_OK;
    if ((uint64_t)r->width * r->height > PNG_MAX_PIXELS)
        return sn_fail(SN_ERR_FORMAT, "%s: wrong dims: %lux%lu image is too large", r->path,
                       (unsigned long)r->width, (unsigned long)r->height);
    png_set_expand(r->png);
    if (depth == 16) {
#ifdef PNG_READ_SCALE_16_TO_8_SUPPORTED
        png_set_scale_16(r->png);
#else
        png_set_strip_16(r->png);
#endif
    }
    png_set_interlace_handling(r->png);
    png_read_update_info(r->png, r->info);
    r->row_bytes = png_get_rowbytes(r->png, r->info);
    r->channels = png_get_channels(r->png, r->info);
    if (r->channels < 1 || r->channels > 4 || r->row_bytes < (size_t)r->width * r->channels)
        return sn_fail(SN_ERR_INTERNAL, "%s: unexpected libpng layout (%d channels, %zu "
                       "bytes per row)", r->path, r->channels, r->row_bytes);
    r->pixels = malloc(r->row_bytes * r->height);
    r->rows = malloc(sizeof *r->rows * r->height);
    if (!r->pixels || !r->rows)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %lux%lu pixels", r->path,
                       (unsigned long)r->width, (unsigned long)r->height);
    for (png_uint_32 y = 0; y < r->height; y++)
        r->rows[y] = r->pixels + (size_t)y * r->row_bytes;
    png_read_image(r->png, r->rows);
    return SN_OK;
}

sn_status sn_png_probe(const char *path, int *channels, int *height, int *width)
{
    png_reader r;
    sn_status status = open_reader(&r, path);
    if (status == SN_OK)
        status = read_png(&r, 0);
    if (status == SN_OK) {
        *channels = (r.color_type & PNG_COLOR_MASK_COLOR) ? 3 : 1;
        *height = (int)r.height;
        *width = (int)r.width;
    }
    close_reader(&r);
    return status;
}

/* Where the source span [0, have) lands in [0, want): center crop or pad. */
static void center(int have, int want, int *src0, int *dst0, int *len)
{
    if (have >= want) {
        *src0 = (have - want) / 2;
        *dst0 = 0;
        *len = want;
    } else {
        *src0 = 0;
        *dst0 = (want - have) / 2;
        *len = have;
    }
}

/* Decoded rows -> out[channels][height][width]. */
static void convert(const png_reader *r, int channels, int height, int width, uint8_t *out)
{
    int sy0, dy0, rows, sx0, dx0, cols;
    center((int)r->height, height, &sy0, &dy0, &rows);
    center((int)r->width, width, &sx0, &dx0, &cols);
    size_t plane = (size_t)height * width;
    memset(out, 0, plane * channels);
    int sc = r->channels;
    int has_alpha = sc == 2 || sc == 4;
    for (int y = 0; y < rows; y++) {
        const uint8_t *row = r->rows[sy0 + y];
        for (int x = 0; x < cols; x++) {
            const uint8_t *p = row + (size_t)(sx0 + x) * sc;
            unsigned red = p[0], green = p[0], blue = p[0];
            if (sc >= 3) {
                green = p[1];
                blue = p[2];
            }
            if (has_alpha) {  /* composite on black */
                unsigned a = p[sc - 1];
                red = (red * a + 127) / 255;
                green = (green * a + 127) / 255;
                blue = (blue * a + 127) / 255;
            }
            size_t at = (size_t)(dy0 + y) * width + (size_t)(dx0 + x);
            if (channels == 1) {
                out[at] = (uint8_t)(sc >= 3
                    ? (299 * red + 587 * green + 114 * blue + 500) / 1000 : red);
            } else {
                out[at] = (uint8_t)red;
                out[plane + at] = (uint8_t)green;
                out[2 * plane + at] = (uint8_t)blue;
            }
        }
    }
}

sn_status sn_png_decode(const char *path, int channels, int height, int width,
                        int reject_wrong_size, uint8_t *out)
{
    if (channels != 1 && channels != 3)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: %d channels requested, PNG folders give 1 "
                       "or 3", path, channels);
    png_reader r;
    sn_status status = open_reader(&r, path);
    if (status == SN_OK)
        status = read_png(&r, 1);
    if (status == SN_OK && reject_wrong_size &&
        ((int)r.height != height || (int)r.width != width))
        status = sn_fail(SN_ERR_SHAPE, "%s: wrong dims: image is %lux%lu (width x height), "
                         "expected %dx%d", path, (unsigned long)r.width,
                         (unsigned long)r.height, width, height);
    if (status == SN_OK)
        convert(&r, channels, height, width, out);
    close_reader(&r);
    return status;
}
