build-san/tests/unit/test_gpu_parity.o: tests/unit/test_gpu_parity.c \
 tests/unit/check.h libcommon/model/model.h libcommon/io/modelfile.h \
 libcommon/io/datafile.h libcommon/model/params.h libcommon/model/net.h \
 libcommon/nn/nn_isa.h libcommon/model/nn_backend.h libcommon/rng.h \
 libcommon/model/sample.h libcommon/util.h libcommon/model/net_hooks.h \
 /usr/local/cuda/include/cuda_runtime_api.h \
 /usr/local/cuda/include/crt/host_defines.h \
 /usr/local/cuda/include/builtin_types.h \
 /usr/local/cuda/include/device_types.h \
 /usr/local/cuda/include/driver_types.h \
 /usr/local/cuda/include/vector_types.h \
 /usr/local/cuda/include/surface_types.h \
 /usr/local/cuda/include/texture_types.h \
 /usr/local/cuda/include/cuda_device_runtime_api.h
tests/unit/check.h:
libcommon/model/model.h:
libcommon/io/modelfile.h:
libcommon/io/datafile.h:
libcommon/model/params.h:
libcommon/model/net.h:
libcommon/nn/nn_isa.h:
libcommon/model/nn_backend.h:
libcommon/rng.h:
libcommon/model/sample.h:
libcommon/util.h:
libcommon/model/net_hooks.h:
/usr/local/cuda/include/cuda_runtime_api.h:
/usr/local/cuda/include/crt/host_defines.h:
/usr/local/cuda/include/builtin_types.h:
/usr/local/cuda/include/device_types.h:
/usr/local/cuda/include/driver_types.h:
/usr/local/cuda/include/vector_types.h:
/usr/local/cuda/include/surface_types.h:
/usr/local/cuda/include/texture_types.h:
/usr/local/cuda/include/cuda_device_runtime_api.h:
