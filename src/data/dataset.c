/* Storage of an in-memory dataset: allocation, class names, statistics. */
#include "data_internal.h"
#include "runtime/error_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sn_dataset_free(sn_dataset *data)
{
    if (!data)
        return;
    free(data->images);
    free(data->labels);
    if (data->class_names) {
        for (int i = 0; i < data->classes; i++)
            free(data->class_names[i]);
        free(data->class_names);
    }
    memset(data, 0, sizeof *data);
}

sn_status sn_data_alloc(sn_dataset *data, int64_t count, int channels,
                        int height, int width, int classes)
{
    memset(data, 0, sizeof *data);
    size_t pixels = (size_t)count * (size_t)channels * (size_t)height * (size_t)width;
    data->images = malloc(pixels ? pixels : 1);
    data->labels = malloc(count > 0 ? (size_t)count * sizeof(int32_t) : 1);
    data->class_names = calloc((size_t)(classes > 0 ? classes : 1), sizeof(char *));
    data->classes = classes;
    if (!data->images || !data->labels || !data->class_names) {
        sn_dataset_free(data);
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "dataset of %lld x %d x %d x %d images: "
                       "cannot allocate %zu bytes", (long long)count, channels, height,
                       width, pixels);
    }
    data->count = count;
    data->channels = channels;
    data->height = height;
    data->width = width;
    return SN_OK;
}

static sn_status set_name(sn_dataset *data, int i, const char *name, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "cannot allocate a class name");
    memcpy(copy, name, len);
    copy[len] = '\0';
    free(data->class_names[i]);
    data->class_names[i] = copy;
    return SN_OK;
}

sn_status sn_data_number_class_names(sn_dataset *data)
{
    for (int i = 0; i < data->classes; i++) {
        char number[16];
        int len = snprintf(number, sizeof number, "%d", i);
        SN_TRY(set_name(data, i, number, (size_t)len));
    }
    return SN_OK;
}

sn_status sn_data_copy_class_names(sn_dataset *data, const char *const *names)
{
    for (int i = 0; i < data->classes; i++)
        SN_TRY(set_name(data, i, names[i], strlen(names[i])));
    return SN_OK;
}

sn_status sn_data_read_class_names(sn_dataset *data, const char *path)
{
    if (!sn_data_is_file(path))
        return sn_data_number_class_names(data);
    uint8_t *text = NULL;
    size_t size = 0;
    SN_TRY(sn_data_read_file(path, &text, &size));

    int found = 0;
    size_t start = 0;
    sn_status status = SN_OK;
    while (start < size && status == SN_OK) {
        size_t end = start;
        while (end < size && text[end] != '\n')
            end++;
        size_t a = start, b = end;  /* trim spaces and a CR */
        while (a < b && isspace(text[a]))
            a++;
        while (b > a && isspace(text[b - 1]))
            b--;
        if (b > a) {
            if (found < data->classes)
                status = set_name(data, found, (const char *)text + a, b - a);
            found++;
        }
        start = end + 1;
    }
    free(text);
    SN_TRY(status);
    if (found != data->classes)
        return sn_fail(SN_ERR_FORMAT, "%s: %d class names for %d classes", path, found,
                       data->classes);
    return SN_OK;
}

sn_status sn_dataset_channel_stats(const sn_dataset *data, int64_t count,
                                   float *mean, float *std)
{
    if (!data || !mean || !std)
        return sn_fail(SN_ERR_INVALID_ARG, "sn_dataset_channel_stats: NULL argument");
    if (count <= 0 || count > data->count)
        count = data->count;
    if (count <= 0 || !data->images)
        return sn_fail(SN_ERR_INVALID_ARG, "sn_dataset_channel_stats: empty dataset");
    size_t plane = (size_t)data->height * (size_t)data->width;
    for (int c = 0; c < data->channels; c++) {
        /* Exact integer sums: 2^64 / 255^2 leaves room for 2.8e14 pixels. */
        uint64_t sum = 0, sum_sq = 0;
        for (int64_t i = 0; i < count; i++) {
            const uint8_t *p = data->images + ((size_t)i * data->channels + c) * plane;
            for (size_t k = 0; k < plane; k++) {
                sum += p[k];
                sum_sq += (uint64_t)p[k] * p[k];
            }
        }
        double n = (double)count * (double)plane;
        double m = (double)sum / n;
        double var = (double)sum_sq / n - m * m;
        mean[c] = (float)(m / 255.0);
        std[c] = (float)(sqrt(var > 0 ? var : 0) / 255.0);
    }
    return SN_OK;
}
