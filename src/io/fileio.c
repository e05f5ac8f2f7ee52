/*
 * fileio.c - bounded whole-file reads and atomic writes (see fileio.h).
 */
#include "io/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

rt_status rt_atomic_open(rt_atomic *af, const char *path)
{
    memset(af, 0, sizeof *af);
    size_t n = strlen(path);
    af->path = strdup(path);
    af->tmp = malloc(n + 5);
    if (!af->path || !af->tmp) {
        free(af->path);
        free(af->tmp);
        return rt_error(RT_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(af->tmp, path, n);
    memcpy(af->tmp + n, ".tmp", 5);
    af->f = fopen(af->tmp, "wb");
    if (!af->f) {
        rt_status s = rt_error(RT_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        free(af->path);
        free(af->tmp);
        af->path = af->tmp = NULL;
        return s;
    }
    return RT_OK;
}

void rt_atomic_abort(rt_atomic *af)
{
    if (af->f) fclose(af->f);
    if (af->tmp) unlink(af->tmp);
    free(af->path);
    free(af->tmp);
    memset(af, 0, sizeof *af);
}

static void fsync_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

rt_status rt_atomic_commit(rt_atomic *af)
{
    int err = 0;
    if (ferror(af->f) || fflush(af->f) != 0 || fsync(fileno(af->f)) != 0) err = errno ? errno : EIO;
    if (fclose(af->f) != 0 && !err) err = errno;
    af->f = NULL;
    if (!err && rename(af->tmp, af->path) != 0) err = errno;
    if (err) {
        rt_status s = rt_error(RT_ERR_IO, "%s: write failed: %s", af->path, strerror(err));
        rt_atomic_abort(af);
        return s;
    }
    fsync_dir(af->path);
    free(af->path);
    free(af->tmp);
    memset(af, 0, sizeof *af);
    return RT_OK;
}

rt_status rt_read_file(const char *path, size_t max_bytes, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return rt_error(RT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return rt_error(RT_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        fclose(f);
        return rt_error(RT_ERR_FORMAT, "%s: file of %lld bytes is larger than the limit of %zu", path,
                        (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *b = malloc(n ? n : 1);
    if (!b) {
        fclose(f);
        return rt_error(RT_ERR_NOMEM, "%s: out of memory for %zu bytes", path, n);
    }
    if (fread(b, 1, n, f) != n) {
        free(b);
        fclose(f);
        return rt_error(RT_ERR_IO, "%s: read failed", path);
    }
    fclose(f);
    *buf = b;
    *len = n;
    return RT_OK;
}
