/* safetensors.c - validated, read-only safetensors access over mmap; see
 * safetensors.h for what is checked.
 *
 * A file is: 8-byte little-endian header length N, N bytes of JSON header
 * (an object: tensor name -> {dtype, shape, data_offsets}, plus an optional
 * "__metadata__" object of strings), then the data area. data_offsets are
 * relative to the start of the data area.
 *
 * The handle owns every mapped file and an array of entries (in header
 * order, file after file) plus a name-sorted index used for lookups and the
 * duplicate check. Entry names are owned copies; entry data points into the
 * mappings.
 */
#include "core/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/json.h"
#include "core/lowp.h"

/* safetensors stores little-endian values; converting them with memcpy is
 * only right on a little-endian host. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "nvlm reads safetensors on little-endian hosts only");

/* The reference implementation's limit on the header size. */
#define ST_MAX_HEADER_BYTES 100000000ull
/* Above 2^53 a JSON number (a double in cJSON) is no longer exact. */
#define ST_MAX_JSON_INT 9007199254740992.0
#define ST_MAX_INDEX_BYTES ((size_t)100 << 20)
/* Most distinct shards an index may name. The largest public checkpoints
 * have a few hundred; each shard holds a descriptor and a mapping, so a
 * hostile index naming tens of thousands is refused before opening any. */
#define ST_MAX_SHARDS 4096

typedef struct st_file {
    char *path;
    int fd;
    void *map;
    size_t map_bytes;
    const unsigned char *data; /* start of the data area */
    size_t data_bytes;
} st_file;

struct nv_safetensors {
    char *path; /* as given to nv_st_open, for messages */
    st_file *files;
    size_t nfiles;
    nv_st_entry *entries;
    size_t nentries;
    const nv_st_entry **by_name; /* entries sorted by name */
    nv_weight_mode weight_mode; /* what nv_st_get_weight hands out */
};

/* Offsets of one entry inside its file's data area, kept while checking
 * overlaps. */
typedef struct st_span {
    size_t begin, end;
    const char *name;
} st_span;

static char *copy_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c)
        memcpy(c, s, n);
    return c;
}

static char *join_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Reads a JSON number that must be an exact non-negative integer. */
static int json_uint(const cJSON *item, size_t *out)
{
    if (!cJSON_IsNumber(item))
        return -1;
    double v = item->valuedouble;
    if (!(v >= 0 && v <= ST_MAX_JSON_INT) || v != (double)(int64_t)v)
        return -1;
    if ((uint64_t)v > SIZE_MAX)
        return -1;
    *out = (size_t)v;
    return 0;
}

/* Grows the entry array of st by one slot; returns it zeroed. */
static nv_st_entry *add_entry(nv_safetensors *st, size_t *capacity)
{
    if (st->nentries == *capacity) {
        size_t cap = *capacity ? *capacity * 2 : 64;
        nv_st_entry *grown = realloc(st->entries, cap * sizeof *grown);
        if (!grown)
            return NULL;
        st->entries = grown;
        *capacity = cap;
    }
    nv_st_entry *e = &st->entries[st->nentries];
    memset(e, 0, sizeof *e);
    return e;
}

static int check_metadata(const cJSON *meta, const char *path, nv_error *err)
{
    if (!cJSON_IsObject(meta))
        return nv_fail(err, "%s: __metadata__ is not an object", path);
    for (const cJSON *it = meta->child; it; it = it->next)
        if (!cJSON_IsString(it))
            return nv_fail(err, "%s: __metadata__ value '%s' is not a string",
                           path, it->string ? it->string : "");
    return 0;
}

/* Parses one header entry into e (name not yet set) and its span. */
static int parse_entry(const cJSON *item, const st_file *f, nv_st_entry *e,
                       st_span *span, nv_error *err)
{
    const char *path = f->path;
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        return nv_fail(err, "%s: tensor '%s': entry is not an object", path,
                       name);

    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    if (!cJSON_IsString(dtype) || !dtype->valuestring)
        return nv_fail(err, "%s: tensor '%s': missing or non-string dtype",
                       path, name);
    if (nv_dtype_parse(dtype->valuestring, &e->dtype) != 0)
        return nv_fail(err, "%s: tensor '%s': unknown dtype '%.32s'", path,
                       name, dtype->valuestring);

    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    if (!cJSON_IsArray(shape))
        return nv_fail(err, "%s: tensor '%s': missing or non-array shape",
                       path, name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > NV_MAX_DIMS)
        return nv_fail(err, "%s: tensor '%s': %d dimensions (at most %d)",
                       path, name, ndim, NV_MAX_DIMS);
    size_t elem = nv_dtype_size(e->dtype);
    size_t nbytes = elem;
    int d = 0;
    for (const cJSON *dim = shape->child; dim; dim = dim->next, d++) {
        size_t v;
        if (json_uint(dim, &v) != 0)
            return nv_fail(err,
                           "%s: tensor '%s': shape dimension %d is not a "
                           "non-negative integer",
                           path, name, d);
        if (v > 0 && nbytes > SIZE_MAX / v)
            return nv_fail(err, "%s: tensor '%s': shape product overflows",
                           path, name);
        nbytes *= v;
        e->shape[d] = (int64_t)v;
    }
    e->ndim = ndim;

    const cJSON *offsets =
        cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    size_t begin, end;
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        json_uint(offsets->child, &begin) != 0 ||
        json_uint(offsets->child->next, &end) != 0)
        return nv_fail(err,
                       "%s: tensor '%s': data_offsets is not two "
                       "non-negative integers",
                       path, name);
    if (end < begin)
        return nv_fail(err, "%s: tensor '%s': data_offsets [%zu, %zu) end "
                            "before begin",
                       path, name, begin, end);
    if (end > f->data_bytes)
        return nv_fail(err,
                       "%s: tensor '%s': data_offsets [%zu, %zu) outside the "
                       "data area (%zu bytes)",
                       path, name, begin, end, f->data_bytes);
    if (end - begin != nbytes)
        return nv_fail(err,
                       "%s: tensor '%s': data_offsets [%zu, %zu) hold %zu "
                       "bytes but %s x shape needs %zu",
                       path, name, begin, end, end - begin,
                       nv_dtype_name(e->dtype), nbytes);
    e->data = f->data + begin;
    e->nbytes = nbytes;
    e->file = f->path;
    span->begin = begin;
    span->end = end;
    return 0;
}

