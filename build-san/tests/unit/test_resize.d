build-san/tests/unit/test_resize.o: tests/unit/test_resize.c \
 tests/unit/check.h tests/unit/ppm.h libcommon/io/image.h \
 libcommon/io/resize.h libcommon/util.h
tests/unit/check.h:
tests/unit/ppm.h:
libcommon/io/image.h:
libcommon/io/resize.h:
libcommon/util.h:
