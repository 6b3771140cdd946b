# husk: build, test, size and benchmark the three static binaries.
# `make` puts them in build/: build/husk-init, build/husk, build/husk-rootfs.

PREFIX ?= /usr/local
DESTDIR ?=
CARGO ?= cargo
BIN := build
BINS := husk-init husk husk-rootfs

# Release builds name the target explicitly so that these flags reach only
# the shipped binaries, not build scripts (MACHINE.md). Non-PIC code is
# measured 2.4 KB smaller for husk; the binaries are linked -no-pie anyway.
# LLVM's machine outliner turns repeated instruction sequences into calls
# (0.8 KB of husk); the whole test suite runs against these binaries.
TRIPLE := $(shell rustc -vV | sed -n 's/^host: //p')
OUT := target/$(TRIPLE)
RELEASE_RUSTFLAGS := -C relocation-model=static -C llvm-args=-enable-machine-outliner=always
# The .comment section only names the compiler and linker versions (about
# 200 B per binary); husk embeds husk-init without it too.
OBJCOPY := objcopy --remove-section=.comment

# Budgets in bytes (DEVELOPERS.md): do not raise them quietly.
BUDGET_husk-init := 16384
BUDGET_husk := 131072
BUDGET_husk-rootfs := 196608

# Debian packages the tests use: cross-checks against the real tools
# (tar, gzip, zstd, cpio, sha256sum, readelf, python3's json, getfattr and
# setfattr from attr, cc for ELF fixtures), unshare/setpriv for namespaces
# and rootless runs, script for the pty test, busybox-static for small
# rootfs fixtures, objcopy (binutils) for the build.
TEST_PKGS := cpio gzip tar coreutils util-linux bsdutils busybox-static procps iproute2 file attr zstd python3 binutils gcc
BENCH_PKGS := tini dumb-init catatonit bubblewrap crun runc hyperfine

.PHONY: all build test unit integration size deps-check check demo bench install clean packages bench-packages

all: build

build:
	RUSTFLAGS="$(RELEASE_RUSTFLAGS)" $(CARGO) build --target $(TRIPLE) --profile release-init --locked -p husk-init
	@mkdir -p $(BIN)
	@$(OBJCOPY) $(OUT)/release-init/husk-init $(BIN)/husk-init
	HUSK_INIT_IMAGE=$(CURDIR)/$(BIN)/husk-init RUSTFLAGS="$(RELEASE_RUSTFLAGS)" \
	  $(CARGO) build --target $(TRIPLE) --release --locked -p husk -p husk-rootfs
	@for b in husk husk-rootfs; do $(OBJCOPY) $(OUT)/release/$$b $(BIN)/$$b; done
	@echo "built: $(addprefix $(BIN)/,$(BINS))"

# Install only what is missing, so a prepared machine does not touch apt.
packages:
	@need=""; for p in $(TEST_PKGS); do dpkg -s $$p >/dev/null 2>&1 || need="$$need $$p"; done; \
	if [ -n "$$need" ]; then echo "installing:$$need"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null; fi

bench-packages:
	@need=""; for p in $(BENCH_PKGS); do dpkg -s $$p >/dev/null 2>&1 || need="$$need $$p"; done; \
	if [ -n "$$need" ]; then echo "installing:$$need"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null; fi

test: packages build size deps-check unit integration

unit:
	$(CARGO) test --locked --workspace --exclude husk-tests

integration:
	@[ "$$(id -u)" = 0 ] || { echo "make test must run as root (it creates namespaces, cgroups and mounts)"; exit 1; }
	HUSK_BIN=$(CURDIR)/$(BIN) $(CARGO) test --locked -p husk-tests -- --test-threads=2

size: build
	@fail=0; for b in $(BINS); do \
	  s=$$(stat -c %s $(BIN)/$$b); \
	  case $$b in husk-init) l=$(BUDGET_husk-init);; husk) l=$(BUDGET_husk);; *) l=$(BUDGET_husk-rootfs);; esac; \
	  st=$$(file -b $(BIN)/$$b | grep -o 'statically linked' || echo 'NOT STATIC'); \
	  printf '%-12s %7d B  budget %7d B  %s\n' $$b $$s $$l "$$st"; \
	  [ $$s -le $$l ] || { echo "$$b is over its budget"; fail=1; }; \
	  [ "$$st" = "statically linked" ] || fail=1; \
	done; exit $$fail

# Cargo.lock may hold libc, syscalls and our own crates, nothing else.
deps-check:
	@extra=$$(grep -A1 '^\[\[package\]\]' Cargo.lock | sed -n 's/^name = "\(.*\)"/\1/p' | grep -vE '^(libc|syscalls|husk-sys|husk-init|husk|husk-rootfs|husk-tests)$$' || true); \
	if [ -n "$$extra" ]; then echo "Cargo.lock has packages beyond libc and syscalls: $$extra"; exit 1; fi; \
	echo "dependencies: libc, syscalls only"

check:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

demo: build
	@sh tests/demo.sh $(BIN)

bench: build bench-packages
	@sh tests/bench.sh $(BIN)

install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	for b in $(BINS); do install -m 0755 $(BIN)/$$b $(DESTDIR)$(PREFIX)/bin/$$b; done

clean:
	$(CARGO) clean
	rm -rf $(BIN)
