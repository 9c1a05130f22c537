/* request.c - request bodies into checked requests; see request.h. */
#include "serve/request.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/strbuf.h"

int serve_fail(serve_err *e, int status, const char *param, const char *fmt,
               ...)
{
    e->status = status;
    e->type = status == 401 ? "authentication_error"
              : status >= 500 ? "server_error" : "invalid_request_error";
    e->param = param;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Standard base64 (the URL-safe letters too), whitespace skipped, padding
 * required: a length that is not a multiple of 4 was cut short. */
static int b64_decode(const char *s, const char *param, uint8_t **out,
                      size_t *out_len, serve_err *e)
{
    size_t n = strlen(s);
    uint8_t *buf = malloc(n / 4 * 3 + 3);
    if (!buf)
        return serve_fail(e, 413, param, "%s: image too large", param);
    size_t len = 0, quad = 0, pad = 0;
    unsigned acc = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
            acc <<= 6;
            quad++;
        } else {
            int v = b64_value(c);
            if (v < 0 || pad) {
                free(buf);
                return serve_fail(e, 400, param, "%s: invalid base64 (byte "
                                  "%zu of the data: '%c')", param, i,
                                  c >= 32 && c < 127 ? c : '?');
            }
            acc = acc << 6 | (unsigned)v;
            quad++;
        }
        if (quad == 4) {
            if (pad > 2) {
                free(buf);
                return serve_fail(e, 400, param, "%s: invalid base64 "
                                  "padding", param);
            }
            buf[len++] = (uint8_t)(acc >> 16);
            if (pad < 2)
                buf[len++] = (uint8_t)(acc >> 8);
            if (pad < 1)
                buf[len++] = (uint8_t)acc;
            quad = 0;
            acc = 0;
        }
    }
    if (quad != 0) {
        free(buf);
        return serve_fail(e, 400, param, "%s: truncated base64 (the data "
                          "ends inside a 4-character group)", param);
    }
    if (len == 0) {
        free(buf);
        return serve_fail(e, 400, param, "%s: the image data is empty",
                          param);
    }
    *out = buf;
    *out_len = len;
    return 0;
}

int serve_data_url(const char *url, const char *param, uint8_t **bytes,
                   size_t *len, serve_err *e)
{
    if (!strncasecmp(url, "http://", 7) || !strncasecmp(url, "https://", 8))
        return serve_fail(e, 400, param, "%s: image URLs are not fetched "
                          "(the server reaches nothing outside); send the "
                          "image inline as data:image/png;base64,... or "
                          "data:image/jpeg;base64,...", param);
    if (strncasecmp(url, "data:", 5))
        return serve_fail(e, 400, param, "%s: not a data: URL; send the "
                          "image as data:image/png;base64,...", param);
    const char *comma = strchr(url, ',');
    if (!comma)
        return serve_fail(e, 400, param, "%s: a data: URL without ','",
                          param);
    const char *type = url + 5;
    size_t meta = (size_t)(comma - type);
    if (meta < 6 || strncasecmp(type, "image/", 6))
        return serve_fail(e, 400, param, "%s: the data: URL is not an image "
                          "(its type must be image/png or image/jpeg)",
                          param);
    if (meta < 7 || strncasecmp(comma - 7, ";base64", 7))
        return serve_fail(e, 400, param, "%s: the data: URL must be base64 "
                          "(data:image/png;base64,...)", param);
    return b64_decode(comma + 1, param, bytes, len, e);
}

/* Decodes the bytes of an image into rgb; a non-image or one over the cap
 * is the client's error. */
static int decode_image(uint8_t *bytes, size_t len, const char *param,
                        int64_t max_pixels, nv_image *img, serve_err *e)
{
    nv_error ne = {{0}};
    int rc = nv_image_decode(bytes, len, param, max_pixels, img, &ne);
    free(bytes);
    if (rc)
        return serve_fail(e, 400, param, "%s", ne.msg);
    return 0;
}

static int image_from_url(const cJSON *url, const char *param,
                          int64_t max_pixels, nv_image *img, serve_err *e)
{
    if (!cJSON_IsString(url))
        return serve_fail(e, 400, param, "%s must be a string (a data: "
                          "URL)", param);
    uint8_t *bytes;
    size_t len;
    if (serve_data_url(url->valuestring, param, &bytes, &len, e))
        return -1;
    return decode_image(bytes, len, param, max_pixels, img, e);
}

static cJSON *parse_object(const char *body, size_t len, serve_err *e)
{
    if (len == 0) {
        serve_fail(e, 400, NULL, "the request body is empty (a JSON object "
                   "is expected)");
        return NULL;
    }
    /* cJSON's tree of "[0,0,...]" is ~40x the body: the budget of
     * core/json.h, before parsing */
    size_t est = nv_json_tree_estimate(body, len);
    if (est > len * NV_JSON_TREE_RATIO + NV_JSON_TREE_SLACK) {
        serve_fail(e, 400, NULL, "the JSON body of %zu bytes would take "
                   "~%zu MiB parsed, above the limit of %dx its size + "
                   "%zu MiB (too many small values)", len, est >> 20,
                   NV_JSON_TREE_RATIO, NV_JSON_TREE_SLACK >> 20);
        return NULL;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!j) {
        serve_fail(e, 400, NULL, "malformed JSON near byte %zu of the body",
                   end && end >= body ? (size_t)(end - body) : (size_t)0);
        return NULL;
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        serve_fail(e, 400, NULL, "the body must be a JSON object");
        return NULL;
    }
    return j;
}

