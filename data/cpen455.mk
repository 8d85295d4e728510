# data/cpen455.mk — `make pipeline DATA=DIR` on the CPEN 455 layout (SPEC §7):
#
#   DIR/train.csv DIR/validation.csv DIR/test.csv     rows 'train/0000001.jpg,0', no header
#   DIR/train/*.jpg DIR/validation/*.jpg DIR/test/*.jpg
#
# Classes Class0..Class3 (CLASSES= to change; the same list for every split, so that a
# subset lacking a class still gives the model every class). train and val may be cut
# to a reproducible random subset (LIMIT, VAL_LIMIT with SEED; 0 = all); test never is:
# its predictions are the course submission, one row per row of test.csv, in order
# (test.preds.csv: the same path column with the label filled in, no header).
# Images are resized to SIZE x SIZE (default 32, the course's size).
# Included by pipelines/pipeline.mk, which documents the PIPE_* variables.

CLASSES ?= Class0,Class1,Class2,Class3

ifeq ($(wildcard $(PIPE_DATA_DIR)/train.csv),)
  ifneq ($(filter pipeline-run pipeline-done,$(PIPE_GOALS)),)
    $(error DATA=$(DATA): no train.csv there; DATA is 'fashion' or a folder in the CPEN 455 layout (train.csv, validation.csv, test.csv and the image folders))
  endif
endif

PIPE_SIZE := 32
PIPE_SRC_train := $(PIPE_DATA_DIR)/train.csv
PIPE_SRC_val   := $(PIPE_DATA_DIR)/validation.csv
PIPE_SRC_test  := $(PIPE_DATA_DIR)/test.csv
PIPE_PREP_train := --classes $(CLASSES) $(call pipe_limit,$(LIMIT),$(SEED))
PIPE_PREP_prior := --classes $(CLASSES) $(call pipe_limit,$(PIPE_PRIOR_N),$(SEED))
PIPE_PREP_val   := --classes $(CLASSES) $(call pipe_limit,$(VAL_LIMIT),$(SEED))
PIPE_PREP_test  := --classes $(CLASSES)
PIPE_TEST_COUNT := all

$(PIPE_DATA_DIR)/%.csv:
	@echo "pcnn: $@ is missing: DATA=$(DATA) must hold train.csv, validation.csv and test.csv" >&2; exit 1
