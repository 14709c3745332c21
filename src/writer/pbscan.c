#include "pbscan.h"

#include "pbwire.h"

static const ProtobufCFieldDescriptor *field_of(const ProtobufCMessageDescriptor *desc, uint32_t num)
{
    return protobuf_c_message_descriptor_get_field(desc, (unsigned)num);
}

static bool scan(const ProtobufCMessageDescriptor *desc, const uint8_t *base, const uint8_t *p, const uint8_t *end,
                 int depth, const char **why, size_t *at)
{
    if (depth > TBW__PB_MAX_DEPTH) {
        *why = "messages nest too deep";
        *at = (size_t)(p - base);
        return false;
    }
    while (p < end) {
        const uint8_t *start = p;
        tbw__field f;
        if (!tbw__next_field(&p, end, &f)) {
            *why = "malformed field";
            *at = (size_t)(start - base);
            return false;
        }
        const ProtobufCFieldDescriptor *fd = f.wire == 2 ? field_of(desc, f.num) : NULL;
        if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE &&
            !scan(fd->descriptor, base, f.data, f.data + f.len, depth + 1, why, at))
            return false;
    }
    return true;
}

bool tbw__pb_scan(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len, const char **why,
                  size_t *at)
{
    return scan(desc, data, data, data + len, 0, why, at);
}
