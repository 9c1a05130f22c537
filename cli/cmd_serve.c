/* cmd_serve.c - `nvlm serve`: parses the options and hands them to the
 * server (serve/serve.h; docs/serve.md).
 *
 *   nvlm serve [-m DIR] [--host 127.0.0.1] [--port 8080] [--fusion d,x,h]
 *              [-t N] [--parallel N] [--queue N] [--max-body BYTES]
 *              [--max-pixels N] [--max-tokens N] [--api-key KEY]
 *              [--grace S]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_path.h"
#include "serve/serve.h"

static void usage(FILE *out)
{
    fprintf(out,
        "usage: nvlm serve [-m DIR] [--host ADDR] [--port N] [--fusion d,x,h]\n"
        "                  [-t N] [--parallel N] [--queue N] [--max-body BYTES]\n"
        "                  [--max-pixels N] [--max-tokens N] [--api-key KEY]\n"
        "                  [--grace S]\n"
        "\n"
        "Serves the model's fusion heads over HTTP: the OpenAI chat\n"
        "completions API (POST /v1/chat/completions), POST /v1/tables, GET\n"
        "/v1/models, /health, /metrics, and a page at / that shows the D, X\n"
        "and H answers side by side (docs/serve.md).\n"
        "\n"
        "  -m, --model DIR     model directory (default: the bundled model)\n"
        "  --host ADDR         address to listen on (default 127.0.0.1)\n"
        "  --port N            port (default 8080; 0: any free port, printed)\n"
        "  --fusion d,x,h      the heads to load (default: all the model has)\n"
        "  -t, --threads N     threads per running request (default: cores /\n"
        "                      --parallel)\n"
        "  --parallel N        requests that run at once (default 1); each\n"
        "                      head is loaded N times\n"
        "  --queue N           requests that may wait for a slot (default 16);\n"
        "                      past that: 503 with Retry-After\n"
        "  --max-body BYTES    largest request body (default 16000000)\n"
        "  --max-pixels N      largest image in pixels (default 16000000)\n"
        "  --max-tokens N      most tokens a request may ask for (default 4096)\n"
        "  --api-key KEY       ask every request for 'Authorization: Bearer\n"
        "                      KEY' (default: $NVLM_API_KEY, else none)\n"
        "  --grace S           on SIGINT/SIGTERM, seconds running requests\n"
        "                      may finish in before they are cancelled\n"
        "                      (default 10)\n"
        "  -h, --help          this text\n");
}

static int parse_args(int argc, char **argv, serve_config *c, char *fusions,
                      int *done)
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
        } else if ((m = nv_arg_value("serve", argc, argv, &i, "--model", "-m",
                                     &v))) {
            if (m < 0 || nv_arg_once("serve", "-m", v, &c->model_dir))
                return 2;
        } else if ((m = nv_arg_value("serve", argc, argv, &i, "--host", NULL,
                                     &v))) {
            if (m < 0)
                return 2;
            c->host = v;
        } else if ((m = nv_arg_value("serve", argc, argv, &i, "--port", NULL,
                                     &v))) {
            if (m < 0 || nv_arg_int("serve", "--port", v, 0, 65535, &n))
                return 2;
            c->port = (int)n;
        } else if ((m = nv_arg_value("serve", argc, argv, &i, "--fusion",
                                     NULL, &v))) {
            if (m < 0 || nv_arg_fusions("serve", v, fusions, 4))
                return 2;
        } else if ((m = nv_arg_value("serve", argc, argv, &i, "--threads",
                                     "-t", &v))) {
            if (m < 0 ||
                nv_arg_int("serve", "-t", v, 1, NV_ARG_MAX_THREADS, &n))
                return 2;
            c->threads = (int)n;
        } else if ((m = nv_arg_value("serve", argc, argv, &i, "--parallel",
                                     NULL, &v))) {
            if (m < 0 || nv_arg_int("serve", "--parallel", v, 1, 64, &n))
                return 2;
            c->parallel = (int)n;
        } else if ((m = nv_arg_value("serve", argc, argv, &i, "--queue", NULL,
                                     &v))) {
            if (m < 0 || nv_arg_int("serve", "--queue", v, 0, 4096, &n))
                return 2;
            c->queue = (int)n;
        } else if ((m = nv_arg_value("serve", argc, argv, &i, "--max-body",
                                     NULL, &v))) {
            if (m < 0 || nv_arg_int("serve", "--max-body", v, 1024,
                                    (int64_t)1 << 32, &n))
                return 2;
            c->max_body = (size_t)n;
        } else if ((m = nv_arg_value("serve", argc, argv, &i, "--max-pixels",
                                     NULL, &v))) {
            if (m < 0 || nv_arg_int("serve", "--max-pixels", v, 1,
                                    (int64_t)1 << 40, &n))
                return 2;
            c->max_pixels = n;
        } else if ((m = nv_arg_value("serve", argc, argv, &i, "--max-tokens",
                                     NULL, &v))) {
            if (m < 0 || nv_arg_int("serve", "--max-tokens", v, 1, 1 << 20,
                                    &n))
                return 2;
            c->max_tokens = (int)n;
        } else if ((m = nv_arg_value("serve", argc, argv, &i, "--api-key",
                                     NULL, &v))) {
            if (m < 0)
                return 2;
            if (!v[0]) {
                fprintf(stderr, "nvlm serve: --api-key is empty\n");
                return 2;
            }
            c->api_key = v;
        } else if ((m = nv_arg_value("serve", argc, argv, &i, "--grace", NULL,
                                     &v))) {
            if (m < 0 || nv_arg_float("serve", "--grace", v, 0, 3600, &f))
                return 2;
            c->grace_s = f;
        } else {
            fprintf(stderr, "nvlm serve: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    return 0;
}

int nv_cmd_serve(int argc, char **argv)
{
    char fusions[4] = "";
    serve_config c = {
        .host = "127.0.0.1", .port = 8080, .fusions = fusions, .parallel = 1,
        .queue = 16, .max_body = 16000000, .max_pixels = 16000000,
        .max_tokens = 4096, .grace_s = 10,
    };
    const char *env_key = getenv("NVLM_API_KEY");
    if (env_key && env_key[0])
        c.api_key = env_key;
    int done = 0;
    int rc = parse_args(argc, argv, &c, fusions, &done);
    if (rc || done)
        return rc;
    char model_dir[4096];
    if (nv_cli_model_dir("serve", c.model_dir, model_dir, sizeof model_dir))
        return 1;
    c.model_dir = model_dir;
    return serve_run(&c);
}
