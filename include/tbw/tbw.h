/* tbw: write TensorBoard event files from C. Include this for the whole public API. */
#ifndef TBW_TBW_H
#define TBW_TBW_H

#include <tbw/common.h>
#include <tbw/writer.h>
#include <tbw/summary.h>
#include <tbw/reader.h>
#include <tbw/record.h>
#include <tbw/graph.h>
#include <tbw/hparams.h>
#include <tbw/projector.h>
#include <tbw/dist.h>

#endif
