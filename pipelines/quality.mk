# make quality — the classifier's recipes and ablations on Fashion-MNIST and CPEN 455,
# one table (pipelines/quality.sh; minutes to hours on 2 cores; never in make test).
#   make quality [QUALITY_RECIPES=pipelines/quality.recipes]
#   make quality-long      the long CPU profile on CPEN 455 (about 2 hours on 2 cores)
QUALITY_RECIPES ?= pipelines/quality.recipes

.PHONY: quality quality-long
quality: all test-tools
	@pipelines/quality.sh $(QUALITY_RECIPES)

quality-long: all test-tools
	@printf 'cpen455-long | %s | PROFILE=long\n' "$(or $(CPEN455),../shared/cpen455)" > $(BUILD)/quality-long.recipes
	@QUALITY_OUT=runs/quality-long.md pipelines/quality.sh $(BUILD)/quality-long.recipes
