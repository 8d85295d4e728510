/*
 * test_objective.c — the objective a model file records, in words (pcnn_model_objective,
 * what pcnn-info and the pipeline's report print): the likelihood, a fixed CE weight,
 * the automatic weight with the rule's constants from the file, the rule's first build's
 * files (no constants recorded: no number, never "nan"), and files pcnn-fit did not train;
 * and the CE term a training ended with (pcnn_model_ce_term_last, pcnn-fit --ce-weight init).
 */
#include "check.h"
#include "model/model.h"

#include <string.h>

static pcnn_model_file *with_meta(const char *const *kv)
{
    pcnn_model_file *m = pcnn_model_create(1, 4, 2, 2, 8, 8, 0, NULL, 1);
    for (; *kv; kv += 2) pcnn_model_file_set_meta(m, kv[0], kv[1]);
    return m;
}

static void test_objective_words(void)
{
    char buf[512];
    static const char *const lik[] = {"objective", "likelihood", "ce_weight", "0", NULL};
    static const char *const fixed[] = {"objective", "hybrid", "ce_weight", "3",
                                        "ce_temperature", "10", "ce_fraction", "0.5", NULL};
    static const char *const rule[] = {"objective", "hybrid", "ce_weight", "auto",
                                       "ce_temperature", "auto", "ce_fraction", "0.5",
                                       "ce_weight_last", "3.44", "ce_temperature_last", "8.73",
                                       "ce_auto_scale", "40000", "ce_auto_product", "30", NULL};
    static const char *const first[] = {"objective", "hybrid", "ce_weight", "auto",
                                        "ce_temperature", "auto", "ce_fraction", "0.5",
                                        "ce_weight_last", "12.2", "ce_temperature_last", "2.46",
                                        NULL};
    static const char *const none[] = {NULL};
    pcnn_model_file *m = with_meta(lik);
    CHECK(pcnn_model_objective(m, buf, sizeof buf) == PCNN_OBJECTIVE_LIKELIHOOD);
    CHECK(!strcmp(buf, "likelihood only"));
    pcnn_model_file_free(m);
    m = with_meta(fixed);
    CHECK(pcnn_model_objective(m, buf, sizeof buf) == PCNN_OBJECTIVE_HYBRID);
    CHECK(!strcmp(buf, "hybrid (likelihood + 3 x cross-entropy of the Bayes posterior, "
                       "temperature 10, on 50% of each batch)"));
    pcnn_model_file_free(m);
    m = with_meta(rule);
    CHECK(pcnn_model_objective(m, buf, sizeof buf) == PCNN_OBJECTIVE_HYBRID);
    CHECK(!strcmp(buf, "hybrid (likelihood + an automatic weight x cross-entropy of the Bayes "
                       "posterior, the weight 40000 nats / the running -log p(x | y) (last "
                       "3.44), temperature 30 / weight (last 8.73), on 50% of each batch)"));
    pcnn_model_file_free(m);
    m = with_meta(first);
    CHECK(pcnn_model_objective(m, buf, sizeof buf) == PCNN_OBJECTIVE_HYBRID);
    CHECK(!strstr(buf, "nan"));
    CHECK(strstr(buf, "the weight a fixed number of nats / the running -log p(x | y) (last 12.2)"));
    CHECK(strstr(buf, "temperature a fixed number / weight (last 2.46)"));
    pcnn_model_file_free(m);
    m = with_meta(none);
    CHECK(pcnn_model_objective(m, buf, sizeof buf) == PCNN_OBJECTIVE_UNKNOWN);
    CHECK(!strcmp(buf, "not recorded"));
    pcnn_model_file_free(m);
}

/* The term to continue: the rule's last weight and temperature, the fixed ones, none for
 * the likelihood; refused where they are not recorded. */
static void test_ce_term_last(void)
{
    static const char *const lik[] = {"objective", "likelihood", "ce_weight", "0", NULL};
    static const char *const fixed[] = {"objective", "hybrid", "ce_weight", "3",
                                        "ce_temperature", "10", "ce_fraction", "0.5", NULL};
    static const char *const rule[] = {"objective", "hybrid", "ce_weight", "auto",
                                       "ce_temperature", "auto", "ce_fraction", "0.5",
                                       "ce_weight_last", "12.19", "ce_temperature_last", "2.461",
                                       NULL};
    static const char *const rule_fixed_t[] = {"objective", "hybrid", "ce_weight", "auto",
                                               "ce_temperature", "5", "ce_weight_last", "3.5",
                                               "ce_temperature_last", "5", NULL};
    static const char *const no_last[] = {"objective", "hybrid", "ce_weight", "auto",
                                          "ce_temperature", "auto", NULL};
    static const char *const bad[] = {"objective", "hybrid", "ce_weight", "x",
                                      "ce_temperature", "10", NULL};
    static const char *const none[] = {NULL};
    double w = -1, t = -1;
    pcnn_model_file *m = with_meta(lik);
    CHECK(pcnn_model_ce_term_last(m, &w, &t) == 0 && w == 0.0 && t == 1.0);
    pcnn_model_file_free(m);
    m = with_meta(fixed);
    CHECK(pcnn_model_ce_term_last(m, &w, &t) == 0 && w == 3.0 && t == 10.0);
    pcnn_model_file_free(m);
    m = with_meta(rule);
    CHECK(pcnn_model_ce_term_last(m, &w, &t) == 0 && w == 12.19 && t == 2.461);
    pcnn_model_file_free(m);
    m = with_meta(rule_fixed_t);
    CHECK(pcnn_model_ce_term_last(m, &w, &t) == 0 && w == 3.5 && t == 5.0);
    pcnn_model_file_free(m);
    const char *const *refused[] = {no_last, bad, none};
    for (int i = 0; i < 3; i++) {
        m = with_meta(refused[i]);
        w = t = -1;
        CHECK(pcnn_model_ce_term_last(m, &w, &t) == -1 && w == -1 && t == -1);
        pcnn_model_file_free(m);
    }
}

int main(void)
{
    RUN(test_objective_words);
    RUN(test_ce_term_last);
    return check_summary();
}
