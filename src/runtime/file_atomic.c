/* The atomic file writer (see file_atomic.h): a temporary file in the
 * target's directory (so the rename is atomic), flushed to disk, renamed
 * over the target. */
#include "runtime/file_atomic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What mkstemp fills in; sn_file_remove_temporaries matches exactly this. */
#define TMP_SUFFIX ".tmp-XXXXXX"
#define TMP_PREFIX_LEN 5 /* ".tmp-" */
#define TMP_RANDOM_LEN 6

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

/* Directory part of `path` ("." or "/" when it has none); malloc'd. */
static char *parent_directory(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* fsync the directory so that the rename survives a power loss. Best
 * effort: some file systems cannot sync a directory at all, and by now the
 * new file is in place, so failing here would report a written file as
 * lost (and, for a checkpoint, stop training for it). */
static void sync_directory(const char *dir, sn_file_failpoint fail)
{
    int fd = fail != SN_FILE_FAIL_DIR_SYNC ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* The temporary file's content, flushed and synced; "" when it all went
 * well, else the step that failed with *err its errno. */
static const char *fill(int fd, sn_file_policy policy, int (*write)(FILE *f, void *user),
                        void *user, int *err)
{
    *err = 0;
    /* mkstemp creates 0600 */
    if (fchmod(fd, policy.mode) != 0) {
        *err = errno;
        close(fd);
        return "cannot set its permissions";
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        *err = errno;
        close(fd);
        return "cannot open it as a stream";
    }
    const char *step = "";
    errno = 0;
    if (!write(f, user) || fflush(f) != 0) {
        step = "write failed";
        *err = errno ? errno : EIO;
    } else if (policy.fail == SN_FILE_FAIL_WRITE) {
        step = "simulated write failure (test failpoint)";
        *err = EIO;
    } else if (fsync(fileno(f)) != 0) {
        step = "sync failed";
        *err = errno;
    }
    if (fclose(f) != 0 && !*err) {
        step = "close failed";
        *err = errno;
    }
    return step;
}

sn_status sn_file_write_atomic(const char *path, const char *what, sn_file_policy policy,
                               int (*write)(FILE *f, void *user), void *user)
{
    char *dir = parent_directory(path);
    char *tmp = malloc(strlen(path) + sizeof TMP_SUFFIX);
    if (!dir || !tmp) {
        free(dir);
        free(tmp);
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "%s '%s' not written: out of host memory", what,
                       path);
    }
    sn_status st = SN_OK;
    if (policy.make_dirs && sn_make_dirs(dir) != 0) {
        st = sn_fail(SN_ERR_IO, "%s '%s' not written: cannot create directory '%s': %s", what,
                     path, dir, strerror(errno));
        goto done;
    }
    strcpy(tmp, path);
    strcat(tmp, TMP_SUFFIX);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = sn_fail(SN_ERR_IO, "%s '%s' not written: cannot create a temporary file in its "
                     "directory: %s", what, path, strerror(errno));
        goto done;
    }
    int err;
    const char *step = fill(fd, policy, write, user, &err);
    if (!*step && policy.fail == SN_FILE_FAIL_RENAME) {
        step = "simulated failure before the rename (test failpoint)";
        err = EIO;
    } else if (!*step && rename(tmp, path) != 0) {
        step = "rename over it failed";
        err = errno;
    }
    if (*step) {
        unlink(tmp);
        st = sn_fail(SN_ERR_IO, "%s '%s' not written: %s (temporary file '%s' removed): %s",
                     what, path, step, tmp, strerror(err));
    } else if (policy.sync_dir) {
        sync_directory(dir, policy.fail);
    }
done:
    free(dir);
    free(tmp);
    return st;
}

sn_status sn_file_remove_temporaries(const char *path, int *removed)
{
    if (removed)
        *removed = 0;
    char *dir = parent_directory(path);
    if (!dir)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "temporaries of '%s': out of host memory", path);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const size_t base_len = strlen(base);
    DIR *d = opendir(dir);
    if (!d) {
        int err = errno;
        free(dir);
        if (err == ENOENT)
            return SN_OK;
        return sn_fail(SN_ERR_IO, "temporaries of '%s': cannot list its directory: %s", path,
                       strerror(err));
    }
    sn_status st = SN_OK;
    struct dirent *e;
    while (st == SN_OK && (e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (strncmp(name, base, base_len) != 0 ||
            strncmp(name + base_len, TMP_SUFFIX, TMP_PREFIX_LEN) != 0 ||
            strlen(name + base_len + TMP_PREFIX_LEN) != TMP_RANDOM_LEN)
            continue;
        size_t len = strlen(dir) + 1 + strlen(name) + 1;
        char *full = malloc(len);
        if (!full) {
            st = sn_fail(SN_ERR_OUT_OF_MEMORY, "temporaries of '%s': out of host memory", path);
            break;
        }
        snprintf(full, len, "%s/%s", dir, name);
        if (unlink(full) == 0) {
            if (removed)
                (*removed)++;
        } else if (errno != ENOENT) {
            st = sn_fail(SN_ERR_IO, "temporaries of '%s': cannot remove '%s': %s", path, full,
                         strerror(errno));
        }
        free(full);
    }
    closedir(d);
    free(dir);
    return st;
}
