/*
 * test_fid.c — pcnn-fid's pieces against the independent PyTorch/scipy reference
 * (tests/reference/make_fid.py; fixtures in tests/fixtures/fid/, random weights):
 *   features of every fixture image, dims 64 and 192, from both checkpoint formats (zip
 *       and legacy): within 1e-4 relative, "relative" being max_c |ours_c − ref_c| /
 *       max_c |ref_c| per image (float32 through five convolutions against float64;
 *       measured about 1e-6)
 *   the FID of a/ against b/ (scipy's sqrtm, as pytorch-fid): within 1e-3 absolute
 *   the FID math alone on synthetic feature sets (the formula of make_fid.py), N > dims
 *       and N < dims (singular covariances): within 1e-3 · max(1, FID)
 *   the checkpoint reader: tensor names, shapes, dtypes and every damaged variant of the
 *       file (truncation, flipped bytes) refused with a reason, never a crash.
 */
#include "check.h"
#include "eval/fid.h"
#include "eval/inception.h"
#include "io/pth.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIX "tests/fixtures/fid/"

typedef struct ref_feat {
    int dims;
    char file[64];
    double v[192];
} ref_feat;

static ref_feat refs[64];
static int nrefs;
static double ref_fid[2];           /* dims 64, 192 */
static struct { int dims, na, nb; double v; } syn[8];
static int nsyn;

static int load_expected(void)
{
    FILE *fp = fopen(FIX "expected.txt", "r");
    if (!fp) return -1;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, fp) > 0) {
        char *save, *tok = strtok_r(line, " \n", &save);
        if (!tok) continue;
        if (!strcmp(tok, "feat") && nrefs < 64) {
            ref_feat *r = &refs[nrefs++];
            r->dims = atoi(strtok_r(NULL, " \n", &save));
            snprintf(r->file, sizeof r->file, "%s", strtok_r(NULL, " \n", &save));
            for (int k = 0; k < r->dims; k++) r->v[k] = strtod(strtok_r(NULL, " \n", &save), NULL);
        } else if (!strcmp(tok, "fid")) {
            int d = atoi(strtok_r(NULL, " \n", &save));
            ref_fid[d == 192] = strtod(strtok_r(NULL, " \n", &save), NULL);
        } else if (!strcmp(tok, "fidsyn") && nsyn < 8) {
            syn[nsyn].dims = atoi(strtok_r(NULL, " \n", &save));
            syn[nsyn].na = atoi(strtok_r(NULL, " \n", &save));
            syn[nsyn].nb = atoi(strtok_r(NULL, " \n", &save));
            syn[nsyn++].v = strtod(strtok_r(NULL, " \n", &save), NULL);
        }
    }
    free(line);
    fclose(fp);
    return nrefs ? 0 : -1;
}

/* Features of a/ and b/ with the weights of path, compared image by image. */
static void check_features(const char *path)
{
    for (int di = 0; di < 2; di++) {
        int dims = di ? 192 : 64;
        pcnn_inception *net = pcnn_inception_load(path, dims);
        CHECK(net);
        if (!net) return;
        double worst = 0;
        int seen = 0;
        for (int s = 0; s < 2; s++) {
            int64_t n = 0;
            float *f = pcnn_fid_features(net, s ? FIX "b" : FIX "a", &n);
            CHECK(f);
            if (!f) continue;
            /* the reference lists each folder's images sorted by name, as pcnn does */
            int64_t i = 0;
            for (int r = 0; r < nrefs; r++) {
                if (refs[r].dims != dims || refs[r].file[0] != (s ? 'b' : 'a')) continue;
                CHECK(i < n);
                if (i >= n) break;
                double dm = 0, rm = 0;
                for (int k = 0; k < dims; k++) {
                    dm = fmax(dm, fabs(f[i * dims + k] - refs[r].v[k]));
                    rm = fmax(rm, fabs(refs[r].v[k]));
                }
                double rel = dm / rm;
                if (rel > 1e-4) printf("#   %s dims %d %s: relative error %.3g\n", path, dims, refs[r].file, rel);
                worst = fmax(worst, rel);
                CHECK(rel <= 1e-4);
                i++, seen++;
            }
            CHECK(i == n);
            free(f);
        }
        printf("#   %s dims %d: %d images, worst relative error %.3g\n", path, dims, seen, worst);
        CHECK(seen == 11);
        pcnn_inception_free(net);
    }
}

static void test_features_zip(void) { check_features(FIX "inception.pth"); }
static void test_features_legacy(void) { check_features(FIX "inception-legacy.pth"); }

static void test_fid_folders(void)
{
    for (int di = 0; di < 2; di++) {
        int dims = di ? 192 : 64;
        double fid = NAN;
        CHECK(pcnn_fid_run(FIX "inception.pth", dims, FIX "a", FIX "b", &fid) == 0);
        printf("#   dims %d: FID %.9g, reference %.9g\n", dims, fid, ref_fid[di]);
        CHECK_NEAR(fid, ref_fid[di], 1e-3);
        double same = NAN;
        CHECK(pcnn_fid_run(FIX "inception-legacy.pth", dims, FIX "a", FIX "a", &same) == 0);
        CHECK_NEAR(same, 0, 1e-3);   /* a set against itself: sqrt of Σ² is Σ */
    }
}

static float *synthetic(int n, int dims, int s)
{
    float *f = malloc((size_t)n * dims * sizeof *f);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < dims; j++)
            f[(size_t)i * dims + j] =
                (float)(sin(0.37 * (i + 1) * (j + 1) + 1.3 * s + 0.01 * j) + 0.1 * cos((double)i + s));
    return f;
}

static void test_fid_math(void)
{
    CHECK(nsyn == 3);
    for (int k = 0; k < nsyn; k++) {
        int d = syn[k].dims;
        float *fa = synthetic(syn[k].na, d, 0), *fb = synthetic(syn[k].nb, d, 1);
        double *mu = malloc(2 * ((size_t)d + (size_t)d * d) * sizeof *mu), *s1 = mu + 2 * d, *s2 = s1 + (size_t)d * d;
        pcnn_fid_stats(fa, syn[k].na, d, mu, s1);
        pcnn_fid_stats(fb, syn[k].nb, d, mu + d, s2);
        int off = -1;
        double v = pcnn_fid_distance(mu, s1, mu + d, s2, d, &off);
        printf("#   synthetic dims %d, %d vs %d: FID %.9g, scipy %.9g\n", d, syn[k].na, syn[k].nb, v, syn[k].v);
        CHECK_NEAR(v, syn[k].v, 1e-3 * fmax(1, fabs(syn[k].v)));
        CHECK(off == 0);
        /* the ε fallback: a non-finite covariance entry is not rescued (NaN stays NaN) */
        s2[1] = NAN;
        pcnn_quiet = 1;
        v = pcnn_fid_distance(mu, s1, mu + d, s2, d, &off);
        pcnn_quiet = 0;
        CHECK(off == 1 && isnan(v));
        free(fa), free(fb), free(mu);
    }
}

static void test_pth_reader(void)
{
    char err[256];
    const char *paths[2] = {FIX "inception.pth", FIX "inception-legacy.pth"};
    for (int k = 0; k < 2; k++) {
        pcnn_pth *p = pcnn_pth_open(paths[k], err, sizeof err);
        CHECK(p);
        if (!p) { printf("#   %s: %s\n", paths[k], err); continue; }
        CHECK(!strcmp(pcnn_pth_format(p), k ? "legacy" : "zip"));
        CHECK(pcnn_pth_count(p) == 32);   /* 5 layers × 6 tensors, and 2 unused ones */
        CHECK(!strcmp(pcnn_pth_name(p, 0), "Conv2d_1a_3x3.conv.weight"));
        float v[1008];
        int64_t shp[1] = {1008}, bad[1] = {1007}, w4[4] = {64, 192, 1, 1}, none[1] = {0};
        CHECK(pcnn_pth_read(p, "fc.bias", 1, shp, v, err, sizeof err) == 0);
        CHECK(isfinite(v[0]) && isfinite(v[1007]));
        CHECK(pcnn_pth_read(p, "fc.bias", 1, bad, v, err, sizeof err) == -1 && strstr(err, "shape [1008]"));
        CHECK(pcnn_pth_read(p, "nope", 1, shp, v, err, sizeof err) == -1 && strstr(err, "no tensor 'nope'"));
        CHECK(pcnn_pth_read(p, "Conv2d_1a_3x3.bn.num_batches_tracked", 0, none, v, err, sizeof err) == -1 &&
              strstr(err, "LongStorage"));
        float *w = malloc(64 * 192 * sizeof *w);
        CHECK(pcnn_pth_read(p, "Mixed_5b.branch1x1.conv.weight", 4, w4, w, err, sizeof err) == 0);
        free(w);
        pcnn_pth_close(p);
    }
    /* both formats hold the same numbers */
    pcnn_pth *a = pcnn_pth_open(paths[0], err, sizeof err), *b = pcnn_pth_open(paths[1], err, sizeof err);
    int64_t s4[4] = {192, 80, 3, 3};
    float *wa = malloc(192 * 80 * 9 * sizeof *wa), *wb = malloc(192 * 80 * 9 * sizeof *wb);
    CHECK(a && b && !pcnn_pth_read(a, "Conv2d_4a_3x3.conv.weight", 4, s4, wa, err, sizeof err) &&
          !pcnn_pth_read(b, "Conv2d_4a_3x3.conv.weight", 4, s4, wb, err, sizeof err) &&
          !memcmp(wa, wb, 192 * 80 * 9 * sizeof *wa));
    free(wa), free(wb);
    pcnn_pth_close(a);
    pcnn_pth_close(b);
    CHECK(!pcnn_pth_open(FIX "nope.pth", err, sizeof err) && strstr(err, "No such file"));
    CHECK(!pcnn_pth_open(FIX "a/a0.png", err, sizeof err) && strstr(err, "not a PyTorch checkpoint"));
}

