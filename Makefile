# mailpulse - build, run and test.  See README.md.
#
# `make run` and `make test` first install what is missing (scripts/setup.sh), then call
# make again, so that pkg-config is asked only once the libraries are there.

CC      ?= cc
BUILD   ?= build
PKGS     = libpq libmicrohttpd libcjson libpcap inih libsystemd zlib gmime-3.0 libcurl
WARN     = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 \
           -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wpointer-arith
OPT     ?= -O2 -g
SAN     ?=
# A tree built with other flags than these (`make asan`) keeps them in $(BUILD)/flags.mk, so
# that a later make on that tree (`make install BUILD=build-asan`) builds with them too
# instead of rebuilding or relinking it another way. The command line still wins.
-include $(BUILD)/flags.mk
CFLAGS   = $(WARN) $(OPT) $(SAN) -MMD -MP -I. $(shell pkg-config --cflags $(PKGS))
LDLIBS   = $(shell pkg-config --libs $(PKGS)) -lm -lpthread
LDFLAGS  = $(SAN)

MODULES  = util parser report bounce collector db web
SRC      = $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
OBJ      = $(SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/db/migrations_gen.o
# cmd/ is the command layer on top of the modules: the binary's main and one file per command.
CMD_SRC  = $(wildcard cmd/*.c)
CMD_OBJ  = $(CMD_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC = $(wildcard tests/tools/*.c)
TOOL_BIN = $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)
FUZZ_SRC = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN = $(FUZZ_SRC:tests/fuzz/fuzz_%.c=$(BUILD)/fuzz/replay_%)
ALL_C    = $(SRC) $(CMD_SRC) $(UNIT_SRC) $(TOOL_SRC) $(FUZZ_SRC) tests/fuzz/replay_main.c
HDRS     = $(foreach m,$(MODULES) cmd,$(wildcard $(m)/*.h)) $(wildcard tests/unit/*.h)

.PHONY: all bins run test test-only asan format format-check lint check-deps bench clean setup \
        pg-start pg-stop fuzz soak attack

all: bins
bins: $(BUILD)/mailpulse $(BUILD)/mailpulse-full $(UNIT_BIN) $(TOOL_BIN) $(FUZZ_BIN)
	@if [ "$(BUILD)" = build ]; then ln -sf build/mailpulse mailpulse; fi

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/db/migrations_gen.c: $(sort $(wildcard sql/*.sql)) scripts/embed-sql.sh
	@mkdir -p $(dir $@)
	@sh scripts/embed-sql.sh $(sort $(wildcard sql/*.sql)) > $@

$(BUILD)/obj/db/migrations_gen.o: $(BUILD)/obj/db/migrations_gen.c
	@$(CC) $(CFLAGS) -Wno-missing-prototypes -c $< -o $@

# Two programs from cmd/main.c (see there): mailpulse-full runs every command and links every
# library; mailpulse, what users call, runs `parse` with libc, zlib and libm alone (no fifty
# shared objects to load first) and hands every other command to mailpulse-full.
$(BUILD)/mailpulse-full: $(CMD_OBJ) $(OBJ)
	@echo "  LINK    $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# A unit test links only the modules it tests and those below them, so one module's tests
# build while another module is half-written.
mod_obj   = $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard $(1)/*.c)) \
            $(if $(filter db,$(1)),$(BUILD)/obj/db/migrations_gen.o)

# The front binary's parse path is compiled a second time, into $(BUILD)/front, for a link-time
# optimized link: the per-line calls between parser/, util/ and collector/ (event fields,
# hashes, the line reader) are then inlined across files. FRONT_LTO= builds it as before.
# FRONT_OPT comes after OPT, and so after the -O2 of Debian's CFLAGS too: at -O3 the first
# 100,000 lines of the eximstats bench's log take 152M instructions, at -O2 158M.
FRONT_LTO ?= -flto=auto
FRONT_OPT ?= -O3
FRONT_SRC  = cmd/parse.c cmd/options.c $(patsubst %,collector/%.c,lineread linebuf ident) \
             $(wildcard parser/*.c) $(wildcard util/*.c)
FRONT_OBJ  = $(BUILD)/obj/cmd/main-front.o $(FRONT_SRC:%.c=$(BUILD)/front/%.o)
$(BUILD)/obj/cmd/main-front.o: cmd/main.c
	@mkdir -p $(dir $@)
	@echo "  CC      $< (front)"
	@$(CC) $(CFLAGS) $(FRONT_OPT) -DMAILPULSE_FRONT -c $< -o $@

# Profile feedback (gcc): the same files are first compiled with -fprofile-generate into
# $(BUILD)/pgo, that program parses the training logs below, and the counts it leaves steer
# the compile of $(BUILD)/front: which branch falls through, what is inlined, which loops are
# unrolled. Code the training never runs is compiled as without counts
# (-fprofile-partial-training), not for size. The golden logs are read twice, so that lines
# whose stamps go back (an older file after a newer one) are in the counts too: trained on
# one pass, the Sendmail reader took 10% more instructions on a repeated log than without
# feedback. The eximstats bench's log goes from 152M instructions for its first 100,000
# lines to 139M (trained without tests/golden/exim_mta_e2e.log, which that log repeats:
# 140M), the Postfix bench's from 213M to 202M, the Sendmail logs repeated from 92M to 91M.
# FRONT_PGO= builds without (for a compiler other than gcc, or a cross build, whose program
# cannot run here); sanitizer builds (SAN) are made without it too.
FRONT_PGO ?= $(if $(SAN),,yes)
PGO_TRAIN  = $(wildcard tests/corpora/exim-testsuite/log/*) $(wildcard tests/golden/*.log) \
             samples/mail.log $(wildcard tests/golden/*.log)
PGO_OBJ    = $(BUILD)/obj/cmd/main-front.o $(FRONT_SRC:%.c=$(BUILD)/pgo/front/%.o)
PGO_GEN    = -fprofile-generate=$(abspath $(BUILD))/pgo/data
PGO_USE    = -fprofile-use=$(abspath $(BUILD))/pgo/data -fprofile-partial-training

# gcc names a file's counts, and tells its static functions apart, by the base name of the
# object's auxiliary files: $(BUILD)/pgo/front/x.o is given that of $(BUILD)/front/x.o.
$(BUILD)/pgo/front/%.o: %.c
	@mkdir -p $(dir $@) $(BUILD)/front/$(dir $*)
	@echo "  CC      $< (front, profiling)"
	@$(CC) $(CFLAGS) $(FRONT_OPT) $(FRONT_LTO) $(PGO_GEN) -dumpdir $(BUILD)/front/$(dir $*) \
		-dumpbase $(notdir $<) -dumpbase-ext .c -c $< -o $@

$(BUILD)/pgo/mailpulse: $(PGO_OBJ)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) $(FRONT_OPT) $(FRONT_LTO) $(PGO_GEN) $(LDFLAGS) -o $@ $(PGO_OBJ) \
		$(shell pkg-config --libs zlib) -lm

# Counts from one run only: gcc adds a run's counts to those already in the directory.
$(BUILD)/pgo/profile: $(BUILD)/pgo/mailpulse $(PGO_TRAIN)
	@rm -rf $(BUILD)/pgo/data
	@echo "  PGO     $(words $(PGO_TRAIN)) training logs"
	@TZ=UTC $(BUILD)/pgo/mailpulse parse --year 2026 $(PGO_TRAIN) >/dev/null
	@touch $@

$(BUILD)/front/%.o: %.c $(if $(FRONT_PGO),$(BUILD)/pgo/profile)
	@mkdir -p $(dir $@)
	@echo "  CC      $< (front)"
	@$(CC) $(CFLAGS) $(FRONT_OPT) $(FRONT_LTO) $(if $(FRONT_PGO),$(PGO_USE)) -c $< -o $@

$(BUILD)/mailpulse: $(FRONT_OBJ) | $(BUILD)/mailpulse-full
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) $(FRONT_OPT) $(FRONT_LTO) $(LDFLAGS) -o $@ $(FRONT_OBJ) \
		$(shell pkg-config --libs zlib) -lm

deps_test_util      = util
deps_test_parser    = util parser
deps_test_pstate    = util parser
deps_test_postfix   = util parser
deps_test_event     = util parser
deps_test_tally     = util parser report
deps_test_reason    = util parser
deps_test_exim      = util parser
deps_test_sendmail  = util parser
deps_test_bounce    = util parser bounce
deps_test_collector = util parser collector
deps_test_sniff     = util parser collector
deps_test_db        = util parser db
deps_test_delta     = util parser db
deps_test_web       = util parser db web
deps_test_conf      = util parser collector report
deps_test_retry     = util
deps_test_provider  = util parser
deps_test_remoteid  = util parser
deps_test_alert     = util parser report
deps_test_hook      = util
deps_test_dbalert   = util parser db
deps_test_senders   = util parser db
# The cmd/ objects a unit test of the command layer links (never main.o).
cmd_test_conf       = $(BUILD)/obj/cmd/serve_conf.o $(BUILD)/obj/cmd/options.o
cmd_test_retry      = $(BUILD)/obj/cmd/retry.o
cmd_test_hook       = $(BUILD)/obj/cmd/alert_hook.o $(BUILD)/obj/cmd/retry.o
test_obj  = $(foreach m,$(or $(deps_$(1)),$(MODULES)),$(call mod_obj,$(m))) $(cmd_$(1))

.SECONDEXPANSION:
$(BUILD)/tests/%: tests/unit/%.c $$(call test_obj,$$*)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) -o $@ $< $(call test_obj,$*) $(LDLIBS) $(shell pkg-config --libs cmocka)

# Fuzz targets: tests/fuzz/fuzz_NAME.c defines LLVMFuzzerTestOneInput. The replay build runs
# the seeds of tests/fuzz/corpus_NAME/ in `make test`; `make fuzz NAME=x SECONDS=600` searches.
$(BUILD)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay_main.c $(OBJ)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) -o $@ $< tests/fuzz/replay_main.c $(OBJ) $(LDLIBS)

NAME    ?= postfix
SECONDS ?= 60
fuzz: setup
	@mkdir -p build-fuzz/obj build-fuzz/found-$(NAME)
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang OPT="-O1 -g" \
		SAN="-fsanitize=fuzzer-no-link,address,undefined" build-fuzz/obj/db/migrations_gen.o \
		$(patsubst $(BUILD)/%,build-fuzz/%,$(OBJ))
	clang $(WARN) -O1 -g -fsanitize=fuzzer,address,undefined -I. -o build-fuzz/fuzz_$(NAME) \
		tests/fuzz/fuzz_$(NAME).c $(patsubst $(BUILD)/%,build-fuzz/%,$(OBJ)) $(LDLIBS)
	build-fuzz/fuzz_$(NAME) -max_total_time=$(SECONDS) -artifact_prefix=build-fuzz/found-$(NAME)/ \
		build-fuzz/found-$(NAME) tests/fuzz/corpus_$(NAME)

# A tool links the modules named by deps_tool_NAME (default: all of them).
deps_tool_genlog = util
deps_tool_dbbench = util parser db
deps_tool_provider_of = util parser
tool_obj  = $(foreach m,$(or $(deps_tool_$(1)),$(MODULES)),$(call mod_obj,$(m)))
$(BUILD)/tools/%: tests/tools/%.c $$(call tool_obj,$$*)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) -o $@ $< $(call tool_obj,$*) $(LDLIBS)

setup:
	@sh scripts/setup.sh

# make run [LOG=/var/log/mail.log] [LISTEN=127.0.0.1:8025]
LOG    ?= samples/mail.log
LISTEN ?= 127.0.0.1:8025
run: setup
	@$(MAKE) --no-print-directory bins
	@sh scripts/run.sh "$(LOG)" "$(LISTEN)"

test: setup
	@$(MAKE) --no-print-directory bins
	@sh tests/run.sh

# Tests without the set-up step, for a tree that is already set up.
test-only: bins
	@sh tests/run.sh

asan: setup
	@mkdir -p build-asan
	@printf '%s\n' 'OPT = -O1 -g -fno-omit-frame-pointer' \
		'SAN = -fsanitize=address,undefined -fno-sanitize-recover=all' >build-asan/flags.mk
	@$(MAKE) --no-print-directory BUILD=build-asan bins
	@BUILD=build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 sh tests/run.sh

format:
	clang-format -i $(ALL_C) $(HDRS)

format-check:
	@clang-format --dry-run --Werror $(ALL_C) $(HDRS) && echo "format: clean"

# Each library header belongs to one module, and dependencies point one way (docs/architecture.md).
check-deps:
	@sh scripts/check-deps.sh

lint: $(BUILD)/obj/db/migrations_gen.c
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr -I. --suppress=missingIncludeSystem $(SRC) $(CMD_SRC)
	clang-tidy --quiet $(SRC) $(CMD_SRC) -- $(WARN) -I. $(shell pkg-config --cflags $(PKGS))

bench: setup
	@$(MAKE) --no-print-directory bins
	@for b in tests/bench/*.sh; do echo "== $$b"; sh $$b || exit 1; done

# The long fault test of the collector daemon (1M lines through rotations, kills, restarts).
soak: setup
	@$(MAKE) --no-print-directory bins
	@sh tests/soak/soak.sh

# make attack: sqlmap, slowhttptest and wrk against a loaded serve (installs them if missing)
attack: setup
	@$(MAKE) --no-print-directory bins
	@sh tests/attack/attack.sh

pg-start:
	@sh scripts/pg.sh start var
pg-stop:
	@sh scripts/pg.sh stop var

clean:
	rm -rf build build-asan build-fuzz mailpulse

# --- Version, install, uninstall, Debian package -----------------------------------------
# The version has one source: scripts/version.sh (VERSION, or `git describe` in a checkout);
# `make VERSION=x` overrides it. Only cmd/main.o sees it, and it is rebuilt when it changes.
VERSION    := $(shell sh scripts/version.sh)
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/mailpulse
UNITDIR    ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
SYSCONFDIR ?= /etc
INSTALL    ?= install
# mailpulse looks for mailpulse-full in ../lib/mailpulse from its own directory.
FULLDIR     = $(BINDIR)/../lib/mailpulse

.PHONY: install uninstall deb FORCE
$(BUILD)/version: FORCE
	@mkdir -p $(BUILD)
	@echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' > $@
$(BUILD)/obj/cmd/main.o $(BUILD)/obj/cmd/main-front.o: $(BUILD)/version
$(BUILD)/obj/cmd/main.o $(BUILD)/obj/cmd/main-front.o: CFLAGS += -DMAILPULSE_VERSION='"$(VERSION)"'

# The unit names the paths it was installed with; /etc/mailpulse.conf is installed only when
# absent, so a configured host keeps its file (the example is always in DOCDIR/examples).
install: $(BUILD)/mailpulse $(BUILD)/mailpulse-full
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(FULLDIR) \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(SYSCONFDIR) \
		$(DESTDIR)$(DOCDIR)/examples/grafana $(DESTDIR)$(DOCDIR)/examples/prometheus
	$(INSTALL) -m 755 $(BUILD)/mailpulse $(DESTDIR)$(BINDIR)/mailpulse
	$(INSTALL) -m 755 $(BUILD)/mailpulse-full $(DESTDIR)$(FULLDIR)/mailpulse-full
	$(INSTALL) -m 644 man/mailpulse.8 $(DESTDIR)$(MANDIR)/man8/mailpulse.8
	$(INSTALL) -m 644 man/mailpulse.conf.5 $(DESTDIR)$(MANDIR)/man5/mailpulse.conf.5
	for u in mailpulse.service mailpulse-compact.service mailpulse-compact.timer; do \
		sed -e 's|/usr/local/bin/mailpulse|$(BINDIR)/mailpulse|g' \
			-e 's|/etc/mailpulse.conf|$(SYSCONFDIR)/mailpulse.conf|g' \
			-e 's|/usr/share/doc/mailpulse|$(DOCDIR)|g' contrib/$$u \
			> $(DESTDIR)$(UNITDIR)/$$u && chmod 644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	$(INSTALL) -m 644 contrib/bash-completion/mailpulse $(DESTDIR)$(BASHCOMPDIR)/mailpulse
	$(INSTALL) -m 644 README.md $(DESTDIR)$(DOCDIR)/README.md
	$(INSTALL) -m 644 contrib/mailpulse.conf $(DESTDIR)$(DOCDIR)/examples/mailpulse.conf
	$(INSTALL) -m 644 contrib/grafana/mailpulse.json $(DESTDIR)$(DOCDIR)/examples/grafana/
	$(INSTALL) -m 644 contrib/prometheus/alerts.yml $(DESTDIR)$(DOCDIR)/examples/prometheus/
	[ -e $(DESTDIR)$(SYSCONFDIR)/mailpulse.conf ] || \
		$(INSTALL) -m 644 contrib/mailpulse.conf $(DESTDIR)$(SYSCONFDIR)/mailpulse.conf

# The configuration goes only when it is still the example, untouched.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/mailpulse $(DESTDIR)$(FULLDIR)/mailpulse-full \
		$(DESTDIR)$(MANDIR)/man8/mailpulse.8 \
		$(DESTDIR)$(MANDIR)/man5/mailpulse.conf.5 $(DESTDIR)$(UNITDIR)/mailpulse.service \
		$(DESTDIR)$(UNITDIR)/mailpulse-compact.service \
		$(DESTDIR)$(UNITDIR)/mailpulse-compact.timer $(DESTDIR)$(BASHCOMPDIR)/mailpulse
	if cmp -s contrib/mailpulse.conf $(DESTDIR)$(SYSCONFDIR)/mailpulse.conf; then \
		rm -f $(DESTDIR)$(SYSCONFDIR)/mailpulse.conf; fi
	rm -rf $(DESTDIR)$(DOCDIR)
	rmdir $(DESTDIR)$(FULLDIR) 2>/dev/null || true

# make deb: build the Debian package in a copy of the tree; the .deb files land in build/deb.
deb:
	sh scripts/deb.sh $(BUILD)/deb

# Each object and binary depends on the headers it includes (-MMD -MP writes the lists);
# included last, so that the first rule above stays the default goal.
DEPS     = $(OBJ:.o=.d) $(CMD_OBJ:.o=.d) $(FRONT_OBJ:.o=.d) $(PGO_OBJ:.o=.d) $(UNIT_BIN:=.d) $(TOOL_BIN:=.d) $(FUZZ_BIN:=.d)
-include $(wildcard $(DEPS))
