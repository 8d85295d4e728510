/* test_datafile.c — round trips and damage detection of the data file (datafile.h). */
#include "check.h"
#include "io/datafile.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/pcnn-test-datafile-XXXXXX";

static char *path_in_tmp(const char *name)
{
    static char buf[4][256];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", tmpdir, name);
    return buf[i];
}

/* Writes n records of a 4x3 RGB image with 2 classes; returns the path. */
static const char *write_file(const char *name, int n)
{
    char *names[] = {"Cat", "Dog"};
    pcnn_data_header h = {.H = 4, .W = 3, .C = 3, .K = 2, .count = PCNN_DATA_COUNT_UNKNOWN,
                          .class_names = names};
    const char *p = path_in_tmp(name);
    pcnn_data_writer *w = pcnn_data_create(p, &h);
    CHECK(w != NULL);
    uint8_t px[36];
    for (int i = 0; i < n; i++) {
        char id[32];
        for (int j = 0; j < 36; j++) px[j] = (uint8_t)(i * 7 + j);
        snprintf(id, sizeof id, "img/%04d.png", i);
        CHECK(pcnn_data_write(w, id, i % 3 - 1, px) == 0);
    }
    CHECK(pcnn_data_finish(w) == 0);
    return p;
}

static void test_roundtrip(void)
{
    const char *p = write_file("a.bin", 5);
    pcnn_dataset *d = pcnn_dataset_load(p);
    CHECK(d != NULL);
    if (!d) return;
    CHECK(d->n == 5);
    CHECK(d->h.H == 4 && d->h.W == 3 && d->h.C == 3 && d->h.K == 2);
    CHECK(!strcmp(d->h.class_names[1], "Dog"));
    CHECK(!strcmp(d->ids[3], "img/0003.png"));
    CHECK(d->labels[0] == -1 && d->labels[1] == 0 && d->labels[2] == 1);
    CHECK(d->pixels[36 * 2 + 5] == 2 * 7 + 5);
    pcnn_dataset_free(d);
    /* The header count was patched in for a regular file. */
    pcnn_data_reader *r = pcnn_data_open(p);
    CHECK(r && pcnn_data_get_header(r)->count == 5);
    pcnn_data_close(r);
}

static void test_empty(void)
{
    pcnn_dataset *d = pcnn_dataset_load(write_file("empty.bin", 0));
    CHECK(d && d->n == 0);
    pcnn_dataset_free(d);
}

static long file_size(const char *p)
{
    FILE *f = fopen(p, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* Every flipped byte and every truncation is detected. */
static void test_damage(void)
{
    const char *p = write_file("d.bin", 3);
    long n = file_size(p);
    FILE *f = fopen(p, "rb");
    uint8_t *buf = malloc((size_t)n);
    CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    const char *q = path_in_tmp("damaged.bin");
    int undetected = 0;
    for (long i = 0; i < n; i++) {
        for (int mode = 0; mode < 2; mode++) {
            f = fopen(q, "wb");
            if (mode == 0) {
                buf[i] ^= 0x10;
                fwrite(buf, 1, (size_t)n, f);
                buf[i] ^= 0x10;
            } else {
                fwrite(buf, 1, (size_t)i, f);
            }
            fclose(f);
            FILE *saved = stderr;
            stderr = fopen("/dev/null", "w");
            pcnn_dataset *d = pcnn_dataset_load(q);
            fclose(stderr);
            stderr = saved;
            if (d) {
                undetected++;
                printf("#   %s at byte %ld not detected\n", mode ? "truncation" : "flip", i);
            }
            pcnn_dataset_free(d);
        }
    }
    CHECK(undetected == 0);
    free(buf);
}

static void test_bad_inputs_refused(void)
{
    char *names[] = {"A,B"};
    pcnn_data_header h = {.H = 2, .W = 2, .C = 3, .K = 1, .class_names = names};
    FILE *saved = stderr;
    stderr = fopen("/dev/null", "w");
    CHECK(pcnn_data_create(path_in_tmp("x.bin"), &h) == NULL);
    names[0] = "A";
    pcnn_data_writer *w = pcnn_data_create(path_in_tmp("x.bin"), &h);
    uint8_t px[12] = {0};
    CHECK(pcnn_data_write(w, "tab\tid", 0, px) != 0);
    CHECK(pcnn_data_write(w, "ok", 1, px) != 0);
    CHECK(pcnn_data_write(w, "ok", 0, px) == 0);
    pcnn_data_abort(w);
    fclose(stderr);
    stderr = saved;
    CHECK(access(path_in_tmp("x.bin"), F_OK) != 0);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_roundtrip);
    RUN(test_empty);
    RUN(test_damage);
    RUN(test_bad_inputs_refused);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) return 1;
    return check_summary();
}
