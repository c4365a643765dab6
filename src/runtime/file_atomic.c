/* Files that readers must never see half-written (program cache, offline
 * binaries, tuning decisions): written to a temp file in the same directory,
 * flushed to disk, then renamed over the target. */
#include "runtime/runtime_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int sn_make_dirs(const char *dir)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) == 0)
        return 0;
    /* An existing path is fine only when it is a directory. */
    struct stat st;
    if (errno != EEXIST || stat(tmp, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

sn_status sn_file_write_atomic(const char *path, const char *what,
                               int (*write)(FILE *f, void *user), void *user)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (sn_make_dirs(dir) != 0)
            return sn_fail(SN_ERR_IO, "cannot create directory '%s': %s", dir, strerror(errno));
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return sn_fail(SN_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
        return sn_fail(SN_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    }
    int ok = write(f, user) && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int saved_errno = errno;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        if (ok)
            saved_errno = errno;
        unlink(tmp);
        return sn_fail(SN_ERR_IO, "cannot write %s '%s': %s", what, path, strerror(saved_errno));
    }
    /* Make the rename itself durable; a file system that cannot sync a
     * directory (EINVAL) still has a complete file under one of the names. */
    int dfd = open(slash && slash != dir ? dir : ".", O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return SN_OK;
}
