/* The pieces of a distributed job that live in libtbw: the discarding writer that ranks above 0
   use, and the launcher probe. Each case runs in its own process (tests/check.h), so the
   environment a case sets stays in it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"
#include "testutil.h"
#include <tbw/tbw.h>

static const char *const launcher_vars[] = {
    "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE",
    "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS", "PMIX_RANK", "SLURM_PROCID", "SLURM_NTASKS",
    "SLURM_STEP_NUM_TASKS", "SLURM_STEP_ID", "SLURM_LOCALID", "SLURM_STEP_TASKS_PER_NODE", "RANK", "WORLD_SIZE",
    "LOCAL_RANK", "LOCAL_WORLD_SIZE"};

/* This test may itself run under a launcher: start each case from a clean environment. */
static void clear_launchers(void)
{
    for (size_t i = 0; i < sizeof launcher_vars / sizeof launcher_vars[0]; i++)
        unsetenv(launcher_vars[i]);
}

static tbw_dist_info probe_ok(void)
{
    tbw_dist_info d;
    char msg[256];
    CHECK_RC(0, tbw_dist_from_env(&d, msg, sizeof msg), msg);
    return d;
}

static void probe_refused(const char *needle)
{
    tbw_dist_info d = {7, 7, 7, 7, "x"};
    char msg[256];
    CHECK_RC(TBW_EINVAL, tbw_dist_from_env(&d, msg, sizeof msg), msg);
    CHECK_STR_HAS(msg, needle);
    CHECK_INT(0, d.rank);
    CHECK_INT(1, d.size);
    CHECK_STR("none", d.source);
}

