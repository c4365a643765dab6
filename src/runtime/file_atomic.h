/* The one writer of files that readers must never see half-written:
 * checkpoints and exports, the training log, the program cache, offline
 * binaries, tuning decisions. Each caller says how the file is written (its
 * mode, whether the directory is synced); the temporary naming and the
 * failure rules are the same for all. Needs only errors (no OpenCL), so the
 * safetensors layer and its tests link it alone. */
#ifndef SN_FILE_ATOMIC_H
#define SN_FILE_ATOMIC_H

#include <stdio.h>
#include <sys/types.h>

#include "runtime/error_internal.h"

/* Where sn_file_write_atomic pretends the OS failed, to prove that a failed
 * write removes its temporary file and leaves the previous file intact (a
 * test sets it through ctx->test.file_failpoint or the safetensors writer's
 * internal variant; nothing else does). */
typedef enum sn_file_failpoint {
    SN_FILE_FAIL_NONE = 0,
    SN_FILE_FAIL_WRITE,   /* the content is in the temporary file, then a write error */
    SN_FILE_FAIL_RENAME,  /* written and synced, then the rename fails */
    SN_FILE_FAIL_DIR_SYNC /* renamed; syncing the directory fails (not an error) */
} sn_file_failpoint;

/* How a file is written. */
typedef struct sn_file_policy {
    mode_t mode;            /* permissions of the new file (umask not applied) */
    int sync_dir;           /* fsync the directory after the rename, best effort */
    int make_dirs;          /* create missing parent directories first */
    sn_file_failpoint fail; /* tests only */
} sn_file_policy;

/* Results a user keeps (checkpoints, exports, the log): ordinary files, and
 * the directory synced so that the rename itself survives a power loss. */
#define SN_FILE_RESULT ((sn_file_policy){.mode = 0644, .sync_dir = 1})
/* The same at a path given on the command line (export, compile-kernels
 * -o): missing directories are created, as `train --out` does. */
#define SN_FILE_EXPORT ((sn_file_policy){.mode = 0644, .sync_dir = 1, .make_dirs = 1})
/* Cache entries (program binaries, tuning decisions): private to the user,
 * and a rename lost in a crash only costs a rebuild, so the directory is
 * not synced; the cache directory is created when missing. */
#define SN_FILE_CACHE ((sn_file_policy){.mode = 0600, .make_dirs = 1})

/* mkdir -p; 0 on success, -1 with errno. */
int sn_make_dirs(const char *dir);

/* Write `path` through "<path>.tmp-XXXXXX" in its directory: `write` fills
 * the stream and returns 1 on success; then flush, fsync, the policy's mode,
 * rename over `path`, and (policy.sync_dir) an fsync of the directory, whose
 * failure is not reported: the new file is already what every reader sees.
 * Readers see the old file or the new one, never half of one. On failure
 * SN_ERR_IO naming `what`, the path, the step and the OS error, and the
 * temporary file is removed (a killed process leaves it:
 * sn_file_remove_temporaries). */
sn_status sn_file_write_atomic(const char *path, const char *what, sn_file_policy policy,
                               int (*write)(FILE *f, void *user), void *user);

/* Remove the temporaries that writes of `path` killed mid-way left
 * (exactly "<path>.tmp-" and six characters); *removed (may be NULL) counts
 * them. A missing directory has none. Only for a caller that knows no other
 * process is writing `path` now. */
sn_status sn_file_remove_temporaries(const char *path, int *removed);

#endif
