/* main.c - the `nvlm` command: dispatches to one file per subcommand. */
#include <stdio.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "cli/commands.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"ask", nv_cmd_ask, "answer a question about an image"},
    {"bench", nv_cmd_bench, "compare the D, X and H fusions: time, memory, FLOPs"},
    {"table", nv_cmd_table, "turn a picture of a table into Markdown"},
    {"eval", nv_cmd_eval, "score tables read from images against truth"},
    {"info", nv_cmd_info, "image tiling and model architecture"},
    {"tokenize", nv_cmd_tokenize, "turn text into token ids"},
    {"serve", nv_cmd_serve, "an OpenAI-compatible HTTP server over the heads"},
    {"quantize", nv_cmd_quantize,
     "write a copy of a model with q8_0, q4_0 or q4_k weights"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: nvlm COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'nvlm COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
#ifdef __GLIBC__
    /* Keep freed work buffers in the heap. The products allocate
     * activations and weight panels of megabytes per call; glibc serves
     * blocks that large with a fresh mmap and unmaps them on free, so each
     * call paid the page faults and page clearing again (8 % of a 448 px
     * ViT pass of nvlm-1b). Reused instead, resident memory stays at its
     * peak, which is what the benchmarks report anyway. */
    mallopt(M_MMAP_THRESHOLD, 512 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("nvlm %s\n", NVLM_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "nvlm: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