static int compare_spans(const void *a, const void *b)
{
    const st_span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int check_overlaps(st_span *spans, size_t n, const char *path,
                          nv_error *err)
{
    qsort(spans, n, sizeof *spans, compare_spans);
    const st_span *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        if (spans[i].begin == spans[i].end)
            continue; /* an empty tensor occupies nothing */
        if (prev && spans[i].begin < prev->end)
            return nv_fail(err,
                           "%s: tensor '%s': data_offsets [%zu, %zu) overlap "
                           "tensor '%s' [%zu, %zu)",
                           path, spans[i].name, spans[i].begin, spans[i].end,
                           prev->name, prev->begin, prev->end);
        prev = &spans[i];
    }
    return 0;
}

/* Parses the header of an already mapped file and appends its entries. */
static int parse_header(nv_safetensors *st, const st_file *f,
                        const char *header, size_t header_bytes,
                        size_t *capacity, nv_error *err)
{
    /* ~40x the header for "[0,0,...]" without the budget (issue 17) */
    if (nv_json_check_budget(header, header_bytes, f->path, err))
        return -1;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(header, header_bytes, &end, 0);
    if (!root) {
        size_t off = end && end >= header ? (size_t)(end - header) : 0;
        return nv_fail(err, "%s: header is not valid JSON (near byte %zu)",
                       f->path, off);
    }
    /* The writer pads the header with spaces to align the data area. */
    for (const char *p = end; p < header + header_bytes; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return nv_fail(err, "%s: header has bytes after the JSON object",
                           f->path);
        }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return nv_fail(err, "%s: header is not a JSON object", f->path);
    }

    size_t count = 0;
    for (const cJSON *it = root->child; it; it = it->next)
        count++;
    st_span *spans = calloc(count ? count : 1, sizeof *spans);
    if (!spans) {
        cJSON_Delete(root);
        return nv_fail(err, "%s: out of memory", f->path);
    }
    size_t nspans = 0;
    int rc = 0;
    for (const cJSON *it = root->child; it && rc == 0; it = it->next) {
        if (!strcmp(it->string, "__metadata__")) {
            rc = check_metadata(it, f->path, err);
            continue;
        }
        nv_st_entry *e = add_entry(st, capacity);
        if (!e) {
            rc = nv_fail(err, "%s: out of memory", f->path);
            break;
        }
        rc = parse_entry(it, f, e, &spans[nspans], err);
        if (rc != 0)
            break;
        char *name = copy_string(it->string);
        if (!name) {
            rc = nv_fail(err, "%s: out of memory", f->path);
            break;
        }
        e->name = name;
        spans[nspans].name = name;
        nspans++;
        st->nentries++;
    }
    if (rc == 0)
        rc = check_overlaps(spans, nspans, f->path, err);
    free(spans);
    cJSON_Delete(root);
    return rc;
}

