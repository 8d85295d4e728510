/*
 * calibration.h — the calibration file: what pcnn-argmax --calibrate learns on the
 * validation scores and pcnn-argmax --calibration applies to others (the test set), so
 * that test data is judged by validation's numbers, never by its own.
 *
 *   # pcnn calibration (pcnn-argmax --calibrate), 519 labelled images of val.scores.tsv
 *   pcnn-calibration<TAB>1
 *   classes<TAB>Class0,Class1,Class2,Class3
 *   temperature<TAB>31.4159265358979
 *   reject_quantile<TAB>0.99
 *   reject_threshold<TAB>-1234.56789012345
 *
 * Text, one "key<TAB>value" a line (LF or CRLF), '#' lines and blank lines ignored; the
 * first key is pcnn-calibration with the format version 1; keys once each, unknown keys
 * refused. temperature: T > 0 of eval/temperature.h. classes: the class names in order,
 * checked against the scores it is applied to. reject_*: present together or not at all
 * (a score TSV without the ood: columns calibrates no threshold): the threshold of the
 * input-complexity score S(x) in bits (eval/ood.h) at that quantile of validation.
 * Numbers are written with 15 significant digits, or 17 where 15 would not read back as
 * the same double: a value read back is the double that was written.
 *
 *   pcnn_calibration c = {.temperature = T, .has_reject = 1, ...};
 *   if (pcnn_calibration_write("calib.txt", &c, comment)) fail;      // atomically
 *   if (pcnn_calibration_read("calib.txt", K, names, &c)) fail;      // message printed
 */
#ifndef PCNN_CALIBRATION_H
#define PCNN_CALIBRATION_H

#include <stdint.h>

typedef struct pcnn_calibration {
    uint32_t K;
    char **class_names;        /* K, owned (pcnn_calibration_free) */
    double temperature;        /* > 0 */
    int has_reject;
    double reject_quantile;    /* (0, 1] */
    double reject_threshold;   /* S(x) in bits, finite */
} pcnn_calibration;

/* Writes c atomically ("-" = stdout); comment: one line for the '#' header (may be NULL).
 * -1 on error (printed). */
int pcnn_calibration_write(const char *path, const pcnn_calibration *c, const char *comment);
/* Reads and validates path; its classes must be the K names given. Fills c (free with
 * pcnn_calibration_free). -1 on error (printed with the line). */
int pcnn_calibration_read(const char *path, uint32_t K, char *const *class_names,
                          pcnn_calibration *c);
void pcnn_calibration_free(pcnn_calibration *c);   /* frees the names; accepts NULL */

#endif
