/* Image folders: ROOT/train/CLASS/ *.png and ROOT/test/CLASS/ *.png. The class
 * list is the sorted folder names of ROOT/train, for both splits, so that a
 * label means the same class in each. */
#include "data_internal.h"
#include "runtime/error_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

typedef struct name_list {
    char **names;
    int count;
} name_list;

static void free_list(name_list *list)
{
    for (int i = 0; i < list->count; i++)
        free(list->names[i]);
    free(list->names);
    list->names = NULL;
    list->count = 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_png_name(const char *name)
{
    size_t len = strlen(name);
    return len > 4 && strcasecmp(name + len - 4, ".png") == 0;
}

/* Sorted names of the subfolders (want_dirs) or .png files of `dir`; hidden
 * entries are ignored. */
static sn_status list_dir(const char *dir, int want_dirs, name_list *list)
{
    list->names = NULL;
    list->count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return sn_fail(SN_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    int cap = 0;
    sn_status status = SN_OK;
    struct dirent *entry;
    char path[SN_DATA_PATH_MAX];
    while (status == SN_OK && (entry = readdir(d)) != NULL) {
        const char *name = entry->d_name;
        if (name[0] == '.')
            continue;
        if (!want_dirs && !is_png_name(name))
            continue;
        status = sn_data_join(path, sizeof path, dir, name);
        if (status != SN_OK)
            break;
        if (want_dirs ? !sn_data_is_dir(path) : !sn_data_is_file(path))
            continue;
        if (list->count == cap) {
            int bigger = cap ? 2 * cap : 16;
            char **grown = realloc(list->names, sizeof(char *) * (size_t)bigger);
            if (!grown) {
                status = sn_fail(SN_ERR_OUT_OF_MEMORY, "%s: cannot list the folder", dir);
                break;
            }
            list->names = grown;
            cap = bigger;
        }
        list->names[list->count] = strdup(name);
        if (!list->names[list->count])
            status = sn_fail(SN_ERR_OUT_OF_MEMORY, "%s: cannot list the folder", dir);
        else
            list->count++;
    }
    closedir(d);
    if (status != SN_OK) {
        free_list(list);
        return status;
    }
    if (list->count > 1)
        qsort(list->names, (size_t)list->count, sizeof(char *), compare_names);
    return SN_OK;
}

/* One image to decode: its path and label. */
typedef struct png_entry {
    char *path;
    int32_t label;
} png_entry;

typedef struct entry_list {
    png_entry *items;
    int64_t count, cap;
} entry_list;

static void free_entries(entry_list *list)
{
    for (int64_t i = 0; i < list->count; i++)
        free(list->items[i].path);
    free(list->items);
    memset(list, 0, sizeof *list);
}

static sn_status add_entry(entry_list *list, const char *folder, const char *file,
                           int32_t label)
{
    if (list->count == list->cap) {
        int64_t bigger = list->cap ? 2 * list->cap : 256;
        png_entry *grown = realloc(list->items, sizeof(png_entry) * (size_t)bigger);
        if (!grown)
            return sn_fail(SN_ERR_OUT_OF_MEMORY, "%s: cannot list the images", folder);
        list->items = grown;
        list->cap = bigger;
    }
    char path[SN_DATA_PATH_MAX];
    SN_TRY(sn_data_join(path, sizeof path, folder, file));
    list->items[list->count].path = strdup(path);
    if (!list->items[list->count].path)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "%s: cannot list the images", folder);
    list->items[list->count].label = label;
    list->count++;
    return SN_OK;
}

/* Every .png of the split, class by class; an empty class folder is an error. */
static sn_status collect_entries(const char *split_dir, const name_list *classes,
                                 int must_have_all, entry_list *entries)
{
    char folder[SN_DATA_PATH_MAX];
    for (int c = 0; c < classes->count; c++) {
        SN_TRY(sn_data_join(folder, sizeof folder, split_dir, classes->names[c]));
        if (!sn_data_is_dir(folder)) {
            if (must_have_all)
                return sn_fail(SN_ERR_IO, "%s: class folder missing", folder);
            continue;
        }
        name_list files;
        SN_TRY(list_dir(folder, 0, &files));
        sn_status status = files.count == 0
            ? sn_fail(SN_ERR_FORMAT, "%s: empty class folder (no .png files)", folder)
            : SN_OK;
        for (int f = 0; status == SN_OK && f < files.count; f++)
            status = add_entry(entries, folder, files.names[f], c);
        free_list(&files);
        SN_TRY(status);
    }
    return SN_OK;
}

/* Channels and size from the first decodable training image. */
static sn_status probe_first(const char *train_dir, const name_list *classes, int *channels,
                             int *height, int *width)
{
    entry_list entries = {0};
    sn_status status = collect_entries(train_dir, classes, 1, &entries);
    if (status == SN_OK)
        status = sn_fail(SN_ERR_FORMAT, "%s: no decodable image", train_dir);
    for (int64_t i = 0; i < entries.count; i++) {
        status = sn_png_probe(entries.items[i].path, channels, height, width);
        if (status == SN_OK)
            break;
    }
    free_entries(&entries);
    return status;
}

/* Every class folder of the test split must be a training class. */
static sn_status check_test_classes(const char *test_dir, const char *train_dir,
                                    const name_list *classes)
{
    name_list test;
    SN_TRY(list_dir(test_dir, 1, &test));
    sn_status status = test.count == 0
        ? sn_fail(SN_ERR_FORMAT, "%s: no class folders", test_dir) : SN_OK;
    for (int i = 0; status == SN_OK && i < test.count; i++)
        if (!bsearch(&test.names[i], classes->names, (size_t)classes->count,
                     sizeof(char *), compare_names))
            status = sn_fail(SN_ERR_FORMAT, "%s/%s: class folder not found in %s", test_dir,
                             test.names[i], train_dir);
    free_list(&test);
    return status;
}

static sn_status decode_all(sn_dataset *out, const entry_list *entries,
                            const sn_data_options *opts)
{
    size_t image_size = (size_t)out->channels * out->height * out->width;
    int64_t kept = 0;
    for (int64_t i = 0; i < entries->count; i++) {
        const png_entry *e = &entries->items[i];
        sn_status status = sn_png_decode(e->path, out->channels, out->height, out->width,
                                         opts->reject_wrong_size,
                                         out->images + (size_t)kept * image_size);
        if (status == SN_OK) {
            out->labels[kept++] = e->label;
            continue;
        }
        int skippable = status == SN_ERR_FORMAT || status == SN_ERR_SHAPE ||
                        status == SN_ERR_IO;
        if (!opts->skip_bad || !skippable)
            return status;
        out->skipped++;
    }
    out->count = kept;
    return SN_OK;
}

static sn_status load(sn_dataset *out, const char *root, sn_split split,
                      const sn_data_options *opts, name_list *classes)
{
    char train_dir[SN_DATA_PATH_MAX], test_dir[SN_DATA_PATH_MAX];
    SN_TRY(sn_data_join(train_dir, sizeof train_dir, root, "train"));
    SN_TRY(sn_data_join(test_dir, sizeof test_dir, root, "test"));
    if (!sn_data_is_dir(train_dir))
        return sn_fail(SN_ERR_IO, "%s: no train/ folder (expected ROOT/train/CLASS/*.png)",
                       root);
    SN_TRY(list_dir(train_dir, 1, classes));
    if (classes->count == 0)
        return sn_fail(SN_ERR_FORMAT, "%s: no class folders", train_dir);
    const char *split_dir = split == SN_SPLIT_TRAIN ? train_dir : test_dir;
    if (split == SN_SPLIT_TEST) {
        if (!sn_data_is_dir(test_dir))
            return sn_fail(SN_ERR_IO, "%s: no test/ folder (expected ROOT/test/CLASS/*.png)",
                           root);
        SN_TRY(check_test_classes(test_dir, train_dir, classes));
    }

    int channels = opts->channels, height = opts->height, width = opts->width;
    if (channels != 0 && channels != 1 && channels != 3)
        return sn_fail(SN_ERR_INVALID_ARG, "%s: %d channels requested, PNG folders give 1 "
                       "or 3", root, channels);
    if (height < 0 || width < 0 || (height == 0) != (width == 0))
        return sn_fail(SN_ERR_INVALID_ARG, "%s: target size %dx%d: give both or neither",
                       root, width, height);
    if (channels == 0 || height == 0) {
        int c, h, w;
        SN_TRY(probe_first(train_dir, classes, &c, &h, &w));
        if (channels == 0)
            channels = c;
        if (height == 0) {
            height = h;
            width = w;
        }
    }

    entry_list entries = {0};
    sn_status status = collect_entries(split_dir, classes, split == SN_SPLIT_TRAIN, &entries);
    if (status == SN_OK)
        status = sn_data_alloc(out, entries.count, channels, height, width, classes->count);
    if (status == SN_OK)
        status = decode_all(out, &entries, opts);
    free_entries(&entries);
    SN_TRY(status);
    if (out->count == 0)
        return sn_fail(SN_ERR_FORMAT, "%s: no decodable images (%lld skipped)", split_dir,
                       (long long)out->skipped);
    /* Keep the class names: hand the strings over to the dataset. */
    for (int c = 0; c < classes->count; c++) {
        out->class_names[c] = classes->names[c];
        classes->names[c] = NULL;
    }
    return SN_OK;
}

sn_status sn_data_load_png_folder(sn_dataset *out, const char *root, sn_split split,
                                  const sn_data_options *opts)
{
    memset(out, 0, sizeof *out);
    name_list classes = {0};
    sn_status status = load(out, root, split, opts, &classes);
    free_list(&classes);
    if (status != SN_OK)
        sn_dataset_free(out);
    return status;
}
