build-san/libcommon/eval/metrics.o: libcommon/eval/metrics.c \
 libcommon/eval/metrics.h libcommon/util.h
libcommon/eval/metrics.h:
libcommon/util.h:
