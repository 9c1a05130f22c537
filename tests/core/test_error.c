/* test_error.c - nv_fail / nv_fail_prefix formatting, truncation of long
 * messages, and a NULL nv_error being accepted everywhere. */
#include <string.h>

#include "core/error.h"
#include "tests/check.h"

int main(void)
{
    nv_error err = {{0}};
    CHECK(nv_fail(&err, "%s: tensor '%s': %d dims", "a.safetensors", "w", 9) ==
          -1);
    CHECK(!strcmp(err.msg, "a.safetensors: tensor 'w': 9 dims"));
    CHECK(nv_fail_prefix(&err, "loading %s: ", "model") == -1);
    CHECK(!strcmp(err.msg, "loading model: a.safetensors: tensor 'w': 9 dims"));
    nv_error_clear(&err);
    CHECK(err.msg[0] == '\0');

    /* A message longer than the buffer is cut, not overrun. */
    char long_name[3000];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    CHECK(nv_fail(&err, "file: tensor '%s'", long_name) == -1);
    CHECK(strlen(err.msg) == sizeof err.msg - 1);
    CHECK(!strncmp(err.msg, "file: tensor 'xxx", 17));
    CHECK(nv_fail_prefix(&err, "ctx: ") == -1);
    CHECK(strlen(err.msg) == sizeof err.msg - 1);
    CHECK(!strncmp(err.msg, "ctx: file: ", 11));
    CHECK(nv_fail_prefix(&err, "%s", long_name) == -1); /* prefix too long */
    CHECK(strlen(err.msg) == sizeof err.msg - 1);

    CHECK(nv_fail(NULL, "ignored %d", 1) == -1);
    CHECK(nv_fail_prefix(NULL, "ignored") == -1);
    nv_error_clear(NULL);
    return check_summary("error");
}
