/* The custom scalars layout: a serialized Layout in a rank-0 string tensor
   under the tag custom_scalars__config__. */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "../common/arena.h"
#include "../common/util.h"
#include "../writer/writer_internal.h"
#include "encode.h"
#include "layout.pb-c.h"
#include <tbw/summary.h>

static bool text_ok(const char *s)
{
    return s && tbw__utf8_valid(s, strlen(s));
}

static int check_regex(tbw_writer *w, const char *re)
{
    if (!text_ok(re) || !re[0])
        return tbw__writer_fail(w, TBW_EINVAL, "custom scalars: a tag regex is empty or not valid UTF-8");
    regex_t rx;
    int err = regcomp(&rx, re, REG_EXTENDED | REG_NOSUB);
    if (err) {
        char why[128];
        regerror(err, &rx, why, sizeof why);
        return tbw__writer_fail(w, TBW_EINVAL, "custom scalars: invalid tag regex '%s': %s", re, why);
    }
    regfree(&rx);
    return TBW_OK;
}

/* A margin chart's series: each needs a value tag and lower and upper tags. */
static int check_margin(tbw_writer *w, const tbw_layout_chart *ch)
{
    if (!ch->series)
        return tbw__writer_fail(w, TBW_EINVAL, "custom scalars: chart '%s' has NULL series", ch->title);
    for (size_t s = 0; s < ch->n_series; s++) {
        const tbw_margin_series *ser = &ch->series[s];
        if (!text_ok(ser->value) || !ser->value[0] || !text_ok(ser->lower) || !ser->lower[0] || !text_ok(ser->upper) ||
            !ser->upper[0])
            return tbw__writer_fail(w, TBW_EINVAL,
                                    "custom scalars: margin chart '%s' series %zu needs value, lower and upper tags",
                                    ch->title, s);
    }
    return TBW_OK;
}

/* A multiline chart: at least one regex, each one that compiles. */
static int check_multiline(tbw_writer *w, const tbw_layout_chart *ch)
{
    if (ch->n_regexes == 0 || !ch->tag_regexes)
        return tbw__writer_fail(w, TBW_EINVAL, "custom scalars: chart '%s' has neither regexes nor series",
                                ch->title);
    for (size_t r = 0; r < ch->n_regexes; r++) {
        int rc = check_regex(w, ch->tag_regexes[r]);
        if (rc)
            return rc;
    }
    return TBW_OK;
}

/* Chart c of cat: a title, then a margin chart if it has series, else a multiline chart. */
static int check_chart(tbw_writer *w, const tbw_layout_category *cat, size_t c)
{
    const tbw_layout_chart *ch = &cat->charts[c];
    if (!text_ok(ch->title))
        return tbw__writer_fail(w, TBW_EINVAL, "custom scalars: chart %zu of '%s' has no valid title",
                                c, cat->title);
    return ch->n_series ? check_margin(w, ch) : check_multiline(w, ch);
}

static int check_category(tbw_writer *w, const tbw_layout_category *cat, size_t i)
{
    if (!text_ok(cat->title) || (cat->n_charts && !cat->charts))
        return tbw__writer_fail(w, TBW_EINVAL, "custom scalars: category %zu has no valid title or NULL charts", i);
    for (size_t c = 0; c < cat->n_charts; c++) {
        int rc = check_chart(w, cat, c);
        if (rc)
            return rc;
    }
    return TBW_OK;
}

/* Arena room for everything build_layout allocates, so one block holds it all. */
static size_t layout_room(const tbw_layout_category *cats, size_t n)
{
    size_t total = 0;
    TBW__ARENA_PLAN(&total, Tensorboard__Category, n);
    TBW__ARENA_PLAN(&total, Tensorboard__Category *, n);
    for (size_t i = 0; i < n; i++) {
        TBW__ARENA_PLAN(&total, Tensorboard__Chart, cats[i].n_charts);
        TBW__ARENA_PLAN(&total, Tensorboard__Chart *, cats[i].n_charts);
        for (size_t c = 0; c < cats[i].n_charts; c++) {
            const tbw_layout_chart *ch = &cats[i].charts[c];
            if (ch->n_series) {
                TBW__ARENA_PLAN(&total, Tensorboard__MarginChartContent, 1);
                TBW__ARENA_PLAN(&total, Tensorboard__MarginChartContent__Series, ch->n_series);
                TBW__ARENA_PLAN(&total, Tensorboard__MarginChartContent__Series *, ch->n_series);
            } else {
                TBW__ARENA_PLAN(&total, Tensorboard__MultilineChartContent, 1);
            }
        }
    }
    return total;
}

/* A margin chart's series, tags borrowed. */
static Tensorboard__MarginChartContent *build_margin(tbw__arena *a, const tbw_layout_chart *src)
{
    Tensorboard__MarginChartContent *mg = TBW__ARENA_NEW(a, Tensorboard__MarginChartContent);
    Tensorboard__MarginChartContent__Series *ser =
        TBW__ARENA_ARRAY(a, Tensorboard__MarginChartContent__Series, src->n_series);
    Tensorboard__MarginChartContent__Series **ptrs =
        TBW__ARENA_ARRAY(a, Tensorboard__MarginChartContent__Series *, src->n_series);
    if (!mg || !ser || !ptrs)
        return NULL;
    tensorboard__margin_chart_content__init(mg);
    mg->series = ptrs;
    mg->n_series = src->n_series;
    for (size_t s = 0; s < src->n_series; s++) {
        tensorboard__margin_chart_content__series__init(&ser[s]);
        ser[s].value = (char *)src->series[s].value;
        ser[s].lower = (char *)src->series[s].lower;
        ser[s].upper = (char *)src->series[s].upper;
        ptrs[s] = &ser[s];
    }
    return mg;
}

