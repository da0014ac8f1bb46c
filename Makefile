# make demo: the main job on the embedded default (one process, local store).
# make test: the whole suite (unit, MPI, Ceph, Slurm, report rendering).
# make build / make install PREFIX=DIR: no root, no apt-get: the libraries
# pkg-config finds (environment modules set PKG_CONFIG_PATH). make deps: apt-get them.
SHELL := /bin/bash
PREFIX ?= /usr/local
PKGS := ompi-c openblas zlib libisal
RUNTIME_DEBS := libopenmpi-dev openmpi-bin libopenblas-dev zlib1g-dev libisal-dev dataset-fashion-mnist pkg-config
TEST_DEBS := $(RUNTIME_DEBS) librados2 ceph-mon ceph-osd ceph-mgr ceph-common slurm-wlm slurmctld slurmd slurm-client munge radosgw ceph-mds ceph-fuse fuse shellcheck chromium gzip iproute2 procps
PY_TEST := --python safetensors:safetensors --python numpy:numpy --python scipy:scipy --python boto3:boto3
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
export OMPI_MCA_btl := self,vader
export OMPI_MCA_oob_tcp_if_include := lo
export OMPI_MCA_btl_tcp_if_include := lo
export OMPI_MCA_rmaps_base_oversubscribe := 1

.PHONY: demo test build install release deps deps-runtime deps-test unit-tests mpi-tests shell-tests fuzz bench

deps deps-runtime:
	@scripts/install-deps $(RUNTIME_DEBS)

deps-test:
	@scripts/install-deps $(PY_TEST) $(TEST_DEBS)

build:
	@for p in $(PKGS); do pkg-config --exists $$p || { echo "make build: pkg-config finds no '$$p' (load its environment module, or set PKG_CONFIG_PATH; as root, make deps)" >&2; exit 1; }; done
	@swift build -c release $(if $(STATIC),--static-swift-stdlib) 2>&1 | grep -Ev '^\[|^Building|^Compiling|^Fetching|^Computing|^Creating|^Working|^Fetched|^Computed' || true
	@test -x .build/release/prunesweep

# STATIC=1 links the Swift runtime in, for nodes without a Swift toolchain.
install: build
	install -D -m 755 .build/release/prunesweep $(PREFIX)/bin/prunesweep
	install -D -m 755 ceph/ramceph $(PREFIX)/bin/ramceph
	install -d $(PREFIX)/share/prunesweep/slurm $(PREFIX)/share/prunesweep/examples
	install -m 644 slurm/*.sbatch $(PREFIX)/share/prunesweep/slurm/
	install -m 644 examples/*.toml $(PREFIX)/share/prunesweep/examples/

release: deps-runtime
	@$(MAKE) --no-print-directory build

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
	bench/coordinator-scale .build/release
	bench/journal-scale .build/release
