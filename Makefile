# mtad -- one Makefile, pkg-config, no autoconf.  See README.
#
#   make              build build/mtad
#   make check        build and run every test (unit, fuzz, integration)
#   make run          install missing packages, build, run on ./run
#   make SAN=1 check  the same under ASan+UBSan
#   make install      PREFIX=/usr/local DESTDIR=
#   make completion   regenerate contrib/mtactl.bash from mtactl's command table
#   make bench        benchmarks (tests/bench/): intake, listing, console, and
#                     relay (mtad and Postfix side by side, W1-W4)

PREFIX   ?= /usr/local
SBINDIR  ?= $(PREFIX)/sbin
MANDIR   ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
SYSCONFDIR ?= /etc
DESTDIR  ?=
SAN      ?= 0
WERROR   ?= 0
FUZZ_SECONDS ?= 8
PYTHON   ?= /usr/bin/python3
PYTEST_ARGS ?=

CC       ?= cc
FUZZ_CC  ?= clang
PKGS     := sqlite3 libidn2 gnutls libxcrypt jansson libpsl

ifeq ($(SAN),1)
B        := build/san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT      := -O1
else
B        := build
SANFLAGS :=
OPT      := -O2
endif

WARN     := -Wall -Wextra -Wformat=2 -Wshadow -Wpointer-arith -Wstrict-prototypes \
            -Wmissing-prototypes -Wwrite-strings -Wvla -Wundef -Wcast-align \
            -Wimplicit-fallthrough
ifeq ($(WERROR),1)
WARN     += -Werror
endif
CPPFLAGS += -D_GNU_SOURCE -iquote mtad -I$(B)
CFLAGS   ?= $(OPT) -g
CFLAGS   += -std=c11 -pthread $(WARN) $(SANFLAGS) -fstack-protector-strong \
            $(shell pkg-config --cflags $(PKGS))
ifneq ($(SAN),1)
CPPFLAGS += -D_FORTIFY_SOURCE=2
endif
LDFLAGS  += -pthread $(SANFLAGS)
# libunbound's .pc wants libevent's; plain -lunbound needs nothing more.
LDLIBS   += $(shell pkg-config --libs $(PKGS)) -lunbound

