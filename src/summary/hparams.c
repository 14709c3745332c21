/* HParams: the experiment and session start/end infos, each a Summary value
   whose metadata content is an HParamsPluginData (version 0) and whose tensor
   is empty, at step 0, as the hparams plugin's own summary writes them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/util.h"
#include "../writer/writer_internal.h"
#include "hparams.pb-c.h"
#include "summary.pb-c.h"
#include <tbw/hparams.h>

/* Summary.Value.tensor = TensorProto{dtype: DT_FLOAT, tensor_shape{dim{size: 0}}} */
static const uint8_t null_tensor_field[] = {0x42, 0x06, 0x08, 0x01, 0x12, 0x02, 0x12, 0x00};

static double now_or(double t)
{
    if (t > 0)
        return t;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Packs data into plugin "hparams" metadata and writes the value at step 0. */
static int write_plugin_data(tbw_writer *w, const char *tag, Tensorboard__Hparams__HParamsPluginData *data)
{
    size_t clen = tensorboard__hparams__hparams_plugin_data__get_packed_size(data);
    uint8_t *content = malloc(clen ? clen : 1);
    if (!content)
        return tbw__writer_fail(w, TBW_ENOMEM, "%s: out of memory", tag);
    tensorboard__hparams__hparams_plugin_data__pack(data, content);
    Tensorboard__SummaryMetadata md = TENSORBOARD__SUMMARY_METADATA__INIT;
    Tensorboard__SummaryMetadata__PluginData pd = TENSORBOARD__SUMMARY_METADATA__PLUGIN_DATA__INIT;
    pd.plugin_name = "hparams";
    pd.content.data = content;
    pd.content.len = clen;
    md.plugin_data = &pd;
    size_t mlen = tensorboard__summary_metadata__get_packed_size(&md);
    uint8_t *meta = malloc(mlen);
    if (!meta) {
        free(content);
        return tbw__writer_fail(w, TBW_ENOMEM, "%s: out of memory", tag);
    }
    tensorboard__summary_metadata__pack(&md, meta);
    int rc = tbw_writer_write_value(w, tag, 0, null_tensor_field, sizeof null_tensor_field, meta, mlen);
    free(meta);
    free(content);
    return rc;
}

static bool text_ok(const char *s)
{
    return !s || tbw__utf8_valid(s, strlen(s));
}

static bool name_ok(const char *s)
{
    return s && s[0] && tbw__utf8_valid(s, strlen(s));
}

static bool type_ok(tbw_hparam_type t)
{
    return t == TBW_HPARAM_STRING || t == TBW_HPARAM_BOOL || t == TBW_HPARAM_FLOAT;
}

/* Fills v from one value of an hparam of type t; strings are borrowed. */
static void set_value(Google__Protobuf__Value *v, tbw_hparam_type t, double number, const char *string, bool boolean)
{
    google__protobuf__value__init(v);
    if (t == TBW_HPARAM_FLOAT) {
        v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
        v->number_value = number;
    } else if (t == TBW_HPARAM_STRING) {
        v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
        v->string_value = (char *)string;
    } else {
        v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
        v->bool_value = boolean;
    }
}

int tbw_hparams_experiment(tbw_writer *w, const tbw_hparam_info *hps, size_t nh, const tbw_metric_info *ms, size_t nm,
                           const char *description, double time_created)
{
    if (!w)
        return TBW_EINVAL;
    if ((nh && !hps) || (nm && !ms) || nh > 10000 || nm > 10000)
        return tbw__writer_fail(w, TBW_EINVAL, "hparams experiment: NULL arrays or more than 10000 entries");
    if (!text_ok(description))
        return tbw__writer_fail(w, TBW_EINVAL, "hparams experiment: description is not valid UTF-8");
    size_t nvals = 0;
    for (size_t i = 0; i < nh; i++) {
        const tbw_hparam_info *h = &hps[i];
        if (!name_ok(h->name) || !text_ok(h->display_name) || !text_ok(h->description))
            return tbw__writer_fail(w, TBW_EINVAL, "hparam %zu: name is empty, or a text is not valid UTF-8", i);
        if (!type_ok(h->type))
            return tbw__writer_fail(w, TBW_EINVAL, "hparam '%s': unsupported type %d (string 1, bool 2, float 3)",
                                    h->name, (int)h->type);
        for (size_t k = 0; k < i; k++)
            if (strcmp(hps[k].name, h->name) == 0)
                return tbw__writer_fail(w, TBW_EINVAL, "hparam '%s' is listed twice", h->name);
        if (h->has_interval && (h->type != TBW_HPARAM_FLOAT || !(h->min_value <= h->max_value) || h->n_values))
            return tbw__writer_fail(w, TBW_EINVAL,
                                    "hparam '%s': an interval needs type float, min <= max and no discrete values",
                                    h->name);
        if (h->n_values) {
            const void *arr = h->type == TBW_HPARAM_FLOAT ? (const void *)h->numbers
                              : h->type == TBW_HPARAM_STRING ? (const void *)h->strings
                                                              : (const void *)h->bools;
            if (!arr)
                return tbw__writer_fail(w, TBW_EINVAL, "hparam '%s': n_values=%zu but no values of its type", h->name,
                                        h->n_values);
            for (size_t k = 0; k < h->n_values; k++) {
                if (h->type == TBW_HPARAM_FLOAT && !isfinite(h->numbers[k]))
                    return tbw__writer_fail(w, TBW_EINVAL, "hparam '%s': discrete value %zu is not finite", h->name, k);
                if (h->type == TBW_HPARAM_STRING && !name_ok(h->strings[k]))
                    return tbw__writer_fail(w, TBW_EINVAL, "hparam '%s': discrete value %zu is empty or not UTF-8",
                                            h->name, k);
            }
        }
        nvals += h->n_values;
    }
    for (size_t i = 0; i < nm; i++)
        if (!name_ok(ms[i].tag) || !text_ok(ms[i].group) || !text_ok(ms[i].display_name) ||
            !text_ok(ms[i].description) || (unsigned)ms[i].dataset_type > 2)
            return tbw__writer_fail(w, TBW_EINVAL, "metric %zu: tag is empty, a text is not UTF-8, or bad dataset type",
                                    i);

    int rc = TBW_OK;
    Tensorboard__Hparams__HParamInfo *infos = calloc(nh ? nh : 1, sizeof *infos);
    Tensorboard__Hparams__HParamInfo **info_ptrs = calloc(nh ? nh : 1, sizeof *info_ptrs);
    Google__Protobuf__ListValue *lists = calloc(nh ? nh : 1, sizeof *lists);
    Tensorboard__Hparams__Interval *intervals = calloc(nh ? nh : 1, sizeof *intervals);
    Google__Protobuf__Value *vals = calloc(nvals ? nvals : 1, sizeof *vals);
    Google__Protobuf__Value **val_ptrs = calloc(nvals ? nvals : 1, sizeof *val_ptrs);
    Tensorboard__Hparams__MetricInfo *minfos = calloc(nm ? nm : 1, sizeof *minfos);
    Tensorboard__Hparams__MetricInfo **minfo_ptrs = calloc(nm ? nm : 1, sizeof *minfo_ptrs);
    Tensorboard__Hparams__MetricName *mnames = calloc(nm ? nm : 1, sizeof *mnames);
    if (!infos || !info_ptrs || !lists || !intervals || !vals || !val_ptrs || !minfos || !minfo_ptrs || !mnames) {
        rc = tbw__writer_fail(w, TBW_ENOMEM, "hparams experiment: out of memory");
        goto done;
    }
    size_t vi = 0;
    for (size_t i = 0; i < nh; i++) {
        const tbw_hparam_info *h = &hps[i];
        Tensorboard__Hparams__HParamInfo *o = &infos[i];
        tensorboard__hparams__hparam_info__init(o);
        o->name = (char *)h->name;
        o->display_name = (char *)(h->display_name ? h->display_name : "");
        o->description = (char *)(h->description ? h->description : "");
        o->type = (Tensorboard__Hparams__DataType)h->type;
        if (h->has_interval) {
            tensorboard__hparams__interval__init(&intervals[i]);
            intervals[i].min_value = h->min_value;
            intervals[i].max_value = h->max_value;
            o->domain_case = TENSORBOARD__HPARAMS__HPARAM_INFO__DOMAIN_DOMAIN_INTERVAL;
            o->domain_interval = &intervals[i];
        } else if (h->n_values) {
            google__protobuf__list_value__init(&lists[i]);
            lists[i].values = &val_ptrs[vi];
            lists[i].n_values = h->n_values;
            for (size_t k = 0; k < h->n_values; k++, vi++) {
                set_value(&vals[vi], h->type, h->numbers ? h->numbers[k] : 0, h->strings ? h->strings[k] : NULL,
                          h->bools ? h->bools[k] : false);
                val_ptrs[vi] = &vals[vi];
            }
            o->domain_case = TENSORBOARD__HPARAMS__HPARAM_INFO__DOMAIN_DOMAIN_DISCRETE;
            o->domain_discrete = &lists[i];
        }
        info_ptrs[i] = o;
    }
    for (size_t i = 0; i < nm; i++) {
        tensorboard__hparams__metric_name__init(&mnames[i]);
        mnames[i].tag = (char *)ms[i].tag;
        mnames[i].group = (char *)(ms[i].group ? ms[i].group : "");
        tensorboard__hparams__metric_info__init(&minfos[i]);
        minfos[i].name = &mnames[i];
        minfos[i].display_name = (char *)(ms[i].display_name ? ms[i].display_name : "");
        minfos[i].description = (char *)(ms[i].description ? ms[i].description : "");
        minfos[i].dataset_type = (Tensorboard__Hparams__DatasetType)ms[i].dataset_type;
        minfo_ptrs[i] = &minfos[i];
    }
    Tensorboard__Hparams__Experiment ex = TENSORBOARD__HPARAMS__EXPERIMENT__INIT;
    ex.description = (char *)(description ? description : "");
    ex.time_created_secs = now_or(time_created);
    ex.n_hparam_infos = nh;
    ex.hparam_infos = info_ptrs;
    ex.n_metric_infos = nm;
    ex.metric_infos = minfo_ptrs;
    Tensorboard__Hparams__HParamsPluginData pdata = TENSORBOARD__HPARAMS__HPARAMS_PLUGIN_DATA__INIT;
    pdata.data_case = TENSORBOARD__HPARAMS__HPARAMS_PLUGIN_DATA__DATA_EXPERIMENT;
    pdata.experiment = &ex;
    rc = write_plugin_data(w, "_hparams_/experiment", &pdata);
done:
    free(infos);
    free(info_ptrs);
    free(lists);
    free(intervals);
    free(vals);
    free(val_ptrs);
    free(minfos);
    free(minfo_ptrs);
    free(mnames);
    return rc;
}

int tbw_hparams_session_start(tbw_writer *w, const tbw_hparam_value *values, size_t n, const char *group_name,
                              double start_time)
{
    if (!w)
        return TBW_EINVAL;
    if ((n && !values) || n > 10000)
        return tbw__writer_fail(w, TBW_EINVAL, "hparams session: values is NULL or has more than 10000 entries");
    if (!text_ok(group_name))
        return tbw__writer_fail(w, TBW_EINVAL, "hparams session: group name is not valid UTF-8");
    for (size_t i = 0; i < n; i++) {
        const tbw_hparam_value *v = &values[i];
        if (!name_ok(v->name))
            return tbw__writer_fail(w, TBW_EINVAL, "hparams session: value %zu has an empty or non-UTF-8 name", i);
        if (!type_ok(v->type))
            return tbw__writer_fail(w, TBW_EINVAL, "hparam '%s': unsupported type %d (string 1, bool 2, float 3)",
                                    v->name, (int)v->type);
        if (v->type == TBW_HPARAM_FLOAT && isnan(v->number))
            return tbw__writer_fail(w, TBW_EINVAL, "hparam '%s': NaN is not a value TensorBoard can show", v->name);
        if (v->type == TBW_HPARAM_STRING && !name_ok(v->string))
            return tbw__writer_fail(w, TBW_EINVAL, "hparam '%s': string value is empty, NULL or not UTF-8", v->name);
        for (size_t k = 0; k < i; k++)
            if (strcmp(values[k].name, v->name) == 0)
                return tbw__writer_fail(w, TBW_EINVAL, "hparam '%s' is given twice", v->name);
    }
    Tensorboard__Hparams__SessionStartInfo__HparamsEntry *entries = calloc(n ? n : 1, sizeof *entries);
    Tensorboard__Hparams__SessionStartInfo__HparamsEntry **entry_ptrs = calloc(n ? n : 1, sizeof *entry_ptrs);
    Google__Protobuf__Value *vals = calloc(n ? n : 1, sizeof *vals);
    int rc;
    if (!entries || !entry_ptrs || !vals) {
        rc = tbw__writer_fail(w, TBW_ENOMEM, "hparams session: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        tensorboard__hparams__session_start_info__hparams_entry__init(&entries[i]);
        entries[i].key = (char *)values[i].name;
        set_value(&vals[i], values[i].type, values[i].number, values[i].string, values[i].boolean);
        entries[i].value = &vals[i];
        entry_ptrs[i] = &entries[i];
    }
    Tensorboard__Hparams__SessionStartInfo ssi = TENSORBOARD__HPARAMS__SESSION_START_INFO__INIT;
    ssi.n_hparams = n;
    ssi.hparams = entry_ptrs;
    ssi.group_name = (char *)(group_name ? group_name : "");
    ssi.start_time_secs = now_or(start_time);
    Tensorboard__Hparams__HParamsPluginData pdata = TENSORBOARD__HPARAMS__HPARAMS_PLUGIN_DATA__INIT;
    pdata.data_case = TENSORBOARD__HPARAMS__HPARAMS_PLUGIN_DATA__DATA_SESSION_START_INFO;
    pdata.session_start_info = &ssi;
    rc = write_plugin_data(w, "_hparams_/session_start_info", &pdata);
done:
    free(entries);
    free(entry_ptrs);
    free(vals);
    return rc;
}

int tbw_hparams_session_end(tbw_writer *w, tbw_session_status status, double end_time)
{
    if (!w)
        return TBW_EINVAL;
    if ((unsigned)status > TBW_SESSION_RUNNING)
        return tbw__writer_fail(w, TBW_EINVAL, "hparams session end: unknown status %d", (int)status);
    Tensorboard__Hparams__SessionEndInfo sei = TENSORBOARD__HPARAMS__SESSION_END_INFO__INIT;
    sei.status = (Tensorboard__Hparams__Status)status;
    sei.end_time_secs = now_or(end_time);
    Tensorboard__Hparams__HParamsPluginData pdata = TENSORBOARD__HPARAMS__HPARAMS_PLUGIN_DATA__INIT;
    pdata.data_case = TENSORBOARD__HPARAMS__HPARAMS_PLUGIN_DATA__DATA_SESSION_END_INFO;
    pdata.session_end_info = &sei;
    return write_plugin_data(w, "_hparams_/session_end_info", &pdata);
}
