build-san/tools/pcnn-fid.o: tools/pcnn-fid.c libcommon/eval/fid.h \
 libcommon/eval/inception.h libcommon/util.h
libcommon/eval/fid.h:
libcommon/eval/inception.h:
libcommon/util.h:
