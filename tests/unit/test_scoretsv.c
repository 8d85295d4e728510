/* test_scoretsv.c — the score TSV writer and reader (scoretsv.h): round trip,
 * and every malformed input refused at the right line. Refusals print their
 * message on stderr; tests/bats/argmax.bats checks the message texts. */
#include "check.h"
#include "io/scoretsv.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/pcnn-test-scoretsv-XXXXXX";

static const char *tmp_path(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

/* Reads text as a score TSV; returns the status of the first failing call
 * (-1), or the number of rows read; *line gets the reader's last line number. */
static long read_text(const char *text, uint64_t *line)
{
    FILE *fp = fmemopen((void *)text, strlen(text), "r");
    pcnn_score_reader *r = pcnn_score_open_stream(fp, "test");
    long rows = 0;
    int st = -1;
    if (r) {
        pcnn_score_row row;
        while ((st = pcnn_score_next(r, &row)) == 1) rows++;
        if (line) *line = pcnn_score_line(r);
    } else if (line) {
        *line = 1;
    }
    pcnn_score_close(r);
    fclose(fp);
    return st < 0 ? -1 : rows;
}

static void test_roundtrip(void)
{
    char *names[3] = {"Class0", "Class1", "Class2"};
    const char *p = tmp_path("a.tsv");
    pcnn_score_writer *w = pcnn_score_create(p, 3, names);
    CHECK(w != NULL);
    if (!w) return;
    double v[2][3] = {{-6012.3456789, -6000.0000004, -1e-9}, {-123456.5, -0.25, -7000.125}};
    CHECK(pcnn_score_write(w, "test/0000021.jpg", -1, v[0]) == 0);
    CHECK(pcnn_score_write(w, "a b,c.png", 2, v[1]) == 0);
    CHECK(pcnn_score_finish(w) == 0);

    pcnn_score_reader *r = pcnn_score_open(p);
    CHECK(r != NULL);
    if (!r) return;
    CHECK(pcnn_score_nclasses(r) == 3);
    CHECK(!strcmp(pcnn_score_class_names(r)[2], "Class2"));
    pcnn_score_row row;
    CHECK(pcnn_score_next(r, &row) == 1);
    CHECK(!strcmp(row.id, "test/0000021.jpg") && row.label == -1);
    /* "%.6f": absolute error at most 5e-7 nats */
    for (int k = 0; k < 3; k++) CHECK_NEAR(row.logp[k], v[0][k], 5e-7);
    CHECK(pcnn_score_next(r, &row) == 1);
    CHECK(!strcmp(row.id, "a b,c.png") && row.label == 2);
    for (int k = 0; k < 3; k++) CHECK_NEAR(row.logp[k], v[1][k], 5e-7);
    CHECK(pcnn_score_next(r, &row) == 0);
    CHECK(pcnn_score_line(r) == 3);
    pcnn_score_close(r);
}

static void test_writer_refuses(void)
{
    char *names[2] = {"A", "B"}, *dup[2] = {"A", "A"}, *comma[2] = {"A", "B,C"};
    CHECK(pcnn_score_create(tmp_path("x.tsv"), 2, dup) == NULL);
    CHECK(pcnn_score_create(tmp_path("x.tsv"), 2, comma) == NULL);
    CHECK(pcnn_score_create(tmp_path("x.tsv"), 0, names) == NULL);
    pcnn_score_writer *w = pcnn_score_create(tmp_path("b.tsv"), 2, names);
    CHECK(w != NULL);
    if (!w) return;
    double ok[2] = {-1, -2}, bad[2] = {-1, NAN}, inf[2] = {-INFINITY, -2};
    CHECK(pcnn_score_write(w, "x", 0, bad) == -1);
    CHECK(pcnn_score_write(w, "x", 0, inf) == -1);
    CHECK(pcnn_score_write(w, "x\ty", 0, ok) == -1);
    CHECK(pcnn_score_write(w, "", 0, ok) == -1);
    CHECK(pcnn_score_write(w, "x", 2, ok) == -1);
    CHECK(pcnn_score_write(w, "x", -2, ok) == -1);
    CHECK(pcnn_score_write(w, "x", 1, ok) == 0);
    pcnn_score_abort(w);
    CHECK(access(tmp_path("b.tsv"), F_OK) != 0);   /* nothing left behind */
}

static void test_line_endings(void)
{
    CHECK(read_text("id\tlabel\tA\tB\r\nx\t0\t-1\t-2\r\ny\t1\t-3\t-4\r\n", NULL) == 2);
    CHECK(read_text("id\tlabel\tA\n", NULL) == 0);
    CHECK(read_text("id\tlabel\tA\nx\t-1\t-6e3\n", NULL) == 1);
    CHECK(read_text("id\tlabel\tA\nx\t-1\t1e-400\n", NULL) == 1);   /* underflows to 0: fine */
}

/* Each malformed row is refused, and the reader stops at its line. */
static void test_bad_rows(void)
{
    static const struct {
        const char *text;
        uint64_t line;
    } cases[] = {
        {"id\tlabel\tA\tB\nx\t0\t-1\t-2\ny\t0\t-1\n", 3},            /* too few columns */
        {"id\tlabel\tA\tB\nx\t0\t-1\t-2\t-3\n", 2},                   /* too many */
        {"id\tlabel\tA\tB\nx\t0\t-1\tabc\n", 2},                      /* not a number */
        {"id\tlabel\tA\tB\nx\t0\t-1\tnan\n", 2},
        {"id\tlabel\tA\tB\nx\t0\tNaN\t-1\n", 2},
        {"id\tlabel\tA\tB\nx\t0\t-inf\t-1\n", 2},
        {"id\tlabel\tA\tB\nx\t0\t1e999\t-1\n", 2},                    /* overflows */
        {"id\tlabel\tA\tB\nx\t0\t-1\t\n", 2},                         /* empty field */
        {"id\tlabel\tA\tB\nx\t0\t -1\t-2\n", 2},                      /* leading blank */
        {"id\tlabel\tA\tB\nx\t0\t-1x\t-2\n", 2},                      /* trailing junk */
        {"id\tlabel\tA\tB\nx\t0\t-1\t-2\nx\t2\t-1\t-2\n", 3},         /* label out of range */
        {"id\tlabel\tA\tB\nx\t-2\t-1\t-2\n", 2},
        {"id\tlabel\tA\tB\nx\t1.0\t-1\t-2\n", 2},                     /* label not an integer */
        {"id\tlabel\tA\tB\nx\t\t-1\t-2\n", 2},
        {"id\tlabel\tA\tB\n\t0\t-1\t-2\n", 2},                        /* empty id */
        {"id\tlabel\tA\tB\nx\t0\t-1\t-2\n\ny\t0\t-1\t-2\n", 3},       /* blank line */
        {"id\tlabel\tA\tB\nx\t0\t-1\t-2\n\n", 3},                     /* trailing blank line */
        /* a last line without its newline: the file was cut, perhaps inside a number */
        {"id\tlabel\tA\tB\nx\t0\t-1\t-2\ny\t1\t-3\t-4", 3},
        {"id\tlabel\tA\tB\nx\t0\t-1\t-2\ny\t1\t-3\t-4.12", 3},
        {"id\tlabel\tA\tB\r\nx\t0\t-1\t-2\r", 2},
        {"id\tlabel\tA\tB", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t line = 0;
        long st = read_text(cases[i].text, &line);
        if (st != -1 || line != cases[i].line)
            printf("#   case %zu: status %ld, line %llu (want -1, line %llu)\n", i, st,
                   (unsigned long long)line, (unsigned long long)cases[i].line);
        CHECK(st == -1 && line == cases[i].line);
    }
}

static void test_bad_headers(void)
{
    CHECK(read_text("", NULL) == -1);                           /* empty */
    CHECK(read_text("id\tlabel\n", NULL) == -1);                /* no classes */
    CHECK(read_text("ID\tlabel\tA\n", NULL) == -1);             /* wrong first column */
    CHECK(read_text("id\tlab\tA\n", NULL) == -1);               /* wrong second column */
    CHECK(read_text("label\tid\tA\n", NULL) == -1);
    CHECK(read_text("id\tlabel\tA\tA\n", NULL) == -1);          /* duplicate class */
    CHECK(read_text("id\tlabel\tA\t\n", NULL) == -1);           /* empty class name */
    CHECK(read_text("id\tlabel\tA,B\n", NULL) == -1);           /* comma in a name */
    CHECK(read_text("id,label,A,B\nx,0,-1,-2\n", NULL) == -1);  /* a CSV, not a TSV */
    static const char nul[] = "id\tlabel\tA\nx\0y\t0\t-1\n";
    FILE *fp = fmemopen((void *)nul, sizeof nul - 1, "r");
    pcnn_score_reader *r = pcnn_score_open_stream(fp, "nul");
    pcnn_score_row row;
    CHECK(r && pcnn_score_next(r, &row) == -1);
    pcnn_score_close(r);
    fclose(fp);
}

static void test_missing_file(void)
{
    CHECK(pcnn_score_open(tmp_path("does-not-exist.tsv")) == NULL);
}

static void test_prior(void)
{
    char *names[3] = {"A", "B", "C"};
    double lp[3];
    CHECK(pcnn_prior_read("uniform", 3, names, lp) == 0);
    for (int k = 0; k < 3; k++) CHECK_NEAR(lp[k], -log(3.0), 1e-15);

    static const struct {
        const char *text;
        int ok;
        double p[3];
    } cases[] = {
        {"C\t0.5\nA\t0.25\nB,0.25\n", 1, {0.25, 0.25, 0.5}},   /* named, any order */
        {"# prior\n2\n1\n1\r\n\n", 1, {0.5, 0.25, 0.25}},     /* bare, normalised */
        {"1\n0\n1\n", 1, {0.5, 0, 0.5}},                        /* a class excluded */
        {"1\n1\n", 0, {0}},                                     /* too few */
        {"1\n1\n1\n1\n", 0, {0}},                               /* too many */
        {"A,1\nB,1\nD,1\n", 0, {0}},                            /* unknown class */
        {"A,1\nA,1\nB,1\n", 0, {0}},                            /* twice */
        {"A,1\n1\nC,1\n", 0, {0}},                              /* mixed forms */
        {"1\n-1\n1\n", 0, {0}},                                 /* negative */
        {"0\n0\n0\n", 0, {0}},                                  /* all zero */
        {"1\nx\n1\n", 0, {0}},                                  /* not a number */
        {"1\nnan\n1\n", 0, {0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = tmp_path("prior.txt");
        FILE *fp = fopen(p, "w");
        fputs(cases[i].text, fp);
        fclose(fp);
        int st = pcnn_prior_read(p, 3, names, lp);
        if ((st == 0) != cases[i].ok) printf("#   prior case %zu: status %d\n", i, st);
        CHECK((st == 0) == cases[i].ok);
        if (st || !cases[i].ok) continue;
        for (int k = 0; k < 3; k++) {
            if (cases[i].p[k] == 0) CHECK(isinf(lp[k]) && lp[k] < 0);
            else CHECK_NEAR(lp[k], log(cases[i].p[k]), 1e-15);
        }
    }
    CHECK(pcnn_prior_read(tmp_path("no-such-prior"), 3, names, lp) == -1);
}

/* The optional ood: columns: written after the scores, read back by name; an old-style file
 * has none; a class named with the reserved prefix is refused. */
static void test_ood_columns(void)
{
    char *names[2] = {"A", "B"};
    const char *p = tmp_path("ood.tsv");
    pcnn_score_writer *w = pcnn_score_create_ood(p, 2, names);
    CHECK(w != NULL);
    if (!w) return;
    double v[2] = {-6000.5, -6001.25};
    CHECK(pcnn_score_write_ood(w, "x.png", 1, v, -6000.25, 5120) == 0);
    CHECK(pcnn_score_write_ood(w, "y.png", 0, v, NAN, 5120) == -1);
    CHECK(pcnn_score_write_ood(w, "y.png", 0, v, -1, -8) == -1);
    CHECK(pcnn_score_finish(w) == 0);
    pcnn_score_reader *r = pcnn_score_open(p);
    CHECK(r != NULL);
    if (!r) return;
    CHECK(pcnn_score_nclasses(r) == 2 && pcnn_score_has_ood(r));
    pcnn_score_row row;
    CHECK(pcnn_score_next(r, &row) == 1);
    CHECK(row.logp[0] == -6000.5 && row.logp[1] == -6001.25 && row.log_px == -6000.25 &&
          row.png_bits == 5120 && row.label == 1);
    CHECK(pcnn_score_next(r, &row) == 0);
    pcnn_score_close(r);
    uint64_t line;
    /* the header names the columns; a plain file has none */
    CHECK(read_text("id\tlabel\tA\tB\nx\t0\t-1\t-2\n", &line) == 1);
    CHECK(read_text("id\tlabel\tA\tood:log_px\tood:png_bits\nx\t0\t-1\t-2\t80\n", &line) == 1);
    /* rows must carry them; L(x) is a length */
    CHECK(read_text("id\tlabel\tA\tood:log_px\tood:png_bits\nx\t0\t-1\t-2\n", &line) == -1 && line == 2);
    CHECK(read_text("id\tlabel\tA\tood:log_px\tood:png_bits\nx\t0\t-1\t-2\t-80\n", &line) == -1);
    CHECK(read_text("id\tlabel\tA\tood:log_px\tood:png_bits\nx\t0\t-1\tnan\t80\n", &line) == -1);
    /* reserved names elsewhere, or only one of the pair, or none but them */
    CHECK(read_text("id\tlabel\tood:x\tB\nx\t0\t-1\t-2\n", &line) == -1 && line == 1);
    CHECK(read_text("id\tlabel\tA\tood:log_px\nx\t0\t-1\t-2\n", &line) == -1);
    CHECK(read_text("id\tlabel\tood:log_px\tood:png_bits\nx\t0\t-1\t2\n", &line) == -1);
    char *bad[2] = {"A", "ood:B"};
    CHECK(pcnn_score_create(tmp_path("bad.tsv"), 2, bad) == NULL);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    pcnn_init("test_scoretsv");
    RUN(test_roundtrip);
    RUN(test_writer_refuses);
    RUN(test_line_endings);
    RUN(test_bad_rows);
    RUN(test_bad_headers);
    RUN(test_missing_file);
    RUN(test_prior);
    RUN(test_ood_columns);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) printf("# could not remove %s\n", tmpdir);
    return check_summary();
}
