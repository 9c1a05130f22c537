/* test_json.c - JSON loading and the typed getters: present values, missing
 * keys, wrong types, defaults, and broken or unreadable files giving an
 * error that names the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/json.h"
#include "tests/check.h"
#include "tests/file_util.h"

static const char *config_text =
    "{\"hidden_size\": 64, \"eps\": 1e-6, \"scale\": 2, \"name\": \"tiny\","
    " \"tie\": true, \"ratio\": 1.5, \"nothing\": null, \"big\": 1e300,"
    " \"vision\": {\"layers\": 2}, \"list\": [1, 2]}";

static void check_getters(void)
{
    nv_error err = {{0}};
    cJSON *root = nv_json_parse(config_text, strlen(config_text),
                                "config.json", &err);
    if (!CHECK(root != NULL))
        return;

    int64_t i = 0;
    CHECK(nv_json_int_req(root, "hidden_size", "config.json", &i, &err) == 0 &&
          i == 64);
    CHECK(nv_json_int_req(root, "missing", "config.json", &i, &err) != 0);
    CHECK(strstr(err.msg, "config.json") && strstr(err.msg, "'missing'"));
    CHECK(nv_json_int_req(root, "ratio", "config.json", &i, &err) != 0);
    CHECK(strstr(err.msg, "'ratio'") != NULL); /* 1.5 is not an integer */
    CHECK(nv_json_int_req(root, "big", "config.json", &i, &err) != 0);
    CHECK(nv_json_int_req(root, "name", "config.json", &i, &err) != 0);
    CHECK(strstr(err.msg, "'name'") != NULL);
    CHECK(nv_json_int_req(root, "nothing", "config.json", &i, &err) != 0);
    CHECK(nv_json_int_opt(root, "missing", "config.json", 7, &i, &err) == 0 &&
          i == 7);
    CHECK(nv_json_int_opt(root, "nothing", "config.json", 9, &i, &err) == 0 &&
          i == 9); /* null means "use the default" */
    CHECK(nv_json_int_opt(root, "hidden_size", "config.json", 7, &i, &err) ==
              0 && i == 64);
    CHECK(nv_json_int_opt(root, "tie", "config.json", 7, &i, &err) != 0);

    double d = 0;
    CHECK(nv_json_num_req(root, "eps", "config.json", &d, &err) == 0 &&
          d == 1e-6);
    CHECK(nv_json_num_req(root, "scale", "config.json", &d, &err) == 0 &&
          d == 2.0);
    CHECK(nv_json_num_req(root, "name", "config.json", &d, &err) != 0);
    CHECK(nv_json_num_req(root, "missing", "config.json", &d, &err) != 0);
    CHECK(nv_json_num_opt(root, "missing", "config.json", 0.25, &d, &err) ==
              0 && d == 0.25);
    CHECK(nv_json_num_opt(root, "vision", "config.json", 0.25, &d, &err) != 0);

    int b = -1;
    CHECK(nv_json_bool_opt(root, "tie", "config.json", 0, &b, &err) == 0 &&
          b == 1);
    CHECK(nv_json_bool_opt(root, "missing", "config.json", 0, &b, &err) == 0 &&
          b == 0);
    CHECK(nv_json_bool_opt(root, "scale", "config.json", 0, &b, &err) != 0);
    CHECK(strstr(err.msg, "'scale'") != NULL);

    const char *s = NULL;
    CHECK(nv_json_str_req(root, "name", "config.json", &s, &err) == 0 &&
          !strcmp(s, "tiny"));
    CHECK(nv_json_str_req(root, "missing", "config.json", &s, &err) != 0);
    CHECK(nv_json_str_req(root, "scale", "config.json", &s, &err) != 0);
    CHECK(nv_json_str_opt(root, "missing", "config.json", "def", &s, &err) ==
              0 && !strcmp(s, "def"));
    CHECK(nv_json_str_opt(root, "list", "config.json", "def", &s, &err) != 0);

    const cJSON *vision = NULL;
    CHECK(nv_json_obj_req(root, "vision", "config.json", &vision, &err) == 0);
    CHECK(nv_json_int_req(vision, "layers", "config.json", &i, &err) == 0 &&
          i == 2);
    CHECK(nv_json_obj_req(root, "list", "config.json", &vision, &err) != 0);
    CHECK(nv_json_obj_req(root, "missing", "config.json", &vision, &err) != 0);

    CHECK(nv_json_get(root, "hidden_size") != NULL);
    CHECK(nv_json_get(root, "Hidden_Size") == NULL); /* case-sensitive */
    CHECK(nv_json_get(nv_json_get(root, "list"), "x") == NULL);
    CHECK(nv_json_get(NULL, "x") == NULL);
    /* Getters on a non-object behave as if the key were missing. */
    CHECK(nv_json_int_opt(nv_json_get(root, "list"), "x", "config.json", 3,
                          &i, &err) == 0 && i == 3);
    cJSON_Delete(root);
}

