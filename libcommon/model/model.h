/*
 * model.h — glue between the parameter table (params.h) and the model file
 * container (modelfile.h): a fresh model with PyTorch-default initialisation,
 * and loading/storing the flat parameter, Polyak and Adam buffers by name.
 *
 *   pcnn_model_file *m = pcnn_model_create(R, F, M, K, H, W, PCNN_COND_FILM, class_names, seed);
 *   pcnn_net *net = pcnn_net_create(m, "cpu", batch);              // net.h
 *
 * Initialisation (SPEC §3): for each weight-normalised layer v ~ U(+-1/sqrt(fan_in)),
 * g = ||v|| (so the effective weight equals v at start), b ~ U(+-1/sqrt(fan_in));
 * fan_in = in*kh*kw for Conv2d/Linear and out*kh*kw for ConvTranspose2d (what
 * PyTorch computes from weight.size(1)); hw ~ N(0, 0.05^2); the variants' hs and
 * class_map (SPEC §3b) = 0. Every value is a pure function of (seed, tensor
 * index, element index) (rng.h); the variants' tensors come after the base ones
 * (params.h), so a variant model starts as the base model of the same seed.
 *
 * The conditioning of a model file is told by its tensor names: "<block>.hs"
 * (film), "class_map" (input); a file without them is the base model.
 */
#ifndef PCNN_MODEL_H
#define PCNN_MODEL_H

#include "io/modelfile.h"
#include "model/params.h"

#include <stdint.h>

/* A new model file (C = 3, step = epoch = 0, seed recorded) holding freshly
 * initialised parameters (no Polyak/Adam tensors yet) with conditioning cond
 * (PCNN_COND_*, 0 = base). class_names: K names, or NULL for "Class0".."Class<K-1>".
 * Dies on sizes out of range (validate first: R, F, M, K >= 1, H and W >= 4 and
 * divisible by 4). */
pcnn_model_file *pcnn_model_create(uint32_t R, uint32_t F, uint32_t M, uint32_t K, uint32_t H,
                                   uint32_t W, unsigned cond, char *const *class_names,
                                   uint64_t seed);

/* The conditioning (PCNN_COND_*) told by m's tensor names: PCNN_COND_FILM when
 * a parameter "<block>.hs" is there, PCNN_COND_INPUT when "class_map" is
 * (prefixed copies like "polyak.class_map" count too). Whether every tensor the
 * variant needs is present is pcnn_model_load_buffer's to check. */
unsigned pcnn_model_conditioning(const pcnn_model_file *m);

/* Fills params (t->total floats) from the tensors named by the table, with
 * prefix "" , "polyak." etc. Returns 1 when every tensor was found with the right
 * shape, 0 when none was present (buffer untouched), -1 (message printed) when
 * some are missing or a shape differs. */
int pcnn_model_load_buffer(const pcnn_model_file *m, const pcnn_param_table *t, const char *prefix,
                           float *buf);
/* Adds/replaces the tensors "<prefix><name>" from buf. */
void pcnn_model_store_buffer(pcnn_model_file *m, const pcnn_param_table *t, const char *prefix,
                             const float *buf);

/* The checkpoint pcnn-fit kept as best on validation ("best.<name>", the Polyak
 * weights of the epoch with the highest validation accuracy, meta best_epoch):
 * copies it over "polyak.<name>", the weights pcnn-score and pcnn-gen use.
 * Returns the best epoch, or 0 when the file keeps no best weights (unchanged). */
uint64_t pcnn_model_use_best(pcnn_model_file *m);

/* The training objective a model file records (pcnn-fit writes meta "objective" and the
 * CE options; SPEC §6, §6b), in words, into buf:
 *   "likelihood only"  the generative objective alone (no discriminative term: what the
 *                      CPEN 455 rules ask for)
 *   "hybrid (likelihood + 3 x cross-entropy of the Bayes posterior, temperature 10, on 50%
 *    of each batch)"
 *   "not recorded"     a file pcnn-fit did not train (pcnn-import, pcnn-mkdata)
 * Returns PCNN_OBJECTIVE_*. */
enum { PCNN_OBJECTIVE_UNKNOWN = 0, PCNN_OBJECTIVE_LIKELIHOOD = 1, PCNN_OBJECTIVE_HYBRID = 2 };
int pcnn_model_objective(const pcnn_model_file *m, char *buf, size_t len);
/* The word pcnn-fit records for an objective: "likelihood", "hybrid" (or "unknown"). */
const char *pcnn_objective_name(int objective);
/* The CE term a model's training ended with (SPEC §6b), to continue it in a fine stage
 * (pcnn-fit --ce-weight init): *weight and *temperature are the last ones the automatic
 * rule set (--ce-weight auto), or the fixed ones; weight 0, temperature 1 for the
 * likelihood objective. Returns 0, or -1 when the file does not record them (a file
 * pcnn-fit did not train, or whose CE options are missing or not positive numbers). */
int pcnn_model_ce_term_last(const pcnn_model_file *m, double *weight, double *temperature);

/* Fresh PyTorch-default initialisation of every tensor of the table. */
void pcnn_model_init_params(const pcnn_param_table *t, uint64_t seed, float *params);

#endif