/* Maps one file, validates its header and appends its entries. */
static int open_file(nv_safetensors *st, const char *path, size_t *capacity,
                     nv_error *err)
{
    st_file *f = &st->files[st->nfiles];
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->path = copy_string(path);
    if (!f->path)
        return nv_fail(err, "%s: out of memory", path);
    st->nfiles++; /* from here on nv_st_close releases it */

    /* Refuses a FIFO (or device) named like a shard without blocking. */
    struct stat sb;
    f->fd = nv_open_regular(path, &sb, err);
    if (f->fd < 0)
        return -1;
    if (sb.st_size < 8)
        return nv_fail(err,
                       "%s: file is %lld bytes, too small for the 8-byte "
                       "header length",
                       path, (long long)sb.st_size);
    if ((uint64_t)sb.st_size > SIZE_MAX)
        return nv_fail(err, "%s: file too large to map", path);
    size_t file_bytes = (size_t)sb.st_size;

    void *map = mmap(NULL, file_bytes, PROT_READ, MAP_PRIVATE, f->fd, 0);
    if (map == MAP_FAILED)
        return nv_fail(err, "%s: cannot map: %s", path, strerror(errno));
    f->map = map;
    f->map_bytes = file_bytes;

    const unsigned char *bytes = map;
    uint64_t header_bytes = 0;
    for (int i = 7; i >= 0; i--)
        header_bytes = header_bytes << 8 | bytes[i];
    if (header_bytes > ST_MAX_HEADER_BYTES)
        return nv_fail(err,
                       "%s: header length %llu is above the limit of %llu "
                       "bytes",
                       path, (unsigned long long)header_bytes,
                       ST_MAX_HEADER_BYTES);
    if (header_bytes > file_bytes - 8)
        return nv_fail(err,
                       "%s: header length %llu runs past the end of the "
                       "file (%zu bytes)",
                       path, (unsigned long long)header_bytes, file_bytes);
    f->data = bytes + 8 + header_bytes;
    f->data_bytes = file_bytes - 8 - (size_t)header_bytes;
    return parse_header(st, f, (const char *)bytes + 8, (size_t)header_bytes,
                        capacity, err);
}

/* A shard name must stay inside the model directory. */
static int plain_file_name(const char *name)
{
    return name[0] != '\0' && !strchr(name, '/') && !strstr(name, "..");
}

static int compare_entry_names(const void *a, const void *b)
{
    const nv_st_entry *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* Builds the name-sorted index and rejects a name seen twice (in one header
 * or across shards). */
static int build_name_index(nv_safetensors *st, nv_error *err)
{
    st->by_name = calloc(st->nentries ? st->nentries : 1, sizeof *st->by_name);
    if (!st->by_name)
        return nv_fail(err, "%s: out of memory", st->path);
    for (size_t i = 0; i < st->nentries; i++)
        st->by_name[i] = &st->entries[i];
    qsort(st->by_name, st->nentries, sizeof *st->by_name, compare_entry_names);
    for (size_t i = 1; i < st->nentries; i++) {
        const nv_st_entry *a = st->by_name[i - 1], *b = st->by_name[i];
        if (strcmp(a->name, b->name))
            continue;
        if (!strcmp(a->file, b->file)) /* twice in one header */
            return nv_fail(err, "%s: tensor '%s' appears twice in %s",
                           b->file, b->name, b->file);
        return nv_fail(err, "%s: tensor '%s' appears twice (in %s and %s)",
                       b->file, b->name, a->file, b->file);
    }
    return 0;
}

const nv_st_entry *nv_st_find(const nv_safetensors *st, const char *name)
{
    if (!st || !st->by_name)
        return NULL;
    size_t lo = 0, hi = st->nentries;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->by_name[mid]->name, name);
        if (c == 0)
            return st->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Directory part of a path ("." when it has none). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return copy_string(".");
    if (slash == path)
        return copy_string("/");
    char *dir = copy_string(path);
    if (dir)
        dir[slash - path] = '\0';
    return dir;
}

/* Every tensor in weight_map must be in the shard it names. */
static int check_weight_map(const nv_safetensors *st, const cJSON *map,
                            const char *index_path, const char *dir,
                            nv_error *err)
{
    for (const cJSON *it = map->child; it; it = it->next) {
        const nv_st_entry *e = nv_st_find(st, it->string);
        char *shard_path = join_path(dir, it->valuestring);
        if (!shard_path)
            return nv_fail(err, "%s: out of memory", index_path);
        int found = e && !strcmp(e->file, shard_path);
        free(shard_path);
        if (!found)
            return nv_fail(err,
                           "%s: tensor '%s' is listed in shard '%s' but is "
                           "not in it",
                           index_path, it->string, it->valuestring);
    }
    return 0;
}

typedef struct shard_ref {
    const char *name;
    size_t first; /* position of its first use */
} shard_ref;

static int compare_ref_names(const void *a, const void *b)
{
    const shard_ref *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->first > y->first) - (x->first < y->first);
}

static int compare_ref_first(const void *a, const void *b)
{
    const shard_ref *x = a, *y = b;
    return (x->first > y->first) - (x->first < y->first);
}

/* Removes repeated names from names[0..n) in O(n log n), keeping each at
 * its first use and that order; returns the new count, 0 when memory ran
 * out (n > 0). */
static size_t distinct_in_order(const char **names, size_t n)
{
    shard_ref *refs = malloc((n ? n : 1) * sizeof *refs);
    if (!refs)
        return 0;
    for (size_t i = 0; i < n; i++)
        refs[i] = (shard_ref){names[i], i};
    qsort(refs, n, sizeof *refs, compare_ref_names);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (kept == 0 || strcmp(refs[kept - 1].name, refs[i].name))
            refs[kept++] = refs[i];
    qsort(refs, kept, sizeof *refs, compare_ref_first);
    for (size_t i = 0; i < kept; i++)
        names[i] = refs[i].name;
    free(refs);
    return kept;
}

