/* Test hooks of the safetensors writer (not part of the public API). */
#ifndef SN_SAFETENSORS_INTERNAL_H
#define SN_SAFETENSORS_INTERNAL_H

#include "sharesnet/safetensors.h"

/* Where sn_safetensors_write pretends the OS failed, to prove that a failed
 * write removes its temporary file and leaves the previous file intact. */
enum sn_safetensors_failpoint {
    SN_SAFETENSORS_FAIL_NONE = 0,
    SN_SAFETENSORS_FAIL_AFTER_HEADER,  /* header written, data not yet     */
    SN_SAFETENSORS_FAIL_BEFORE_RENAME, /* all written and synced, no rename */
    SN_SAFETENSORS_FAIL_DIR_SYNC       /* renamed; syncing the directory fails */
};

/* Arm a failpoint for the calling thread; it stays armed until reset with
 * SN_SAFETENSORS_FAIL_NONE. The simulated failure returns SN_ERR_IO, except
 * FAIL_DIR_SYNC, which the writer tolerates (the file is in place). */
void sn_safetensors_set_test_failpoint(int failpoint);

#endif
