# pipelines/gpu.mk — the checks and benchmarks that need an NVIDIA GPU.
#
#   make check-gpu [OUT=results/gpu]   stage A: build for sm_90, test_cuda_load, parity tests
#                                      (fp32, tf32, bf16; one process per test), memcheck, the GPU
#                                      contract's checks; stage B: benchmarks vs PyTorch;
#                                      writes $(OUT)/results.md after each stage
#   make bench-gpu [OUT=results/gpu]   only stage B
#   make check-multi-gpu [OUT=...]     only the multi-GPU parity (A5: 2 ranks, one per GPU,
#                                      NCCL, against one GPU; needs 2 GPUs and Open MPI)
#
# One script does it all (pipelines/check-gpu.sh) under one deadline (DEADLINE, default
# 540 s; an H200 needed 258 s before bf16 and torch.compile were added). On a machine without a GPU it stops at once and says so.
# Exit 0 only when every check ran and passed; 1 a failure; 3 checks skipped (one GPU for
# the multi-GPU stage: make check-multi-gpu on one GPU is exit 3); 130/143 interrupted.

.PHONY: check-gpu bench-gpu check-multi-gpu

GPU_OUT = $(if $(OUT),$(OUT),results/gpu)

check-gpu:
	@OUT='$(GPU_OUT)' pipelines/check-gpu.sh

bench-gpu:
	@OUT='$(GPU_OUT)' pipelines/check-gpu.sh --bench-only

check-multi-gpu:
	@OUT='$(GPU_OUT)' pipelines/check-gpu.sh --multi-gpu-only
