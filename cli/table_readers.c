/* table_readers.c - one single-threaded model per reader; see
 * table_readers.h. */
#include "cli/table_readers.h"

#include <string.h>

#include "core/threads.h"

int table_readers_open(table_readers *r, const char *dir,
                       const nvlm_options *opt, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    int n = opt->threads > 0 ? opt->threads : nv_threads_available();
    if (n > TABLE_MAX_READERS)
        n = TABLE_MAX_READERS;
    if (n < 2)
        return 0;
    nvlm_options one = *opt;
    one.threads = 1;
    int blas_threads = nv_threads_get_blas();
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        r->models[i] = nvlm_load(dir, &one, err, errlen);
        if (!r->models[i])
            rc = -1;
        else
            r->n = i + 1;
    }
    nv_threads_set_blas(blas_threads);
    if (rc)
        table_readers_close(r);
    return rc;
}

void table_readers_close(table_readers *r)
{
    for (int i = 0; i < r->n; i++)
        nvlm_free(r->models[i]);
    memset(r, 0, sizeof *r);
}