TEST(discarding_writer_checks_counts_and_creates_no_directory_or_file)
{
    char *d = tu_tempdir("discard");
    char run[600];
    snprintf(run, sizeof run, "%s/rank1/deeper", d);
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.discard = true;
    o.background = true; /* ignored: there is nothing to write */
    o.max_queue = 2;
    tbw_writer *w = NULL;
    char msg[256];
    CHECK_RC(0, tbw_writer_open(&w, run, &o, msg, sizeof msg), msg);
    CHECK_STR("", tbw_writer_path(w));
    for (int i = 0; i < 100; i++)
        CHECK_RC(0, tbw_scalar(w, "loss", i, 1.0 / (i + 1)), tbw_writer_errmsg(w));
    float h[64];
    for (int i = 0; i < 64; i++)
        h[i] = (float)i;
    CHECK_RC(0, tbw_histogram(w, "fc1/weights", 0, h, 64, 0, NULL), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_text(w, "notes", 0, "a discarded note"), tbw_writer_errmsg(w));
    /* the same refusals as a real writer */
    CHECK_RC(TBW_EINVAL, tbw_scalar(w, "", 0, 1.0), tbw_writer_errmsg(w));
    CHECK_RC(TBW_EINVAL, tbw_scalar(w, "bad\xff", 0, 1.0), tbw_writer_errmsg(w));
    CHECK_RC(TBW_EINVAL, tbw_text(w, "loss", 0, "loss already holds scalars"), tbw_writer_errmsg(w));
    CHECK_STR_HAS(tbw_writer_errmsg(w), "already holds scalars data");
    CHECK_RC(0, tbw_writer_flush(w), tbw_writer_errmsg(w));
    CHECK_U64(102, tbw_writer_event_count(w));
    CHECK_U64(0, tbw_writer_bytes_written(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    struct stat st;
    CHECK(stat(run, &st) != 0);
    snprintf(run, sizeof run, "%s/rank1", d);
    CHECK(stat(run, &st) != 0);
    CHECK_INT(0, tu_count_entries(d));
    tu_rmtree(d);
    free(d);
}

TEST(discarding_writer_accepts_a_resume_step_and_rotation_options_and_still_writes_nothing)
{
    char *d = tu_tempdir("discard2");
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.discard = true;
    o.resume_step = 40;
    o.max_file_bytes = 1024;
    tbw_writer *w = NULL;
    char msg[256];
    CHECK_RC(0, tbw_writer_open(&w, d, &o, msg, sizeof msg), msg);
    for (int i = 0; i < 50; i++)
        CHECK_RC(0, tbw_scalar(w, "after_resume", 40 + i, i), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    CHECK_INT(0, tu_count_entries(d));
    tu_rmtree(d);
    free(d);
}

TEST(counting_works_on_a_real_writer_too)
{
    char *d = tu_tempdir("count");
    tbw_writer *w = NULL;
    char msg[256];
    CHECK_RC(0, tbw_writer_open(&w, d, NULL, msg, sizeof msg), msg);
    CHECK_U64(0, tbw_writer_event_count(w));
    CHECK_RC(0, tbw_scalar(w, "a", 0, 1), tbw_writer_errmsg(w));
    CHECK_RC(TBW_EINVAL, tbw_scalar(w, "", 0, 1), tbw_writer_errmsg(w));
    CHECK_U64(1, tbw_writer_event_count(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    CHECK_U64(0, tbw_writer_event_count(NULL));
    tu_rmtree(d);
    free(d);
}

TEST(probe_without_a_launcher_is_one_process)
{
    clear_launchers();
    tbw_dist_info d = probe_ok();
    CHECK_INT(0, d.rank);
    CHECK_INT(1, d.size);
    CHECK_INT(0, d.local_rank);
    CHECK_INT(1, d.local_size);
    CHECK_STR("none", d.source);
    CHECK_INT(TBW_EINVAL, tbw_dist_from_env(NULL, NULL, 0));
}

TEST(probe_reads_open_mpi)
{
    clear_launchers();
    setenv("OMPI_COMM_WORLD_RANK", "3", 1);
    setenv("OMPI_COMM_WORLD_SIZE", "8", 1);
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "1", 1);
    setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "2", 1);
    setenv("SLURM_PROCID", "0", 1); /* Open MPI comes first */
    setenv("SLURM_STEP_NUM_TASKS", "1", 1);
    tbw_dist_info d = probe_ok();
    CHECK_INT(3, d.rank);
    CHECK_INT(8, d.size);
    CHECK_INT(1, d.local_rank);
    CHECK_INT(2, d.local_size);
    CHECK_STR("openmpi", d.source);
}

TEST(probe_reads_pmi_and_torchrun_style_variables)
{
    clear_launchers();
    setenv("PMI_RANK", "1", 1);
    setenv("PMI_SIZE", "2", 1);
    setenv("MPI_LOCALRANKID", "1", 1);
    setenv("MPI_LOCALNRANKS", "2", 1);
    tbw_dist_info d = probe_ok();
    CHECK_INT(1, d.rank);
    CHECK_INT(2, d.size);
    CHECK_STR("pmi", d.source);
    clear_launchers();
    setenv("RANK", "5", 1);
    setenv("WORLD_SIZE", "6", 1);
    d = probe_ok();
    CHECK_INT(5, d.rank);
    CHECK_INT(6, d.size);
    /* no local figures: the whole job is taken to be on this machine */
    CHECK_INT(5, d.local_rank);
    CHECK_INT(6, d.local_size);
    CHECK_STR("env", d.source);
}

TEST(probe_reads_a_slurm_step_but_not_a_batch_script)
{
    clear_launchers();
    /* sbatch --ntasks=4: the batch script itself is one process */
    setenv("SLURM_PROCID", "0", 1);
    setenv("SLURM_NTASKS", "4", 1);
    setenv("SLURM_LOCALID", "0", 1);
    tbw_dist_info d = probe_ok();
    CHECK_INT(1, d.size);
    CHECK_STR("none", d.source);
    /* srun inside it: a step of 4 tasks, 2 on this node */
    setenv("SLURM_STEP_ID", "0", 1);
    setenv("SLURM_PROCID", "3", 1);
    setenv("SLURM_LOCALID", "1", 1);
    setenv("SLURM_STEP_TASKS_PER_NODE", "2(x2)", 1);
    d = probe_ok();
    CHECK_INT(3, d.rank);
    CHECK_INT(4, d.size);
    CHECK_INT(1, d.local_rank);
    CHECK_INT(2, d.local_size);
    CHECK_STR("slurm", d.source);
    setenv("SLURM_STEP_NUM_TASKS", "2", 1);
    setenv("SLURM_PROCID", "1", 1);
    d = probe_ok();
    CHECK_INT(2, d.size);
}

TEST(probe_refuses_malformed_values_naming_the_variable)
{
    static const char *const bad[] = {"", "two", "-1", "1.5", "2x", "0x10", "99999999999", " ", "+"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        clear_launchers();
        setenv("OMPI_COMM_WORLD_RANK", "0", 1);
        setenv("OMPI_COMM_WORLD_SIZE", bad[i], 1);
        probe_refused("OMPI_COMM_WORLD_SIZE=");
    }
    clear_launchers();
    setenv("OMPI_COMM_WORLD_RANK", "2", 1);
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    probe_refused("OMPI_COMM_WORLD_RANK=2 is not below OMPI_COMM_WORLD_SIZE=2");
    clear_launchers();
    setenv("OMPI_COMM_WORLD_RANK", "0", 1);
    setenv("OMPI_COMM_WORLD_SIZE", "0", 1);
    probe_refused("is not below");
    clear_launchers();
    setenv("PMI_SIZE", "4", 1);
    probe_refused("PMI_SIZE is set but PMI_RANK is not");
    clear_launchers();
    setenv("RANK", "0", 1);
    setenv("WORLD_SIZE", "2", 1);
    setenv("LOCAL_RANK", "3", 1);
    setenv("LOCAL_WORLD_SIZE", "2", 1);
    probe_refused("do not fit a job of 2");
    clear_launchers();
    setenv("SLURM_STEP_ID", "0", 1);
    setenv("SLURM_PROCID", "0", 1);
    setenv("SLURM_NTASKS", "2", 1);
    setenv("SLURM_LOCALID", "0", 1);
    setenv("SLURM_STEP_TASKS_PER_NODE", "(x2)", 1);
    probe_refused("SLURM_STEP_TASKS_PER_NODE='(x2)'");
}

static const check_case tests[] = {
    CASE(discarding_writer_checks_counts_and_creates_no_directory_or_file),
    CASE(discarding_writer_accepts_a_resume_step_and_rotation_options_and_still_writes_nothing),
    CASE(counting_works_on_a_real_writer_too),
    CASE(probe_without_a_launcher_is_one_process),
    CASE(probe_reads_open_mpi),
    CASE(probe_reads_pmi_and_torchrun_style_variables),
    CASE(probe_reads_a_slurm_step_but_not_a_batch_script),
    CASE(probe_refuses_malformed_values_naming_the_variable),
};
CHECK_MAIN(tests)
