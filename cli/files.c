/* files.c - whole files in and out; see files.h. */
#include "cli/files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *nv_cli_read_file(const char *path, size_t max_bytes, size_t *len,
                       nv_error *err)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        nv_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int too_large = 0;
    while (buf) {
        if (n + 1 == cap) {
            if (n >= max_bytes) {
                /* Full at the limit: too large unless the file ends here. */
                too_large = n > max_bytes || fgetc(f) != EOF;
                break;
            }
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int read_error = ferror(f);
    if (f != stdin)
        fclose(f);
    if (buf && n > max_bytes)
        too_large = 1;
    if (!buf || read_error || too_large) {
        free(buf);
        if (too_large)
            nv_fail(err, "%s: larger than %zu bytes", path, max_bytes);
        else
            nv_fail(err, "%s: %s", path,
                    read_error ? "read error" : "out of memory reading it");
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

int nv_cli_check_output(const char *cmd, const char *opt, const char *path)
{
    /* The folder: everything before the last '/', or "." . */
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    struct stat sb;
    const char *why = NULL;
    if (!*path || (slash && !slash[1]))
        why = "not a file name";
    else if (stat(dir, &sb) != 0)
        why = strerror(errno);
    else if (!S_ISDIR(sb.st_mode))
        why = "its folder is not a directory";
    else if (access(dir, W_OK) != 0)
        why = strerror(errno);
    else if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        why = "it is a directory";
    else if (stat(path, &sb) == 0 && access(path, W_OK) != 0)
        why = strerror(errno);
    if (!why)
        return 0;
    if (slash)
        fprintf(stderr, "nvlm %s: %s %s: cannot write there: %s (folder "
                "%s)\n", cmd, opt, path, why, dir);
    else
        fprintf(stderr, "nvlm %s: %s %s: cannot write there: %s\n", cmd, opt,
                path, why);
    return -1;
}

int nv_cli_write_json(const cJSON *j, const char *path, nv_error *err)
{
    char *text = j ? cJSON_Print(j) : NULL;
    if (!text)
        return nv_fail(err, "%s: out of memory", path);
    FILE *f = fopen(path, "w");
    int bad = !f || fputs(text, f) == EOF || fputc('\n', f) == EOF;
    /* fclose flushes: a full disk shows here. */
    if (f && fclose(f) != 0)
        bad = 1;
    free(text);
    return bad ? nv_fail(err, "%s: cannot write", path) : 0;
}

int nv_cli_stdin_image(const char *cmd, size_t max_bytes, char *path,
                       size_t cap)
{
    nv_error err = {{0}};
    size_t len = 0;
    char *bytes = nv_cli_read_file("-", max_bytes, &len, &err);
    if (!bytes) {
        fprintf(stderr, "nvlm %s: standard input: %s\n", cmd, err.msg);
        return -1;
    }
    if (len == 0) {
        fprintf(stderr, "nvlm %s: standard input: empty (an image was "
                "expected for \"-\")\n", cmd);
        free(bytes);
        return -1;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(path, cap, "%s/nvlm-stdin-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        fprintf(stderr, "nvlm %s: standard input: cannot make a temporary "
                "file %s: %s\n", cmd, path, strerror(errno));
        free(bytes);
        return -1;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, bytes + done, len - done);
        if (w <= 0) {
            fprintf(stderr, "nvlm %s: standard input: cannot write %s: %s\n",
                    cmd, path, strerror(errno));
            close(fd);
            unlink(path);
            free(bytes);
            return -1;
        }
        done += (size_t)w;
    }
    free(bytes);
    if (close(fd) != 0) {
        fprintf(stderr, "nvlm %s: standard input: cannot write %s: %s\n",
                cmd, path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}
