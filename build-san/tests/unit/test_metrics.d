build-san/tests/unit/test_metrics.o: tests/unit/test_metrics.c \
 tests/unit/check.h libcommon/eval/metrics.h
tests/unit/check.h:
libcommon/eval/metrics.h:
