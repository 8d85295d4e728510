# pipelines/gpu.mk — the checks and benchmarks that need an NVIDIA GPU.
#
#   make check-gpu [OUT=results/gpu]   build for sm_90, parity tests (fp32, tf32), the whole
#                                      suite, pcnn-gen CPU/GPU images, benchmarks vs PyTorch;
#                                      writes $(OUT)/results.md, results.tsv, log.txt
#   make bench-gpu [OUT=results/gpu]   only the build and the benchmark table
#
# One script does it all (pipelines/check-gpu.sh), well under 10 minutes on an H200.
# On a machine without a GPU it stops at once and says so.

.PHONY: check-gpu bench-gpu

GPU_OUT = $(if $(OUT),$(OUT),results/gpu)

check-gpu:
	@OUT='$(GPU_OUT)' pipelines/check-gpu.sh

bench-gpu:
	@OUT='$(GPU_OUT)' pipelines/check-gpu.sh --bench-only
