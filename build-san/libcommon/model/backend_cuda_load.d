build-san/libcommon/model/backend_cuda_load.o: \
 libcommon/model/backend_cuda_load.c libcommon/model/nn_backend.h \
 libcommon/model/params.h libcommon/dist.h libcommon/util.h
libcommon/model/nn_backend.h:
libcommon/model/params.h:
libcommon/dist.h:
libcommon/util.h:
