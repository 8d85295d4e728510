/* reliability.c — expected calibration error and the reliability diagram; reliability.h. */
#include "eval/reliability.h"

#include <math.h>

int pcnn_reliability_bin(double p)
{
    /* b/15 < p ≤ (b+1)/15, each edge computed as (b+1)/15.0 as numpy's linspace gives it */
    int b = 0;
    while (b < PCNN_RELIABILITY_BINS - 1 && p > (double)(b + 1) / PCNN_RELIABILITY_BINS) b++;
    return b;
}

void pcnn_reliability_add(pcnn_reliability *r, double confidence, int correct)
{
    int b = pcnn_reliability_bin(confidence);
    r->n++;
    r->count[b]++;
    r->correct[b] += correct != 0;
    r->conf_sum[b] += confidence;
}

double pcnn_reliability_ece(const pcnn_reliability *r)
{
    if (!r->n) return 0;
    double e = 0;
    for (int b = 0; b < PCNN_RELIABILITY_BINS; b++) {
        if (!r->count[b]) continue;
        double nb = (double)r->count[b];
        e += nb / (double)r->n * fabs((double)r->correct[b] / nb - r->conf_sum[b] / nb);
    }
    return e;
}

/* "| n | conf | acc" of one bin, or blanks when it is empty */
static void cells(const pcnn_reliability *r, int b, FILE *out)
{
    if (!r->count[b]) {
        fprintf(out, " 0 | | |");
        return;
    }
    double nb = (double)r->count[b];
    fprintf(out, " %llu | %.3f | %.3f |", (unsigned long long)r->count[b], r->conf_sum[b] / nb,
            (double)r->correct[b] / nb);
}

int pcnn_reliability_report(const pcnn_reliability *before, const pcnn_reliability *after,
                            double T, FILE *out)
{
    fprintf(out, "\n## Calibration\n\n");
    fprintf(out, "Confidence = the largest posterior p(c | x); %d equal bins; ECE = Σ_b (n_b/n)"
                 " |accuracy_b − confidence_b|.\n\n", PCNN_RELIABILITY_BINS);
    fprintf(out, "- ECE at T = 1 (softmax of the log-likelihoods): %.4f\n", pcnn_reliability_ece(before));
    if (after) fprintf(out, "- ECE at T = %.6g: %.4f\n", T, pcnn_reliability_ece(after));
    fprintf(out, "\nReliability diagram (a calibrated classifier has accuracy = confidence in every bin):\n\n");
    if (after) {
        fprintf(out, "| confidence | images (T = 1) | mean conf. | accuracy | images (T = %.4g) | mean conf. | accuracy |\n", T);
        fprintf(out, "|---|---:|---:|---:|---:|---:|---:|\n");
    } else {
        fprintf(out, "| confidence | images | mean conf. | accuracy |\n|---|---:|---:|---:|\n");
    }
    for (int b = 0; b < PCNN_RELIABILITY_BINS; b++) {
        if (!before->count[b] && !(after && after->count[b])) continue;
        fprintf(out, "| %s%.3f–%.3f] |", b ? "(" : "[", (double)b / PCNN_RELIABILITY_BINS,
                (double)(b + 1) / PCNN_RELIABILITY_BINS);
        cells(before, b, out);
        if (after) cells(after, b, out);
        fputc('\n', out);
    }
    return ferror(out) ? -1 : 0;
}
