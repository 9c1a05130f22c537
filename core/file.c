/* file.c - opening regular files without blocking; see file.h. */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int nv_open_regular(const char *path, struct stat *sb, nv_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        nv_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat local;
    struct stat *s = sb ? sb : &local;
    if (fstat(fd, s) != 0) {
        nv_fail(err, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(s->st_mode)) {
        nv_fail(err, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    return fd;
}

FILE *nv_fopen_regular(const char *path, nv_error *err)
{
    int fd = nv_open_regular(path, NULL, err);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        nv_fail(err, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
    }
    return f;
}
