/* Hostile input to the embedding projector: colliding directory names, blank labels. */
#include "hostile.h"

#include <tbw/projector.h>

#define HERE (__func__ + 5)

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* The (lowercase, hex) 32-bit hash part of the readable directory name, as projector.c makes it. */
static unsigned name_hash(const char *name)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = name; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ull;
    }
    return (unsigned)(h ^ (h >> 32));
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t p = *(const uint64_t *)x, q = *(const uint64_t *)y;
    return p < q ? -1 : p > q;
}

/* Two names that share the readable directory name: a 48-character common prefix and, found by
   search, suffixes whose 32-bit hashes agree (a birthday search over 2^17 candidates x several
   rounds; deterministic). */
static bool colliding_names(char *a, char *b, size_t cap)
{
    enum { N = 1 << 17 };
    static unsigned hs[N];
    static char prefix[49];
    memset(prefix, 'p', 48);
    prefix[48] = '\0';
    for (unsigned round = 0; round < 64; round++) {
        for (unsigned i = 0; i < N; i++) {
            snprintf(a, cap, "%s%u.%u", prefix, round, i);
            hs[i] = name_hash(a);
        }
        static uint64_t pairs[N];
        for (unsigned i = 0; i < N; i++)
            pairs[i] = (uint64_t)hs[i] << 32 | i;
        qsort(pairs, N, sizeof pairs[0], cmp_u64);
        for (unsigned i = 1; i < N; i++)
            if (pairs[i] >> 32 == pairs[i - 1] >> 32) {
                snprintf(a, cap, "%s%u.%u", prefix, round, (unsigned)pairs[i - 1]);
                snprintf(b, cap, "%s%u.%u", prefix, round, (unsigned)pairs[i]);
                return true;
            }
    }
    return false;
}

static tbw_embedding one(const char *name, const float *data, size_t n, const char *const *labels)
{
    tbw_embedding e = {0};
    e.tensor_name = name;
    e.data = data;
    e.n = n;
    e.d = 2;
    if (labels) {
        e.n_columns = 1;
        e.n_label_rows = n;
        e.labels = labels;
    }
    return e;
}

TEST(tensor_names_whose_directory_names_collide_keep_both_embeddings)
{
    char a[128], b[128];
    CHECK(colliding_names(a, b, sizeof a));
    CHECK(strcmp(a, b) != 0);
    CHECK_INT(name_hash(a), name_hash(b));
    const char *dir = hostile_run(HERE);
    const float da[4] = {1, 2, 3, 4}, db[4] = {5, 6, 7, 8};
    char msg[256];
    tbw_embedding ea = one(a, da, 2, NULL), eb = one(b, db, 2, NULL);
    CHECK_RC(0, tbw_projector_add(dir, &ea, msg, sizeof msg), msg);
    CHECK_RC(0, tbw_projector_add(dir, &eb, msg, sizeof msg), msg);
    CHECK_RC(0, tbw_projector_add(dir, &ea, msg, sizeof msg), msg); /* replacing a keeps b */
    char path[1024];
    snprintf(path, sizeof path, "%s/projector_config.pbtxt", dir);
    char *cfg = slurp(path);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    char qa[160], qb[160];
    snprintf(qa, sizeof qa, "tensor_name: \"%s\"", a);
    snprintf(qb, sizeof qb, "tensor_name: \"%s\"", b);
    CHECK(strstr(cfg, qa) != NULL);
    CHECK(strstr(cfg, qb) != NULL);
    /* each name's tensor file holds its own data */
    const char *pa = strstr(cfg, qa), *pb = strstr(cfg, qb);
    char sa[256] = "", sb[256] = "";
    CHECK(pa && sscanf(strstr(pa, "tensor_path: \"") + 14, "%255[^\"]", sa) == 1);
    CHECK(pb && sscanf(strstr(pb, "tensor_path: \"") + 14, "%255[^\"]", sb) == 1);
    CHECK(strcmp(sa, sb) != 0);
    snprintf(path, sizeof path, "%s/%s", dir, sb);
    char *tb = slurp(path);
    CHECK_STR("5\t6\n7\t8\n", tb ? tb : "");
    snprintf(path, sizeof path, "%s/%s", dir, sa);
    char *ta = slurp(path);
    CHECK_STR("1\t2\n3\t4\n", ta ? ta : "");
    expect_nothing(HERE);
}

/* Whether s trims to nothing under JavaScript's String.prototype.trim. */
static bool js_blank(const char *s)
{
    static const char *const ws[] = {" ",  "\t", "\v", "\f", "\r", "\n", "\xC2\xA0", "\xE1\x9A\x80",
                                     "\xE2\x80\x80", "\xE2\x80\x8A", "\xE2\x80\xA8", "\xE2\x80\xA9",
                                     "\xE2\x80\xAF", "\xE2\x81\x9F", "\xE3\x80\x80", "\xEF\xBB\xBF"};
    while (*s) {
        size_t k = 0;
        for (size_t i = 0; i < sizeof ws / sizeof ws[0] && !k; i++)
            if (strncmp(s, ws[i], strlen(ws[i])) == 0)
                k = strlen(ws[i]);
        const unsigned char *u = (const unsigned char *)s;
        if (!k && u[0] == 0xE2 && u[1] == 0x80 && u[2] >= 0x80 && u[2] <= 0x8A)
            k = 3;
        if (!k)
            return false;
        s += k;
    }
    return true;
}

TEST(whitespace_only_labels_keep_every_later_label_on_its_point)
{
    const char *labels[] = {"a", " ", "\xC2\xA0", "\v", "\xE3\x80\x80\xEF\xBB\xBF", "", "  \t ", "z"};
    const size_t n = sizeof labels / sizeof labels[0];
    float data[2 * 8];
    for (size_t i = 0; i < 2 * n; i++)
        data[i] = (float)i;
    const char *dir = hostile_run(HERE);
    char msg[256];
    tbw_embedding e = one("blank_labels", data, n, labels);
    CHECK_RC(0, tbw_projector_add(dir, &e, msg, sizeof msg), msg);
    char cfgpath[1024];
    snprintf(cfgpath, sizeof cfgpath, "%s/projector_config.pbtxt", dir);
    char *cfg = slurp(cfgpath);
    char rel[256] = "";
    CHECK(cfg && strstr(cfg, "metadata_path: \"") &&
          sscanf(strstr(cfg, "metadata_path: \"") + 16, "%255[^\"]", rel) == 1);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char *tsv = slurp(path);
    CHECK(tsv != NULL);
    if (!tsv)
        return;
    /* The projector drops lines that trim to nothing: there must be none, and n lines in all. */
    size_t lines = 0;
    for (char *line = strtok(tsv, "\n"); line; line = strtok(NULL, "\n")) {
        CHECK(!js_blank(line));
        lines++;
    }
    CHECK_INT(n, lines);
    /* multi-column: a blank column name would make the header line vanish */
    const char *cols[] = {"name", "\xC2\xA0"};
    const char *cells[] = {"a", "b"};
    tbw_embedding m = one("blank_column", data, 1, NULL);
    m.n_columns = 2;
    m.n_label_rows = 1;
    m.column_names = cols;
    m.labels = cells;
    CHECK_RC(TBW_EINVAL, tbw_projector_add(dir, &m, msg, sizeof msg), msg);
    CHECK_STR_HAS(msg, "column name 1 is blank");
    expect_nothing(HERE);
}

static const check_case tests[] = {
    CASE(tensor_names_whose_directory_names_collide_keep_both_embeddings),
    CASE(whitespace_only_labels_keep_every_later_label_on_its_point),
};
HOSTILE_MAIN(tests)
