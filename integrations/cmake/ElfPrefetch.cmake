# ElfPrefetch.cmake: elfprefetch for CMake projects (docs/BUILD-SYSTEMS.md).
#
#   list(APPEND CMAKE_MODULE_PATH "${CMAKE_SOURCE_DIR}/cmake")   # wherever you copied this file
#   include(ElfPrefetch)
#   elfprefetch_target(<target>
#                      [PROFILE <path>]          # default: ${CMAKE_CURRENT_SOURCE_DIR}/<target>.profile.json
#                      [RESERVE <bytes>]         # link a note reservation of <bytes> descriptor bytes
#                      [STRICT]                  # a failing stamp fails the build (else: a warning)
#                      [TRAIN_COMMAND <cmd>...]) # what <target>-elfprefetch-train runs (default: the target)
#   install(TARGETS <target> DESTINATION <dir>)
#   elfprefetch_install(<target> DESTINATION <dir>)  # after install(): stamp the installed copy again
#   elfprefetch_order(<target> LINKER lld|gold|gnu-ld  # link its start-up functions together
#                     [PROFILE <path>])              # default: the profile of elfprefetch_target
#   cmake -DELFPREFETCH_ORDER_TRAINING=ON ...        # link them as training links (exact profiles)
#
# Call it in the directory that defines <target>. For <target> (an executable or shared library) it
# - with RESERVE: makes an object with `elfprefetch reserve --cc ${CMAKE_C_COMPILER}` (so a cross
#   compiler assembles it for its own target) and links it in; the stamp then only fills the note
#   (strategy `reserved`, no byte outside the note changes);
# - adds a POST_BUILD step that stamps the linked file from the profile kept in the source tree
#   (`elfprefetch stamp FILE --profile P --carry-over`). No profile: a message, the file is left
#   as linked. A failing stamp leaves the file exactly as linked (stamp replaces files atomically)
#   and is a warning; with STRICT (or -DELFPREFETCH_STRICT=ON) it is an error and the unstamped
#   file is deleted, so the next build links and stamps it again instead of keeping it;
# - adds a target <target>-elfprefetch-train (not built by default) that records TRAIN_COMMAND
#   with `elfprefetch train` into the profile in the source tree and stamps the target from it.
#
# Cache variables: ELFPREFETCH (the command, default `elfprefetch` from PATH; a list such as
# `node;/opt/elfprefetch/dist/cli/main.js` works too), ELFPREFETCH_STRICT, ELFPREFETCH_STAMP_ARGS
# (default `--carry-over`: a profile recorded on an earlier build is carried over section by
# section), ELFPREFETCH_TRAIN_ARGS (default `--runs;3`).
#
# elfprefetch_install: `cmake --install` rewrites the RPATH of the targets it installs (the build
# tree's RUNPATH is removed or replaced), which changes loaded bytes, so the note of the installed
# copy is stale (verify: 11) and the shim ignores it. elfprefetch_install stamps the installed file
# again (in place: the note is there already) from the same profile, DESTDIR included. Not needed
# when the target has no build RPATH to rewrite (e.g. BUILD_WITH_INSTALL_RPATH, or no shared
# libraries of the project).
#
# elfprefetch_order (the two-stage build, docs/BUILD-SYSTEMS.md "Ordered link"): compiles the
# target with -ffunction-sections -fdata-sections and links it with an order file made from the kept profile by
# `elfprefetch order` before every link (lld: --symbol-ordering-file and a -T script of the read-only
# data, gold: --section-ordering-file, GNU ld: a -T script that INSERTs the start-up functions
# before .text and their read-only data after .rodata). No profile yet: the order
# file is empty and the link is the stock one; train, build again: the target is relinked in
# start-up order and stamped from the same profile (carried over by function). A profile that
# `order` cannot use is a warning and an empty order file (an error with STRICT).
# With ELFPREFETCH_ORDER_TRAINING=ON the targets of elfprefetch_order are training links instead:
# GNU ld with the script of `elfprefetch order --training` (every function on a page of its own),
# whatever LINKER says (lld and gold take no INSERT script; the names are the same). Train then,
# and the profile names just the functions start-up ran; configure with OFF and build: the
# ordered link from that profile packs them tighter than one from a profile of the stock link.
#
# The same file is the POST_BUILD step: run as `cmake -P ElfPrefetch.cmake` with EPF_* defined.

