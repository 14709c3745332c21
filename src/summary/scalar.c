/* Scalars, in the exact form tf.summary.scalar writes: a rank-0 DT_FLOAT tensor
   with the value in tensor_content and plugin "scalars" metadata. */
#include <string.h>

#include "../common/util.h"
#include <tbw/summary.h>

int tbw_scalar(tbw_writer *w, const char *tag, int64_t step, double value)
{
    /* SummaryMetadata{plugin_data{plugin_name: "scalars"}} */
    static const uint8_t meta[] = {0x0A, 0x09, 0x0A, 0x07, 's', 'c', 'a', 'l', 'a', 'r', 's'};
    /* Value.tensor = TensorProto{dtype: DT_FLOAT, tensor_shape{}, tensor_content: 4 bytes} */
    uint8_t fields[12] = {0x42, 0x0A, 0x08, 0x01, 0x12, 0x00, 0x22, 0x04};
    float f = (float)value;
    uint32_t bits;
    memcpy(&bits, &f, 4);
    tbw__store_le32(fields + 8, bits);
    return tbw_writer_write_value(w, tag, step, fields, sizeof fields, meta, sizeof meta);
}
