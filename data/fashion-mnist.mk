# data/fashion-mnist.mk — the default data set of `make pipeline` (DATA=fashion):
# Fashion-MNIST from Debian's dataset-fashion-mnist package, nothing downloaded.
#
#   /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz   60000 images, 28x28 gray
#   /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz
#   /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz    10000 images
#   /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
#
# Four classes, as many as the CPEN 455 set has: IDX labels 0 (T-shirt/top), 1 (Trouser),
# 7 (Sneaker), 8 (Bag), renumbered 0..3 and named Tshirt, Trouser, Sneaker, Bag
# (6000 training and 1000 t10k images each). pcnn-prep replicates gray to RGB; the images
# keep their native 28x28 (28 is divisible by 4, as the network needs) unless SIZE= says.
#
# Splits: train = the training file (LIMIT images drawn with SEED, 0 = all 24000);
# val = the t10k file (VAL_LIMIT drawn with SEED); test = the t10k file (the next
# TEST_LIMIT of the same random order: pcnn-prep --offset VAL_LIMIT, so val and test
# are disjoint; its labels are kept, so the report shows a test accuracy too).
# Both are unseen in training.
# Included by pipelines/pipeline.mk, which documents the PIPE_* variables.

FASHION_DIR     ?= /usr/share/datasets/fashion-mnist
FASHION_SELECT  ?= 0,1,7,8
FASHION_CLASSES ?= Tshirt,Trouser,Sneaker,Bag

PIPE_SIZE := 28
PIPE_SRC_train := $(FASHION_DIR)/train-images-idx3-ubyte.gz
PIPE_SRC_val   := $(FASHION_DIR)/t10k-images-idx3-ubyte.gz
PIPE_SRC_test  := $(FASHION_DIR)/t10k-images-idx3-ubyte.gz
PIPE_FASHION_OPTS := --select $(FASHION_SELECT) --classes $(FASHION_CLASSES)
PIPE_PREP_train := $(PIPE_FASHION_OPTS) $(call pipe_limit,$(LIMIT),$(SEED))
PIPE_PREP_prior := $(PIPE_FASHION_OPTS) $(call pipe_limit,$(PIPE_PRIOR_N),$(SEED))
PIPE_PREP_val   := $(PIPE_FASHION_OPTS) $(call pipe_limit,$(VAL_LIMIT),$(SEED))
PIPE_PREP_test  := $(PIPE_FASHION_OPTS) -s $(SEED) $(if $(filter-out 0,$(strip $(TEST_LIMIT))),--limit $(strip $(TEST_LIMIT))) \
                   $(if $(filter-out 0,$(strip $(VAL_LIMIT))),--offset $(strip $(VAL_LIMIT)))
PIPE_TEST_COUNT := $(or $(filter-out 0,$(TEST_LIMIT)),all)

$(FASHION_DIR)/%.gz:
	@echo "pcnn: $@ is missing: install Debian's dataset-fashion-mnist ('make deps'), or set FASHION_DIR=" >&2; exit 1
