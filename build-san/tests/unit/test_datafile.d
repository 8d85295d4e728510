build-san/tests/unit/test_datafile.o: tests/unit/test_datafile.c \
 tests/unit/check.h libcommon/io/datafile.h libcommon/util.h
tests/unit/check.h:
libcommon/io/datafile.h:
libcommon/util.h:
