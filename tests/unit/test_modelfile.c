/* test_modelfile.c — round trips and damage detection of the model file (modelfile.h). */
#include "check.h"
#include "io/modelfile.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/pcnn-test-modelfile-XXXXXX";

static const char *tmp(const char *name)
{
    static char buf[4][256];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", tmpdir, name);
    return buf[i];
}

static pcnn_model_file *sample(void)
{
    char *names[] = {"Class0", "Class1", "Class2"};
    pcnn_model_file *m = pcnn_model_file_new(1, 4, 2, 3, 8, 12, 3, names);
    uint32_t d1[] = {3, 8}, d2[] = {5};
    pcnn_tensor *t = pcnn_model_file_add(m, "up_layers.0.u_stream.0.hw", 2, d1);
    for (size_t i = 0; i < t->n; i++) t->data[i] = (float)i * 0.25f - 1.0f;
    t = pcnn_model_file_add(m, "nin_out.lin_a.bias", 1, d2);
    t->data[4] = 3.5f;
    m->step = 123, m->epoch = 4, m->seed = 77, m->lr = 2e-4;
    pcnn_model_file_set_meta(m, "batch", "64");
    return m;
}

static void test_roundtrip(void)
{
    pcnn_model_file *m = sample();
    CHECK(pcnn_model_file_write(tmp("m.bin"), m) == 0);
    pcnn_model_file *r = pcnn_model_file_read(tmp("m.bin"));
    CHECK(r != NULL);
    if (!r) return;
    CHECK(r->R == 1 && r->F == 4 && r->M == 2 && r->K == 3 && r->H == 8 && r->W == 12 && r->C == 3);
    CHECK(!strcmp(r->class_names[2], "Class2"));
    CHECK(r->step == 123 && r->epoch == 4 && r->seed == 77 && r->lr == 2e-4);
    CHECK(!strcmp(pcnn_model_file_get_meta(r, "batch"), "64"));
    pcnn_tensor *t = pcnn_model_file_find(r, "up_layers.0.u_stream.0.hw");
    CHECK(t && t->ndim == 2 && t->dims[0] == 3 && t->dims[1] == 8 && t->data[5] == 0.25f);
    t = pcnn_model_file_find(r, "nin_out.lin_a.bias");
    CHECK(t && t->n == 5 && t->data[4] == 3.5f);
    CHECK(pcnn_model_file_find(r, "nope") == NULL);
    pcnn_model_file_free(r);
    pcnn_model_file_free(m);
}

static void test_damage_detected(void)
{
    pcnn_model_file *m = sample();
    CHECK(pcnn_model_file_write(tmp("d.bin"), m) == 0);
    pcnn_model_file_free(m);
    FILE *f = fopen(tmp("d.bin"), "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    uint8_t *buf = malloc((size_t)n);
    CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    int missed = 0;
    check_quiet(1);
    for (long i = 0; i < n; i++)
        for (int mode = 0; mode < 2; mode++) {
            f = fopen(tmp("x.bin"), "wb");
            if (mode == 0) {
                buf[i] ^= 0x01;
                fwrite(buf, 1, (size_t)n, f);
                buf[i] ^= 0x01;
            } else {
                fwrite(buf, 1, (size_t)i, f);
            }
            fclose(f);
            pcnn_model_file *r = pcnn_model_file_read(tmp("x.bin"));
            if (r) missed++;
            pcnn_model_file_free(r);
        }
    check_quiet(0);
    CHECK(missed == 0);
    free(buf);
}

static void test_nan_refused_and_old_file_kept(void)
{
    pcnn_model_file *m = sample();
    CHECK(pcnn_model_file_write(tmp("k.bin"), m) == 0);
    m->tensors[0].data[0] = NAN;
    check_quiet(1);
    CHECK(pcnn_model_file_write(tmp("k.bin"), m) == -1);
    CHECK(pcnn_model_file_write("/dev/full", m) == -1);
    check_quiet(0);
    pcnn_model_file *r = pcnn_model_file_read(tmp("k.bin"));
    CHECK(r && r->tensors[0].data[0] == -1.0f);
    pcnn_model_file_free(r);
    pcnn_model_file_free(m);
}

static void test_check_data(void)
{
    pcnn_model_file *m = sample();
    char *names[] = {"Class0", "Class1", "Class2"};
    pcnn_data_header h = {.H = 8, .W = 12, .C = 3, .K = 3, .class_names = names};
    CHECK(pcnn_model_file_check_data(m, "m", &h, "d") == 0);
    check_quiet(1);
    h.W = 8;
    CHECK(pcnn_model_file_check_data(m, "m", &h, "d") == -1);
    h.W = 12, h.K = 2;
    CHECK(pcnn_model_file_check_data(m, "m", &h, "d") == -1);
    h.K = 3, names[1] = "Dog";
    CHECK(pcnn_model_file_check_data(m, "m", &h, "d") == -1);
    check_quiet(0);
    pcnn_model_file_free(m);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_roundtrip);
    RUN(test_damage_detected);
    RUN(test_nan_refused_and_old_file_kept);
    RUN(test_check_data);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) return 1;
    return check_summary();
}
