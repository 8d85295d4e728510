build-san/tools/pcnn-argmax.o: tools/pcnn-argmax.c \
 libcommon/eval/metrics.h libcommon/io/scoretsv.h libcommon/util.h
libcommon/eval/metrics.h:
libcommon/io/scoretsv.h:
libcommon/util.h:
