/* chat.c - POST /v1/chat/completions: one user turn (text and at most one
 * image) through one head, answered whole or streamed as server-sent
 * events. The answer carries OpenAI's `usage` and nvlm's own numbers
 * (`nvlm`: head, tiles, image tokens in the decoder stream,
 * cross-attention keys, timings, tokens/s). A streamed generation runs on
 * its own thread and stops at the next token when the client goes away. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/answer.h"
#include "serve/server.h"
#include "serve/stream.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* One generation: the request, its slot and session, where it goes. */
typedef struct chat_job {
    serve_server *srv;
    serve_chat_req req;
    serve_slot slot;
    nvlm_session *session;
    serve_answer answer;
    serve_stream *stream;   /* NULL when answered whole */
    char id[48];
    time_t created;
    double t_start;
} chat_job;

static const char *model_id(const chat_job *j)
{
    return j->srv->heads.head[j->slot.head].id;
}

static const char *finish_reason(const chat_job *j)
{
    const char *why = nvlm_last_stats(j->session)->stop_reason;
    if (j->answer.stopped || !why || !strcmp(why, "eos"))
        return "stop";
    return "length";
}

static cJSON *usage_json(const nvlm_stats *st)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", st->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", st->generated_tokens);
    cJSON_AddNumberToObject(u, "total_tokens",
                            st->prompt_tokens + st->generated_tokens);
    return u;
}

/* nvlm's own numbers: what the head did with the image, and the times. */
static cJSON *nvlm_json(const chat_job *j)
{
    const nvlm_stats *st = nvlm_last_stats(j->session);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "fusion",
                            j->srv->heads.head[j->slot.head].fusion);
    cJSON_AddNumberToObject(o, "tiles", st->tiles);
    cJSON_AddNumberToObject(o, "image_tokens_in_stream",
                            st->image_tokens_in_stream);
    cJSON_AddNumberToObject(o, "xattn_tokens", st->xattn_tokens);
    cJSON_AddStringToObject(o, "stop_reason",
                            st->stop_reason ? st->stop_reason : "");
    cJSON *t = cJSON_AddObjectToObject(o, "timings_ms");
    cJSON_AddNumberToObject(t, "preprocess", st->ms_preprocess);
    cJSON_AddNumberToObject(t, "vision", st->ms_vision);
    cJSON_AddNumberToObject(t, "prefill", st->ms_prefill);
    cJSON_AddNumberToObject(t, "decode", st->ms_decode);
    cJSON_AddNumberToObject(t, "first_token", st->ms_first_token);
    cJSON_AddNumberToObject(t, "total", (now_s() - j->t_start) * 1e3);
    cJSON_AddNumberToObject(o, "tokens_per_second",
                            st->ms_decode > 0
                                ? st->generated_tokens / (st->ms_decode / 1e3)
                                : 0);
    return o;
}

/* Whether the generation must stop: the client went away or the server is
 * going down. */
static int should_stop(const chat_job *j)
{
    return (j->stream && serve_stream_cancelled(j->stream)) ||
           atomic_load(&j->srv->heads.cancel);
}

static void put_chunk(chat_job *j, const char *content, const char *role,
                      const char *finish, int last)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(o, "created", (double)j->created);
    cJSON_AddStringToObject(o, "model", model_id(j));
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON *delta = cJSON_AddObjectToObject(c, "delta");
    if (role)
        cJSON_AddStringToObject(delta, "role", role);
    if (content)
        cJSON_AddStringToObject(delta, "content", content);
    if (finish)
        cJSON_AddStringToObject(c, "finish_reason", finish);
    else
        cJSON_AddNullToObject(c, "finish_reason");
    if (last) {
        cJSON_AddItemToObject(o, "usage",
                              usage_json(nvlm_last_stats(j->session)));
        cJSON_AddItemToObject(o, "nvlm", nvlm_json(j));
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        return;
    serve_stream_put(j->stream, "data: ", 6);
    serve_stream_put(j->stream, text, strlen(text));
    serve_stream_put(j->stream, "\n\n", 2);
    free(text);
}

static int on_token(void *user, int32_t id, const char *bytes, size_t len)
{
    (void)id;
    chat_job *j = user;
    if (should_stop(j))
        return 1;
    int rc = serve_answer_add(&j->answer, bytes, len);
    if (rc < 0)
        return 1;
    if (j->stream) {
        char *piece = serve_answer_take(&j->answer, 0);
        if (piece && piece[0])
            put_chunk(j, piece, NULL, NULL, 0);
        free(piece);
    }
    return rc;
}

/* A failed generation: the message decides whose fault it was. */
static void generation_error(const char *msg, serve_err *e)
{
    int client = strstr(msg, "context") || strstr(msg, "token") ||
                 strstr(msg, "image");
    serve_fail(e, client ? 400 : 500, NULL, "%s", msg);
}

static void job_free(chat_job *j)
{
    const nvlm_stats *st = j->session ? nvlm_last_stats(j->session) : NULL;
    if (st && st->stop_reason)
        serve_metrics_run(&j->srv->metrics, j->slot.head, st->prompt_tokens,
                          st->generated_tokens, now_s() - j->t_start);
    nvlm_session_free(j->session);
    serve_answer_free(&j->answer);
    serve_chat_req_free(&j->req);
    serve_slot slot = j->slot;
    serve_heads *heads = &j->srv->heads;
    free(j);
    /* Last: once the slot is back the server may shut down. */
    serve_heads_release(heads, &slot);
}

