# pcnn — Conditional PixelCNN++ as small Unix tools.
#
#   make               build every tool (CPU; plus CUDA parts when nvcc + cuDNN are found)
#   make GPU=1|0       force the CUDA parts on or off
#   make MPI=1|0       force the MPI collectives (mpirun -np N pcnn-fit/score/gen) on or off
#   make NCCL=1|0      force the GPUs' gradient sum over NCCL (with GPU=1) on or off
#   make test          build and run every test; ends with "N passed, N failed"
#   make check         make test, then the same suite under ASan + UBSan (test-sanitize)
#   make deps          install the missing Debian packages (build, tests, default data)
#   make pipeline      prep -> fit -> score -> argmax -> gen -> report (see pipelines/)
#   make submission    the pipeline, then its recipe retrained on train + val (docs/PIPELINE.md)
#   make install PREFIX=/usr/local
#   make bench-prep | bench | bench-gen | bench-gpu | check-gpu | fuzz
#
# Quiet by default; V=1 shows full commands. Local overrides go in config.mk.

-include config.mk

comma := ,

CC        ?= cc
NVCC      ?= nvcc
PREFIX    ?= /usr/local
BUILD     ?= build
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(shell command -v $(NVCC) 2>/dev/null))
# SASS for sm_80 (A100) and sm_90 (H100/H200), and compute_90 PTX beside it, so a newer GPU
# JIT-compiles the kernels instead of failing with "no kernel image".
CUDA_ARCH ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_80,code=sm_80 \
             -gencode arch=compute_90,code=compute_90

# GPU=auto builds the CUDA parts when nvcc and cuDNN's header are present.
GPU ?= auto
ifeq ($(GPU),auto)
  ifneq ($(CUDA_HOME),)
    ifneq ($(wildcard $(CUDA_HOME)/include/cudnn.h /usr/include/cudnn.h /usr/include/x86_64-linux-gnu/cudnn.h),)
      GPU := 1
    endif
  endif
endif
ifneq ($(GPU),1)
  GPU := 0
endif

# MPI=auto builds the data-parallel collectives (libcommon/dist.c; docs/SCALE.md) when an
# MPI compiler wrapper is there (Debian: libopenmpi-dev). Only dist.c sees MPI's headers; the
# tools link libmpi as needed (pcnn-prep, pcnn-argmax, ... do not). Without it every tool is
# what it was: one process.
MPICC ?= mpicc
MPI   ?= auto
ifeq ($(MPI),auto)
  MPI := $(if $(shell command -v $(MPICC) 2>/dev/null),1,0)
endif
ifeq ($(MPI),1)
  MPI_CFLAGS := $(shell $(MPICC) --showme:compile 2>/dev/null || pkg-config --cflags ompi-c 2>/dev/null)
  MPI_LIBS   := $(shell $(MPICC) --showme:link 2>/dev/null || pkg-config --libs ompi-c 2>/dev/null)
  ifeq ($(MPI_LIBS),)
    $(error MPI=1 but $(MPICC) gives no flags (install libopenmpi-dev: make deps, or set MPICC))
  endif
else
  MPI := 0
endif

# NCCL=auto compiles the GPUs' gradient sum over NCCL (cuda/nccl_reduce.cu; docs/SCALE.md)
# when nccl.h is found (Debian: libnccl-dev; the CUDA 13 toolkit has it). Only that object sees
# the header, and nothing links libnccl: the CUDA library loads libnccl.so.2 when a job of
# several GPU ranks asks for it (its runpath holds the library's folder when found here), so
# the tools and the CUDA library load without it, and without it the ranks sum on the host.
NCCL ?= auto
ifeq ($(GPU),1)
  NCCL_HOME ?= $(CUDA_HOME)
  NCCL_INC  := $(firstword $(patsubst %/nccl.h,%,$(wildcard $(NCCL_HOME)/include/nccl.h /usr/include/nccl.h)))
  NCCL_LIBDIR := $(firstword $(patsubst %/libnccl.so.2,%,$(wildcard $(NCCL_HOME)/lib64/libnccl.so.2 \
                 $(NCCL_HOME)/lib/libnccl.so.2 /usr/lib/$(shell $(CC) -print-multiarch 2>/dev/null)/libnccl.so.2 \
                 /usr/lib64/libnccl.so.2 /usr/lib/libnccl.so.2)))
  ifeq ($(NCCL),auto)
    NCCL := $(if $(NCCL_INC),1,0)
  endif
  ifeq ($(NCCL),1)
    ifeq ($(NCCL_INC),)
      $(error NCCL=1 but no nccl.h in $(NCCL_HOME)/include or /usr/include (install libnccl-dev, or set NCCL_HOME))
    endif
  endif
endif
ifneq ($(NCCL),1)
  NCCL := 0
endif

OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
WARN     := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wvla
CPPFLAGS += -Ilibcommon -D_GNU_SOURCE -MMD -MP
ALL_CFLAGS = -std=c11 $(WARN) -fopenmp $(CFLAGS)
LDLIBS   += -lopenblas -lpng -ljpeg -lz -lm
LDFLAGS  += -fopenmp
ifeq ($(MPI),1)
  LDLIBS += -Wl,--push-state,--as-needed $(MPI_LIBS) -Wl,--pop-state
endif

ifeq ($(SANITIZE),1)
  ALL_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS    += -fsanitize=address,undefined
endif

# The CUDA backend is a shared library of its own, $(CUDA_LIB), that the tools
# load only when a GPU is there (libcommon/model/backend_cuda_load.c): loading cuDNN
# and cuBLAS costs half a second. It calls back into the tool for messages, so
# programs export their symbols. The unit tests link the CUDA runtime (the
# parity test copies device buffers).
CUDA_LIB := $(BUILD)/lib/pcnn/libpcnn-cuda.so
ifeq ($(GPU),1)
  CPPFLAGS  += -DPCNN_HAVE_CUDA -I$(CUDA_HOME)/include
  CUDA_LINK := -L$(CUDA_HOME)/lib64 -L$(CUDA_HOME)/lib -Wl,-rpath,$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib
  CUDA_LIBS := $(CUDA_LINK) -lcudnn -lcublasLt -lcublas -lcudart -lstdc++ -ldl
  ifneq ($(filter 1,$(NCCL)),)
    CUDA_LIBS += $(if $(NCCL_LIBDIR),-Wl$(comma)-rpath$(comma)$(NCCL_LIBDIR))
  endif
  LDFLAGS   += -Wl,--export-dynamic
  LDLIBS    += -ldl
  TEST_LIBS := $(CUDA_LINK) -lcudart
  NVFLAGS   ?= -O3 -std=c++17 $(CUDA_ARCH) -Xcompiler -fPIC -Ilibcommon -Icuda
endif

ifneq ($(V),1)
  Q = @
  say = @printf '  %-6s %s\n' $(1) $(2);
else
  Q =
  say =
endif

LIB_SRCS   := $(sort $(wildcard libcommon/*.c libcommon/*/*.c))
LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CUDA_SRCS  := $(sort $(wildcard cuda/*.cu))
CUDA_OBJS  := $(if $(filter 1,$(GPU)),$(CUDA_SRCS:%.cu=$(BUILD)/%.o))
TOOL_SRCS  := $(sort $(wildcard tools/pcnn-*.c))
TOOL_BINS  := $(TOOL_SRCS:tools/%.c=$(BUILD)/bin/%)
UNIT_SRCS  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# Helpers of the tests (pcnn-mkdata: random data and model files): built for the
# tests into $(BUILD)/tests/bin, which tests/run gives them as $PCNN_TEST_BIN; never
# installed.
TEST_TOOL_SRCS := $(sort $(wildcard tests/tools/pcnn-*.c))
TEST_TOOL_BINS := $(TEST_TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/bin/%)
LIBPCNN    := $(BUILD)/libpcnn.a

.DELETE_ON_ERROR:
# Keep the objects make would otherwise treat as intermediate (and delete).
.SECONDARY: $(TOOL_SRCS:%.c=$(BUILD)/%.o) $(UNIT_SRCS:%.c=$(BUILD)/%.o) $(TEST_TOOL_SRCS:%.c=$(BUILD)/%.o)
.PHONY: all test test-run unit-tests test-tools test-sanitize check deps deps-check install clean FORCE

all: $(TOOL_BINS) $(if $(CUDA_OBJS),$(CUDA_LIB))

# A stamp that changes when the flags change, so objects are rebuilt.
FLAGS_NOW := $(CC) $(ALL_CFLAGS) $(CPPFLAGS) $(GPU) $(NVFLAGS) $(LDFLAGS) MPI=$(MPI) $(MPI_CFLAGS) \
             NCCL=$(NCCL) $(NCCL_INC) $(NCCL_LIBDIR)
$(BUILD)/.flags: FORCE
	@mkdir -p $(@D)
	@echo '$(FLAGS_NOW)' | cmp -s - $@ || echo '$(FLAGS_NOW)' > $@

$(BUILD)/%.o: %.c $(BUILD)/.flags
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

# The one object that sees MPI (docs/SCALE.md).
ifeq ($(MPI),1)
$(BUILD)/libcommon/dist.o: CPPFLAGS += -DPCNN_HAVE_MPI $(MPI_CFLAGS)
endif

# The one object that sees NCCL's header (nccl_reduce.h).
ifeq ($(NCCL),1)
$(BUILD)/cuda/nccl_reduce.o: CPPFLAGS += -DPCNN_HAVE_NCCL -I$(NCCL_INC)
endif

$(BUILD)/cuda/%.o: cuda/%.cu $(BUILD)/.flags
	@mkdir -p $(@D)
	$(call say,NVCC,$<)$(NVCC) $(filter-out -MMD -MP,$(CPPFLAGS)) $(NVFLAGS) -MMD -MP -c -o $@ $<

$(LIBPCNN): $(LIB_OBJS)
	$(call say,AR,$@)rm -f $@ && ar rcs $@ $^

$(CUDA_LIB): $(CUDA_OBJS)
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) -shared -o $@ $^ $(CUDA_LIBS)

$(BUILD)/bin/%: $(BUILD)/tools/%.o $(LIBPCNN)
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIBPCNN)
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(TEST_LIBS)

# (the shorter stem makes this rule win over the one above for tests/bin/*)
$(BUILD)/tests/bin/%: $(BUILD)/tests/tools/%.o $(LIBPCNN)
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

test-tools: $(TEST_TOOL_BINS)

# What tests/run needs besides the tools: the unit binaries and the test helpers.
unit-tests: $(UNIT_BINS) test-tools $(if $(CUDA_OBJS),$(CUDA_LIB))

# The README's test command. tests/run runs every unit binary and bats file
# and prints the final "N passed, N failed" line. The build runs as a make of its own
# after deps-check: this Makefile decides GPU and MPI when it is read, so a make read
# before deps-check installed Open MPI would build without it. So make test and make
# pipeline (pipelines/pipeline.mk, the same way) build the same tools whichever runs
# first on a fresh machine.
test: deps-check
	@$(MAKE) --no-print-directory test-run

test-run: all unit-tests
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) tests/run

# The suite under AddressSanitizer + UBSan, in a build folder of its own (the plain build is
# left as it is), and the routine check: both, one after the other (docs/TESTING.md).
SAN_BUILD ?= $(BUILD)-san
test-sanitize:
	@$(MAKE) --no-print-directory test SANITIZE=1 BUILD=$(SAN_BUILD)

check:
	@$(MAKE) --no-print-directory test
	@$(MAKE) --no-print-directory test-sanitize

deps:
	@pipelines/deps.sh install

deps-check:
	@pipelines/deps.sh ensure

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(TOOL_BINS) $(DESTDIR)$(PREFIX)/bin
ifeq ($(GPU),1)
	install -d $(DESTDIR)$(PREFIX)/lib/pcnn
	install -m 644 $(CUDA_LIB) $(DESTDIR)$(PREFIX)/lib/pcnn
endif

clean:
	rm -rf $(BUILD)

-include pipelines/*.mk
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
