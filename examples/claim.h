/* Claims on the runs of a sweep that several worker processes share (MPI ranks,
   Slurm array tasks, GNU parallel jobs, shell loops), possibly on several hosts
   over a shared filesystem. No global state; every function reports failure
   through its return value and a message in err.

   Layout, all under <logdir>/.claims/:
     <name>.claim       created with O_CREAT|O_EXCL by the one worker that claims
                        <name>; one line: host, pid, job id, time. Resumes append
                        a line. The worker that trains <name> holds an fcntl write
                        lock on it for as long as it trains: the kernel (or the NFS
                        lock manager) drops the lock when the process dies, so a
                        lock that can be taken means nobody is training <name>.
     <name>.resume.<n>  created with O_EXCL by the worker that takes over a dead
                        claim for the n-th time (see claim_take_over).
     <name>.done        created with O_EXCL when <name> finished successfully.

   Thread rules: a claim is owned by one thread. fcntl locks belong to the
   process and are all dropped when ANY descriptor of the file is closed, so a
   process must not open the claim file of a claim it holds by other means
   (claim_holder on a name this process holds would release it). */
#ifndef TBW_EXAMPLES_CLAIM_H
#define TBW_EXAMPLES_CLAIM_H

#include <stdbool.h>
#include <stddef.h>

typedef enum claim_status {
    CLAIM_ERROR = -1, /* message in err */
    CLAIM_OK = 0,     /* this process holds the claim now */
    CLAIM_TAKEN,      /* another worker claimed it first, or won the race to take it over */
    CLAIM_BUSY,       /* claim_take_over: its holder is alive (holds the lock) */
    CLAIM_DONE        /* claim_take_over: it is done already */
} claim_status;

/* A held claim: caller-allocated, start it as CLAIM_INIT. */
typedef struct claim {
    int fd;         /* the locked <name>.claim; -1 when not held */
    int generation; /* 0: claimed first; n: taken over as <name>.resume.<n> */
    bool locked;    /* false where the filesystem has no locks (then O_EXCL alone decides) */
} claim;
#define CLAIM_INIT {-1, 0, false}

/* Creates logdir (with its parents) and logdir/.claims; both may exist already.
   Returns 0, or -1 with a message. */
int claim_dir_create(const char *logdir, char *err, size_t errlen);

/* Whether logdir/.claims exists as a directory (a sweep in progress). */
bool claim_dir_exists(const char *logdir);

/* Claims name with O_CREAT|O_EXCL. CLAIM_OK: *c holds it; CLAIM_TAKEN: it was
   claimed before (or a claim_take_over got in between its creation and its
   lock); CLAIM_ERROR: message in err. name: no '/', not empty. */
claim_status claim_try(claim *c, const char *logdir, const char *name, char *err, size_t errlen);

/* Takes over a claim whose holder died (for --resume). Unclaimed names are
   claimed as by claim_try. CLAIM_OK: *c holds it, c->generation says which
   takeover this is; CLAIM_BUSY: its holder is alive; CLAIM_DONE: done already;
   CLAIM_TAKEN: another worker took it over first; CLAIM_ERROR: message in err. */
claim_status claim_take_over(claim *c, const char *logdir, const char *name, char *err, size_t errlen);

/* Marks a held claim done: creates <name>.done with O_EXCL holding note (one
   line, e.g. the test accuracy) and this worker's identity, then releases the
   claim. Returns 0, or -1 with a message (the claim is released either way). */
int claim_done(claim *c, const char *logdir, const char *name, const char *note, char *err, size_t errlen);

/* Releases a held claim without marking it done (a failed run keeps its claim
   file, so --resume retries it). Accepts a claim that is not held. */
void claim_release(claim *c);

/* 1 if name is done, 0 if not, -1 with a message on an I/O error. */
int claim_is_done(const char *logdir, const char *name, char *err, size_t errlen);

/* 1 if name is claimed (done or not), 0 if not, -1 with a message on an I/O error. */
int claim_is_claimed(const char *logdir, const char *name, char *err, size_t errlen);

/* The last line of <name>.claim (who holds it) into buf, without the newline;
   "" if it cannot be read. For messages only. */
void claim_holder(const char *logdir, const char *name, char *buf, size_t len);

/* This process's identity as written into claims: host, pid, and the job ids
   of Slurm and Open MPI when set (malformed values are left out). */
void claim_identity(char *buf, size_t len);

#endif
