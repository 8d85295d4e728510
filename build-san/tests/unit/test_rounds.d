build-san/tests/unit/test_rounds.o: tests/unit/test_rounds.c \
 tests/unit/check.h libcommon/dist.h libcommon/util.h
tests/unit/check.h:
libcommon/dist.h:
libcommon/util.h:
