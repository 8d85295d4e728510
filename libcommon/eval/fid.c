/* fid.c — FID of two image sources: features in parallel, statistics, the distance (fid.h). */
#include "eval/fid.h"

#include "io/datafile.h"
#include "io/image.h"
#include "threads.h"
#include "util.h"

#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* LAPACK (OpenBLAS ships it): symmetric eigendecomposition; the trailing arguments are
 * the hidden lengths of the Fortran character arguments. */
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
            double *work, const int *lwork, int *info, size_t ljobz, size_t luplo);

/* ---- sources ---- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static const char *ext_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot ? dot + 1 : "";
}

/* The image files of a folder, sorted; NULL after a message. */
static char **list_folder(const char *dir, int64_t *n)
{
    static const char *OTHER[] = {"bmp", "gif", "pgm", "ppm", "tif", "tiff", "webp"};
    DIR *d = opendir(dir);
    if (!d) {
        pcnn_warn("%s: %s", dir, strerror(errno));
        return NULL;
    }
    char **names = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *e;
    int bad = 0;
    while (!bad && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        const char *x = ext_of(e->d_name);
        if (strcasecmp(x, "png") && strcasecmp(x, "jpg") && strcasecmp(x, "jpeg")) {
            for (size_t k = 0; k < sizeof OTHER / sizeof *OTHER; k++)
                if (!strcasecmp(x, OTHER[k])) {
                    pcnn_warn("%s/%s: pcnn-fid reads PNG and JPEG images only (pytorch-fid would read this "
                              "file: convert it, or move it out)", dir, e->d_name);
                    bad = 1;
                }
            continue;
        }
        if (cnt == cap) {
            cap = cap ? 2 * cap : 256;
            names = pcnn_xrealloc(names, cap * sizeof *names);
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        names[cnt] = pcnn_xmalloc(len);
        snprintf(names[cnt++], len, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (bad) {
        for (size_t k = 0; k < cnt; k++) free(names[k]);
        free(names);
        return NULL;
    }
    if (cnt) qsort(names, cnt, sizeof *names, cmp_str);   /* an empty folder: names is NULL */
    *n = (int64_t)cnt;
    return names ? names : pcnn_xcalloc(1, sizeof *names);
}

float *pcnn_fid_features(const pcnn_inception *net, const char *src, int64_t *n)
{
    struct stat sb;
    if (stat(src, &sb)) {
        pcnn_warn("%s: %s", src, strerror(errno));
        return NULL;
    }
    const int dims = pcnn_inception_dims(net);
    char **files = NULL;
    pcnn_dataset *ds = NULL;
    int64_t cnt = 0;
    if (S_ISDIR(sb.st_mode)) {
        if (!(files = list_folder(src, &cnt))) return NULL;
    } else {
        if (!(ds = pcnn_dataset_load(src))) return NULL;
        if (ds->h.C != 1 && ds->h.C != 3) {
            pcnn_warn("%s: images of %u channels (FID reads gray or RGB)", src, ds->h.C);
            pcnn_dataset_free(ds);
            return NULL;
        }
        cnt = (int64_t)ds->n;
    }
    if (cnt == 0) {
        pcnn_warn("%s: no images (%s)", src, files ? "no *.png, *.jpg or *.jpeg file in the folder" : "an empty data file");
        free(files);
        pcnn_dataset_free(ds);
        return NULL;
    }
    float *feat = pcnn_xmalloc(pcnn_mul_size((size_t)cnt, (size_t)dims * sizeof(float)));
    char (*errs)[PCNN_IMAGE_ERRLEN] = pcnn_xcalloc((size_t)cnt, sizeof *errs);
    pcnn_threads_init();
    pcnn_progress prog;
    pcnn_progress_start(&prog, "features", (uint64_t)cnt, "images");
    prog.tty = prog.tty && !pcnn_quiet;   /* redrawn on a terminal; the summary is pcnn_fid_run's */
    uint64_t done = 0;
    const size_t plane = ds ? (size_t)ds->h.H * ds->h.W : 0;
#pragma omp parallel
    {
        pcnn_inception_ws *ws = pcnn_inception_ws_new(net);
        uint8_t *rgb = ds ? pcnn_xmalloc(plane * 3) : NULL;
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < cnt; i++) {
            if (ds) {
                const uint8_t *px = ds->pixels + (size_t)i * plane * ds->h.C;
                for (size_t p = 0; p < plane; p++)
                    for (int c = 0; c < 3; c++) rgb[p * 3 + c] = px[p * ds->h.C + (ds->h.C == 3 ? c : 0)];
                pcnn_inception_features(net, ws, rgb, (int)ds->h.H, (int)ds->h.W, feat + (size_t)i * dims);
            } else {
                pcnn_image im;
                if (pcnn_image_load(files[i], &im, errs[i], sizeof errs[i])) {
                    if (!errs[i][0]) snprintf(errs[i], sizeof errs[i], "cannot decode");
                } else {
                    pcnn_inception_features(net, ws, im.rgb, im.h, im.w, feat + (size_t)i * dims);
                    pcnn_image_free(&im);
                }
            }
#pragma omp critical(pcnn_fid_progress)
            pcnn_progress_update(&prog, ++done);
        }
        free(rgb);
        pcnn_inception_ws_free(ws);
    }
    int64_t bad = -1;
    for (int64_t i = 0; i < cnt && bad < 0; i++)
        if (errs[i][0]) bad = i;
    if (bad >= 0) {
        pcnn_warn("%s: %s", files[bad], errs[bad]);
        free(feat);
        feat = NULL;
    }
    if (prog.tty) pcnn_progress_end(&prog, src);
    for (int64_t i = 0; files && i < cnt; i++) free(files[i]);
    free(files);
    free(errs);
    pcnn_dataset_free(ds);
    *n = cnt;
    return feat;
}

/* ---- statistics and distance ---- */

void pcnn_fid_stats(const float *feat, int64_t n, int dims, double *mu, double *sigma)
{
    const size_t d = (size_t)dims;
    double *x = pcnn_xmalloc(pcnn_mul_size((size_t)n, d * sizeof *x));
    for (size_t j = 0; j < d; j++) mu[j] = 0;
    for (int64_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) mu[j] += feat[(size_t)i * d + j];
    for (size_t j = 0; j < d; j++) mu[j] /= (double)n;
    for (int64_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) x[(size_t)i * d + j] = feat[(size_t)i * d + j] - mu[j];
    /* sigma = xᵀ x / (n − 1) */
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dims, dims, (int)n, 1.0 / (double)(n - 1), x, dims, x,
                dims, 0.0, sigma, dims);
    free(x);
}

/* a (n × n, symmetric) → its eigenvectors (columns of the column-major result, i.e. rows
 * here) and w its eigenvalues; LAPACK's info. */
static int eig_sym(double *a, double *w, int n)
{
    int lwork = -1, info = 0;
    double q = 0;
    dsyev_("V", "U", &n, a, &n, w, &q, &lwork, &info, 1, 1);
    if (info) return info;
    lwork = (int)q;
    double *work = pcnn_xmalloc((size_t)lwork * sizeof *work);
    dsyev_("V", "U", &n, a, &n, w, work, &lwork, &info, 1, 1);
    free(work);
    return info;
}

/* tr (s1 s2)^{1/2}, NaN when LAPACK fails or a value is not finite. */
static double trace_sqrt(const double *s1, const double *s2, int n)
{
    const size_t nn = (size_t)n * n;
    double *v = pcnn_xmalloc(4 * nn * sizeof *v), *b = v + nn, *r = b + nn, *m = r + nn;
    double *w = pcnn_xmalloc((size_t)n * sizeof *w);
    double tr = NAN;
    for (size_t k = 0; k < nn; k++)
        if (!isfinite(s1[k]) || !isfinite(s2[k])) goto out;
    memcpy(v, s1, nn * sizeof *v);
    if (eig_sym(v, w, n)) goto out;
    /* v holds eigenvector k in row k (column-major output read row-major).
     * r = s1^{1/2} = Σ_k sqrt(w_k) e_k e_kᵀ = vᵀ diag(sqrt w) v */
    for (int k = 0; k < n; k++) {
        double s = sqrt(w[k] > 0 ? w[k] : 0);
        for (int j = 0; j < n; j++) b[(size_t)k * n + j] = s * v[(size_t)k * n + j];
    }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, n, n, 1.0, v, n, b, n, 0.0, r, n);
    /* m = r s2 r */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, r, n, s2, n, 0.0, b, n);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, b, n, r, n, 0.0, m, n);
    for (int i = 0; i < n; i++)   /* symmetric up to rounding: use the mean of both halves */
        for (int j = 0; j < i; j++) m[(size_t)i * n + j] = m[(size_t)j * n + i] = 0.5 * (m[(size_t)i * n + j] + m[(size_t)j * n + i]);
    if (eig_sym(m, w, n)) goto out;
    tr = 0;
    for (int k = 0; k < n; k++) tr += sqrt(w[k] > 0 ? w[k] : 0);
out:
    free(w);
    free(v);
    return tr;
}

double pcnn_fid_distance(const double *mu1, const double *s1, const double *mu2, const double *s2,
                         int dims, int *offset)
{
    const size_t d = (size_t)dims;
    double diff = 0, t1 = 0, t2 = 0;
    for (size_t j = 0; j < d; j++) {
        diff += (mu1[j] - mu2[j]) * (mu1[j] - mu2[j]);
        t1 += s1[j * d + j];
        t2 += s2[j * d + j];
    }
    *offset = 0;
    double tr = trace_sqrt(s1, s2, dims);
    if (!isfinite(tr)) {
        /* pytorch-fid: "fid calculation produces singular product; adding eps to diagonal" */
        pcnn_note("FID calculation produces a singular product; adding %g to the diagonal of both "
                  "covariance estimates (as pytorch-fid does)", PCNN_FID_EPS);
        *offset = 1;
        double *a = pcnn_xmalloc(2 * d * d * sizeof *a), *b = a + d * d;
        memcpy(a, s1, d * d * sizeof *a);
        memcpy(b, s2, d * d * sizeof *b);
        for (size_t j = 0; j < d; j++) a[j * d + j] += PCNN_FID_EPS, b[j * d + j] += PCNN_FID_EPS;
        tr = trace_sqrt(a, b, dims);
        free(a);
    }
    return diff + t1 + t2 - 2 * tr;
}

int pcnn_fid_run(const char *weights, int dims, const char *src_a, const char *src_b, double *fid)
{
    double t0 = pcnn_now();
    pcnn_inception *net = pcnn_inception_load(weights, dims);
    if (!net) return -1;
    const char *src[2] = {src_a, src_b};
    int64_t n[2] = {0, 0};
    float *feat[2] = {NULL, NULL};
    double *mu = pcnn_xmalloc(2 * ((size_t)dims + (size_t)dims * dims) * sizeof *mu);
    double *sigma[2] = {mu + 2 * dims, mu + 2 * dims + (size_t)dims * dims};
    int rc = -1, offset;
    for (int s = 0; s < 2; s++) {
        if (!(feat[s] = pcnn_fid_features(net, src[s], &n[s]))) goto out;
        if (n[s] < 2) {
            pcnn_warn("%s: %lld image; FID needs at least 2 per set (a covariance)", src[s], (long long)n[s]);
            goto out;
        }
        pcnn_fid_stats(feat[s], n[s], dims, mu + s * dims, sigma[s]);
    }
    *fid = pcnn_fid_distance(mu, sigma[0], mu + dims, sigma[1], dims, &offset);
    if (!isfinite(*fid)) {
        pcnn_warn("FID is not finite (features not finite: damaged weights?)");
        goto out;
    }
    double dt = pcnn_now() - t0;
    pcnn_note("FID at dims %d: %lld images in %s, %lld in %s; %.1f s (%.1f images/s)", dims, (long long)n[0],
              src_a, (long long)n[1], src_b, dt, (double)(n[0] + n[1]) / dt);
    if (n[0] <= dims || n[1] <= dims)
        pcnn_note("at most %d images in a set of %d dims: singular covariance (the FID is defined, but "
                  "biased upwards with few images; docs/FID.md)", (int)(n[0] < n[1] ? n[0] : n[1]), dims);
    rc = 0;
out:
    free(feat[0]);
    free(feat[1]);
    free(mu);
    pcnn_inception_free(net);
    return rc;
}
