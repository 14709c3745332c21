/* A bounds-checked walk over protobuf bytes against a protobuf-c descriptor, before protobuf-c
   parses them. Internal. */
#ifndef TBW_PBSCAN_H
#define TBW_PBSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#define TBW__PB_MAX_DEPTH 100

/* Whether data[0..len) is well-formed for desc, recursively through its message fields: every key
   has a field number in 1..2^29-1 and a wire type 0, 1, 2 or 5, every varint ends within 10 bytes,
   every length stays inside its message, and messages nest at most TBW__PB_MAX_DEPTH deep. On false,
   *why (a short phrase) names the problem and *at its byte offset. protobuf-c 1.4 shifts a signed int past its range
   on a field number of 2^29 or more (parse_tag_and_wiretype) and recurses without a limit; refused
   here, neither is reached. */
bool tbw__pb_scan(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len, const char **why,
                  size_t *at);

#endif