# Everything but main.c goes into a library the tests and fuzzers link.
LIB_SRCS := $(filter-out mtad/main.c mtad/mtactl.c mtad/sendmail.c,$(wildcard mtad/*.c))
LIB_OBJS := $(LIB_SRCS:mtad/%.c=$(B)/%.o) $(B)/schema.o
MTAD     := $(B)/mtad
MTACTL   := $(B)/mtactl
MTATUI   := $(B)/mtatui
TUI_SRCS := $(wildcard mtatui/*.c)
TUI_OBJS := $(TUI_SRCS:mtatui/%.c=$(B)/tui/%.o)
CURSES_CFLAGS := $(shell pkg-config --cflags ncursesw)
CURSES_LIBS   := $(shell pkg-config --libs ncursesw)
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT     := $(B)/unit-tests
FUZZ_TARGETS := $(basename $(notdir $(wildcard tests/fuzz/fuzz_*.c)))

# Keep the fuzzers' objects between runs.
.SECONDARY:

.PHONY: all check unit fuzz integration run install clean deps deps-build bench completion
all: $(MTAD) $(MTACTL) $(MTATUI)

$(B):
	@mkdir -p $(B) $(B)/unit $(B)/fuzz

$(B)/%.o: mtad/%.c $(wildcard mtad/*.h) | $(B)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# The schema migrations are compiled in as one C string.
$(B)/schema.c: mtad/schema.sql | $(B)
	@{ echo '/* generated from mtad/schema.sql */'; \
	   echo 'const char queue_schema_sql[] ='; \
	   sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; \
	   echo ';'; } > $@
$(B)/schema.o: $(B)/schema.c
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(B)/libmtad.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(MTAD): $(B)/main.o $(B)/libmtad.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(MTACTL): $(B)/mtactl.o $(B)/sendmail.o $(B)/libmtad.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# mtatui: its own objects, over libmtad (conf, ctlclient) and ncursesw.
$(B)/tui/%.o: mtatui/%.c $(wildcard mtatui/*.h) $(wildcard mtad/*.h) | $(B)
	@mkdir -p $(B)/tui
	$(CC) $(CPPFLAGS) -iquote mtatui $(CFLAGS) $(CURSES_CFLAGS) -c -o $@ $<

$(MTATUI): $(TUI_OBJS) $(B)/libmtad.a
	$(CC) $(LDFLAGS) -o $@ $^ $(CURSES_LIBS) $(LDLIBS)

# The unit tests also cover mtatui's pure text helpers.
$(UNIT): $(UNIT_SRCS) $(wildcard tests/unit/*.h) $(B)/libmtad.a mtatui/text.c mtatui/text.h
	$(CC) $(CPPFLAGS) -Itests/unit -iquote mtatui $(CFLAGS) -Wno-missing-prototypes \
	    $(LDFLAGS) -o $@ $(UNIT_SRCS) mtatui/text.c $(B)/libmtad.a $(LDLIBS)

deps:
	@contrib/deps.sh --test
deps-build:
	@contrib/deps.sh --build

check: deps
	@$(MAKE) --no-print-directory all $(UNIT)
	@$(MAKE) --no-print-directory unit fuzz integration

unit: $(UNIT)
	$(UNIT) 2>&1

# Fuzzers: libFuzzer with ASan+UBSan, seconds each, on the committed corpus.
FUZZ_CFLAGS := -g -O1 -std=c11 -D_GNU_SOURCE -iquote mtad -fno-sanitize-recover=all \
               $(shell pkg-config --cflags $(PKGS))
FUZZ_OBJS := $(LIB_SRCS:mtad/%.c=$(B)/fuzz/obj/%.o) $(B)/fuzz/obj/schema.o
$(B)/fuzz/obj/%.o: mtad/%.c $(wildcard mtad/*.h) | $(B)
	@mkdir -p $(B)/fuzz/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<
$(B)/fuzz/obj/schema.o: $(B)/schema.c
	@mkdir -p $(B)/fuzz/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<
$(B)/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_OBJS) \
	    $(shell pkg-config --libs $(PKGS)) -lunbound -pthread

fuzz: $(FUZZ_TARGETS:%=$(B)/fuzz/%)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(B)/fuzz/corpus-$$t $(B)/fuzz/artifacts; \
	  cp -n tests/fuzz/corpus/$$t/* $(B)/fuzz/corpus-$$t/ 2>/dev/null || true; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS)s"; \
	  $(B)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -print_final_stats=0 \
	      -artifact_prefix=$(B)/fuzz/artifacts/ $(B)/fuzz/corpus-$$t \
	      tests/fuzz/corpus/$$t >$(B)/fuzz/$$t.log 2>&1 \
	    || { tail -n 40 $(B)/fuzz/$$t.log; echo "fuzz: $$t FAILED"; exit 1; }; \
	  echo "fuzz: $$t ok ($$(grep -c 'NEW\|REDUCE' $(B)/fuzz/$$t.log) new inputs)"; \
	done

integration: $(MTAD) $(MTACTL) $(MTATUI)
	MTAD_BIN=$(CURDIR)/$(MTAD) MTACTL_BIN=$(CURDIR)/$(MTACTL) MTATUI_BIN=$(CURDIR)/$(MTATUI) $(PYTHON) -m pytest -q -p no:cacheprovider \
	    tests/integration $(PYTEST_ARGS)

# make run: the embedded default configuration, written once to run/mtad.conf.
define RUN_CONF
# mtad.conf for `make run` (edit freely; `make run` leaves it alone).
hostname localhost
state_dir ./run
listen 127.0.0.1:2525 smtp
trusted 127.0.0.0/8 ::1
endef
export RUN_CONF

run: deps-build
	@$(MAKE) --no-print-directory all
	@mkdir -p run
	@test -f run/mtad.conf || printf '%s\n' "$$RUN_CONF" > run/mtad.conf
	exec $(MTAD) -f run/mtad.conf

# The committed completion script is mtactl's own output (a test checks).
completion: $(MTACTL)
	$(MTACTL) completion > contrib/mtactl.bash

bench: $(MTAD) $(MTACTL) $(MTATUI)
	tests/bench/intake $(MTAD)
	DKIM=1 tests/bench/intake $(MTAD)
	QUEUED=1000000 tests/bench/intake $(MTAD)
	tests/bench/listing $(MTAD)
	tests/bench/console $(MTAD)
	tests/bench/relay $(MTAD)

install: $(MTAD) $(MTACTL) $(MTATUI) $(MTATUI)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(SYSCONFDIR)/mtad
	install -m 0755 $(MTAD) $(DESTDIR)$(SBINDIR)/mtad
	install -m 0755 $(MTACTL) $(DESTDIR)$(SBINDIR)/mtactl
	install -m 0755 $(MTATUI) $(DESTDIR)$(SBINDIR)/mtatui
	ln -sf mtactl $(DESTDIR)$(SBINDIR)/sendmail
	install -d $(DESTDIR)$(BASHCOMPDIR)
	install -m 0644 contrib/mtactl.bash $(DESTDIR)$(BASHCOMPDIR)/mtactl
	install -m 0644 share/man/mtad.8 $(DESTDIR)$(MANDIR)/man8/mtad.8
	install -m 0644 share/man/mtactl.8 $(DESTDIR)$(MANDIR)/man8/mtactl.8
	install -m 0644 share/man/mtatui.8 $(DESTDIR)$(MANDIR)/man8/mtatui.8
	install -m 0644 share/man/mtad.conf.5 $(DESTDIR)$(MANDIR)/man5/mtad.conf.5
	test -f $(DESTDIR)$(SYSCONFDIR)/mtad/mtad.conf || \
	    install -m 0644 share/mtad.conf $(DESTDIR)$(SYSCONFDIR)/mtad/mtad.conf

clean:
	rm -rf build
