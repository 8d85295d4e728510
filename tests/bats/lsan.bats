#!/usr/bin/env bats
# The LeakSanitizer settings of make test SANITIZE=1 (tests/lsan.supp and what tests/run
# exports): under mpirun, an MPI program that frees what it allocates passes although Open
# MPI itself keeps memory until exit; the same program with a leak of its own fails, naming
# the function; without the suppressions MPI's allocations would fail it. The program is
# built here with mpicc and AddressSanitizer (skips, with the reason, where either is missing).

bats_require_minimum_version 1.5.0

setup() {
	command -v mpicc >/dev/null 2>&1 || skip "mpicc not found (make deps installs Open MPI)"
	command -v mpirun >/dev/null 2>&1 || skip "mpirun not found (make deps installs Open MPI)"
	cd "$BATS_TEST_TMPDIR"
	export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
	cat > leak.c <<-'EOF2'
	#include <mpi.h>
	#include <stdlib.h>
	#include <string.h>
	static char *volatile kept;
	/* a leak of the program's own, as a tool of pcnn could have */
	__attribute__((noinline)) static void own_leak(void)
	{
	    char *p = malloc(4096);
	    memset(p, 1, 4096);
	    kept = p;
	    kept = NULL;
	}
	int main(int argc, char **argv)
	{
	    MPI_Init(&argc, &argv);
	    if (argc > 1) own_leak();
	    MPI_Finalize();
	    return 0;
	}
	EOF2
	mpicc -g -O0 -fsanitize=address -fno-omit-frame-pointer -o leak leak.c 2>cc.err ||
		skip "mpicc cannot build an AddressSanitizer program: $(head -1 cc.err)"
	# the settings make test SANITIZE=1 runs with (tests/run exports them)
	[[ "$LSAN_OPTIONS" == *"suppressions=$PCNN_ROOT/tests/lsan.supp"* ]]
	[[ "$ASAN_OPTIONS" == *"fast_unwind_on_malloc=0"* ]]
}

@test "lsan: Open MPI's own allocations at exit are suppressed (2 ranks, and -x as the tests pass it)" {
	run mpirun -np 2 -x PCNN_THREADS=1 ./leak
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *"LeakSanitizer"* ]]
}

@test "lsan: a leak in the program's own code still fails, naming its function" {
	run mpirun -np 1 ./leak own
	echo "$output" | tail -20
	[ "$status" -ne 0 ]
	[[ "$output" == *"ERROR: LeakSanitizer: detected memory leaks"* ]]
	[[ "$output" == *"in own_leak "*"leak.c:"* ]]
	[[ "$output" == *"SUMMARY: AddressSanitizer: 4096 byte(s) leaked in 1 allocation(s)."* ]]
}

@test "lsan: without the suppressions (or the slow unwinding) MPI's allocations fail the program" {
	run env LSAN_OPTIONS= mpirun -np 1 ./leak
	[ "$status" -ne 0 ]
	[[ "$output" == *"ERROR: LeakSanitizer: detected memory leaks"* ]]
	[[ "$output" == *"libmpi.so"* ]]
	# the fast unwinder stops in Open MPI's unloaded plugins: the suppressions miss those
	run env ASAN_OPTIONS= mpirun -np 1 ./leak
	[ "$status" -ne 0 ]
	[[ "$output" == *"(<unknown module>)"* ]]
}
