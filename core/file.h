/* file.h - opening the files nvlm reads (configs, tokenizers, weights,
 * images) so that a hostile path cannot hang the process.
 *
 * A plain open() of a FIFO blocks until some other process opens it for
 * writing, which may never happen; a check for S_ISREG after the open comes
 * too late. These open with O_NONBLOCK (which changes nothing for a regular
 * file's reads) and refuse anything but a regular file with
 * "PATH: not a regular file".
 */
#ifndef NV_FILE_H
#define NV_FILE_H

#include <stdio.h>
#include <sys/stat.h>

#include "core/error.h"

/* A read-only descriptor (close-on-exec) of the regular file at path, its
 * stat in *sb when sb is not NULL; -1 with err set otherwise. */
int nv_open_regular(const char *path, struct stat *sb, nv_error *err);

/* The same as a stdio stream opened "rb"; NULL with err set. */
FILE *nv_fopen_regular(const char *path, nv_error *err);

#endif
