/* The record framing: tbw_record_parse over a buffer, record after record. */
#include "fuzz.h"

#include <tbw/record.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        const uint8_t *payload;
        size_t len, used;
        int rc = tbw_record_parse(data + off, size - off, &payload, &len, &used);
        if (rc)
            break;
        if (used != len + TBW_RECORD_OVERHEAD || payload != data + off + 12 || used > size - off)
            abort(); /* a parse that claims more than it read */
        off += used;
    }
    return 0;
}
