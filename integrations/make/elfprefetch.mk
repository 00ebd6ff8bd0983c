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
# Variables (on the command line, or in the Makefile: ELFPREFETCH_NOTE_O before the include,
# since it names a rule; the others before or after it):
ELFPREFETCH ?= elfprefetch
ELFPREFETCH_RESERVE ?= 4096
ELFPREFETCH_NOTE_O ?= elfprefetch-note.o
ELFPREFETCH_STAMP_ARGS ?= --carry-over
ELFPREFETCH_TRAIN_ARGS ?= --runs 3
ELFPREFETCH_STRICT ?=

# This rule must not become the including Makefile's default goal.
_elfprefetch_goal := $(.DEFAULT_GOAL)
$(ELFPREFETCH_NOTE_O):
	$(ELFPREFETCH) reserve --capacity $(ELFPREFETCH_RESERVE) -o $(@:.o=.s)
	$(CC) $(CFLAGS) -c -o $@ $(@:.o=.s)
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