static void *stream_main(void *arg)
{
    chat_job *j = arg;
    char err[1024];
    put_chunk(j, "", "assistant", NULL, 0);
    if (nvlm_generate(j->session, &j->req.gen, on_token, j, err,
                      sizeof err) == 0) {
        char *rest = serve_answer_take(&j->answer, 1);
        if (rest && rest[0])
            put_chunk(j, rest, NULL, NULL, 0);
        free(rest);
        put_chunk(j, NULL, NULL, finish_reason(j), 1);
    } else {
        serve_err e;
        generation_error(err, &e);
        cJSON *o = cJSON_CreateObject();
        cJSON *eo = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(eo, "message", e.msg);
        cJSON_AddStringToObject(eo, "type", e.type);
        char *text = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (text) {
            serve_stream_put(j->stream, "data: ", 6);
            serve_stream_put(j->stream, text, strlen(text));
            serve_stream_put(j->stream, "\n\n", 2);
        }
        free(text);
    }
    serve_stream_put(j->stream, "data: [DONE]\n\n", 14);
    serve_stream_close(j->stream);
    job_free(j);
    return NULL;
}

static serve_reply start_stream(chat_job *j)
{
    serve_err e;
    j->stream = serve_stream_new();
    struct MHD_Response *resp =
        j->stream ? MHD_create_response_from_callback(
                        MHD_SIZE_UNKNOWN, 4096, serve_stream_read, j->stream,
                        serve_stream_release)
                  : NULL;
    if (!resp) {
        if (j->stream) {
            serve_stream_release(j->stream);
            serve_stream_close(j->stream);
        }
        job_free(j);
        serve_fail(&e, 500, NULL, "out of memory");
        return serve_reply_error(&e);
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int rc = pthread_create(&t, &attr, stream_main, j);
    pthread_attr_destroy(&attr);
    if (rc) {
        serve_stream_close(j->stream); /* the response's reference stays */
        MHD_destroy_response(resp);
        job_free(j);
        serve_fail(&e, 503, NULL, "cannot start a thread for the stream");
        return serve_reply_error(&e);
    }
    return (serve_reply){resp, 200};
}

static serve_reply answer_whole(chat_job *j)
{
    char err[1024];
    serve_err e;
    if (nvlm_generate(j->session, &j->req.gen, on_token, j, err,
                      sizeof err)) {
        generation_error(err, &e);
        job_free(j);
        return serve_reply_error(&e);
    }
    char *text = serve_answer_text(&j->answer);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "object", "chat.completion");
    cJSON_AddNumberToObject(o, "created", (double)j->created);
    cJSON_AddStringToObject(o, "model", model_id(j));
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON *msg = cJSON_AddObjectToObject(c, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON_AddStringToObject(msg, "content", text ? text : "");
    cJSON_AddStringToObject(c, "finish_reason", finish_reason(j));
    cJSON_AddItemToObject(o, "usage", usage_json(nvlm_last_stats(j->session)));
    cJSON_AddItemToObject(o, "nvlm", nvlm_json(j));
    free(text);
    job_free(j);
    return serve_reply_json(o, 200);
}

serve_reply serve_chat(serve_server *srv, const char *body, size_t len)
{
    serve_err e;
    chat_job *j = calloc(1, sizeof *j);
    if (!j) {
        serve_fail(&e, 500, NULL, "out of memory");
        return serve_reply_error(&e);
    }
    j->srv = srv;
    j->t_start = now_s();
    j->created = time(NULL);
    snprintf(j->id, sizeof j->id, "chatcmpl-nvlm-%lu",
             atomic_fetch_add(&srv->next_id, 1) + 1);
    if (serve_chat_parse(body, len, srv->cfg->max_tokens,
                         srv->cfg->max_pixels, &j->req, &e))
        goto fail;
    int head = serve_heads_find(&srv->heads, j->req.model);
    if (head < 0) {
        serve_fail(&e, 404, "model", "model '%.100s' is not loaded (GET "
                   "/v1/models lists them)", j->req.model);
        goto fail;
    }
    if (serve_slot_or_error(srv, head, &j->slot, &e))
        goto fail;
    serve_answer_stops(&j->answer, j->req.stop, j->req.n_stop);
    char err[1024];
    nvlm_session *s = nvlm_session_new(j->slot.model, err, sizeof err);
    j->session = s;
    int rc = s ? 0 : -1;
    if (!rc && j->req.image.rgb)
        rc = nvlm_add_image_rgb(s, j->req.image.width, j->req.image.height,
                                j->req.image.rgb, err, sizeof err);
    if (!rc && j->req.text[0])
        rc = nvlm_add_text(s, j->req.text, err, sizeof err);
    if (rc) {
        serve_fail(&e, s ? 400 : 500, "messages", "%s", err);
        goto fail;
    }
    return j->req.stream ? start_stream(j) : answer_whole(j);
fail:
    job_free(j);
    return serve_reply_error(&e);
}
