/* bench_tables.h - `nvlm bench --tables`: `nvlm table` timed per fusion
 * head (see bench_tables.c). */
#ifndef NV_CLI_BENCH_TABLES_H
#define NV_CLI_BENCH_TABLES_H

/* The whole command: its own options (argv as given to `nvlm bench`). */
int nv_bench_tables(int argc, char **argv);

#endif
