/* cmd_ask.c - `nvlm ask`: answer a question about an image, streaming the
 * answer, or printing one JSON object with --json.
 *
 *   nvlm ask -m DIR --image IMG -p "question" [--fusion d|x|h] [-n N]
 *            [--temp T] [--top-k K] [--top-p P] [--seed S] [-t N]
 *            [--max-tiles N] [--ctx N] [--json] [--raw-prompt]
 *
 * Flags follow llama.cpp's where they mean the same. Everything goes
 * through nvlm.h.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/files.h"
#include "cli/model_path.h"
#include "nvlm.h"
#include "text/utf8.h"

struct ask_args {
    const char *model;
    const char *image;
    const char *prompt;
    nvlm_options opt;
    nvlm_gen_params gen;
    char fusion[2]; /* --fusion, parsed: "d", "x", "h" or "" */
    int json;
};

static void usage(FILE *out)
{
    fprintf(out,
        "usage: nvlm ask [-m DIR] [--image IMG] -p TEXT [options]\n"
        "\n"
        "Answers TEXT about IMG and streams the answer to stdout.\n"
        "\n"
        "  -m, --model DIR     model directory (config.json, model.safetensors,\n"
        "                      tokenizer.json); default: the bundled model\n"
        "  --image IMG         the image (PNG, JPEG, BMP, GIF, TGA, PNM;\n"
        "                      \"-\": read from standard input)\n"
        "  -p, --prompt TEXT   the question\n"
        "  --fusion d|x|h      the fusion head (default: the model's)\n"
        "  -n, --n-predict N   most tokens to generate (default 256)\n"
        "  --temp T            temperature; 0 = greedy (default 0)\n"
        "  --top-k K           keep the K most likely tokens (0 = off)\n"
        "  --top-p P           nucleus sampling (1 = off)\n"
        "  --seed S            sampling seed (default 0)\n"
        "  -t, --threads N     threads (default: all cores)\n"
        NV_ARG_DTYPE_HELP
        "  --max-tiles N       most image tiles, thumbnail not counted\n"
        "  --max-pixels N      refuse larger images (default 64000000)\n"
        "  -c, --ctx N         context length in tokens (default 4096)\n"
        "  --ignore-eos        do not stop at <|im_end|> or eos\n"
        "  --raw-prompt        no chat template: tokenize TEXT as given, the\n"
        "                      image at the model's marker: <image>\n"
        "                      (NVLM-D, InternVL, LLaVA, Idefics3) or\n"
        "                      <|image|> (Llama 3.2 Vision)\n"
        "  --json              print one JSON object (ids, text, stop_reason,\n"
        "                      timings)\n"
        "\n"
        "When the answer stops on the -n limit or a full context rather than\n"
        "at the model's end, stderr says so (--json: \"stop_reason\").\n"
        "  -h, --help          this text\n");
}

