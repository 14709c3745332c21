/* Checks and a case runner for the C test programs.
 *
 * A program declares its cases and lists them in a table at the bottom:
 *
 *     TEST(crc32c_matches_known_answers) { CHECK_U64(0xE3069283u, tbw_crc32c(0, "123456789", 9)); }
 *     ...
 *     static const check_case tests[] = {CASE(crc32c_matches_known_answers), ...};
 *     CHECK_MAIN(tests)
 *
 * (or its own main, doing setup before `return check_main(argc, argv, tests, CHECK_COUNT(tests));`;
 * every case inherits what the setup made).
 *
 * Each case runs in its own child process, so one that crashes, calls exit() or hangs is reported as
 * failed and the others still run. Output, one line per case, then the totals:
 *
 *     ok   <name> (<k> checks)
 *     FAIL <name>: <reason>
 *     checks: <n> passed, <n> failed
 *     <n> passed, <n> failed                  (cases; always the last line)
 *
 * A failing check prints file:line, expected and actual on stderr. The exit status is 0 when every case
 * passed. Arguments: case names run only those; --list prints the names. Environment: TBW_TEST_TIMEOUT
 * is each case's limit in seconds (default 240, 0 = none); TBW_TEST_FORK=0 runs the cases in this
 * process, one after the other (for a debugger).
 */
#ifndef TBW_TESTS_CHECK_H
#define TBW_TESTS_CHECK_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- checks ---- */

static int check_passed_, check_failed_;

#define CHECK_(ok, ...)                                                                                         \
    do {                                                                                                        \
        if (ok) {                                                                                               \
            check_passed_++;                                                                                    \
        } else {                                                                                                \
            check_failed_++;                                                                                    \
            fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                                     \
            fprintf(stderr, __VA_ARGS__);                                                                       \
            fputc('\n', stderr);                                                                                \
        }                                                                                                       \
    } while (0)