/* A multiline chart's regexes, borrowed. */
static Tensorboard__MultilineChartContent *build_multiline(tbw__arena *a, const tbw_layout_chart *src)
{
    Tensorboard__MultilineChartContent *ml = TBW__ARENA_NEW(a, Tensorboard__MultilineChartContent);
    if (!ml)
        return NULL;
    tensorboard__multiline_chart_content__init(ml);
    ml->tag = (char **)src->tag_regexes;
    ml->n_tag = src->n_regexes;
    return ml;
}

/* Fills dst from src, its content in the arena; false when out of memory. */
static bool build_chart(tbw__arena *a, const tbw_layout_chart *src, Tensorboard__Chart *dst)
{
    tensorboard__chart__init(dst);
    dst->title = (char *)src->title;
    if (src->n_series) {
        dst->content_case = TENSORBOARD__CHART__CONTENT_MARGIN;
        dst->margin = build_margin(a, src);
        return dst->margin != NULL;
    }
    dst->content_case = TENSORBOARD__CHART__CONTENT_MULTILINE;
    dst->multiline = build_multiline(a, src);
    return dst->multiline != NULL;
}

/* Fills dst from src, its charts in the arena; false when out of memory. */
static bool build_category(tbw__arena *a, const tbw_layout_category *src, Tensorboard__Category *dst)
{
    Tensorboard__Chart *charts = TBW__ARENA_ARRAY(a, Tensorboard__Chart, src->n_charts);
    Tensorboard__Chart **ptrs = TBW__ARENA_ARRAY(a, Tensorboard__Chart *, src->n_charts);
    if (!charts || !ptrs)
        return false;
    tensorboard__category__init(dst);
    dst->title = (char *)src->title;
    dst->closed = src->closed;
    dst->chart = ptrs;
    dst->n_chart = src->n_charts;
    for (size_t c = 0; c < src->n_charts; c++) {
        if (!build_chart(a, &src->charts[c], &charts[c]))
            return false;
        ptrs[c] = &charts[c];
    }
    return true;
}

/* The categories of layout, all in the arena; false when out of memory. */
static bool build_layout(tbw__arena *a, const tbw_layout_category *cats, size_t n,
                         Tensorboard__Layout *layout)
{
    Tensorboard__Category *arr = TBW__ARENA_ARRAY(a, Tensorboard__Category, n);
    Tensorboard__Category **ptrs = TBW__ARENA_ARRAY(a, Tensorboard__Category *, n);
    if (!arr || !ptrs)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!build_category(a, &cats[i], &arr[i]))
            return false;
        ptrs[i] = &arr[i];
    }
    layout->category = ptrs;
    layout->n_category = n;
    return true;
}

/* Packs layout (into the arena) as a rank-0 string tensor and writes it at step 0. */
static int write_layout(tbw_writer *w, tbw__arena *a, const Tensorboard__Layout *layout)
{
    size_t len = tensorboard__layout__get_packed_size(layout);
    uint8_t *packed = TBW__ARENA_ARRAY(a, uint8_t, len);
    if (!packed)
        return tbw__writer_fail(w, TBW_ENOMEM, "custom scalars: out of memory");
    tensorboard__layout__pack(layout, packed);
    ProtobufCBinaryData val = {len, packed};
    tbw__shape shape;
    Tensorboard__TensorProto t = TENSORBOARD__TENSOR_PROTO__INIT;
    t.dtype = TENSORBOARD__DATA_TYPE__DT_STRING;
    t.tensor_shape = tbw__shape_init(&shape, 0, 0, 0);
    t.n_string_val = 1;
    t.string_val = &val;
    tbw__meta meta;
    tbw__meta_make(&meta, "custom_scalars", NULL, 0);
    return tbw__write_tensor(w, "custom_scalars__config__", 0, &t, &meta);
}

int tbw_custom_scalars_layout(tbw_writer *w, const tbw_layout_category *cats, size_t n)
{
    if (!w)
        return TBW_EINVAL;
    if (!cats || n == 0 || n > 1000)
        return tbw__writer_fail(w, TBW_EINVAL, "custom scalars: needs 1..1000 categories");
    for (size_t i = 0; i < n; i++) {
        int rc = check_category(w, &cats[i], i);
        if (rc)
            return rc;
    }
    tbw__arena a;
    tbw__arena_init(&a, layout_room(cats, n));
    Tensorboard__Layout layout = TENSORBOARD__LAYOUT__INIT;
    int rc = build_layout(&a, cats, n, &layout)
                 ? write_layout(w, &a, &layout)
                 : tbw__writer_fail(w, TBW_ENOMEM, "custom scalars: out of memory");
    tbw__arena_free(&a);
    return rc;
}