static int parse_args(int argc, char **argv, struct ask_args *a, int *done)
{
    *done = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int m;
        int64_t n;
        double f;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            *done = 1;
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            a->json = 1;
        } else if (!strcmp(argv[i], "--raw-prompt")) {
            a->gen.raw_prompt = 1;
        } else if (!strcmp(argv[i], "--ignore-eos")) {
            a->gen.ignore_eos = 1;
        } else if ((m = nv_arg_value("ask", argc, argv, &i, "--model", "-m",
                                     &v))) {
            if (m < 0 || nv_arg_once("ask", "-m", v, &a->model))
                return 2;
        } else if ((m = nv_arg_value("ask", argc, argv, &i, "--image", NULL,
                                     &v))) {
            if (m < 0 || nv_arg_once("ask", "--image", v, &a->image))
                return 2;
        } else if ((m = nv_arg_value("ask", argc, argv, &i, "--prompt", "-p",
                                     &v))) {
            if (m < 0 || nv_arg_once("ask", "-p", v, &a->prompt))
                return 2;
        } else if ((m = nv_arg_value("ask", argc, argv, &i, "--fusion", NULL,
                                     &v))) {
            if (m < 0 || nv_arg_fusions("ask", v, a->fusion, sizeof a->fusion))
                return 2;
            a->opt.fusion = a->fusion;
        } else if ((m = nv_arg_value("ask", argc, argv, &i, "--n-predict",
                                     "-n", &v))) {
            if (m < 0 || nv_arg_int("ask", "-n", v, 0, 1 << 20, &n))
                return 2;
            a->gen.max_new_tokens = (int)n;
        } else if ((m = nv_arg_value("ask", argc, argv, &i, "--temp", NULL,
                                     &v))) {
            if (m < 0 || nv_arg_float("ask", "--temp", v, 0, 100, &f))
                return 2;
            a->gen.temperature = (float)f;
        } else if ((m = nv_arg_value("ask", argc, argv, &i, "--top-k", NULL,
                                     &v))) {
            if (m < 0 || nv_arg_int("ask", "--top-k", v, 0, 1 << 30, &n))
                return 2;
            a->gen.top_k = (int)n;
        } else if ((m = nv_arg_value("ask", argc, argv, &i, "--top-p", NULL,
                                     &v))) {
            if (m < 0 || nv_arg_float("ask", "--top-p", v, 0, 1, &f))
                return 2;
            a->gen.top_p = (float)f;
        } else if ((m = nv_arg_value("ask", argc, argv, &i, "--seed", NULL,
                                     &v))) {
            if (m < 0 || nv_arg_int("ask", "--seed", v, 0, INT64_MAX, &n))
                return 2;
            a->gen.seed = (uint64_t)n;
        } else if ((m = nv_arg_value("ask", argc, argv, &i, "--dtype", NULL,
                                     &v))) {
            if (m < 0 || nv_arg_dtype("ask", v, &a->opt.dtype))
                return 2;
        } else if ((m = nv_arg_value("ask", argc, argv, &i, "--threads",
                                     "-t", &v))) {
            if (m < 0 ||
                nv_arg_int("ask", "-t", v, 1, NV_ARG_MAX_THREADS, &n))
                return 2;
            a->opt.threads = (int)n;
        } else if ((m = nv_arg_value("ask", argc, argv, &i, "--max-tiles",
                                     NULL, &v))) {
            if (m < 0 || nv_arg_int("ask", "--max-tiles", v, 1, 256, &n))
                return 2;
            a->opt.max_tiles = (int)n;
        } else if ((m = nv_arg_value("ask", argc, argv, &i, "--max-pixels",
                                     NULL, &v))) {
            if (m < 0 ||
                nv_arg_int("ask", "--max-pixels", v, 1, (int64_t)1 << 48, &n))
                return 2;
            a->opt.max_pixels = n;
        } else if ((m = nv_arg_value("ask", argc, argv, &i, "--ctx", "-c",
                                     &v))) {
            if (m < 0 || nv_arg_int("ask", "--ctx", v, 16, 1 << 20, &n))
                return 2;
            a->opt.max_context = (int)n;
        } else {
            fprintf(stderr, "nvlm ask: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!a->prompt) {
        if (a->image)
            fprintf(stderr, "nvlm ask: -p TEXT is required: the question "
                    "about %s\n", a->image);
        else
            fprintf(stderr, "nvlm ask: nothing to ask: -p TEXT is required "
                    "(the question), with --image IMG for a picture\n");
        fprintf(stderr, "'nvlm ask --help' lists the options\n");
        return 2;
    }
    return 0;
}

/* Collects the answer bytes (for --json) or streams them. */
struct answer {
    char *text;
    size_t len, cap;
    int stream;
};

static int on_token(void *user, int32_t id, const char *bytes, size_t len)
{
    (void)id;
    struct answer *a = user;
    if (a->stream) {
        fwrite(bytes, 1, len, stdout);
        fflush(stdout);
        return 0;
    }
    if (a->len + len + 1 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        while (cap < a->len + len + 1)
            cap *= 2;
        char *t = realloc(a->text, cap);
        if (!t)
            return 1;
        a->text = t;
        a->cap = cap;
    }
    memcpy(a->text + a->len, bytes, len);
    a->len += len;
    a->text[a->len] = '\0';
    return 0;
}

/* JSON strings must be UTF-8, and generated bytes need not be (a token
 * may end inside a character): invalid sequences become U+FFFD. */
static char *valid_utf8(const char *s, size_t n)
{
    nv_error e = {{0}};
    size_t len;
    return nv_utf8_repair(s, n, &len, &e);
}

static cJSON *ids_json(const int32_t *ids, int n)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids[i]));
    return arr;
}