#define CHECK(cond) CHECK_((cond), "check failed: %s", #cond)
#define CHECK_TRUE(cond) CHECK(cond)
#define CHECK_INT(exp, act)                                                                                     \
    do {                                                                                                        \
        long long e_ = (long long)(exp), a_ = (long long)(act);                                                 \
        CHECK_(e_ == a_, "%s: expected %lld (%s), got %lld", #act, e_, #exp, a_);                               \
    } while (0)
#define CHECK_U64(exp, act)                                                                                     \
    do {                                                                                                        \
        uint64_t e_ = (uint64_t)(exp), a_ = (uint64_t)(act);                                                    \
        CHECK_(e_ == a_, "%s: expected 0x%" PRIx64 ", got 0x%" PRIx64, #act, e_, a_);                           \
    } while (0)
#define CHECK_DBL(exp, act)                                                                                     \
    do {                                                                                                        \
        double e_ = (double)(exp), a_ = (double)(act);                                                          \
        CHECK_(e_ == a_ || (isnan(e_) && isnan(a_)), "%s: expected %.17g, got %.17g", #act, e_, a_);            \
    } while (0)
#define CHECK_NEAR(exp, act, tol)                                                                               \
    do {                                                                                                        \
        double e_ = (double)(exp), a_ = (double)(act), t_ = (double)(tol);                                      \
        CHECK_(fabs(e_ - a_) <= t_, "%s: expected %.9g +- %g, got %.9g", #act, e_, t_, a_);                     \
    } while (0)
#define CHECK_STR(exp, act)                                                                                     \
    do {                                                                                                        \
        const char *e_ = (exp), *a_ = (act);                                                                    \
        CHECK_(e_ && a_ && strcmp(e_, a_) == 0, "%s: expected \"%s\", got \"%s\"", #act, e_ ? e_ : "(null)",    \
               a_ ? a_ : "(null)");                                                                             \
    } while (0)
#define CHECK_STR_HAS(haystack, needle)                                                                         \
    do {                                                                                                        \
        const char *h_ = (haystack), *n_ = (needle);                                                            \
        CHECK_(h_ && strstr(h_, n_), "%s: expected to contain \"%s\", got \"%s\"", #haystack, n_,               \
               h_ ? h_ : "(null)");                                                                             \
    } while (0)
#define CHECK_MEM(exp, act, n)                                                                                  \
    do {                                                                                                        \
        const unsigned char *e_ = (const unsigned char *)(exp), *a_ = (const unsigned char *)(act);             \
        size_t n_ = (n), i_ = 0;                                                                                \
        while (i_ < n_ && e_[i_] == a_[i_])                                                                     \
            i_++;                                                                                               \
        CHECK_(i_ == n_, "%s: differs at byte %zu of %zu (expected %02x, got %02x)", #act, i_, n_,              \
               i_ < n_ ? e_[i_] : 0, i_ < n_ ? a_[i_] : 0);                                                     \
    } while (0)
/* A status check that also shows the message the handle kept. */
#define CHECK_RC(exp, act, msg)                                                                                 \
    do {                                                                                                        \
        int e_ = (exp), a_ = (act);                                                                             \
        CHECK_(e_ == a_, "%s: expected status %d, got %d (%s)", #act, e_, a_, (msg));                           \
    } while (0)

/* ---- cases and the runner ---- */

typedef struct check_case {
    const char *name;
    void (*fn)(void);
} check_case;

#define TEST(name) static void test_##name(void)
#define CASE(name) {#name, test_##name}
#define CHECK_COUNT(table) (sizeof(table) / sizeof((table)[0]))
#define CHECK_MAIN(table)                                                                                       \
    int main(int argc, char **argv)                                                                             \
    {                                                                                                           \
        return check_main(argc, argv, table, CHECK_COUNT(table));                                               \
    }

static const char *check_signame_(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGTRAP: return "SIGTRAP";
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGPIPE: return "SIGPIPE";
    case SIGXFSZ: return "SIGXFSZ";
    case SIGALRM: return "SIGALRM";
    default: return NULL;
    }
}

static unsigned check_env_uint_(const char *name, unsigned fallback)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return fallback;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v > 1000000) {
        fprintf(stderr, "%s=%s is not a number of seconds; using %u\n", name, s, fallback);
        return fallback;
    }
    return (unsigned)v;
}

/* Runs one case in a child process. Returns true when it passed; adds its checks to *passed and *failed
 * (nothing when it died before returning) and writes the reason for a failure into why. */
static bool check_run_forked_(const check_case *c, unsigned timeout, int *passed, int *failed, char *why,
                              size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(why, cap, "pipe: %s", strerror(errno));
        return false;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, cap, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        close(fds[0]);
        check_passed_ = check_failed_ = 0;
        alarm(timeout);
        c->fn();
        alarm(0);
        int counts[2] = {check_passed_, check_failed_};
        if (write(fds[1], counts, sizeof counts) != (ssize_t)sizeof counts)
            _exit(125);
        close(fds[1]);
        exit(check_failed_ ? 1 : 0); /* exit, not _exit: stdio is flushed and the leak checker runs */
    }
    close(fds[1]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    /* The child wrote its counts (8 bytes, never blocking) before exiting; read without waiting, as a
       process the case started may still hold the pipe open. */
    int counts[2] = {0, 0};
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    bool returned = read(fds[0], counts, sizeof counts) == (ssize_t)sizeof counts;
    close(fds[0]);
    if (returned) {
        *passed += counts[0];
        *failed += counts[1];
    }
    if (WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        const char *name = check_signame_(sig);
        if (sig == SIGALRM)
            snprintf(why, cap, "timed out after %u s (TBW_TEST_TIMEOUT)", timeout);
        else if (name)
            snprintf(why, cap, "%s", name);
        else
            snprintf(why, cap, "signal %d", sig);
        return false;
    }
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (!returned) {
        snprintf(why, cap, "exited with status %d before the case returned", code);
        return false;
    }
    if (counts[1]) {
        snprintf(why, cap, "%d of %d checks failed", counts[1], counts[0] + counts[1]);
        return false;
    }
    if (code != 0) {
        snprintf(why, cap, "exited with status %d after the case returned", code);
        return false;
    }
    return true;
}

static void check_list_(FILE *f, const check_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s\n", cases[i].name);
}

static int check_main(int argc, char **argv, const check_case *cases, size_t n)
{
    /* which cases: all, or those named. Static, so the leak checker in a case's child (which exits
       without coming back here) still finds it; a register copy may be gone by then. */
    static unsigned char *selected;
    selected = calloc(n ? n : 1, 1);
    if (!selected) {
        fprintf(stderr, "out of memory\n");
        return 2;
    }
    int named = 0;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--list") == 0) {
            check_list_(stdout, cases, n);
            free(selected);
            return 0;
        }
        size_t i = 0;
        while (i < n && strcmp(argv[a], cases[i].name) != 0)
            i++;
        if (i == n) {
            fprintf(stderr, "%s: no case named '%s'; the cases are:\n", argv[0], argv[a]);
            check_list_(stderr, cases, n);
            free(selected);
            return 2;
        }
        selected[i] = 1;
        named++;
    }
    for (size_t i = 0; i < n && !named; i++)
        selected[i] = 1;

    /* a check that failed in main's own setup fails the program without running the cases */
    if (check_failed_) {
        printf("FAIL setup in main: %d checks failed\n", check_failed_);
        printf("checks: %d passed, %d failed\n", check_passed_, check_failed_);
        printf("0 passed, %zu failed\n", n);
        free(selected);
        return 1;
    }

    unsigned timeout = check_env_uint_("TBW_TEST_TIMEOUT", 240);
    const char *fork_env = getenv("TBW_TEST_FORK");
    bool forking = !(fork_env && strcmp(fork_env, "0") == 0);
    int cases_ok = 0, cases_failed = 0, checks_ok = 0, checks_failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (!selected[i])
            continue;
        char why[160] = "";
        int p = 0, f = 0;
        bool ok;
        if (forking) {
            ok = check_run_forked_(&cases[i], timeout, &p, &f, why, sizeof why);
        } else {
            check_passed_ = check_failed_ = 0;
            cases[i].fn();
            p = check_passed_;
            f = check_failed_;
            ok = f == 0;
            snprintf(why, sizeof why, "%d of %d checks failed", f, p + f);
        }
        checks_ok += p;
        checks_failed += f;
        if (ok) {
            cases_ok++;
            printf("ok   %s (%d checks)\n", cases[i].name, p);
        } else {
            cases_failed++;
            printf("FAIL %s: %s\n", cases[i].name, why);
        }
        fflush(stdout);
    }
    printf("checks: %d passed, %d failed\n", checks_ok, checks_failed);
    printf("%d passed, %d failed\n", cases_ok, cases_failed);
    fflush(stdout);
    free(selected);
    return cases_failed ? 1 : 0;
}

#endif