/* Every truncation point and a spread of flipped bytes of both files: refused or read,
 * never a crash; when read, a tensor of the pickle still comes back with a reason or
 * values. (The suite runs under ASan with make test SANITIZE=1.) */
static void test_pth_damaged(void)
{
    const char *paths[2] = {FIX "inception.pth", FIX "inception-legacy.pth"};
    char tmp[] = "/tmp/test_fid_XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    for (int k = 0; k < 2; k++) {
        FILE *fp = fopen(paths[k], "rb");
        CHECK(fp);
        if (!fp) continue;
        fseek(fp, 0, SEEK_END);
        long n = ftell(fp);
        rewind(fp);
        uint8_t *buf = malloc((size_t)n);
        CHECK(fread(buf, 1, (size_t)n, fp) == (size_t)n);
        fclose(fp);
        int refused = 0, tried = 0;
        /* truncations: every 7th byte of the first 4 KiB (the pickle), then a stride */
        for (long cut = 0; cut < n; cut += cut < 4096 ? 7 : 24989) {
            FILE *o = fopen(tmp, "wb");
            fwrite(buf, 1, (size_t)cut, o);
            fclose(o);
            char err[256];
            float w[32 * 27];
            int64_t s[4] = {32, 3, 3, 3};
            pcnn_pth *p = pcnn_pth_open(tmp, err, sizeof err);
            tried++;
            if (!p || pcnn_pth_read(p, "Conv2d_1a_3x3.conv.weight", 4, s, w, err, sizeof err)) refused++;
            pcnn_pth_close(p);
        }
        printf("#   %s: %d of %d truncations refused\n", paths[k], refused, tried);
        CHECK(refused == tried);   /* the first tensor's bytes are near the front in both formats */
        for (long pos = 0; pos < n && pos < 4000; pos += 13) {
            uint8_t save = buf[pos];
            buf[pos] ^= 0x5a;
            FILE *o = fopen(tmp, "wb");
            fwrite(buf, 1, (size_t)n, o);
            fclose(o);
            buf[pos] = save;
            char err[256];
            pcnn_pth *p = pcnn_pth_open(tmp, err, sizeof err);
            if (p) {
                float w[32 * 27];
                int64_t s[4] = {32, 3, 3, 3};
                pcnn_pth_read(p, "Conv2d_1a_3x3.conv.weight", 4, s, w, err, sizeof err);
            }
            pcnn_pth_close(p);
        }
        free(buf);
    }
    unlink(tmp);
}

int main(void)
{
    if (chdir(getenv("PCNN_ROOT") ? getenv("PCNN_ROOT") : ".")) return 1;
    if (load_expected()) {
        printf("not ok 1 - %sexpected.txt missing\n1..1\n", FIX);
        return 1;
    }
    RUN(test_pth_reader);
    RUN(test_pth_damaged);
    RUN(test_features_zip);
    RUN(test_features_legacy);
    RUN(test_fid_folders);
    RUN(test_fid_math);
    return check_summary();
}
