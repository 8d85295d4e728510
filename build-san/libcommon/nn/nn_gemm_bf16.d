build-san/libcommon/nn/nn_gemm_bf16.o: libcommon/nn/nn_gemm_bf16.c \
 libcommon/nn/nn_gemm_bf16.h libcommon/nn/nn_gemm.h \
 libcommon/nn/nn_gemm_tile.h libcommon/nn/nn_isa.h \
 libcommon/nn/nn_scratch.h libcommon/util.h
libcommon/nn/nn_gemm_bf16.h:
libcommon/nn/nn_gemm.h:
libcommon/nn/nn_gemm_tile.h:
libcommon/nn/nn_isa.h:
libcommon/nn/nn_scratch.h:
libcommon/util.h:
