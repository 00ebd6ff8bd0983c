# elfprefetch.mk: elfprefetch for Makefiles (GNU make; docs/BUILD-SYSTEMS.md).
#
#   include path/to/elfprefetch.mk
#
#   app: main.o util.o $(ELFPREFETCH_NOTE_O) $(wildcard app.profile.json)
#   	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LDLIBS)
#   	$(call elfprefetch_stamp,$@,app.profile.json)
#
#   app-train: app
#   	$(call elfprefetch_train,app.profile.json,./app --some-flag)
#
# - $(ELFPREFETCH_NOTE_O): an object reserving a note of $(ELFPREFETCH_RESERVE) descriptor bytes,
#   assembled by $(CC) $(CFLAGS) from `elfprefetch reserve -o x.s` (so CC=aarch64-linux-gnu-gcc
#   makes an arm64 object, and a CC of several words such as "ccache gcc" works too, which
#   `reserve --cc`, taking one program, would not). Its name must end in .o. Linked in, the
#   stamp only fills the note (strategy `reserved`). Leave it out of a program and the stamp
#   finds room in the linked file instead (slack, exec-shift, tail segment).
# - $(call elfprefetch_stamp,FILE,PROFILE): stamps FILE from PROFILE (`elfprefetch stamp
#   --carry-over`: a profile recorded on an earlier build is carried over section by section).
#   No PROFILE: a message, FILE stays as linked. A failing stamp leaves FILE exactly as linked
#   (stamp replaces files atomically) and prints a warning; with ELFPREFETCH_STRICT=1 it fails
#   the recipe and deletes FILE, so the next make links and stamps it again.
#   Listing $(wildcard PROFILE) as a prerequisite relinks (and restamps) FILE when the profile
#   changes.
# - $(call elfprefetch_train,PROFILE,COMMAND [ARGS]): records COMMAND with `elfprefetch train`
#   into PROFILE (keep it in the source tree) and stamps the program it runs.
#
# The ordered link (the two-stage build, docs/BUILD-SYSTEMS.md "Ordered link"), with
# ELFPREFETCH_ORDER_LINKER set to lld, gold or gnu-ld (GNU ld, through a -T script):
#
#   main.o util.o: CFLAGS += $(ELFPREFETCH_ORDER_CFLAGS)
#   app: main.o util.o app.order $(wildcard app.profile.json)
#   	$(CC) $(LDFLAGS) $(call elfprefetch_order_ldflags,app.order) -o $@ main.o util.o $(LDLIBS)
#   	$(call elfprefetch_stamp,$@,app.profile.json)
#   app.order: elfprefetch-always
#   	$(call elfprefetch_order,$@,app.profile.json)
#
# - $(ELFPREFETCH_ORDER_CFLAGS): -ffunction-sections (each function an input section of its own,
#   which is what the linkers order), and -fdata-sections, for the data they order.
# - $(call elfprefetch_order,ORDER,PROFILE): the recipe of ORDER (name it PROGRAM.order), run at
#   every make (the prerequisite elfprefetch-always): `elfprefetch order PROFILE --format
#   $(ELFPREFETCH_ORDER_LINKER)`, written to ORDER only when it changes, so that an unchanged
#   profile does not relink. No PROFILE: an empty order (for GNU ld a script that changes
#   nothing), the program is linked in stock order, and a message says so. A profile `order`
#   cannot use: a warning and the stock order; with ELFPREFETCH_STRICT=1 an error.
# - $(call elfprefetch_order_ldflags,ORDER): the link flags: lld `-fuse-ld=lld
#   --symbol-ordering-file` (and --no-warn-symbol-ordering: a profile of an older build names
#   functions that are gone) and `-T PROGRAM-rodata.ld`, the script of the switch tables and
#   string literals its symbol order cannot place, which the recipe of ORDER writes beside it
#   (`--format lld-rodata`; ORDER is touched when only the script changes, so the program
#   relinks); gold `-fuse-ld=gold --section-ordering-file`; GNU ld `-T ORDER`.
# - ELFPREFETCH_ORDER_TRAINING=1: a training link instead (docs/BUILD-SYSTEMS.md): ORDER holds the
#   script of `elfprefetch order --training` and the flags are `-fuse-ld=bfd -T ORDER` (GNU ld for
#   every ELFPREFETCH_ORDER_LINKER): every function on a page of its own, so the profile recorded
#   on it names just the functions start-up ran. Record, then make without it: the ordered link.
#
# Variables (on the command line, or in the Makefile: ELFPREFETCH_NOTE_O before the include,
# since it names a rule; the others before or after it):
ELFPREFETCH ?= elfprefetch
ELFPREFETCH_RESERVE ?= 4096
ELFPREFETCH_NOTE_O ?= elfprefetch-note.o
ELFPREFETCH_STAMP_ARGS ?= --carry-over
ELFPREFETCH_TRAIN_ARGS ?= --runs 3
ELFPREFETCH_STRICT ?=
ELFPREFETCH_ORDER_LINKER ?=
ELFPREFETCH_ORDER_TRAINING ?=

# This rule must not become the including Makefile's default goal.
_elfprefetch_goal := $(.DEFAULT_GOAL)
$(ELFPREFETCH_NOTE_O):
	$(ELFPREFETCH) reserve --capacity $(ELFPREFETCH_RESERVE) -o $(@:.o=.s)
	$(CC) $(CFLAGS) -c -o $@ $(@:.o=.s)
# Always out of date, so that an order file depending on it is checked at every make.
elfprefetch-always:
.PHONY: elfprefetch-always
.DEFAULT_GOAL := $(_elfprefetch_goal)

define elfprefetch_stamp
	@if [ ! -f '$(2)' ]; then \
	  echo "elfprefetch: no profile $(2): $(1) left unstamped (record one with elfprefetch train)"; \
	elif ! $(ELFPREFETCH) stamp '$(1)' --profile '$(2)' $(ELFPREFETCH_STAMP_ARGS); then \
	  if [ -n '$(ELFPREFETCH_STRICT)' ]; then \
	    rm -f '$(1)'; echo "elfprefetch: stamping $(1) from $(2) failed; removed it (ELFPREFETCH_STRICT)" >&2; exit 1; \
	  fi; \
	  echo "elfprefetch: warning: stamping $(1) from $(2) failed; it is left exactly as linked, without prefetch note" >&2; \
	fi
endef

define elfprefetch_train
	$(ELFPREFETCH) train $(ELFPREFETCH_TRAIN_ARGS) -o '$(1)' -- $(2)
endef

# The linker of the ordered link, checked where it is used (it may be set after the include).
_elfprefetch_linker = $(if $(filter lld gold gnu-ld,$(ELFPREFETCH_ORDER_LINKER)),$(ELFPREFETCH_ORDER_LINKER),$(error \
  elfprefetch: set ELFPREFETCH_ORDER_LINKER to lld, gold or gnu-ld (GNU ld, through a -T script), not '$(ELFPREFETCH_ORDER_LINKER)'))

ELFPREFETCH_ORDER_CFLAGS ?= -ffunction-sections -fdata-sections

# Per linker (no commas inside $(if): they would split its arguments).
_elfprefetch_ldflags_lld = -fuse-ld=lld -Wl,--symbol-ordering-file='$(1)' -Wl,--no-warn-symbol-ordering -Wl,-T,'$(call _elfprefetch_rodata,$(1))'
_elfprefetch_ldflags_gold = -fuse-ld=gold -Wl,--section-ordering-file='$(1)'
_elfprefetch_ldflags_gnu-ld = -Wl,-T,'$(1)'
# The training link (ELFPREFETCH_ORDER_TRAINING non-empty): GNU ld whatever the linker, since
# lld and gold take no INSERT script; ORDER then holds the script of `elfprefetch order --training`.
_elfprefetch_ldflags_training = -fuse-ld=bfd -Wl,-T,'$(1)'
elfprefetch_order_ldflags = $(call _elfprefetch_ldflags_$(if $(ELFPREFETCH_ORDER_TRAINING),training,$(_elfprefetch_linker)),$(1))

# No order yet: an empty file, but for GNU ld a script that changes nothing (it takes a -T script
# without INSERT as the whole linker script), and for lld's script of the read-only data the same.
_elfprefetch_no_order_gnu-ld = /* elfprefetch: no order (yet) */\nSECTIONS { .text.elfprefetch : { } } INSERT BEFORE .text;\n
_elfprefetch_no_order_lld-rodata = /* elfprefetch: no order (yet) */\nSECTIONS { .rodata.elfprefetch : { } } INSERT BEFORE .text;\n
# Beside lld's order ORDER: the script of what its symbol order cannot place (switch tables, string
# literals), PROGRAM-rodata.ld for ORDER PROGRAM.order.
_elfprefetch_rodata = $(basename $(1))-rodata.ld

define elfprefetch_order
	@new='$(1).new'; none='$(_elfprefetch_no_order_$(_elfprefetch_linker))'; printf "$$none" > "$$new" || exit 1; \
	ro=; if [ '$(_elfprefetch_linker)' = lld ] && [ -z '$(ELFPREFETCH_ORDER_TRAINING)' ]; then \
	  ro='$(call _elfprefetch_rodata,$(1))'; ronone='$(_elfprefetch_no_order_lld-rodata)'; printf "$$ronone" > "$$ro.new" || exit 1; \
	fi; \
	if [ -n '$(ELFPREFETCH_ORDER_TRAINING)' ]; then \
	  $(ELFPREFETCH) order --training -o "$$new" || { rm -f "$$new"; exit 1; }; \
	  echo "elfprefetch: $(basename $(notdir $(1))) is a training link (ELFPREFETCH_ORDER_TRAINING): record it, then make without it"; \
	elif [ ! -f '$(2)' ]; then \
	  echo "elfprefetch: no profile $(2): $(basename $(notdir $(1))) linked in stock order (record one with elfprefetch train, then make again)"; \
	elif $(ELFPREFETCH) order '$(2)' --format $(_elfprefetch_linker) -o "$$new" && \
	  { [ -z "$$ro" ] || $(ELFPREFETCH) order -q '$(2)' --format lld-rodata -o "$$ro.new"; }; then :; else \
	  rc=$$?; printf "$$none" > "$$new"; [ -z "$$ro" ] || printf "$$ronone" > "$$ro.new"; \
	  if [ -n '$(ELFPREFETCH_STRICT)' ]; then \
	    rm -f "$$new"; [ -z "$$ro" ] || rm -f "$$ro.new"; \
	    echo "elfprefetch: no order for $(basename $(notdir $(1))) from $(2) ($$rc); failing (ELFPREFETCH_STRICT)" >&2; exit 1; \
	  fi; \
	  echo "elfprefetch: warning: no order for $(basename $(notdir $(1))) from $(2) ($$rc); linking it in stock order" >&2; \
	fi; \
	if cmp -s "$$new" '$(1)'; then rm -f "$$new"; else mv -f "$$new" '$(1)'; fi; \
	if [ -n "$$ro" ]; then \
	  if cmp -s "$$ro.new" "$$ro"; then rm -f "$$ro.new"; else mv -f "$$ro.new" "$$ro"; touch '$(1)'; fi; \
	fi
endef
