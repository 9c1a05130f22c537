/* fuzz_util.h - what the libFuzzer targets share: the input written as a
 * file in a scratch directory made once per process (the readers under
 * test take paths, as nvlm does), and the repo's fixture directory. A
 * target returns -1 for inputs it does not want in its corpus. */
#ifndef NV_FUZZ_UTIL_H
#define NV_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef NV_FUZZ_FIXTURES
#error "meson passes NV_FUZZ_FIXTURES (tests/fixtures)"
#endif

/* The scratch directory (under $NV_FUZZ_SCRATCH, else /dev/shm when there
 * is one), removed with the files fuzz_path named at exit. */
static char fuzz_dir[256];
static char fuzz_names[8][64];
static int fuzz_nnames;

static inline void fuzz_cleanup(void)
{
    char p[512];
    for (int i = 0; i < fuzz_nnames; i++) {
        snprintf(p, sizeof p, "%s/%s", fuzz_dir, fuzz_names[i]);
        unlink(p);
    }
    rmdir(fuzz_dir);
}

static inline const char *fuzz_scratch(void)
{
    if (!fuzz_dir[0]) {
        /* tools/fuzz.sh names one it removes even after a crash */
        const char *base = getenv("NV_FUZZ_SCRATCH");
        if (!base || !*base)
            base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/nvlm_fuzz_XXXXXX", base);
        if (!mkdtemp(fuzz_dir)) {
            perror("mkdtemp");
            abort();
        }
        atexit(fuzz_cleanup);
    }
    return fuzz_dir;
}

/* path = scratch/name; remembered for the clean-up. */
static inline void fuzz_path(const char *name, char *path,
                             size_t size)
{
    snprintf(path, size, "%s/%s", fuzz_scratch(), name);
    for (int i = 0; i < fuzz_nnames; i++)
        if (!strcmp(fuzz_names[i], name))
            return;
    if (fuzz_nnames < 8)
        snprintf(fuzz_names[fuzz_nnames++], sizeof fuzz_names[0], "%s",
                 name);
}

/* Writes bytes as scratch/name; aborts when the disk refuses (that is not
 * a finding in the code under test, but it must not pass silently). */
static inline void fuzz_write(const char *name, const void *data,
                              size_t len, char *path, size_t size)
{
    fuzz_path(name, path, size);
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* A symlink scratch/name -> fixture file (once). */
static inline void fuzz_link_fixture(const char *name,
                                     const char *fixture)
{
    char path[512], from[1024];
    fuzz_path(name, path, sizeof path);
    snprintf(from, sizeof from, "%s/%s", NV_FUZZ_FIXTURES, fixture);
    unlink(path);
    if (symlink(from, path) != 0) {
        perror(path);
        abort();
    }
}

#endif