/* An optional number field in [lo, hi]; whole when `integer`. */
static int num_field(const cJSON *o, const char *name, double lo, double hi,
                     int integer, double *out, serve_err *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return serve_fail(e, 400, name, "'%s' must be a number", name);
    double x = v->valuedouble;
    if (integer && x != floor(x))
        return serve_fail(e, 400, name, "'%s' must be a whole number", name);
    if (x < lo || x > hi)
        return serve_fail(e, 400, name, "'%s' is %g; it must be in [%g, %g]",
                          name, x, lo, hi);
    *out = x;
    return 0;
}

static int bool_field(const cJSON *o, const char *name, int *out,
                      serve_err *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsBool(v))
        return serve_fail(e, 400, name, "'%s' must be true or false", name);
    *out = cJSON_IsTrue(v);
    return 0;
}

static int model_field(const cJSON *o, const char **out, serve_err *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "model");
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return serve_fail(e, 400, "model", "'model' must be a string (GET "
                          "/v1/models lists them)");
    *out = v->valuestring;
    return 0;
}

/* Fields nvlm cannot honour, refused rather than silently ignored. */
static int refuse_unsupported(const cJSON *o, serve_err *e)
{
    static const char *const fields[] = {"tools", "functions", "tool_choice",
                                         "function_call", "response_format",
                                         "logit_bias"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, fields[i]);
        if (v && !cJSON_IsNull(v))
            return serve_fail(e, 400, fields[i], "'%s' is not supported by "
                              "nvlm", fields[i]);
    }
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(o, "logprobs");
    if (cJSON_IsTrue(lp))
        return serve_fail(e, 400, "logprobs", "'logprobs' is not supported "
                          "by nvlm");
    double n = 1;
    if (num_field(o, "n", 1, 1e9, 1, &n, e))
        return -1;
    if (n != 1)
        return serve_fail(e, 400, "n", "'n' must be 1: nvlm answers once per "
                          "request");
    return 0;
}

/* One content part of a user message. */
static int content_part(const cJSON *part, nv_strbuf *text, int64_t max_pixels,
                        nv_image *img, serve_err *e)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
    if (!cJSON_IsObject(part) || !cJSON_IsString(type))
        return serve_fail(e, 400, "messages", "each content part must be an "
                          "object with a \"type\" (\"text\" or "
                          "\"image_url\")");
    if (!strcmp(type->valuestring, "text")) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(t))
            return serve_fail(e, 400, "messages", "a text part needs "
                              "\"text\": a string");
        if (text->len)
            nv_strbuf_add(text, "\n");
        nv_strbuf_add(text, t->valuestring);
        return 0;
    }
    if (!strcmp(type->valuestring, "image_url")) {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(part, "image_url");
        if (cJSON_IsObject(u))
            u = cJSON_GetObjectItemCaseSensitive(u, "url");
        if (img->rgb)
            return serve_fail(e, 400, "messages", "more than one image: "
                              "nvlm's prompt holds one image per request");
        return image_from_url(u, "image_url", max_pixels, img, e);
    }
    return serve_fail(e, 400, "messages", "content part type '%.64s' is not "
                      "supported (\"text\" or \"image_url\")",
                      type->valuestring);
}

static int parse_messages(const cJSON *o, int64_t max_pixels,
                          serve_chat_req *r, serve_err *e)
{
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(o, "messages");
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
        return serve_fail(e, 400, "messages", "'messages' must be a non-empty "
                          "array");
    nv_strbuf text = {0};
    const cJSON *m;
    int rc = 0;
    cJSON_ArrayForEach(m, msgs) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role)) {
            rc = serve_fail(e, 400, "messages", "each message must be an "
                            "object with a \"role\"");
            break;
        }
        if (strcmp(role->valuestring, "user")) {
            rc = serve_fail(e, 400, "messages", "role '%.32s' is not "
                            "supported: nvlm answers one user turn (its "
                            "prompt has no system or earlier turns)",
                            role->valuestring);
            break;
        }
        if (cJSON_IsString(content)) {
            if (text.len)
                nv_strbuf_add(&text, "\n");
            nv_strbuf_add(&text, content->valuestring);
        } else if (cJSON_IsArray(content)) {
            const cJSON *part;
            cJSON_ArrayForEach(part, content) {
                if ((rc = content_part(part, &text, max_pixels, &r->image,
                                       e)))
                    break;
            }
            if (rc)
                break;
        } else {
            rc = serve_fail(e, 400, "messages", "a message's \"content\" must "
                            "be a string or an array of parts");
            break;
        }
    }
    if (!rc && text.len == 0 && !r->image.rgb)
        rc = serve_fail(e, 400, "messages", "the messages hold neither text "
                        "nor an image");
    nv_error ne = {{0}};
    int failed = text.failed;
    r->text = text.s ? nv_strbuf_finish(&text, &ne) : strdup("");
    if (!rc && (failed || !r->text))
        rc = serve_fail(e, 500, NULL, "out of memory");
    return rc;
}

