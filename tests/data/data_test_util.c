/* Helpers for the data tests (see data_test_util.h). */
#include "data_test_util.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

char tmp_root[256];

void tmp_create(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/sn_data_test_XXXXXX");
    cr_assert_not_null(mkdtemp(tmp_root), "mkdtemp failed");
}

static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char child[1024];
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            remove_tree(child);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

void tmp_remove(void)
{
    if (tmp_root[0])
        remove_tree(tmp_root);
    tmp_root[0] = '\0';
}

const char *tmp_path(const char *relative)
{
    static char buffers[8][1024];
    static int next;
    char *b = buffers[next++ % 8];
    snprintf(b, 1024, "%s/%s", tmp_root, relative);
    return b;
}

void make_dirs(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    mkdir(buf, 0755);
}

void write_bytes(const char *path, const void *bytes, size_t size)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(bytes, 1, size, f), size);
    fclose(f);
}

void write_text(const char *path, const char *text)
{
    write_bytes(path, text, strlen(text));
}

uint8_t *gzip_bytes(const void *bytes, size_t size, size_t *out_size)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    cr_assert_eq(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&zs, (uLong)size) + 64;
    uint8_t *out = malloc(cap);
    zs.next_in = (Bytef *)bytes;
    zs.avail_in = (uInt)size;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *out_size = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

void write_gzip(const char *path, const void *bytes, size_t size)
{
    size_t n;
    uint8_t *z = gzip_bytes(bytes, size, &n);
    write_bytes(path, z, n);
    free(z);
}

void write_png(const char *path, int width, int height, int color_type, int bit_depth,
               const uint8_t *samples, const uint8_t (*palette)[3], int palette_size,
               const uint8_t *trans, int trans_size)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    cr_assert(png && info);
    if (setjmp(png_jmpbuf(png)))
        cr_assert_fail("libpng failed writing %s", path);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, bit_depth, color_type,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (palette) {
        png_color colors[256];
        for (int i = 0; i < palette_size; i++) {
            colors[i].red = palette[i][0];
            colors[i].green = palette[i][1];
            colors[i].blue = palette[i][2];
        }
        png_set_PLTE(png, info, colors, palette_size);
    }
    if (trans)
        png_set_tRNS(png, info, trans, trans_size, NULL);
    png_write_info(png, info);
    if (bit_depth < 8)
        png_set_packing(png);
    int channels = color_type == PNG_COLOR_TYPE_GRAY ? 1
                 : color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                 : color_type == PNG_COLOR_TYPE_RGB ? 3
                 : color_type == PNG_COLOR_TYPE_RGBA ? 4 : 1;
    size_t row_bytes = (size_t)width * channels * (bit_depth == 16 ? 2 : 1);
    for (int y = 0; y < height; y++)
        png_write_row(png, (png_const_bytep)(samples + (size_t)y * row_bytes));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}
