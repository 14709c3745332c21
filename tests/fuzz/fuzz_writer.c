/* The writer's framing against a model: an input is a sequence of calls (tags from a pool that
   includes invalid ones, values of any length and bytes, steps at the varint boundaries, metadata
   that stays, changes or names another plugin, flushes), run on a writer with a clock the input
   sets, small files so it rotates, and either mode. Every event file is then read back record by
   record and each record must be the bytes the model frames for the next accepted call: the
   short path for a tag logged before, the full path for the rest, and the metadata on the first
   event of a tag in each file, are all held to the same layout. A refusal must be one the model
   expects, with a message. */
#include "fuzz.h"

#include <dirent.h>
#include <string.h>

#include <tbw/record.h>
#include <tbw/writer.h>

enum { NTAGS = 9, MAXOPS = 400, MAXVAL = 20000 };

static char g_tags[NTAGS][208];

/* SummaryMetadata{plugin_data{plugin_name: name, content: c}} */
static size_t make_meta(uint8_t *m, const char *name, uint8_t c)
{
    size_t n = strlen(name);
    m[0] = 0x0A;
    m[1] = (uint8_t)(n + 5);
    m[2] = 0x0A;
    m[3] = (uint8_t)n;
    memcpy(m + 4, name, n);
    m[4 + n] = 0x12;
    m[5 + n] = 1;
    m[6 + n] = c;
    return n + 7;
}

typedef struct model_tag {
    uint8_t meta[32]; /* what the writer remembers: empty, or metadata naming plugin */
    size_t meta_len;
    const char *plugin;
} model_tag;

typedef struct expected {
    double wall;
    int64_t step;
    int tag;
    const uint8_t *value;
    size_t value_len;
    bool with_meta; /* the call passed metadata; whether the event carries it depends on its file */
    uint8_t meta[32];
    size_t meta_len;
} expected;

static expected g_exp[MAXOPS];
static uint8_t g_small[MAXOPS * 300]; /* the values of up to 300 bytes, one after another */
static uint8_t g_big[MAXVAL];         /* the one value of MAXVAL bytes, a fixed pattern */

static double g_now;
static double clock_fn(void *ctx)
{
    (void)ctx;
    return g_now;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    for (; v >= 0x80; v >>= 7)
        *p++ = (uint8_t)(v | 0x80);
    *p++ = (uint8_t)v;
    return p;
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    for (; v >= 0x80; v >>= 7)
        n++;
    return n;
}

/* The Event payload the model expects for e, carrying its metadata or not: wall time, step
   (omitted when 0), then Summary{Value{tag, the value's own fields, metadata}}. */
static size_t model_event(uint8_t *out, const expected *e, bool with_meta)
{
    const char *tag = g_tags[e->tag];
    size_t tlen = strlen(tag);
    size_t val = 1 + varint_len(tlen) + tlen + e->value_len;
    if (with_meta)
        val += 1 + varint_len(e->meta_len) + e->meta_len;
    size_t sum = 1 + varint_len(val) + val;
    uint8_t *p = out;
    uint64_t bits;
    memcpy(&bits, &e->wall, 8);
    *p++ = 0x09;
    for (int i = 0; i < 8; i++)
        *p++ = (uint8_t)(bits >> (8 * i));
    if (e->step) {
        *p++ = 0x10;
        p = put_varint(p, (uint64_t)e->step);
    }
    *p++ = 0x2A;
    p = put_varint(p, sum);
    *p++ = 0x0A;
    p = put_varint(p, val);
    *p++ = 0x0A;
    p = put_varint(p, tlen);
    memcpy(p, tag, tlen);
    p += tlen;
    if (e->value_len)
        memcpy(p, e->value, e->value_len);
    p += e->value_len;
    if (with_meta) {
        *p++ = 0x4A;
        p = put_varint(p, e->meta_len);
        memcpy(p, e->meta, e->meta_len);
        p += e->meta_len;
    }
    return (size_t)(p - out);
}

static char g_base[64];

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static uint8_t g_want[MAXVAL + 512];

/* A whole file, read and removed. */
static uint8_t *take_file(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp || fseek(fp, 0, SEEK_END) != 0)
        abort();
    long len = ftell(fp);
    rewind(fp);
    uint8_t *b = malloc(len > 0 ? (size_t)len : 1);
    if (!b || fread(b, 1, (size_t)len, fp) != (size_t)len)
        abort();
    fclose(fp);
    unlink(path);
    *n = (size_t)len;
    return b;
}

