/* json.c - cJSON file loading and typed getters; see json.h. */
#include "core/json.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"

/* Per value: sizeof(cJSON) (64 on LP64) + malloc's header, rounded; per
 * string (values and keys are copied): malloc's smallest chunk. */
#define TREE_NODE_BYTES 80
#define TREE_STRING_BYTES 32

size_t nv_json_tree_estimate(const char *text, size_t len)
{
    /* Every value but the root is the first in its container (counted by
     * the '[' or '{' that opens it) or follows a ','. Object keys live in
     * their value's node. Bytes inside strings are counted once (the
     * copy), escapes included: an upper bound. */
    size_t nodes = 1, strings = 0, string_bytes = 0;
    int in_string = 0, escaped = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (escaped)
                escaped = 0;
            else if (c == '\\')
                escaped = 1;
            else if (c == '"')
                in_string = 0;
            else
                string_bytes++;
        } else if (c == '"') {
            in_string = 1;
            strings++;
        } else if (c == '[' || c == '{' || c == ',') {
            nodes++;
        }
    }
    return nodes * TREE_NODE_BYTES + strings * TREE_STRING_BYTES +
           string_bytes;
}

int nv_json_check_budget(const char *text, size_t len, const char *file,
                         nv_error *err)
{
    size_t est = nv_json_tree_estimate(text, len);
    /* len <= 1 GiB (the largest cap) keeps the product far from SIZE_MAX */
    size_t limit = len * NV_JSON_TREE_RATIO + NV_JSON_TREE_SLACK;
    if (est > limit)
        return nv_fail(err,
                       "%s: JSON of %zu bytes would take ~%zu MiB parsed, "
                       "above the limit of %dx its size + %zu MiB (too many "
                       "small values)",
                       file, len, est >> 20, NV_JSON_TREE_RATIO,
                       NV_JSON_TREE_SLACK >> 20);
    return 0;
}

cJSON *nv_json_parse(const char *text, size_t len, const char *file,
                     nv_error *err)
{
    if (nv_json_check_budget(text, len, file, err))
        return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t off = end && end >= text ? (size_t)(end - text) : 0;
        nv_fail(err, "%s: invalid JSON near byte %zu", file, off);
        return NULL;
    }
    return root;
}

cJSON *nv_json_load(const char *path, size_t max_bytes, nv_error *err)
{
    if (max_bytes == 0)
        max_bytes = (size_t)1 << 30;
    FILE *f = nv_fopen_regular(path, err); /* a FIFO would block */
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        nv_fail(err, "%s: cannot seek", path);
        return NULL;
    }
    long size = ftell(f);
    if (size < 0 || (unsigned long)size > max_bytes) {
        fclose(f);
        nv_fail(err, "%s: size %ld is not readable or above the limit %zu",
                path, size, max_bytes);
        return NULL;
    }
    rewind(f);
    char *buf = malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        nv_fail(err, "%s: out of memory", path);
        return NULL;
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    fclose(f);
    if (got != (size_t)size) {
        free(buf);
        nv_fail(err, "%s: short read", path);
        return NULL;
    }
    buf[size] = '\0';
    cJSON *root = nv_json_parse(buf, (size_t)size, path, err);
    free(buf);
    return root;
}

const cJSON *nv_json_get(const cJSON *obj, const char *key)
{
    if (!obj || !cJSON_IsObject(obj))
        return NULL;
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static int missing(const char *key, const char *file, nv_error *err)
{
    return nv_fail(err, "%s: missing key '%s'", file, key);
}

static int wrong_type(const char *key, const char *file, const char *want,
                      nv_error *err)
{
    return nv_fail(err, "%s: key '%s' is not %s", file, key, want);
}

/* The item at key when it has the type is_type checks (want names it).
 * An absent or null key gives *it = NULL, an error when `required`. */
static int find_typed(const cJSON *obj, const char *key, const char *file,
                      int required, cJSON_bool (*is_type)(const cJSON *),
                      const char *want, const cJSON **it, nv_error *err)
{
    *it = nv_json_get(obj, key);
    if (!*it || cJSON_IsNull(*it)) {
        *it = NULL;
        return required ? missing(key, file, err) : 0;
    }
    if (!is_type(*it))
        return wrong_type(key, file, want, err);
    return 0;
}

/* 2^53: every integer up to it is exact in a double, and in an int64_t. */
#define JSON_INT_LIMIT 9007199254740992.0

int nv_json_as_int(const cJSON *it, const char *name, const char *file,
                   int64_t min, int64_t max, int64_t *out, nv_error *err)
{
    if (!cJSON_IsNumber(it))
        return wrong_type(name, file, "a number", err);
    double v = it->valuedouble;
    if (!isfinite(v) || v != floor(v))
        return nv_fail(err, "%s: key '%s' = %.15g is not a whole number",
                       file, name, v);
    /* Compare as doubles before any cast: casting a double outside the
     * integer range is undefined. */
    if (v < -JSON_INT_LIMIT || v > JSON_INT_LIMIT || v < (double)min ||
        v > (double)max || (int64_t)v < min || (int64_t)v > max)
        return nv_fail(err, "%s: key '%s' = %.15g is out of range [%lld, "
                       "%lld]", file, name, v, (long long)min,
                       (long long)max);
    *out = (int64_t)v;
    return 0;
}

int nv_json_as_num(const cJSON *it, const char *name, const char *file,
                   double min, double max, double *out, nv_error *err)
{
    if (!cJSON_IsNumber(it))
        return wrong_type(name, file, "a number", err);
    double v = it->valuedouble;
    if (!isfinite(v))
        return wrong_type(name, file, "a finite number", err);
    if (v < min || v > max)
        return nv_fail(err, "%s: key '%s' = %g is out of range [%g, %g]",
                       file, name, v, min, max);
    *out = v;
    return 0;
}

static int get_int(const cJSON *obj, const char *key, const char *file,
                   const int64_t *def, int64_t *out, nv_error *err)
{
    const cJSON *it = NULL;
    if (find_typed(obj, key, file, !def, cJSON_IsNumber, "a number", &it,
                   err))
        return -1;
    if (!it) {
        *out = *def;
        return 0;
    }
    return nv_json_as_int(it, key, file, -(int64_t)JSON_INT_LIMIT,
                          (int64_t)JSON_INT_LIMIT, out, err);
}

int nv_json_int_req(const cJSON *obj, const char *key, const char *file,
                    int64_t *out, nv_error *err)
{
    return get_int(obj, key, file, NULL, out, err);
}

int nv_json_int_opt(const cJSON *obj, const char *key, const char *file,
                    int64_t def, int64_t *out, nv_error *err)
{
    return get_int(obj, key, file, &def, out, err);
}

static int get_num(const cJSON *obj, const char *key, const char *file,
                   const double *def, double *out, nv_error *err)
{
    const cJSON *it = NULL;
    if (find_typed(obj, key, file, !def, cJSON_IsNumber, "a number", &it,
                   err))
        return -1;
    if (!it) {
        *out = *def;
        return 0;
    }
    return nv_json_as_num(it, key, file, -DBL_MAX, DBL_MAX, out, err);
}

int nv_json_num_req(const cJSON *obj, const char *key, const char *file,
                    double *out, nv_error *err)
{
    return get_num(obj, key, file, NULL, out, err);
}

int nv_json_num_opt(const cJSON *obj, const char *key, const char *file,
                    double def, double *out, nv_error *err)
{
    return get_num(obj, key, file, &def, out, err);
}

int nv_json_bool_opt(const cJSON *obj, const char *key, const char *file,
                     int def, int *out, nv_error *err)
{
    const cJSON *it = NULL;
    if (find_typed(obj, key, file, 0, cJSON_IsBool, "true or false", &it,
                   err))
        return -1;
    *out = it ? (cJSON_IsTrue(it) ? 1 : 0) : def;
    return 0;
}

static int get_str(const cJSON *obj, const char *key, const char *file,
                   const char *def, int required, const char **out,
                   nv_error *err)
{
    const cJSON *it = NULL;
    if (find_typed(obj, key, file, required, cJSON_IsString, "a string", &it,
                   err))
        return -1;
    if (it && !it->valuestring)
        return wrong_type(key, file, "a string", err);
    *out = it ? it->valuestring : def;
    return 0;
}

int nv_json_str_req(const cJSON *obj, const char *key, const char *file,
                    const char **out, nv_error *err)
{
    return get_str(obj, key, file, NULL, 1, out, err);
}

int nv_json_str_opt(const cJSON *obj, const char *key, const char *file,
                    const char *def, const char **out, nv_error *err)
{
    return get_str(obj, key, file, def, 0, out, err);
}

int nv_json_obj_req(const cJSON *obj, const char *key, const char *file,
                    const cJSON **out, nv_error *err)
{
    const cJSON *it = nv_json_get(obj, key);
    if (!it)
        return missing(key, file, err);
    if (!cJSON_IsObject(it))
        return wrong_type(key, file, "an object", err);
    *out = it;
    return 0;
}
