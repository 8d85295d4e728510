build-san/tests/unit/test_fid.o: tests/unit/test_fid.c tests/unit/check.h \
 libcommon/eval/fid.h libcommon/eval/inception.h libcommon/io/pth.h \
 libcommon/util.h
tests/unit/check.h:
libcommon/eval/fid.h:
libcommon/eval/inception.h:
libcommon/io/pth.h:
libcommon/util.h:
