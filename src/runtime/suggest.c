/* sn_suggest: the nearest known name to a mistyped one, for "did you mean"
 * hints ("sharesnet2O" -> sharesnet20, --epoch -> --epochs). */
#include "runtime/suggest.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define SN_SUGGEST_MAX 64

int sn_edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > SN_SUGGEST_MAX || m > SN_SUGGEST_MAX)
        return SN_SUGGEST_MAX;
    /* One row of the dynamic-programming table at a time. */
    int row[SN_SUGGEST_MAX + 1];
    for (size_t j = 0; j <= m; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= m; j++) {
            int up = row[j];
            int same = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]);
            int best = diag + !same;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[m];
}

const char *sn_suggest(const char *word, const char *const *candidates)
{
    if (!word || !*word || !candidates)
        return NULL;
    const char *best = NULL, *prefix_of = NULL;
    int best_d = SN_SUGGEST_MAX + 1, prefixes = 0;
    size_t len = strlen(word);
    for (const char *const *c = candidates; *c; c++) {
        int d = sn_edit_distance(word, *c);
        if (d < best_d) {
            best_d = d;
            best = *c;
        }
        if (strlen(*c) > len && strncasecmp(*c, word, len) == 0) {
            prefixes++;
            prefix_of = *c;
        }
    }
    /* Short words are close to everything: "ab" is two edits from "lr". */
    if (best && best_d <= 2 && (size_t)best_d * 2 < len)
        return best;
    return prefixes == 1 && len >= 3 ? prefix_of : NULL;
}