# ---- Script mode: the POST_BUILD stamp step -------------------------------------------------
if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  cmake_minimum_required(VERSION 3.16)
  if(EPF_INSTALLED)
    # From install(CODE): the file is under DESTDIR.
    set(EPF_FILE "$ENV{DESTDIR}${EPF_FILE}")
  endif()
  # Lists travel through -D joined with '|' (a ';' would split the argument on the way).
  string(REPLACE "|" ";" _epf_cli "${EPF_CLI}")
  string(REPLACE "|" ";" _epf_args "${EPF_ARGS}")
  if(EPF_ORDER)
    # The pre-link step of elfprefetch_order: the order file, rewritten only when it changes, so
    # that an unchanged profile does not relink.
    set(_epf_new "${EPF_ORDER}.new")
    if(EPF_TRAINING)
      execute_process(COMMAND ${_epf_cli} order --training -o "${_epf_new}" RESULT_VARIABLE _epf_rc)
      if(NOT _epf_rc STREQUAL "0")
        message(FATAL_ERROR "elfprefetch: no training link script for ${EPF_TARGET} (${_epf_rc})")
      endif()
      execute_process(COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${_epf_new}" "${EPF_ORDER}")
      file(REMOVE "${_epf_new}")
      return()
    endif()
    if(EPF_FORMAT STREQUAL "gnu-ld")
      # Not an empty file: GNU ld takes a -T script without INSERT as the whole linker script.
      set(_epf_none "/* elfprefetch: no order (yet) */\nSECTIONS { .text.elfprefetch : { } } INSERT BEFORE .text;\n")
    else()
      set(_epf_none "")
    endif()
    # With lld, its script of the read-only data (EPF_RODATA) from the same profile.
    set(_epf_ro_none "/* elfprefetch: no order (yet) */\nSECTIONS { .rodata.elfprefetch : { } } INSERT BEFORE .text;\n")
    file(WRITE "${_epf_new}" "${_epf_none}")
    if(EPF_RODATA)
      file(WRITE "${EPF_RODATA}.new" "${_epf_ro_none}")
    endif()
    if(EXISTS "${EPF_PROFILE}")
      execute_process(
        COMMAND ${_epf_cli} order "${EPF_PROFILE}" --format "${EPF_FORMAT}" -o "${_epf_new}"
        RESULT_VARIABLE _epf_rc)
      if(_epf_rc STREQUAL "0" AND EPF_RODATA)
        execute_process(
          COMMAND ${_epf_cli} order -q "${EPF_PROFILE}" --format lld-rodata -o "${EPF_RODATA}.new"
          RESULT_VARIABLE _epf_rc)
      endif()
      if(NOT _epf_rc STREQUAL "0")
        file(WRITE "${_epf_new}" "${_epf_none}")
        if(EPF_RODATA)
          file(WRITE "${EPF_RODATA}.new" "${_epf_ro_none}")
        endif()
        set(_epf_why "elfprefetch: no order for ${EPF_TARGET} from ${EPF_PROFILE} (${_epf_rc})")
        if(EPF_STRICT)
          message(FATAL_ERROR "${_epf_why}; failing (ELFPREFETCH_STRICT)")
        endif()
        message(WARNING "${_epf_why}; linking it in stock order")
      endif()
    else()
      message(STATUS "elfprefetch: no profile ${EPF_PROFILE}: ${EPF_TARGET} linked in stock order "
                     "(record one with the target ${EPF_TARGET}-elfprefetch-train, then build again)")
    endif()
    execute_process(COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${_epf_new}" "${EPF_ORDER}")
    file(REMOVE "${_epf_new}")
    if(EPF_RODATA)
      execute_process(COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${EPF_RODATA}.new" "${EPF_RODATA}")
      file(REMOVE "${EPF_RODATA}.new")
    endif()
    return()
  endif()
  if(NOT EXISTS "${EPF_PROFILE}")
    message(STATUS "elfprefetch: no profile ${EPF_PROFILE}: ${EPF_FILE} left unstamped "
                   "(record one with the target ${EPF_TARGET}-elfprefetch-train)")
    return()
  endif()
  execute_process(
    COMMAND ${_epf_cli} stamp "${EPF_FILE}" --profile "${EPF_PROFILE}" ${_epf_args}
    RESULT_VARIABLE _epf_rc)
  if(NOT _epf_rc STREQUAL "0")
    if(EPF_STRICT)
      # The file is as linked; remove it so that the next build does not take it as up to date.
      file(REMOVE "${EPF_FILE}")
      message(FATAL_ERROR "elfprefetch: stamping ${EPF_FILE} from ${EPF_PROFILE} failed (${_epf_rc}); "
                          "removed it (ELFPREFETCH_STRICT)")
    endif()
    message(WARNING "elfprefetch: stamping ${EPF_FILE} from ${EPF_PROFILE} failed (${_epf_rc}); "
                    "the file is left exactly as linked, without prefetch note. "
                    "Set ELFPREFETCH_STRICT=ON to make this an error.")
  endif()
  return()
endif()

# ---- Project mode ---------------------------------------------------------------------------
include_guard(GLOBAL)
# No cmake_minimum_required here: in an included module it would reset the project's policies.
if(CMAKE_VERSION VERSION_LESS 3.16)
  message(FATAL_ERROR "ElfPrefetch.cmake needs CMake 3.16 or newer")
endif()

set(ELFPREFETCH "elfprefetch" CACHE STRING "The elfprefetch command (name on PATH, full path, or a list of words)")
option(ELFPREFETCH_STRICT "Fail the build when stamping a binary fails (default: warn, keep it unstamped)" OFF)
option(ELFPREFETCH_ORDER_TRAINING "Link the targets of elfprefetch_order as training links (GNU ld, every function on a page of its own), whose profiles make exact orders" OFF)
set(ELFPREFETCH_STAMP_ARGS "--carry-over" CACHE STRING "Extra arguments of the POST_BUILD `elfprefetch stamp`")
set(ELFPREFETCH_TRAIN_ARGS "--runs;3" CACHE STRING "Extra arguments of `elfprefetch train` in <target>-elfprefetch-train")
set(_ELFPREFETCH_MODULE "${CMAKE_CURRENT_LIST_FILE}" CACHE INTERNAL "")

# Say early when the command is missing (the reservation step would fail, the stamps warn).
list(GET ELFPREFETCH 0 _epf_command)
if(NOT IS_ABSOLUTE "${_epf_command}")
  unset(_ELFPREFETCH_FOUND CACHE)  # searched anew at every configure (NO_CACHE needs CMake 3.21)
  find_program(_ELFPREFETCH_FOUND NAMES "${_epf_command}" NO_CMAKE_FIND_ROOT_PATH)
  mark_as_advanced(_ELFPREFETCH_FOUND)
  if(NOT _ELFPREFETCH_FOUND)
    message(WARNING "ElfPrefetch: `${_epf_command}` is not on PATH; install elfprefetch or set -DELFPREFETCH=<path>")
  endif()
elseif(NOT EXISTS "${_epf_command}")
  message(WARNING "ElfPrefetch: ELFPREFETCH names ${_epf_command}, which does not exist")
endif()

# What elfprefetch_target and elfprefetch_order check of their arguments (EPF_* of
# cmake_parse_arguments, in the caller), and `strict` set in the caller from STRICT or
# ELFPREFETCH_STRICT: a macro, so that it sets the caller's variables.
macro(_elfprefetch_target_args fname target)
  if(EPF_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "${fname}(${target}): unknown arguments ${EPF_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT TARGET ${target})
    message(FATAL_ERROR "${fname}(${target}): no such target (call it after add_executable/add_library)")
  endif()
  if(EPF_STRICT OR ELFPREFETCH_STRICT)
    set(strict ON)
  else()
    set(strict OFF)
  endif()
endmacro()

function(elfprefetch_target target)
  cmake_parse_arguments(PARSE_ARGV 1 EPF "STRICT" "PROFILE;RESERVE" "TRAIN_COMMAND")
  _elfprefetch_target_args(elfprefetch_target ${target})
  get_target_property(type ${target} TYPE)
  if(NOT type MATCHES "^(EXECUTABLE|SHARED_LIBRARY|MODULE_LIBRARY)$")
    message(FATAL_ERROR "elfprefetch_target(${target}): a ${type} has no pages to prefetch; "
                        "give an executable or a shared library")
  endif()

  if(NOT EPF_PROFILE)
    set(EPF_PROFILE "${target}.profile.json")
  endif()
  get_filename_component(profile "${EPF_PROFILE}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")

  if(DEFINED EPF_RESERVE)
    if(NOT EPF_RESERVE MATCHES "^[1-9][0-9]*$")
      message(FATAL_ERROR "elfprefetch_target(${target}): RESERVE takes a number of bytes, e.g. RESERVE 4096")
    endif()
    # The target's compiler assembles the reservation, so a cross toolchain gets its own object.
    if(CMAKE_C_COMPILER)
      set(cc "${CMAKE_C_COMPILER}")
    elseif(CMAKE_CXX_COMPILER)
      set(cc "${CMAKE_CXX_COMPILER}")
    else()
      message(FATAL_ERROR "elfprefetch_target(${target}): RESERVE needs the C or C++ language enabled")
    endif()
    set(dir "${CMAKE_CURRENT_BINARY_DIR}/elfprefetch")
    set(obj "${dir}/${target}-note.o")
    add_custom_command(
      OUTPUT "${obj}"
      COMMAND "${CMAKE_COMMAND}" -E make_directory "${dir}"
      COMMAND ${ELFPREFETCH} reserve --capacity ${EPF_RESERVE} -o "${obj}" --cc "${cc}"
      COMMENT "elfprefetch: reserving a ${EPF_RESERVE}-byte note for ${target}"
      VERBATIM)
    set_source_files_properties("${obj}" PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
    target_sources(${target} PRIVATE "${obj}")
  endif()

  string(REPLACE ";" "|" cli "${ELFPREFETCH}")
  string(REPLACE ";" "|" args "${ELFPREFETCH_STAMP_ARGS}")
  set(stamp_step
    "${CMAKE_COMMAND}" "-DEPF_CLI=${cli}" "-DEPF_ARGS=${args}" "-DEPF_FILE=$<TARGET_FILE:${target}>"
    "-DEPF_PROFILE=${profile}" "-DEPF_TARGET=${target}" "-DEPF_STRICT=${strict}" -P "${_ELFPREFETCH_MODULE}")
  set_property(TARGET ${target} PROPERTY ELFPREFETCH_PROFILE "${profile}")
  set_property(TARGET ${target} PROPERTY ELFPREFETCH_STRICT "${strict}")
  add_custom_command(TARGET ${target} POST_BUILD COMMAND ${stamp_step} VERBATIM)
  # A new profile relinks (and so restamps) the target. Only for a file that exists now: a
  # missing dependency would stop the build; a profile made later is taken at the next configure.
  if(EXISTS "${profile}")
    set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS "${profile}")
  endif()

  if(EPF_TRAIN_COMMAND)
    set(train_cmd ${EPF_TRAIN_COMMAND})
  elseif(type STREQUAL "EXECUTABLE")
    set(train_cmd "$<TARGET_FILE:${target}>")
  endif()
  if(DEFINED train_cmd)
    add_custom_target(${target}-elfprefetch-train
      COMMAND ${ELFPREFETCH} train ${ELFPREFETCH_TRAIN_ARGS} -o "${profile}" -- ${train_cmd}
      COMMAND ${stamp_step}
      DEPENDS ${target}
      WORKING_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}"
      COMMENT "elfprefetch: recording ${target} into ${profile}"
      USES_TERMINAL VERBATIM)
  endif()
endfunction()

function(elfprefetch_install target)
  cmake_parse_arguments(PARSE_ARGV 1 EPF "" "DESTINATION" "")
  if(EPF_UNPARSED_ARGUMENTS OR NOT EPF_DESTINATION)
    message(FATAL_ERROR "elfprefetch_install(${target} DESTINATION <dir>): give the DESTINATION of its install()")
  endif()
  get_target_property(profile ${target} ELFPREFETCH_PROFILE)
  if(NOT profile)
    message(FATAL_ERROR "elfprefetch_install(${target}): call elfprefetch_target(${target} ...) first")
  endif()
  get_target_property(strict ${target} ELFPREFETCH_STRICT)
  if(IS_ABSOLUTE "${EPF_DESTINATION}")
    set(dest "${EPF_DESTINATION}")
  else()
    set(dest "\${CMAKE_INSTALL_PREFIX}/${EPF_DESTINATION}")
  endif()
  string(REPLACE ";" "|" cli "${ELFPREFETCH}")
  string(REPLACE ";" "|" args "${ELFPREFETCH_STAMP_ARGS}")
  # Runs in cmake_install.cmake, after the install() rules declared before it in this directory.
  install(CODE "
    execute_process(COMMAND \"${CMAKE_COMMAND}\" \"-DEPF_CLI=${cli}\" \"-DEPF_ARGS=${args}\"
      \"-DEPF_FILE=${dest}/$<TARGET_FILE_NAME:${target}>\" -DEPF_INSTALLED=ON
      \"-DEPF_PROFILE=${profile}\" \"-DEPF_TARGET=${target}\" -DEPF_STRICT=${strict}
      -P \"${_ELFPREFETCH_MODULE}\" RESULT_VARIABLE rc)
    if(NOT rc STREQUAL \"0\")
      message(FATAL_ERROR \"elfprefetch: stamping the installed ${target} failed\")
    endif()")
endfunction()

function(elfprefetch_order target)
  cmake_parse_arguments(PARSE_ARGV 1 EPF "STRICT" "PROFILE;LINKER" "")
  _elfprefetch_target_args(elfprefetch_order ${target})
  if(NOT EPF_LINKER MATCHES "^(lld|gold|gnu-ld)$")
    message(FATAL_ERROR "elfprefetch_order(${target}): give LINKER lld, gold or gnu-ld (GNU ld, through a -T script), "
                        "not '${EPF_LINKER}'")
  endif()
  if(NOT EPF_PROFILE)
    get_target_property(EPF_PROFILE ${target} ELFPREFETCH_PROFILE)
    if(NOT EPF_PROFILE)
      set(EPF_PROFILE "${target}.profile.json")
    endif()
  endif()
  get_filename_component(profile "${EPF_PROFILE}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  string(REPLACE ";" "|" cli "${ELFPREFETCH}")
  set(rodata "")
  if(ELFPREFETCH_ORDER_TRAINING)
    set(order "${CMAKE_CURRENT_BINARY_DIR}/elfprefetch/${target}-training.ld")
    set(what "training link script")
    message(STATUS "elfprefetch: ${target} is a training link (ELFPREFETCH_ORDER_TRAINING): build, run the target "
                   "${target}-elfprefetch-train, then configure with -DELFPREFETCH_ORDER_TRAINING=OFF and build")
  else()
    set(order "${CMAKE_CURRENT_BINARY_DIR}/elfprefetch/${target}.order")
    set(what "order file")
    if(EPF_LINKER STREQUAL "lld")
      # What lld's symbol order cannot place (switch tables, string literals): a script beside it.
      set(rodata "${CMAKE_CURRENT_BINARY_DIR}/elfprefetch/${target}-rodata.ld")
    endif()
  endif()
  # Runs before every link of the target; BYPRODUCTS lets Ninja see the order file change.
  add_custom_target(${target}-elfprefetch-order
    COMMAND "${CMAKE_COMMAND}" -E make_directory "${CMAKE_CURRENT_BINARY_DIR}/elfprefetch"
    COMMAND "${CMAKE_COMMAND}" "-DEPF_CLI=${cli}" "-DEPF_ORDER=${order}" "-DEPF_FORMAT=${EPF_LINKER}"
            "-DEPF_RODATA=${rodata}" "-DEPF_PROFILE=${profile}" "-DEPF_TARGET=${target}" "-DEPF_STRICT=${strict}"
            "-DEPF_TRAINING=${ELFPREFETCH_ORDER_TRAINING}" -P "${_ELFPREFETCH_MODULE}"
    BYPRODUCTS "${order}" ${rodata}
    COMMENT "elfprefetch: ${what} of ${target}"
    VERBATIM)
  add_dependencies(${target} ${target}-elfprefetch-order)
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS "${order}" ${rodata})
  # Each function and each variable in its own input section, which is what the linkers order
  # (a GNU ld script orders the read-only data, lld and gold all of it). The training link
  # compiles alike, so that switching it on or off only relinks.
  target_compile_options(${target} PRIVATE -ffunction-sections -fdata-sections)
  if(ELFPREFETCH_ORDER_TRAINING)
    target_link_options(${target} PRIVATE -fuse-ld=bfd "LINKER:-T,${order}")
  elseif(EPF_LINKER STREQUAL "lld")
    # A name of the profile missing from this build (code changed since) is no reason to warn.
    target_link_options(${target} PRIVATE -fuse-ld=lld "LINKER:--symbol-ordering-file=${order}" "LINKER:--no-warn-symbol-ordering"
                        "LINKER:-T,${rodata}")
  elseif(EPF_LINKER STREQUAL "gold")
    target_link_options(${target} PRIVATE -fuse-ld=gold "LINKER:--section-ordering-file=${order}")
  else()
    target_link_options(${target} PRIVATE "LINKER:-T,${order}")
  endif()
endfunction()