/* Reads the run's event files in name order and holds each record to the model. */
static void check_files(size_t nexp)
{
    DIR *d = opendir(g_base);
    if (!d)
        abort();
    char *names[1024];
    size_t nn = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strstr(de->d_name, "tfevents")) {
            if (nn == 1024)
                abort();
            names[nn++] = strdup(de->d_name);
        }
    closedir(d);
    qsort(names, nn, sizeof *names, by_name);
    int meta_file[NTAGS];
    for (int t = 0; t < NTAGS; t++)
        meta_file[t] = -1;
    size_t k = 0;
    for (size_t f = 0; f < nn; f++) {
        char path[160];
        snprintf(path, sizeof path, "%s/%s", g_base, names[f]);
        free(names[f]);
        size_t n;
        uint8_t *b = take_file(path, &n);
        for (size_t off = 0, rec = 0; off < n; rec++) {
            const uint8_t *payload;
            size_t plen, used;
            if (tbw_record_parse(b + off, n - off, &payload, &plen, &used) != TBW_OK)
                abort(); /* a record that does not parse, or a torn one */
            off += used;
            if (rec == 0)
                continue; /* the file_version event */
            if (k >= nexp)
                abort(); /* an event no accepted call made */
            const expected *e = &g_exp[k++];
            /* the metadata goes on the tag's first event in this file that was called with it */
            bool with_meta = e->with_meta && meta_file[e->tag] != (int)f;
            if (with_meta)
                meta_file[e->tag] = (int)f;
            size_t wl = model_event(g_want, e, with_meta);
            if (wl != plen || memcmp(g_want, payload, plen) != 0)
                abort(); /* not the bytes the model frames */
        }
        free(b);
    }
    if (k != nexp)
        abort(); /* an accepted call whose event is missing */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_base[0]) {
        snprintf(g_base, sizeof g_base, "/dev/shm/tbw-fuzz-writer-%d", (int)getpid());
        static const size_t lens[NTAGS] = {1, 10, 10, 63, 64, 65, 200, 1, 0};
        for (int t = 0; t < NTAGS; t++) {
            memset(g_tags[t], 'a' + t, lens[t]);
            g_tags[t][lens[t]] = 0;
        }
        g_tags[2][9] = 'z';    /* the same length as tag 1, one byte apart */
        g_tags[7][0] = '\xff'; /* not UTF-8 */
        /* and tag 8 is empty: both are refused */
        for (size_t i = 0; i < MAXVAL; i++)
            g_big[i] = (uint8_t)(i * 31 + 7);
    }
    if (size < 2)
        return 0;
    const uint8_t *p = data, *end = data + size;
    uint8_t cfg = *p++;
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.clock = clock_fn;
    o.background = cfg & 1;
    o.max_queue = (cfg & 2) ? 1 : 1000;
    o.max_file_bytes = (cfg & 4) ? 1024 + (uint64_t)(cfg >> 3) * 64 : 0;
    g_now = 1.7e9;
    tbw_writer *w;
    char msg[256];
    if (tbw_writer_open(&w, g_base, &o, msg, sizeof msg) != TBW_OK)
        abort();
    static const int64_t steps[8] = {0, 1, 127, 128, 16384, INT64_MAX, -1, 1 << 21};
    static const size_t vlens[8] = {0, 1, 12, 115, 116, 128, 300, MAXVAL};
    model_tag mt[NTAGS];
    memset(mt, 0, sizeof mt);
    size_t nexp = 0, soff = 0;
    int last = 0;
    while (end - p >= 3 && nexp < MAXOPS) {
        uint8_t op = *p++, a = *p++, b = *p++;
        if (op % 16 == 15) {
            if (tbw_writer_flush(w) != TBW_OK)
                abort();
            continue;
        }
        if (op & 16)
            g_now += (double)a * 0.37; /* the clock moves, or stands */
        int t = (op & 32) ? last : a % NTAGS;
        last = t;
        size_t vl = (b & 8) ? (size_t)(b >> 4) * 9 : vlens[b % 8]; /* the listed lengths, or near the short ones */
        int64_t step = steps[(b >> 3) % 8] ^ (op >> 6);
        /* metadata: none, "scalars" with content 1 or 2, or another plugin's */
        uint8_t meta[32];
        size_t ml = 0;
        const char *plugin = NULL;
        switch ((op >> 1) % 4) {
        case 1: ml = make_meta(meta, plugin = "scalars", 1); break;
        case 2: ml = make_meta(meta, plugin = "scalars", 2); break;
        case 3: ml = make_meta(meta, plugin = "images", 1); break;
        default: break;
        }
        /* the value: its first bytes from the input, the rest a pattern; MAXVAL bytes are g_big */
        const uint8_t *v = g_big;
        if (vl < MAXVAL) {
            uint8_t *s = g_small + soff;
            size_t from_input = (size_t)(end - p) < 16 ? (size_t)(end - p) : 16;
            for (size_t i = 0; i < vl; i++)
                s[i] = i < from_input ? p[i] : (uint8_t)(i * 13 + op);
            p += from_input < vl ? from_input : vl;
            soff += vl;
            v = s;
        }
        /* What the writer must do: refuse a tag that is empty or not UTF-8, and metadata naming
           another plugin than the tag's (TensorBoard keeps a tag's first plugin); accept the
           rest, remembering new metadata. */
        bool changes = plugin && (mt[t].meta_len != ml || memcmp(mt[t].meta, meta, ml) != 0);
        bool refused = t >= 7 || (changes && mt[t].plugin && strcmp(mt[t].plugin, plugin) != 0);
        int rc = tbw_writer_write_value(w, g_tags[t], step, vl ? v : NULL, vl, plugin ? meta : NULL, ml);
        if (refused) {
            if (rc != TBW_EINVAL || !tbw_writer_errmsg(w)[0])
                abort();
            if (vl < MAXVAL)
                soff -= vl;
            continue;
        }
        if (rc != TBW_OK)
            abort();
        if (changes) {
            memcpy(mt[t].meta, meta, ml);
            mt[t].meta_len = ml;
            mt[t].plugin = plugin;
        }
        expected *e = &g_exp[nexp++];
        e->wall = g_now;
        e->step = step;
        e->tag = t;
        e->value = v;
        e->value_len = vl;
        e->with_meta = plugin != NULL;
        memcpy(e->meta, meta, ml);
        e->meta_len = ml;
    }
    if (tbw_writer_close(w) != TBW_OK)
        abort();
    check_files(nexp);
    rmdir(g_base);
    return 0;
}
