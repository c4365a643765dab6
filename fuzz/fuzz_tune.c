/* libFuzzer: the conv tuning file (<cache dir>/<device key>.tune), read by
 * merge_file. Its source is included so that the harness reaches the
 * parser (static there) without a device: a table with a fixed header
 * stands in for a context's.
 *
 * Input layout: byte 0 flags. Bit 0 set: each line of the rest gets the
 * right line checksum appended, so that mutations reach the field parsing
 * behind it; clear: the lines are used as they are (checksum checks). */
#include "../src/ops/conv_tune.c"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const int fix_checks = data[0] & 1;
    data++;
    size--;
    device_table t;
    memset(&t, 0, sizeof t);
    snprintf(t.header, sizeof t.header, "# sharesnet conv tuning v" SN_TUNE_FORMAT_VERSION
             " | platform=fuzz | device=none");
    char *text = malloc(strlen(t.header) + 1 + size + (size + 1) * 9 + 2);
    if (!text)
        return 0;
    size_t used = (size_t)sprintf(text, "%s\n", t.header);
    for (size_t start = 0; start < size;) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t len = nl ? (size_t)(nl - (data + start)) : size - start;
        memcpy(text + used, data + start, len);
        if (fix_checks)
            used += len + (size_t)sprintf(text + used + len, " %08x",
                                          line_check((const char *)data + start, len));
        else
            used += len;
        if (nl)
            text[used++] = '\n';
        start += len + (nl ? 1 : 0);
    }
    snprintf(t.path, sizeof t.path, "%s", fuzz_write("device.tune", text, used));
    free(text);
    merge_file(&t);
    /* Every decision read is one the library could act on. */
    for (int i = 0; i < t.n; i++)
        if (!shape_valid(&t.entries[i].shape) || (unsigned)t.entries[i].algo >= SN_CONV_ALGO_COUNT)
            __builtin_trap();
    free(t.entries);
    return 0;
}
