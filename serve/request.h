/* request.h - what a request's JSON body asks for, checked: the messages of
 * a chat completion (text parts and one image as a data: URL), the typed
 * sampling fields, the image of /v1/tables. Every refusal is a serve_err
 * that names the field and says what was wrong, for an OpenAI-style error
 * object with a 4xx status; nothing here touches a model. */
#ifndef NV_SERVE_REQUEST_H
#define NV_SERVE_REQUEST_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "nvlm.h"
#include "serve/answer.h"
#include "vision/image.h"

typedef struct serve_err {
    int status;         /* HTTP status: 400, 401, 404, 413, 503, ... */
    const char *type;   /* "invalid_request_error", "server_error", ... */
    const char *param;  /* the field at fault, or NULL */
    char msg[1100];
} serve_err;

/* Fills e and returns -1. */
int serve_fail(serve_err *e, int status, const char *param, const char *fmt,
               ...) __attribute__((format(printf, 4, 5)));

typedef struct serve_chat_req {
    cJSON *json;        /* the parsed body (owns the strings below) */
    const char *model;  /* "model", NULL when absent */
    char *text;         /* the user's text parts joined by newlines */
    nv_image image;     /* the decoded image; rgb NULL when none */
    nvlm_gen_params gen;
    const char *stop[SERVE_MAX_STOP];
    int n_stop;
    int stream;
} serve_chat_req;

/* Parses a chat completion body. max_tokens caps "max_tokens";
 * max_pixels the image. */
int serve_chat_parse(const char *body, size_t len, int max_tokens,
                     int64_t max_pixels, serve_chat_req *out, serve_err *e);
void serve_chat_req_free(serve_chat_req *r);

typedef struct serve_table_req {
    cJSON *json;        /* NULL when the body was the image itself */
    const char *model;
    nv_image image;
    int whole;
    int max_tokens;     /* 0: the command's default */
    double temperature;
    uint64_t seed;
} serve_table_req;

/* A /v1/tables body: JSON ({"image": "data:...", "model", "whole",
 * "max_tokens", "temperature", "seed"}) or, when content_type is image/...,
 * the image's bytes (model and whole then come from the query: `model`,
 * `whole` are given here as query_model / query_whole, may be NULL). */
int serve_table_parse(const char *body, size_t len, const char *content_type,
                      const char *query_model, const char *query_whole,
                      int max_tokens, int64_t max_pixels,
                      serve_table_req *out, serve_err *e);
void serve_table_req_free(serve_table_req *r);

/* Decodes a "data:image/...;base64,..." URL into bytes (malloc'd). Other
 * URLs (http, https, file) are refused: the server fetches nothing. */
int serve_data_url(const char *url, const char *param, uint8_t **bytes,
                   size_t *len, serve_err *e);

#endif
