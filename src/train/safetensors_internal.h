/* The safetensors writer with a test failpoint (not part of the public API). */
#ifndef SN_SAFETENSORS_INTERNAL_H
#define SN_SAFETENSORS_INTERNAL_H

#include "runtime/file_atomic.h"
#include "sharesnet/safetensors.h"

/* sn_safetensors_write that pretends the OS failed at `fail`, to prove that
 * a failed write removes its temporary file and leaves the previous file
 * intact (SN_FILE_FAIL_NONE: the public function). The simulated failure
 * returns SN_ERR_IO, except SN_FILE_FAIL_DIR_SYNC, which the writer
 * tolerates (the file is in place). Checkpoints pass their context's
 * ctx->test.file_failpoint. */
sn_status sn_safetensors_write_failing(const char *path, const sn_safetensors_tensor *tensors,
                                       size_t tensor_count, const sn_safetensors_meta *metadata,
                                       size_t metadata_count, sn_file_failpoint fail);

#endif