static int parse_stop(const cJSON *o, serve_chat_req *r, serve_err *e)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "stop");
    if (!s || cJSON_IsNull(s))
        return 0;
    if (cJSON_IsString(s)) {
        r->stop[r->n_stop++] = s->valuestring;
        return 0;
    }
    if (!cJSON_IsArray(s) || cJSON_GetArraySize(s) > SERVE_MAX_STOP)
        return serve_fail(e, 400, "stop", "'stop' must be a string or an "
                          "array of at most %d strings", SERVE_MAX_STOP);
    const cJSON *it;
    cJSON_ArrayForEach(it, s) {
        if (!cJSON_IsString(it))
            return serve_fail(e, 400, "stop", "'stop' must hold strings");
        r->stop[r->n_stop++] = it->valuestring;
    }
    return 0;
}

int serve_chat_parse(const char *body, size_t len, int max_tokens,
                     int64_t max_pixels, serve_chat_req *r, serve_err *e)
{
    memset(r, 0, sizeof *r);
    nvlm_gen_params_init(&r->gen);
    r->gen.max_new_tokens = max_tokens < 256 ? max_tokens : 256;
    if (!(r->json = parse_object(body, len, e)))
        return -1;
    const cJSON *o = r->json;
    double maxtok = -1, temp = 0, top_p = 1, seed = 0;
    if (model_field(o, &r->model, e) || refuse_unsupported(o, e) ||
        num_field(o, "max_tokens", 1, max_tokens, 1, &maxtok, e) ||
        num_field(o, "max_completion_tokens", 1, max_tokens, 1, &maxtok, e) ||
        num_field(o, "temperature", 0, 2, 0, &temp, e) ||
        num_field(o, "top_p", 0, 1, 0, &top_p, e) ||
        num_field(o, "seed", 0, 9007199254740991.0, 1, &seed, e) ||
        bool_field(o, "stream", &r->stream, e) || parse_stop(o, r, e) ||
        parse_messages(o, max_pixels, r, e))
        return -1;
    if (top_p <= 0)
        return serve_fail(e, 400, "top_p", "'top_p' must be above 0");
    if (maxtok > 0)
        r->gen.max_new_tokens = (int)maxtok;
    r->gen.temperature = (float)temp;
    r->gen.top_p = (float)top_p;
    r->gen.seed = (uint64_t)seed;
    return 0;
}

void serve_chat_req_free(serve_chat_req *r)
{
    cJSON_Delete(r->json);
    free(r->text);
    nv_image_free(&r->image);
    memset(r, 0, sizeof *r);
}

int serve_table_parse(const char *body, size_t len, const char *content_type,
                      const char *query_model, const char *query_whole,
                      int max_tokens, int64_t max_pixels,
                      serve_table_req *r, serve_err *e)
{
    memset(r, 0, sizeof *r);
    if (content_type && !strncasecmp(content_type, "image/", 6)) {
        r->model = query_model;
        r->whole = query_whole && (!strcmp(query_whole, "1") ||
                                   !strcasecmp(query_whole, "true"));
        if (len == 0)
            return serve_fail(e, 400, "image", "the body (the image) is "
                              "empty");
        uint8_t *copy = malloc(len);
        if (!copy)
            return serve_fail(e, 500, NULL, "out of memory");
        memcpy(copy, body, len);
        return decode_image(copy, len, "image", max_pixels, &r->image, e);
    }
    if (!(r->json = parse_object(body, len, e)))
        return -1;
    const cJSON *o = r->json;
    double maxtok = 0, temp = 0, seed = 0;
    if (model_field(o, &r->model, e) || bool_field(o, "whole", &r->whole, e) ||
        num_field(o, "max_tokens", 1, max_tokens, 1, &maxtok, e) ||
        num_field(o, "temperature", 0, 2, 0, &temp, e) ||
        num_field(o, "seed", 0, 9007199254740991.0, 1, &seed, e))
        return -1;
    r->max_tokens = (int)maxtok;
    r->temperature = temp;
    r->seed = (uint64_t)seed;
    const cJSON *img = cJSON_GetObjectItemCaseSensitive(o, "image");
    if (cJSON_IsObject(img))
        img = cJSON_GetObjectItemCaseSensitive(img, "url");
    if (!img)
        return serve_fail(e, 400, "image", "'image' is missing: a data: URL "
                          "(data:image/png;base64,...), or send the image "
                          "itself with Content-Type: image/png");
    return image_from_url(img, "image", max_pixels, &r->image, e);
}

void serve_table_req_free(serve_table_req *r)
{
    cJSON_Delete(r->json);
    nv_image_free(&r->image);
    memset(r, 0, sizeof *r);
}
