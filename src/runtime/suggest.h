/* Did-you-mean for error messages: the candidate closest to a mistyped word.
 * The library puts it in its messages (unknown model names); the CLI uses it
 * for options and dataset names. Internal: not part of the public API. */
#ifndef SN_SUGGEST_H
#define SN_SUGGEST_H

#include <stddef.h>

/* Levenshtein distance of a and b, case-insensitive (one insertion, deletion
 * or substitution each); capped at 64 for longer words. */
int sn_edit_distance(const char *a, const char *b);

/* The candidate (NULL-terminated list) nearest to `word`, or NULL when none
 * is near enough to be a plausible typo: at most 2 edits and fewer than half
 * the word's letters, or the word a prefix of exactly one candidate. */
const char *sn_suggest(const char *word, const char *const *candidates);

#endif
