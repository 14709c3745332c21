/* tbw-inspect's whole input handling (tools/tbw_inspect.c, built here without its main) on one
   event file, with --check. */
#include "fuzz.h"

#include <fcntl.h>

#define TBW_INSPECT_NO_MAIN
#include "../../tools/tbw_inspect.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool quiet;
    if (!quiet) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1); /* the summaries; libFuzzer reports on stderr */
        quiet = true;
    }
    const char *path = fuzz_file(0, data, size);
    /* tbw-inspect groups files by directory and looks for "tfevents" in the name */
    char link[128];
    snprintf(link, sizeof link, "/tmp/tbw-fuzz-inspect-%d.tfevents", (int)getpid());
    unlink(link);
    if (symlink(path, link) != 0)
        abort();
    char *check[] = {"tbw-inspect", "--check", link, NULL};
    inspect(3, check);
    char *csv[] = {"tbw-inspect", "--csv", link, NULL};
    inspect(3, csv);
    unlink(link);
    return 0;
}