static void check_files(void)
{
    char dir[] = "/tmp/nv_json_test_XXXXXX";
    if (!CHECK(mkdtemp(dir) != NULL))
        return;
    char good[512], broken[512], missing[512];
    snprintf(good, sizeof good, "%s/good.json", dir);
    snprintf(broken, sizeof broken, "%s/broken.json", dir);
    snprintf(missing, sizeof missing, "%s/missing.json", dir);
    CHECK(test_write_text(good, config_text) == 0);
    CHECK(test_write_text(broken, "{\"a\": 1, \"b\": [1, 2}") == 0);

    nv_error err = {{0}};
    cJSON *root = nv_json_load(good, 0, &err);
    CHECK(root != NULL);
    int64_t i = 0;
    CHECK(nv_json_int_req(root, "hidden_size", good, &i, &err) == 0 &&
          i == 64);
    cJSON_Delete(root);

    CHECK(nv_json_load(broken, 0, &err) == NULL);
    CHECK(strstr(err.msg, broken) && strstr(err.msg, "JSON"));
    CHECK(nv_json_load(missing, 0, &err) == NULL);
    CHECK(strstr(err.msg, missing) != NULL);
    CHECK(nv_json_load(good, 10, &err) == NULL); /* over the size limit */
    CHECK(strstr(err.msg, good) != NULL);
    CHECK(nv_json_load(dir, 0, &err) == NULL); /* a directory */

    CHECK(nv_json_parse("", 0, "empty.json", &err) == NULL);
    CHECK(strstr(err.msg, "empty.json") != NULL);
    /* The length bounds the parse: the closing brace lies beyond it. */
    CHECK(nv_json_parse("{\"a\": 1}", 7, "cut.json", &err) == NULL);
    cJSON *quiet = nv_json_load(good, 0, NULL); /* err may be NULL */
    CHECK(quiet != NULL);
    cJSON_Delete(quiet);
    CHECK(nv_json_load(broken, 0, NULL) == NULL);

    unlink(good);
    unlink(broken);
    rmdir(dir);
}

/* nv_json_as_int / _as_num and the getters built on them: no cast of a
 * double outside the int range (undefined), no silent truncation, no
 * infinity (1e999 parses as one). */
