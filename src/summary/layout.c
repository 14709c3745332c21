/* The custom scalars layout: a serialized Layout in a rank-0 string tensor
   under the tag custom_scalars__config__. */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

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

int tbw_custom_scalars_layout(tbw_writer *w, const tbw_layout_category *cats, size_t n)
{
    if (!w)
        return TBW_EINVAL;
    if (!cats || n == 0 || n > 1000)
        return tbw__writer_fail(w, TBW_EINVAL, "custom scalars: needs 1..1000 categories");
    size_t ncharts = 0, nseries = 0, nregex = 0;
    for (size_t i = 0; i < n; i++) {
        if (!text_ok(cats[i].title) || (cats[i].n_charts && !cats[i].charts))
            return tbw__writer_fail(w, TBW_EINVAL, "custom scalars: category %zu has no valid title or NULL charts", i);
        for (size_t c = 0; c < cats[i].n_charts; c++) {
            const tbw_layout_chart *ch = &cats[i].charts[c];
            if (!text_ok(ch->title))
                return tbw__writer_fail(w, TBW_EINVAL, "custom scalars: chart %zu of '%s' has no valid title", c,
                                        cats[i].title);
            if (ch->n_series) {
                if (!ch->series)
                    return tbw__writer_fail(w, TBW_EINVAL, "custom scalars: chart '%s' has NULL series", ch->title);
                for (size_t s = 0; s < ch->n_series; s++)
                    if (!text_ok(ch->series[s].value) || !ch->series[s].value[0] || !text_ok(ch->series[s].lower) ||
                        !text_ok(ch->series[s].upper))
                        return tbw__writer_fail(w, TBW_EINVAL,
                                                "custom scalars: margin chart '%s' series %zu needs value, lower and "
                                                "upper tags",
                                                ch->title, s);
                nseries += ch->n_series;
            } else {
                if (ch->n_regexes == 0 || !ch->tag_regexes)
                    return tbw__writer_fail(w, TBW_EINVAL, "custom scalars: chart '%s' has neither regexes nor series",
                                            ch->title);
                for (size_t r = 0; r < ch->n_regexes; r++) {
                    int rc = check_regex(w, ch->tag_regexes[r]);
                    if (rc)
                        return rc;
                }
                nregex += ch->n_regexes;
            }
            ncharts++;
        }
    }
    int rc = TBW_OK;
    Tensorboard__Category *c_arr = calloc(n, sizeof *c_arr);
    Tensorboard__Category **c_ptr = calloc(n, sizeof *c_ptr);
    Tensorboard__Chart *ch_arr = calloc(ncharts ? ncharts : 1, sizeof *ch_arr);
    Tensorboard__Chart **ch_ptr = calloc(ncharts ? ncharts : 1, sizeof *ch_ptr);
    Tensorboard__MultilineChartContent *ml = calloc(ncharts ? ncharts : 1, sizeof *ml);
    Tensorboard__MarginChartContent *mg = calloc(ncharts ? ncharts : 1, sizeof *mg);
    Tensorboard__MarginChartContent__Series *s_arr = calloc(nseries ? nseries : 1, sizeof *s_arr);
    Tensorboard__MarginChartContent__Series **s_ptr = calloc(nseries ? nseries : 1, sizeof *s_ptr);
    uint8_t *packed = NULL;
    if (!c_arr || !c_ptr || !ch_arr || !ch_ptr || !ml || !mg || !s_arr || !s_ptr) {
        rc = tbw__writer_fail(w, TBW_ENOMEM, "custom scalars: out of memory");
        goto done;
    }
    size_t ci = 0, si = 0;
    for (size_t i = 0; i < n; i++) {
        tensorboard__category__init(&c_arr[i]);
        c_arr[i].title = (char *)cats[i].title;
        c_arr[i].closed = cats[i].closed;
        c_arr[i].chart = &ch_ptr[ci];
        c_arr[i].n_chart = cats[i].n_charts;
        for (size_t c = 0; c < cats[i].n_charts; c++, ci++) {
            const tbw_layout_chart *src = &cats[i].charts[c];
            Tensorboard__Chart *dst = &ch_arr[ci];
            tensorboard__chart__init(dst);
            dst->title = (char *)src->title;
            if (src->n_series) {
                tensorboard__margin_chart_content__init(&mg[ci]);
                mg[ci].series = &s_ptr[si];
                mg[ci].n_series = src->n_series;
                for (size_t s = 0; s < src->n_series; s++, si++) {
                    tensorboard__margin_chart_content__series__init(&s_arr[si]);
                    s_arr[si].value = (char *)src->series[s].value;
                    s_arr[si].lower = (char *)src->series[s].lower;
                    s_arr[si].upper = (char *)src->series[s].upper;
                    s_ptr[si] = &s_arr[si];
                }
                dst->content_case = TENSORBOARD__CHART__CONTENT_MARGIN;
                dst->margin = &mg[ci];
            } else {
                tensorboard__multiline_chart_content__init(&ml[ci]);
                ml[ci].tag = (char **)src->tag_regexes;
                ml[ci].n_tag = src->n_regexes;
                dst->content_case = TENSORBOARD__CHART__CONTENT_MULTILINE;
                dst->multiline = &ml[ci];
            }
            ch_ptr[ci] = dst;
        }
        c_ptr[i] = &c_arr[i];
    }
    Tensorboard__Layout layout = TENSORBOARD__LAYOUT__INIT;
    layout.category = c_ptr;
    layout.n_category = n;
    size_t len = tensorboard__layout__get_packed_size(&layout);
    packed = malloc(len ? len : 1);
    if (!packed) {
        rc = tbw__writer_fail(w, TBW_ENOMEM, "custom scalars: out of memory");
        goto done;
    }
    tensorboard__layout__pack(&layout, packed);
    ProtobufCBinaryData val = {len, packed};
    tbw__shape shape;
    Tensorboard__TensorProto t = TENSORBOARD__TENSOR_PROTO__INIT;
    t.dtype = TENSORBOARD__DATA_TYPE__DT_STRING;
    t.tensor_shape = tbw__shape_init(&shape, 0, 0, 0);
    t.n_string_val = 1;
    t.string_val = &val;
    tbw__meta meta;
    tbw__meta_make(&meta, "custom_scalars", NULL, 0);
    rc = tbw__write_tensor(w, "custom_scalars__config__", 0, &t, &meta);
    (void)nregex;
done:
    free(c_arr);
    free(c_ptr);
    free(ch_arr);
    free(ch_ptr);
    free(ml);
    free(mg);
    free(s_arr);
    free(s_ptr);
    free(packed);
    return rc;
}
