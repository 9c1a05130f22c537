/* commands.h - one entry point per `nvlm` subcommand. Each receives argv
 * starting at the subcommand name and returns the process exit status:
 * 0 success, 1 failure (message on stderr), 2 bad usage. */
#ifndef NV_CLI_COMMANDS_H
#define NV_CLI_COMMANDS_H

int nv_cmd_ask(int argc, char **argv);      /* cli/cmd_ask.c */
int nv_cmd_bench(int argc, char **argv);    /* cli/cmd_bench.c */
int nv_cmd_table(int argc, char **argv);    /* cli/cmd_table.c */
int nv_cmd_eval(int argc, char **argv);     /* cli/cmd_eval.c */
int nv_cmd_info(int argc, char **argv);     /* cli/cmd_info.c */
int nv_cmd_tokenize(int argc, char **argv); /* cli/cmd_tokenize.c */
int nv_cmd_serve(int argc, char **argv);    /* cli/cmd_serve.c */
int nv_cmd_quantize(int argc, char **argv); /* cli/cmd_quantize.c */

/* The most tokens of one whole-table answer where the user gives no -n:
 * eval --whole and bench --labels score the same answers (generated to the
 * model's end). */
#define NV_CLI_TABLE_MAX_NEW 1024

#endif
