# The loader shim's core, one job a file (docs/SHIM.md, "The files"): included by shim/Makefile
# and shim/fuzz/Makefile; the specs (spec/helpers/native-sources.ts) and the bench scripts read
# these two lines too, so every build compiles the same files.
SHIM_CORE = epf_prefetch.c epf_sidecar.c epf_issue.c epf_inspect.c epf_file.c epf_resident.c epf_devclass.c epf_options.c epf_plan.c epf_note.c
SHIM_HDRS = epf_prefetch.h epf_sidecar.h epf_issue.h epf_inspect.h epf_file.h epf_resident.h epf_devclass.h epf_line.h epf_plan.h epf_note.h
