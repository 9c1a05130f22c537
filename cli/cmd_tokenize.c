/* cmd_tokenize.c - `nvlm tokenize`: prints the token ids of a text, one
 * `id -> 'text'` per line like llama.cpp's tokenize tool, or as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli/commands.h"
#include "cli/files.h"
#include "cli/model_path.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

static void usage(FILE *out)
{
    fprintf(out,
        "usage: nvlm tokenize [-m DIR | --tokenizer FILE] [--json | --count]\n"
        "                     [--no-special] (TEXT | -f FILE)\n"
        "\n"
        "Prints the token ids of TEXT (or of the contents of FILE; '-' is\n"
        "standard input). No BOS/EOS is added.\n"
        "\n"
        "  -m, --model DIR     model directory: tokenizer.json, or vocab.json +\n"
        "                      merges.txt (+ tokenizer_config.json);\n"
        "                      default: the bundled model\n"
        "  --tokenizer FILE    a Hugging Face tokenizer.json\n"
        "  --json              print {\"ids\": [...], \"pieces\": [...]}; pieces\n"
        "                      are the vocabulary strings (\"\\u0120world\")\n"
        "  --no-special        read special tokens such as <|im_end|> as text\n"
        "  --count             print only the number of tokens, and the load\n"
        "                      and encode times on stderr\n"
        "  -f FILE             read the text from FILE\n"
        "  --                  the next argument is TEXT, even if it starts\n"
        "                      with '-'\n"
        "\n"
        "Plain output is one `id -> 'text'` line per token, the text being\n"
        "the token's bytes with control characters and bytes of a character\n"
        "cut between tokens written as escapes.\n");
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Writes a token's bytes readably: valid UTF-8 as is, controls and stray
 * bytes escaped. */
static void print_bytes(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp;
        size_t n = c < 0x80 ? 1 : nv_utf8_decode(s + i, len - i, &cp);
        if (n == 0) {
            printf("\\x%02X", c);
            n = 1;
        } else if (c == '\n') {
            fputs("\\n", stdout);
        } else if (c == '\t') {
            fputs("\\t", stdout);
        } else if (c == '\r') {
            fputs("\\r", stdout);
        } else if (c < 0x20 || c == 0x7F) {
            printf("\\x%02X", c);
        } else {
            fwrite(s + i, 1, n, stdout);
        }
        i += n;
    }
}

static int print_json(const nv_tokenizer *tok, const int32_t *ids, size_t n)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *jids = cJSON_AddArrayToObject(root, "ids");
    cJSON *jpieces = cJSON_AddArrayToObject(root, "pieces");
    int ok = root && jids && jpieces;
    for (size_t i = 0; i < n && ok; i++) {
        const char *piece = nv_tokenizer_piece(tok, ids[i]);
        cJSON *num = cJSON_CreateNumber(ids[i]);
        cJSON *str = cJSON_CreateString(piece ? piece : "");
        ok = num && str;
        if (num)
            cJSON_AddItemToArray(jids, num);
        if (str)
            cJSON_AddItemToArray(jpieces, str);
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) {
        fprintf(stderr, "nvlm tokenize: out of memory\n");
        return 1;
    }
    printf("%s\n", text);
    cJSON_free(text);
    return 0;
}

int nv_cmd_tokenize(int argc, char **argv)
{
    const char *model_dir = NULL, *tokenizer_file = NULL, *text_file = NULL;
    const char *text_arg = NULL;
    int json = 0, count = 0, parse_special = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has_value) {
            model_dir = argv[++i];
        } else if (!strcmp(a, "--tokenizer") && has_value) {
            tokenizer_file = argv[++i];
        } else if (!strcmp(a, "-f") && has_value) {
            text_file = argv[++i];
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--count")) {
            count = 1;
        } else if (!strcmp(a, "--no-special")) {
            parse_special = 0;
        } else if (!strcmp(a, "--")) {
            if (i + 2 != argc || text_arg) {
                usage(stderr);
                return 2;
            }
            text_arg = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "nvlm tokenize: unknown or incomplete option "
                            "'%s'\n", a);
            usage(stderr);
            return 2;
        } else if (!text_arg) {
            text_arg = a;
        } else {
            fprintf(stderr, "nvlm tokenize: give the text as one argument\n");
            return 2;
        }
    }
    /* Each refusal says which rule was broken, then where the help is. */
    const char *why = model_dir && tokenizer_file
                          ? "give -m DIR or --tokenizer FILE, not both"
                      : text_arg && text_file ? "give TEXT or -f FILE, not both"
                      : !text_arg && !text_file
                          ? "no text: give TEXT or -f FILE"
                      : json && count ? "give --json or --count, not both"
                                      : NULL;
    if (why) {
        fprintf(stderr, "nvlm tokenize: %s; 'nvlm tokenize --help' lists "
                "the options\n", why);
        return 2;
    }
    char bundled[4096];
    if (!model_dir && !tokenizer_file) {
        if (nv_cli_model_dir("tokenize", NULL, bundled, sizeof bundled))
            return 1;
        model_dir = bundled;
    }
    size_t len = 0;
    char *file_text = NULL;
    nv_error err = {{0}};
    if (text_file) {
        file_text = nv_cli_read_file(text_file, (size_t)1 << 31, &len, &err);
        if (!file_text) {
            fprintf(stderr, "nvlm tokenize: %s\n", err.msg);
            return 1;
        }
    } else {
        len = strlen(text_arg);
    }
    const char *text = file_text ? file_text : text_arg;
    double t0 = seconds_now();
    nv_tokenizer *tok = model_dir ? nv_tokenizer_load_dir(model_dir, &err)
                                  : nv_tokenizer_load_json(tokenizer_file,
                                                           &err);
    double t1 = seconds_now();
    int32_t *ids = NULL;
    size_t n = 0;
    int status = 0;
    if (!tok || nv_tokenizer_encode(tok, text, len, parse_special, &ids, &n,
                                    &err) < 0) {
        fprintf(stderr, "nvlm tokenize: %s\n", err.msg);
        status = 1;
    } else if (count) {
        double t2 = seconds_now();
        printf("%zu\n", n);
        fprintf(stderr, "loaded in %.3f s; encoded %zu bytes in %.3f s "
                        "(%.2f MB/s)\n", t1 - t0, len, t2 - t1,
                t2 > t1 ? (double)len / 1e6 / (t2 - t1) : 0.0);
    } else if (json) {
        status = print_json(tok, ids, n);
    } else {
        for (size_t i = 0; i < n; i++) {
            size_t blen = 0;
            const char *b = nv_tokenizer_token_bytes(tok, ids[i], &blen);
            printf("%6d -> '", ids[i]);
            print_bytes(b ? b : "", b ? blen : 0);
            printf("'\n");
        }
    }
    free(ids);
    free(file_text);
    nv_tokenizer_free(tok);
    return status;
}