static int print_json(const nvlm_model *m, const nvlm_session *s,
                      const struct answer *ans)
{
    int np = 0, ng = 0;
    const int32_t *pids = nvlm_prompt_ids(s, &np);
    const int32_t *gids = nvlm_generated_ids(s, &ng);
    const nvlm_stats *st = nvlm_last_stats(s);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "fusion", nvlm_fusion(m));
    cJSON_AddItemToObject(o, "prompt_ids", ids_json(pids, np));
    cJSON_AddItemToObject(o, "generated_ids", ids_json(gids, ng));
    char *text = valid_utf8(ans->text ? ans->text : "", ans->len);
    cJSON_AddStringToObject(o, "text", text ? text : "");
    free(text);
    cJSON_AddStringToObject(o, "stop_reason", st->stop_reason);
    cJSON_AddNumberToObject(o, "tiles", st->tiles);
    cJSON_AddNumberToObject(o, "image_tokens_in_stream",
                            st->image_tokens_in_stream);
    cJSON_AddNumberToObject(o, "xattn_tokens", st->xattn_tokens);
    cJSON *t = cJSON_AddObjectToObject(o, "timings_ms");
    cJSON_AddNumberToObject(t, "preprocess", st->ms_preprocess);
    cJSON_AddNumberToObject(t, "vision", st->ms_vision);
    cJSON_AddNumberToObject(t, "prefill", st->ms_prefill);
    cJSON_AddNumberToObject(t, "decode", st->ms_decode);
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    if (!txt)
        return 1;
    printf("%s\n", txt);
    free(txt);
    return 0;
}

/* A cut-off or empty answer must not pass for a whole one: says why the
 * generation stopped when it was not the model's own end. */
static void note_stop(const nvlm_session *s, const struct ask_args *a)
{
    const nvlm_stats *st = nvlm_last_stats(s);
    const char *why = st->stop_reason;
    if (!strcmp(why, "limit") && !a->gen.ignore_eos)
        fprintf(stderr, "nvlm ask: stopped at the limit of %d new tokens; "
                "the answer may be cut off (-n N for more)\n",
                a->gen.max_new_tokens);
    else if (!strcmp(why, "context"))
        fprintf(stderr, "nvlm ask: stopped: the context of %d tokens is "
                "full (the prompt took %d); the answer may be cut off (-c N "
                "for more)\n", a->opt.max_context > 0 ? a->opt.max_context
                                                     : 4096,
                st->prompt_tokens);
    else if (!strcmp(why, "eos") && st->generated_tokens <= 1)
        fprintf(stderr, "nvlm ask: the model's answer is empty (it ended at "
                "once)%s\n", a->image ? "" : "; no --image was given");
}

int nv_cmd_ask(int argc, char **argv)
{
    struct ask_args a;
    memset(&a, 0, sizeof a);
    nvlm_options_init(&a.opt);
    nvlm_gen_params_init(&a.gen);
    int done = 0;
    int rc = parse_args(argc, argv, &a, &done);
    if (rc || done)
        return rc;
    char model_dir[4096];
    if (nv_cli_model_dir("ask", a.model, model_dir, sizeof model_dir))
        return 1;
    char stdin_path[4096] = "";
    const char *image_file = a.image;
    if (a.image && !strcmp(a.image, "-")) {
        if (nv_cli_stdin_image("ask", NV_CLI_STDIN_IMAGE_MAX, stdin_path,
                               sizeof stdin_path))
            return 1;
        image_file = stdin_path;
    }
    char err[1024];
    nvlm_model *m = nvlm_load(model_dir, &a.opt, err, sizeof err);
    if (!m) {
        fprintf(stderr, "nvlm ask: %s\n", err);
        if (stdin_path[0])
            unlink(stdin_path);
        return 1;
    }
    if (nvlm_model_warning(m))
        fprintf(stderr, "nvlm ask: note: %s\n", nvlm_model_warning(m));
    nvlm_session *s = nvlm_session_new(m, err, sizeof err);
    struct answer ans = {.stream = !a.json};
    rc = s ? 0 : -1;
    if (!rc && a.image)
        rc = nvlm_add_image_file(s, image_file, err, sizeof err);
    else if (!rc)
        fprintf(stderr, "nvlm ask: note: no --image given: the model answers "
                "from the text alone\n");
    if (!rc)
        rc = nvlm_add_text(s, a.prompt, err, sizeof err);
    if (!rc)
        rc = nvlm_generate(s, &a.gen, on_token, &ans, err, sizeof err);
    int status = 0;
    if (rc) {
        fprintf(stderr, "nvlm ask: %s\n", err);
        status = 1;
    } else {
        if (a.json)
            status = print_json(m, s, &ans);
        else
            printf("\n");
        /* After the answer: stderr and a streamed answer may share a
         * terminal. */
        fflush(stdout);
        note_stop(s, &a);
    }
    free(ans.text);
    nvlm_session_free(s);
    nvlm_free(m);
    if (stdin_path[0])
        unlink(stdin_path);
    return status;
}