static void check_number_ranges(void)
{
    const char *text = "{\"big\": 1e300, \"frac\": 274.7, \"inf\": 1e999,"
                       " \"ninf\": -1e999, \"two53\": 9007199254740992,"
                       " \"past53\": 9007199254740994, \"five\": 5,"
                       " \"list\": [1, 2.5], \"s\": \"x\"}";
    nv_error err = {{0}};
    cJSON *root = nv_json_parse(text, strlen(text), "c.json", &err);
    if (!CHECK(root != NULL))
        return;
    int64_t i = 0;
    double d = 0;
    CHECK(nv_json_int_req(root, "big", "c.json", &i, &err) < 0 &&
          strstr(err.msg, "c.json: key 'big' = 1e+300 is out of range"));
    CHECK(nv_json_int_req(root, "frac", "c.json", &i, &err) < 0 &&
          strstr(err.msg, "c.json: key 'frac' = 274.7 is not a whole "
                          "number"));
    CHECK(nv_json_int_opt(root, "inf", "c.json", 0, &i, &err) < 0 &&
          strstr(err.msg, "c.json: key 'inf' = inf is not a whole number"));
    CHECK(nv_json_int_req(root, "two53", "c.json", &i, &err) == 0 &&
          i == 9007199254740992LL);
    CHECK(nv_json_int_req(root, "past53", "c.json", &i, &err) < 0 &&
          strstr(err.msg, "out of range"));
    CHECK(nv_json_num_req(root, "inf", "c.json", &d, &err) < 0 &&
          strstr(err.msg, "c.json: key 'inf' is not a finite number"));
    CHECK(nv_json_num_opt(root, "ninf", "c.json", 1, &d, &err) < 0 &&
          strstr(err.msg, "key 'ninf' is not a finite number"));
    CHECK(nv_json_num_req(root, "frac", "c.json", &d, &err) == 0 &&
          d == 274.7);
    /* items in hand, with the caller's range */
    const cJSON *five = nv_json_get(root, "five");
    CHECK(nv_json_as_int(five, "five", "c.json", 0, 5, &i, &err) == 0 &&
          i == 5);
    CHECK(nv_json_as_int(five, "five", "c.json", 0, 4, &i, &err) < 0 &&
          strstr(err.msg, "c.json: key 'five' = 5 is out of range [0, 4]"));
    CHECK(nv_json_as_num(five, "five", "c.json", 0, 1, &d, &err) < 0 &&
          strstr(err.msg, "c.json: key 'five' = 5 is out of range [0, 1]"));
    const cJSON *second = cJSON_GetArrayItem(nv_json_get(root, "list"), 1);
    CHECK(nv_json_as_int(second, "list[1]", "c.json", 0, 9, &i, &err) < 0 &&
          strstr(err.msg, "key 'list[1]' = 2.5 is not a whole number"));
    CHECK(nv_json_as_int(nv_json_get(root, "s"), "s", "c.json", 0, 9, &i,
                         &err) < 0 &&
          strstr(err.msg, "key 's' is not a number"));
    cJSON_Delete(root);
}

/* Issue 17: cJSON's tree of "[0,0,...]" is ~40x the text (20 MB took
 * 845 MB). The budget refuses it before parsing, naming the file and the
 * limit, and the process stays small; a file of ordinary values still
 * parses; the repo's own tokenizer and config estimate well inside. */
static void check_budget(void)
{
    size_t n = (size_t)10 << 20; /* values: 20 MiB of text */
    char *text = malloc(2 * n + 2);
    if (!CHECK(text != NULL))
        return;
    text[0] = '[';
    for (size_t i = 0; i < n; i++) {
        text[1 + 2 * i] = '0';
        text[2 + 2 * i] = i + 1 < n ? ',' : ']';
    }
    size_t len = 2 * n + 1;
    text[len] = '\0';
    nv_error err = {{0}};
    CHECK(nv_json_tree_estimate(text, len) > (size_t)760 << 20);
    CHECK(nv_json_parse(text, len, "zeros.json", &err) == NULL);
    CHECK(strstr(err.msg, "zeros.json: JSON of 20971521 bytes") &&
          strstr(err.msg, "above the limit of 12x its size + 4 MiB"));
    /* strings and keys count too: {"":0,"":0,...} is ~22x */
    for (size_t i = 0; i + 6 <= len; i += 5)
        memcpy(text + i, i ? ",\"\":0" : "{\"\":0", 5);
    size_t olen = (len / 5) * 5;
    text[olen - 1] = '}';
    CHECK(nv_json_parse(text, olen, "keys.json", &err) == NULL &&
          strstr(err.msg, "keys.json") && strstr(err.msg, "12x"));
    free(text);
    struct rusage ru;
    CHECK(getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss < 200 * 1024);
    printf("peak RSS after refusing 20 MiB: %ld KiB\n", ru.ru_maxrss);

    /* a small file of tiny values is within the slack */
    const char *small = "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]";
    cJSON *root = nv_json_parse(small, strlen(small), "small.json", &err);
    CHECK(root != NULL);
    cJSON_Delete(root);
    /* the fixtures' tokenizer and config estimate under 10x */
    const char *fx = getenv("NV_FIXTURE_DIR");
    const char *names[] = {"tokenizer.json", "config.json"};
    for (int k = 0; fx && k < 2; k++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tiny_nvlm/%s", fx, names[k]);
        size_t flen = 0;
        char *ft = test_read_file(path, &flen);
        if (!CHECK(ft != NULL))
            continue;
        CHECK(nv_json_tree_estimate(ft, flen) < 10 * flen);
        free(ft);
    }
}

int main(void)
{
    check_budget();
    check_number_ranges();
    check_getters();
    check_files();
    return check_summary("json");
}
