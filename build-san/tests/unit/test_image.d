build-san/tests/unit/test_image.o: tests/unit/test_image.c \
 tests/unit/check.h tests/unit/ppm.h libcommon/io/image.h \
 libcommon/util.h
tests/unit/check.h:
tests/unit/ppm.h:
libcommon/io/image.h:
libcommon/util.h:
