build-san/tests/unit/test_scoretsv.o: tests/unit/test_scoretsv.c \
 tests/unit/check.h libcommon/io/scoretsv.h libcommon/util.h
tests/unit/check.h:
libcommon/io/scoretsv.h:
libcommon/util.h:
