# make demo: the main job on the embedded default (one process, local store).
# make test: the whole suite (unit, MPI, Ceph, Slurm, report rendering).
SHELL := /bin/bash
RUNTIME_DEBS := libopenmpi-dev openmpi-bin libopenblas-dev zlib1g-dev libisal-dev librados-dev dataset-fashion-mnist pkg-config
TEST_DEBS := $(RUNTIME_DEBS) ceph-mon ceph-osd ceph-mgr ceph-common slurm-wlm slurmctld slurmd slurm-client munge radosgw ceph-mds ceph-fuse fuse shellcheck chromium gzip iproute2 procps
PY_TEST := --python safetensors:safetensors --python numpy:numpy --python scipy:scipy --python boto3:boto3
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
export OMPI_MCA_btl := self,vader
export OMPI_MCA_oob_tcp_if_include := lo
export OMPI_MCA_btl_tcp_if_include := lo
export OMPI_MCA_rmaps_base_oversubscribe := 1

.PHONY: demo test build release deps-runtime deps-test unit-tests mpi-tests shell-tests fuzz bench

deps-runtime:
	@scripts/install-deps $(RUNTIME_DEBS)

deps-test:
	@scripts/install-deps $(PY_TEST) $(TEST_DEBS)

release: deps-runtime
	@swift build -c release 2>&1 | grep -Ev '^\[|^Building|^Compiling|^Fetching|^Computing|^Creating|^Working|^Fetched|^Computed' || true
	@test -x .build/release/prunesweep

demo: release
	.build/release/prunesweep run examples/demo.toml --results results
	.build/release/prunesweep report results/demo

test: deps-test
	swift build --build-tests
	$(MAKE) --no-print-directory unit-tests mpi-tests shell-tests
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=20

unit-tests:
	swift test --skip-build

# The same tests on 2 and 3 ranks: expected values come from rank and size.
MPI_TESTS := ClusterTests.CommunicatorTests SweepTests.DataParallelTests
mpi-tests:
	for n in 2 3; do for t in $(MPI_TESTS); do timeout 300 mpirun -np $$n .build/debug/prunesweepPackageTests.xctest $$t || exit 1; done; done

shell-tests: release
	Tests/run-suites

# libFuzzer on every reader of hostile input (fuzz/run): FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 300
fuzz:
	fuzz/run $(FUZZ_SECONDS)

bench: release
	bench/train-throughput .build/release
	bench/allreduce .build/release
	bench/sweep-scaling .build/release
	bench/store-throughput
	bench/report-speed
