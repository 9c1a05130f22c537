/* json.h - reading JSON files (config.json, tokenizer.json, ...) with cJSON.
 *
 * nv_json_load reads and parses a whole file; parse errors name the file and
 * the byte offset. Typed getters look a key up in an object and either fail
 * with a message naming the key and file (the _req forms) or return a default
 * (the _opt forms). A key present with the wrong type is always an error.
 * Ownership: nv_json_load returns a cJSON tree the caller frees with
 * cJSON_Delete. `file` arguments are only used in messages.
 */
#ifndef NV_JSON_H
#define NV_JSON_H

#include <stdint.h>
#include <cjson/cJSON.h>

#include "core/error.h"

/* Memory budget: cJSON's tree costs ~80 bytes per value and ~32 bytes plus
 * the length per string, so a file of tiny values ("[0,0,0,...]") takes
 * ~40x its size. Before parsing, one pass over the text counts the values
 * and strings (an upper bound) and refuses a file whose tree would exceed
 * NV_JSON_TREE_RATIO x its size + NV_JSON_TREE_SLACK; real configs,
 * tokenizers and safetensors headers estimate 3-9x (docs/formats.md). */
#define NV_JSON_TREE_RATIO 12
#define NV_JSON_TREE_SLACK ((size_t)4 << 20)
/* The estimate in bytes (what the budget compares). */
size_t nv_json_tree_estimate(const char *text, size_t len);
/* 0 when text fits the budget; otherwise fails naming file and limit. */
int nv_json_check_budget(const char *text, size_t len, const char *file,
                         nv_error *err);

/* Files larger than max_bytes are refused (0 = 1 GiB default); both load
 * and parse apply the memory budget above. */
cJSON *nv_json_load(const char *path, size_t max_bytes, nv_error *err);
cJSON *nv_json_parse(const char *text, size_t len, const char *file,
                     nv_error *err);

/* Object member, or NULL. */
const cJSON *nv_json_get(const cJSON *obj, const char *key);

/* Integers are JSON numbers with no fraction, at most 2^53 in magnitude
 * (exact in a double); floats are finite JSON numbers. Anything else
 * (274.7, 1e300, 1e999 read as infinity) fails with a message naming the
 * file and the key, so callers only check their own ranges. */
int nv_json_int_req(const cJSON *obj, const char *key, const char *file,
                    int64_t *out, nv_error *err);
int nv_json_int_opt(const cJSON *obj, const char *key, const char *file,
                    int64_t def, int64_t *out, nv_error *err);
int nv_json_num_req(const cJSON *obj, const char *key, const char *file,
                    double *out, nv_error *err);
int nv_json_num_opt(const cJSON *obj, const char *key, const char *file,
                    double def, double *out, nv_error *err);
int nv_json_bool_opt(const cJSON *obj, const char *key, const char *file,
                     int def, int *out, nv_error *err);
/* The same checks on an item already in hand (an array element, or a key
 * read by hand): a whole number in [min, max], or a finite number in
 * [min, max]. `name` is what messages call it ("xattn_layers[2]"). Use
 * these, never a bare (int)it->valuedouble: that cast is undefined beyond
 * the int range and drops fractions silently. */
int nv_json_as_int(const cJSON *it, const char *name, const char *file,
                   int64_t min, int64_t max, int64_t *out, nv_error *err);
int nv_json_as_num(const cJSON *it, const char *name, const char *file,
                   double min, double max, double *out, nv_error *err);
/* The returned string points into the tree. */
int nv_json_str_req(const cJSON *obj, const char *key, const char *file,
                    const char **out, nv_error *err);
int nv_json_str_opt(const cJSON *obj, const char *key, const char *file,
                    const char *def, const char **out, nv_error *err);
/* Sub-object; _req fails when absent or not an object. */
int nv_json_obj_req(const cJSON *obj, const char *key, const char *file,
                    const cJSON **out, nv_error *err);

#endif