/* Opens the shards listed in an index file and checks the weight map. */
static int open_index(nv_safetensors *st, const char *index_path,
                      size_t *capacity, nv_error *err)
{
    cJSON *root = nv_json_load(index_path, ST_MAX_INDEX_BYTES, err);
    if (!root)
        return -1;
    int rc = 0;
    char *dir = NULL;
    const char **shards = NULL; /* distinct shard names, in first-use order */
    size_t nshards = 0;
    const cJSON *map = NULL;

    if (nv_json_obj_req(root, "weight_map", index_path, &map, err) != 0) {
        rc = -1;
        goto done;
    }
    size_t nnames = 0;
    for (const cJSON *it = map->child; it; it = it->next)
        nnames++;
    shards = calloc(nnames ? nnames : 1, sizeof *shards);
    dir = dir_of(index_path);
    if (!shards || !dir) {
        rc = nv_fail(err, "%s: out of memory", index_path);
        goto done;
    }
    for (const cJSON *it = map->child; it; it = it->next) {
        if (!cJSON_IsString(it) || !it->valuestring) {
            rc = nv_fail(err, "%s: weight_map entry '%s' is not a string",
                         index_path, it->string);
            goto done;
        }
        if (!plain_file_name(it->valuestring)) {
            rc = nv_fail(err,
                         "%s: weight_map entry '%s' names shard '%.200s', "
                         "which is not a plain file name in the directory",
                         index_path, it->string, it->valuestring);
            goto done;
        }
        shards[nshards++] = it->valuestring;
    }
    /* One name per shard, kept in first-use order (a linear search per
     * entry was quadratic: 14 s for 80 000 names). */
    size_t nnamed = nshards;
    nshards = distinct_in_order(shards, nshards);
    if (nnamed && !nshards) {
        rc = nv_fail(err, "%s: out of memory", index_path);
        goto done;
    }
    if (nshards > ST_MAX_SHARDS) {
        rc = nv_fail(err, "%s: weight_map names %zu shards, above the limit "
                     "of %d", index_path, nshards, ST_MAX_SHARDS);
        goto done;
    }

    st->files = calloc(nshards ? nshards : 1, sizeof *st->files);
    if (!st->files) {
        rc = nv_fail(err, "%s: out of memory", index_path);
        goto done;
    }
    for (size_t s = 0; s < nshards; s++) {
        char *shard_path = join_path(dir, shards[s]);
        if (!shard_path) {
            rc = nv_fail(err, "%s: out of memory", index_path);
            goto done;
        }
        rc = open_file(st, shard_path, capacity, err);
        free(shard_path);
        if (rc != 0) {
            nv_fail_prefix(err, "%s: ", index_path);
            goto done;
        }
    }
    rc = build_name_index(st, err);
    if (rc == 0)
        rc = check_weight_map(st, map, index_path, dir, err);
done:
    free(shards);
    free(dir);
    cJSON_Delete(root);
    return rc;
}

static int is_directory(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Decides what `path` is and opens it into st. */
static int open_any(nv_safetensors *st, const char *path, nv_error *err)
{
    size_t capacity = 0;
    if (ends_with(path, ".index.json"))
        return open_index(st, path, &capacity, err);
    if (!is_directory(path)) {
        st->files = calloc(1, sizeof *st->files);
        if (!st->files)
            return nv_fail(err, "%s: out of memory", path);
        if (open_file(st, path, &capacity, err) != 0)
            return -1;
        return build_name_index(st, err);
    }
    char *single = join_path(path, "model.safetensors");
    char *index = join_path(path, "model.safetensors.index.json");
    int rc;
    if (!single || !index) {
        rc = nv_fail(err, "%s: out of memory", path);
    } else if (file_exists(single)) {
        free(index);
        index = NULL;
        rc = open_any(st, single, err);
    } else if (file_exists(index)) {
        rc = open_index(st, index, &capacity, err);
    } else {
        rc = nv_fail(err,
                     "%s: holds neither model.safetensors nor "
                     "model.safetensors.index.json",
                     path);
    }
    free(single);
    free(index);
    return rc;
}

nv_safetensors *nv_st_open(const char *path, nv_error *err)
{
    nv_safetensors *st = calloc(1, sizeof *st);
    if (!st) {
        nv_fail(err, "%s: out of memory", path);
        return NULL;
    }
    st->path = copy_string(path);
    if (!st->path) {
        free(st);
        nv_fail(err, "%s: out of memory", path);
        return NULL;
    }
    if (open_any(st, path, err) != 0) {
        nv_st_close(st);
        return NULL;
    }
    return st;
}

void nv_st_close(nv_safetensors *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->nentries; i++)
        free((char *)st->entries[i].name);
    for (size_t i = 0; i < st->nfiles; i++) {
        st_file *f = &st->files[i];
        if (f->map)
            munmap(f->map, f->map_bytes);
        if (f->fd >= 0)
            close(f->fd);
        free(f->path);
    }
    free(st->by_name);
    free(st->entries);
    free(st->files);
    free(st->path);
    free(st);
}

