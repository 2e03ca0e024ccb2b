# usersync — convenience targets over the scripts and SwiftPM.
#   make            build the release binary
#   make install    the binary and shell completions under PREFIX (DESTDIR for packaging)
#   make install-systemd   the systemd units (docker/systemd) under /etc/systemd/system
#   make test | demo | bench

PREFIX ?= /usr/local
DESTDIR ?=
SYSTEMD_DIR ?= /etc/systemd/system
# The binary to install; the default builds it in release mode first.
USERSYNC ?=

.PHONY: all build install install-completions install-systemd test demo bench clean

all: build

build:
	swift build -c release --product usersync

ifeq ($(USERSYNC),)
install: build
install: USERSYNC = $(shell swift build -c release --show-bin-path)/usersync
endif
install:
	install -d "$(DESTDIR)$(PREFIX)/bin"
	install -m 0755 "$(USERSYNC)" "$(DESTDIR)$(PREFIX)/bin/usersync"
	$(MAKE) install-completions USERSYNC="$(USERSYNC)"

# swift-argument-parser writes the completion scripts.
install-completions:
	install -d "$(DESTDIR)$(PREFIX)/share/bash-completion/completions" \
	           "$(DESTDIR)$(PREFIX)/share/zsh/site-functions" \
	           "$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d"
	"$(USERSYNC)" --generate-completion-script bash > "$(DESTDIR)$(PREFIX)/share/bash-completion/completions/usersync"
	"$(USERSYNC)" --generate-completion-script zsh > "$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_usersync"
	"$(USERSYNC)" --generate-completion-script fish > "$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/usersync.fish"

install-systemd:
	install -d "$(DESTDIR)$(SYSTEMD_DIR)"
	install -m 0644 docker/systemd/usersync.service docker/systemd/usersync-sync.service \
	                docker/systemd/usersync-sync.timer "$(DESTDIR)$(SYSTEMD_DIR)/"

test:
	scripts/test.sh

demo:
	scripts/demo.sh

bench:
	python3 Benchmarks/bench.py

clean:
	rm -rf .build