size_t nv_st_count(const nv_safetensors *st)
{
    return st ? st->nentries : 0;
}

const char *nv_st_path(const nv_safetensors *st)
{
    return st && st->path ? st->path : "weights";
}

const nv_st_entry *nv_st_at(const nv_safetensors *st, size_t i)
{
    return st && i < st->nentries ? &st->entries[i] : NULL;
}

size_t nv_st_data_bytes(const nv_safetensors *st)
{
    size_t total = 0;
    for (size_t i = 0; st && i < st->nfiles; i++)
        total += st->files[i].data_bytes;
    return total;
}

/* Writes "[a, b, c]" into buf (cut short if it does not fit). */
static void format_shape(char *buf, size_t size, int ndim,
                         const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld",
                                 i ? ", " : "", (long long)shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

static const nv_st_entry *find_or_fail(const nv_safetensors *st,
                                       const char *name, nv_error *err)
{
    const nv_st_entry *e = nv_st_find(st, name);
    if (!e)
        nv_fail(err, "%s: no tensor '%s'", st->path, name);
    return e;
}

static int64_t entry_numel(const nv_st_entry *e)
{
    int64_t n = 1;
    for (int i = 0; i < e->ndim; i++)
        n *= e->shape[i];
    return n;
}

/* The quantized weight formats: the stored tensor's dtype, the name of its
 * scales tensor, how many values a stored element packs, and the scales
 * tensor's dtype and columns: `scale_cols` per `group` values of a row. */
typedef struct quant_format {
    nv_dtype dtype;  /* NV_Q8_0, NV_Q4_0 or NV_Q4_K */
    nv_dtype stored; /* the data tensor's dtype */
    const char *suffix;
    int per_element;
    nv_dtype scale_dtype;
    int group, scale_cols;
} quant_format;

#define N_QUANT_FORMATS 3
static const quant_format quant_formats[N_QUANT_FORMATS] = {
    {NV_Q8_0, NV_I8, ".q8_scales", 1, NV_F16, NV_Q8_BLOCK, 1},
    {NV_Q4_0, NV_U8, ".q4_scales", 2, NV_F16, NV_Q8_BLOCK, 1},
    {NV_Q4_K, NV_U8, ".q4k_scales", 2, NV_U8, NV_Q4K_SUPER, NV_Q4K_RECORD},
};

/* The scales of a quantized weight: "<name>.q8_scales" for an I8 [rows,
 * cols] Q8_0 weight, "<name>.q4_scales" for a U8 [rows, cols / 2] Q4_0 one
 * (F16 [rows, cols / 32] either way), "<name>.q4k_scales" for a U8 [rows,
 * cols / 2] Q4_K one (U8 [rows, cols / 256 x 24]); *fmt says which. NULL
 * when `e` is no quantized weight (no scales tensor: a plain I8 / U8
 * tensor); NULL with *bad = 1 and a message when the pair does not fit. */
static const nv_st_entry *quant_scales(const nv_safetensors *st,
                                       const nv_st_entry *e,
                                       const quant_format **fmt, int *bad,
                                       nv_error *err)
{
    *bad = 0;
    const quant_format *f = NULL;
    const nv_st_entry *sc = NULL;
    for (int i = 0; i < N_QUANT_FORMATS && !sc; i++) {
        char name[1100];
        int n = snprintf(name, sizeof name, "%s%s", e->name,
                         quant_formats[i].suffix);
        if (e->dtype == quant_formats[i].stored && n > 0 &&
            (size_t)n < sizeof name) {
            f = &quant_formats[i];
            sc = nv_st_find(st, name);
        }
    }
    if (!sc)
        return NULL;
    *fmt = f;
    *bad = 1;
    const char *what = nv_dtype_name(f->dtype);
    int64_t cols = e->ndim == 2 ? e->shape[1] * f->per_element : 0;
    if (e->ndim != 2 || cols % f->group != 0) {
        nv_fail(err, "%s: tensor '%s': a %s weight must be 2-D with rows "
                "a multiple of %d long", e->file, e->name, what, f->group);
        return NULL;
    }
    int64_t want_cols = cols / f->group * f->scale_cols;
    if (sc->dtype != f->scale_dtype || sc->ndim != 2 ||
        sc->shape[0] != e->shape[0] || sc->shape[1] != want_cols) {
        nv_fail(err, "%s: tensor '%s': scales of dtype %s, %d-D, do not fit "
                "the %s weight [%lld, %lld] (%s [%lld, %lld] expected)",
                sc->file, sc->name, nv_dtype_name(sc->dtype), sc->ndim, what,
                (long long)e->shape[0], (long long)cols,
                nv_dtype_name(f->scale_dtype), (long long)e->shape[0],
                (long long)want_cols);
        return NULL;
    }
    *bad = 0;
    return sc;
}

int64_t nv_st_model_dim(const nv_safetensors *st, const nv_st_entry *e,
                        int dim)
{
    int64_t n = e->shape[dim];
    /* the packed formats (two values a byte) say so by their scales */
    for (int i = 0; dim == 1 && e->ndim == 2 && i < N_QUANT_FORMATS; i++) {
        const quant_format *f = &quant_formats[i];
        char name[1100];
        int len = snprintf(name, sizeof name, "%s%s", e->name, f->suffix);
        if (f->per_element == 2 && e->dtype == f->stored && len > 0 &&
            (size_t)len < sizeof name && nv_st_find(st, name))
            return n * 2;
    }
    return n;
}

/* A quantized weight as a tensor: borrowed when the scales are 2-byte
 * aligned, else an owned copy of both. */
static int quant_tensor(const nv_st_entry *e, const nv_st_entry *sc,
                        const quant_format *fmt, nv_tensor *out,
                        nv_error *err)
{
    out->dtype = fmt->dtype;
    out->ndim = 2;
    out->shape[0] = e->shape[0];
    out->shape[1] = e->shape[1] * fmt->per_element;
    if ((uintptr_t)sc->data % 2 == 0) {
        out->data = (void *)e->data;
        out->scales = (uint16_t *)sc->data;
        out->owned = 0;
        return 0;
    }
    out->data = malloc(e->nbytes ? e->nbytes : 1);
    out->scales = malloc(sc->nbytes ? sc->nbytes : 1);
    out->owned = 1;
    if (!out->data || !out->scales) {
        nv_tensor_free(out);
        return nv_fail(err, "%s: tensor '%s': out of memory", e->file,
                       e->name);
    }
    memcpy(out->data, e->data, e->nbytes);
    memcpy(out->scales, sc->data, sc->nbytes);
    return 0;
}

/* The shape check of float_entry, for any entry. */
static int shape_fits(const nv_st_entry *e, const char *name, int ndim,
                      const int64_t *expect_shape, nv_error *err)
{
    int same = ndim < 0 || ndim == e->ndim;
    for (int i = 0; same && ndim >= 0 && i < ndim; i++)
        same = expect_shape[i] == e->shape[i];
    if (!same) {
        char want[256], got[256];
        format_shape(want, sizeof want, ndim, expect_shape);
        format_shape(got, sizeof got, e->ndim, e->shape);
        return nv_fail(err, "%s: tensor '%s': shape %s, expected %s",
                       e->file, name, got, want);
    }
    return 0;
}

/* The entry `name` when it exists, has a float dtype and the expected
 * shape (ndim < 0: any shape); NULL with a message naming file and tensor
 * otherwise. */
static const nv_st_entry *float_entry(const nv_safetensors *st,
                                      const char *name, int ndim,
                                      const int64_t *expect_shape,
                                      nv_error *err)
{
    const nv_st_entry *e = find_or_fail(st, name, err);
    if (!e || shape_fits(e, name, ndim, expect_shape, err))
        return NULL;
    if (e->dtype != NV_F32 && e->dtype != NV_F16 && e->dtype != NV_BF16 &&
        e->dtype != NV_F64) {
        nv_fail(err, "%s: tensor '%s': dtype %s is not a float type",
                e->file, name, nv_dtype_name(e->dtype));
        return NULL;
    }
    return e;
}

/* Borrows the mapping: the weights cost no copy, and the pages are the
 * file's, shared and dropped by the kernel under pressure. */
static void borrow(const nv_st_entry *e, nv_tensor *out)
{
    out->dtype = e->dtype;
    out->ndim = e->ndim;
    memcpy(out->shape, e->shape, sizeof(int64_t) * (size_t)e->ndim);
    out->data = (void *)e->data;
    out->owned = 0;
}

static int convert_f32(const nv_st_entry *e, const char *name,
                       nv_tensor *out, nv_error *err)
{
    if (nv_tensor_alloc_f32(out, e->ndim, e->shape, err) != 0)
        return nv_fail_prefix(err, "%s: tensor '%s': ", e->file, name);

    float *dst = out->data;
    const unsigned char *src = e->data;
    int64_t n = entry_numel(e);
    switch (e->dtype) {
    case NV_F32:
        memcpy(dst, src, e->nbytes); /* src may be unaligned */
        break;
    case NV_F16:
    case NV_BF16:
        nv_lowp_to_f32(e->dtype, src, dst, (size_t)n);
        break;
    default: /* NV_F64 */
        for (int64_t i = 0; i < n; i++) {
            double v;
            memcpy(&v, src + 8 * i, 8);
            dst[i] = (float)v;
        }
        break;
    }
    return 0;
}

/* Replaces an owned f32 tensor's data by its f16 / bf16 rounding (round to
 * nearest even, as PyTorch's .to()); on failure the tensor is freed. */
static int narrow(nv_tensor *t, nv_dtype to, const char *file,
                  const char *name, nv_error *err)
{
    size_t n = (size_t)nv_tensor_numel(t);
    uint16_t *half = malloc(n ? n * 2 : 1);
    if (!half) {
        nv_tensor_free(t);
        return nv_fail(err, "%s: tensor '%s': out of memory", file, name);
    }
    const float *src = t->data;
    for (size_t i = 0; i < n; i++)
        half[i] = to == NV_F16 ? nv_f32_to_f16(src[i]) : nv_f32_to_bf16(src[i]);
    free(t->data);
    t->data = half;
    t->dtype = to;
    return 0;
}

/* A quantized weight (`name` with its scales) loaded as a tensor of `want`
 * (NV_Q8_0 standing for "as stored": Q8_0 or Q4_0 borrowed; or dequantized
 * to F32 / F16 / BF16); 1 when `name` is no quantized weight (nothing
 * done), 0 done, -1 error. */
static int get_quant(const nv_safetensors *st, const char *name, int ndim,
                     const int64_t *expect_shape, nv_dtype want,
                     nv_tensor *out, nv_error *err)
{
    const nv_st_entry *e = nv_st_find(st, name);
    int bad = 0;
    const quant_format *fmt = NULL;
    const nv_st_entry *sc = e ? quant_scales(st, e, &fmt, &bad, err) : NULL;
    if (bad)
        return -1;
    if (!sc)
        return 1;
    nv_st_entry logical = *e; /* the shape the model sees */
    logical.shape[1] *= fmt->per_element;
    if (shape_fits(&logical, name, ndim, expect_shape, err))
        return -1;
    nv_tensor q = {0};
    if (quant_tensor(e, sc, fmt, &q, err))
        return -1;
    if (want == NV_Q8_0) {
        *out = q;
        return 0;
    }
    nv_tensor wide = {0};
    int rc = nv_tensor_alloc_f32(&wide, 2, q.shape, err);
    if (!rc)
        nv_weight_rows_f32(&q, 0, q.shape[0], wide.data);
    nv_tensor_free(&q);
    if (rc)
        return nv_fail_prefix(err, "%s: tensor '%s': ", e->file, name);
    if (want == NV_F32) {
        *out = wide;
        return 0;
    }
    if (narrow(&wide, want, e->file, name, err))
        return -1;
    *out = wide;
    return 0;
}

int nv_st_get_f32(const nv_safetensors *st, const char *name, int ndim,
                  const int64_t *expect_shape, nv_tensor *out, nv_error *err)
{
    memset(out, 0, sizeof *out);
    int q8 = get_quant(st, name, ndim, expect_shape, NV_F32, out, err);
    if (q8 <= 0)
        return q8;
    const nv_st_entry *e = float_entry(st, name, ndim, expect_shape, err);
    if (!e)
        return -1;
    if (e->dtype == NV_F32 && (uintptr_t)e->data % sizeof(float) == 0) {
        borrow(e, out);
        return 0;
    }
    return convert_f32(e, name, out, err);
}

void nv_st_set_weight_mode(nv_safetensors *st, nv_weight_mode mode)
{
    st->weight_mode = mode;
}

nv_weight_mode nv_st_weight_mode(const nv_safetensors *st)
{
    return st->weight_mode;
}

int nv_weight_mode_parse(const char *name, nv_weight_mode *out)
{
    static const char *const names[] = {"stored", "f32", "bf16", "f16",
                                        "q8_0", "q4_0", "q4_k"};
    for (int i = 0; i < 7; i++)
        if (!strcmp(name, names[i])) {
            *out = (nv_weight_mode)i;
            return 0;
        }
    return -1;
}

const char *nv_weight_mode_name(nv_weight_mode mode)
{
    static const char *const names[] = {"stored", "f32", "bf16", "f16",
                                        "q8_0", "q4_0", "q4_k"};
    return (unsigned)mode < 7 ? names[mode] : "?";
}

/* An owned copy of a float entry rounded to f16 / bf16 (round to nearest
 * even, as PyTorch's .to()). */
static int convert_lowp(const nv_st_entry *e, const char *name, nv_dtype to,
                        nv_tensor *out, nv_error *err)
{
    if (convert_f32(e, name, out, err))
        return -1;
    return narrow(out, to, e->file, name, err);
}

/* An owned Q8_0, Q4_0 or Q4_K copy of a 2-D float entry
 * (nv_q8_quantize_row / nv_q4_quantize_row / nv_q4k_quantize_row per
 * row). */
static int quantize_at_load(const nv_st_entry *e, const char *name,
                            nv_dtype to, nv_tensor *out, nv_error *err)
{
    int64_t R = e->shape[0], K = e->shape[1];
    nv_tensor wide = {0};
    if (convert_f32(e, name, &wide, err))
        return -1;
    out->dtype = to;
    out->ndim = 2;
    out->shape[0] = R;
    out->shape[1] = K;
    out->owned = 1;
    size_t n = (size_t)R * (size_t)K;
    size_t row_bytes = to == NV_Q8_0 ? (size_t)K : (size_t)K / 2;
    size_t row_scales = nv_quant_scale_bytes(to, 1, K);
    out->data = malloc(n ? (to == NV_Q8_0 ? n : n / 2) : 1);
    out->scales = malloc(n ? (size_t)R * row_scales : 1);
    if (!out->data || !out->scales) {
        nv_tensor_free(&wide);
        nv_tensor_free(out);
        return nv_fail(err, "%s: tensor '%s': out of memory", e->file, name);
    }
    const float *src = wide.data;
    for (int64_t r = 0; r < R; r++) {
        unsigned char *q = (unsigned char *)out->data + (size_t)r * row_bytes;
        unsigned char *sc = (unsigned char *)out->scales +
                            (size_t)r * row_scales;
        nv_quantize_row(to, src + r * K, K, q, sc);
    }
    nv_tensor_free(&wide);
    return 0;
}

int nv_st_get_weight(const nv_safetensors *st, const char *name, int ndim,
                     const int64_t *expect_shape, nv_tensor *out,
                     nv_error *err)
{
    memset(out, 0, sizeof *out);
    /* a quantized file stays as it is in the quantized modes */
    static const nv_dtype q8_as[7] = {NV_Q8_0, NV_F32, NV_BF16, NV_F16,
                                      NV_Q8_0, NV_Q8_0, NV_Q8_0};
    int q8 = get_quant(st, name, ndim, expect_shape, q8_as[st->weight_mode],
                       out, err);
    if (q8 <= 0)
        return q8;
    const nv_st_entry *e = float_entry(st, name, ndim, expect_shape, err);
    if (!e)
        return -1;
    nv_dtype want = e->dtype;
    switch (st->weight_mode) {
    case NV_WEIGHTS_F32:
        want = NV_F32;
        break;
    case NV_WEIGHTS_BF16:
        want = NV_BF16;
        break;
    case NV_WEIGHTS_F16:
        want = NV_F16;
        break;
    case NV_WEIGHTS_Q8_0:
    case NV_WEIGHTS_Q4_0:
    case NV_WEIGHTS_Q4_K: {
        nv_dtype to = st->weight_mode == NV_WEIGHTS_Q8_0   ? NV_Q8_0
                      : st->weight_mode == NV_WEIGHTS_Q4_0 ? NV_Q4_0
                                                           : NV_Q4_K;
        /* Q4_K rows not a multiple of 256 long become Q4_0, as `nvlm
         * quantize --type q4_k` writes them */
        if (e->ndim == 2 && e->shape[1] % NV_Q8_BLOCK == 0)
            return quantize_at_load(e, name, nv_quant_type_for(to, e->shape[1]),
                                    out, err);
        if (want == NV_F64)
            want = NV_F32;
        break;
    }
    default: /* stored: F64 is no weight format anyone ships */
        if (want == NV_F64)
            want = NV_F32;
        break;
    }
    if (e->dtype == want && (uintptr_t)e->data % nv_dtype_size(want) == 0) {
        borrow(e, out);
        return 0;
    }
    if (want == NV_F32)
        return convert_f32(e, name, out, err);
    if (e->dtype == want) { /* unaligned: an owned copy in place */
        void *copy = malloc(e->nbytes ? e->nbytes : 1);
        if (!copy)
            return nv_fail(err, "%s: tensor '%s': out of memory", e->file,
                           name);
        memcpy(copy, e->data, e->nbytes);
        borrow(e, out);
        out->data = copy;
        out->owned = 1;
        return 0;
    }
    return convert_lowp(e, name, want, out, err);
}

int nv_st_get_i64(const nv_safetensors *st, const char *name, nv_tensor *out,
                  nv_error *err)
{
    memset(out, 0, sizeof *out);
    const nv_st_entry *e = find_or_fail(st, name, err);
    if (!e)
        return -1;
    int64_t n = entry_numel(e);
    int64_t *dst = NULL;
    switch (e->dtype) {
    case NV_I64: case NV_I32: case NV_I16: case NV_I8: case NV_U8:
    case NV_BOOL:
        break;
    default:
        return nv_fail(err, "%s: tensor '%s': dtype %s is not an integer type",
                       e->file, name, nv_dtype_name(e->dtype));
    }
    dst = calloc(n > 0 ? (size_t)n : 1, sizeof *dst);
    if (!dst)
        return nv_fail(err, "%s: tensor '%s': out of memory", e->file, name);
    const unsigned char *src = e->data;
    for (int64_t i = 0; i < n; i++) {
        switch (e->dtype) {
        case NV_I64: {
            int64_t v;
            memcpy(&v, src + 8 * i, 8);
            dst[i] = v;
            break;
        }
        case NV_I32: {
            int32_t v;
            memcpy(&v, src + 4 * i, 4);
            dst[i] = v;
            break;
        }
        case NV_I16: {
            int16_t v;
            memcpy(&v, src + 2 * i, 2);
            dst[i] = v;
            break;
        }
        case NV_I8:
            dst[i] = (int8_t)src[i];
            break;
        default: /* U8, BOOL */
            dst[i] = src[i];
            break;
        }
    }
    out->dtype = NV_I64;
    out->ndim = e->ndim;
    memcpy(out->shape, e->shape, sizeof out->shape);
    out->data = dst;
    out->owned = 1;
    return 0;
}
