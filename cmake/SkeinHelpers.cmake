# One helper for every target's flags (STYLE habit 17): warnings, sanitizers and
# include paths go through target_* only, never directory-wide settings.

set(SKEIN_WARNINGS -Wall -Wextra)
if(SKEIN_WERROR)
  list(APPEND SKEIN_WARNINGS -Werror)
endif()

function(skein_set_target_options target)
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_compile_options(${target} PRIVATE ${SKEIN_WARNINGS})
  if(SKEIN_SANITIZE)
    target_compile_options(${target} PUBLIC -fsanitize=${SKEIN_SANITIZE} -fno-omit-frame-pointer)
    target_link_options(${target} PUBLIC -fsanitize=${SKEIN_SANITIZE})
    if(SKEIN_SANITIZE STREQUAL "thread")
      target_compile_definitions(${target} PUBLIC SKEIN_SCHED_RANDOMIZE=1)
      # Asio's headers use std::atomic_thread_fence, which TSan cannot model;
      # g++ warns about it in every user of asio (-Wtsan).
      target_compile_options(${target} PRIVATE -Wno-tsan)
    endif()
  endif()
endfunction()

# skein_cc_library(NAME name [STATIC] SRCS ... [PUBLIC_INCLUDES dir...] DEPS ...)
function(skein_cc_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS;PUBLIC_INCLUDES;PRIVATE_INCLUDES" ${ARGN})
  add_library(${A_NAME} STATIC ${A_SRCS})
  skein_set_target_options(${A_NAME})
  set_target_properties(${A_NAME} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  foreach(dir ${A_PUBLIC_INCLUDES})
    target_include_directories(${A_NAME} PUBLIC $<BUILD_INTERFACE:${dir}>)
  endforeach()
  if(A_PRIVATE_INCLUDES)
    target_include_directories(${A_NAME} PRIVATE ${A_PRIVATE_INCLUDES})
  endif()
  target_link_libraries(${A_NAME} PUBLIC ${A_DEPS})
endfunction()

# skein_cc_binary(NAME name [JOB] SRCS ... DEPS ...)
# JOB: a job binary (links skein::skein, runs on nodes): see skein_job below.
function(skein_cc_binary)
  cmake_parse_arguments(A "JOB" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  skein_set_target_options(${A_NAME})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS})
  if(A_JOB)
    skein_job(${A_NAME})
  endif()
endfunction()

# skein_cc_test(NAME name SRCS ... DEPS ... [LABELS ...] [TIMEOUT s])
function(skein_cc_test)
  cmake_parse_arguments(A "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS;ENV" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  skein_set_target_options(${A_NAME})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  gtest_discover_tests(${A_NAME}
    DISCOVERY_TIMEOUT 60
    PROPERTIES TIMEOUT ${A_TIMEOUT} LABELS "${A_LABELS}" ENVIRONMENT "${A_ENV}")
endfunction()

# skein_cc_bench(NAME name [JOB] SRCS ... DEPS ...)
function(skein_cc_bench)
  cmake_parse_arguments(A "JOB" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  skein_set_target_options(${A_NAME})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS})
  if(A_JOB)
    skein_job(${A_NAME})
  endif()
endfunction()

# --- Job binaries: third-party libraries linked statically (issue 10) --------
#
# A job binary is copied to nodes that have Skein's runtime and nothing else:
# no -dev packages, maybe not even the shared libraries the build machine has.
# So a job links the SDK's own third-party dependencies (protobuf, Abseil,
# Boost.Context, zlib, libstdc++, libgcc) statically and needs only libc6 at
# run time. The daemons cannot: they link the same internal archives
# (skein_proto, skein_sched, ...) and also libgrpc++.so, which brings
# libprotobuf.so and the Abseil .so's; a second, static protobuf next to
# those would register every descriptor twice. So the choice is made per
# executable, not per library:
#
#   skein_link_third_party(<lib> <imported>... [JOB_ONLY <imported>...]
#                          [SHARED_ONLY <imported>...])
#     links <lib> PUBLIC with a generator expression on the executable being
#     linked (the head target): an executable with the property SKEIN_JOB
#     gets the target skein_static_deps instead, one --start-group of the
#     static archives (.a next to each imported .so, found by walking the
#     imported targets' link interfaces at configure time) plus
#     -static-libstdc++ -static-libgcc; every other executable gets the shared
#     imported targets, as before. JOB_ONLY: archives a static copy needs that
#     the .so brings itself (protobuf's zlib). SHARED_ONLY: never in a job
#     (gRPC: the job side never calls a stub, so no stub object is pulled
#     from libskein_proto.a).
#   skein_job(<exe>), or JOB in skein_cc_binary/skein_cc_bench: marks a job.
#
# The installed SDK (cmake/SkeinInstall.cmake) is for jobs only, so its
# export links Skein::static_deps unconditionally ($<INSTALL_INTERFACE:>).
# SKEIN_STATIC_JOB_DEPS=OFF, or a sanitizer build (the sanitizer runtimes
# want the shared libstdc++), links jobs like daemons: every imported
# target shared, in the build tree and the installed SDK alike.
set(SKEIN_STATIC_JOBS OFF)
if(SKEIN_STATIC_JOB_DEPS AND NOT SKEIN_SANITIZE)
  set(SKEIN_STATIC_JOBS ON)
elseif(SKEIN_STATIC_JOB_DEPS)
  message(STATUS "SKEIN_SANITIZE=${SKEIN_SANITIZE}: job binaries link their dependencies shared")
endif()

if(SKEIN_STATIC_JOBS AND NOT TARGET skein_static_deps)
  add_library(skein_static_deps INTERFACE)
  set_target_properties(skein_static_deps PROPERTIES EXPORT_NAME static_deps)
  target_link_options(skein_static_deps INTERFACE -static-libstdc++ -static-libgcc)
  set_property(GLOBAL PROPERTY SKEIN_STATIC_ARCHIVES "")
endif()

# The static archive beside an imported library's file: libX.so[.N] -> libX.a.
# Empty for a target without a file (INTERFACE: headers, Threads::Threads).
function(_skein_static_archive target out_var)
  set(${out_var} "" PARENT_SCOPE)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    return()
  endif()
  set(location "")
  get_target_property(configs ${target} IMPORTED_CONFIGURATIONS)
  foreach(config IN LISTS configs)
    get_target_property(location ${target} IMPORTED_LOCATION_${config})
    if(location)
      break()
    endif()
  endforeach()
  if(NOT location)
    get_target_property(location ${target} IMPORTED_LOCATION)
  endif()
  if(NOT location)
    message(FATAL_ERROR "skein_link_third_party: ${target} names no library file")
  endif()
  get_filename_component(dir "${location}" DIRECTORY)
  get_filename_component(name "${location}" NAME)
  string(REGEX REPLACE "\\.so(\\..*)?$" "" base "${name}")
  set(archive "${dir}/${base}.a")
  if(NOT EXISTS "${archive}")
    message(FATAL_ERROR "skein_link_third_party: ${target} has no static archive ${archive}; "
                        "install its -dev package or configure with -DSKEIN_STATIC_JOB_DEPS=OFF")
  endif()
  set(${out_var} "${archive}" PARENT_SCOPE)
endfunction()

# Every static archive in the link closure of the imported targets given.
function(_skein_static_closure out_var)
  set(seen "")
  set(archives "")
  set(todo ${ARGN})
  while(todo)
    list(POP_FRONT todo t)
    if(NOT TARGET ${t})
      continue()  # plain library names and flags: -lm, -pthread
    endif()
    get_target_property(aliased ${t} ALIASED_TARGET)
    if(aliased)
      set(t ${aliased})
    endif()
    if(t IN_LIST seen)
      continue()
    endif()
    list(APPEND seen ${t})
    _skein_static_archive(${t} archive)
    if(archive)
      list(APPEND archives "${archive}")
    endif()
    get_target_property(deps ${t} INTERFACE_LINK_LIBRARIES)
    if(deps)
      list(APPEND todo ${deps})
    endif()
  endwhile()
  set(${out_var} ${archives} PARENT_SCOPE)
endfunction()

function(skein_link_third_party target)
  cmake_parse_arguments(A "" "" "JOB_ONLY;SHARED_ONLY" ${ARGN})
  set(both ${A_UNPARSED_ARGUMENTS})
  if(NOT SKEIN_STATIC_JOBS)
    target_link_libraries(${target} PUBLIC ${both} ${A_SHARED_ONLY})
    return()
  endif()
  set(job "$<BOOL:$<TARGET_PROPERTY:SKEIN_JOB>>")
  foreach(dep IN LISTS both A_SHARED_ONLY)
    target_link_libraries(${target} PUBLIC "$<BUILD_INTERFACE:$<$<NOT:${job}>:${dep}>>")
  endforeach()
  target_link_libraries(${target} PUBLIC
    "$<BUILD_INTERFACE:$<${job}:skein_static_deps>>"
    "$<INSTALL_INTERFACE:skein_static_deps>")
  # One group of every archive any library asked for, so that their order
  # (Abseil's archives call each other) never matters.
  _skein_static_closure(archives ${both} ${A_JOB_ONLY})
  get_property(all GLOBAL PROPERTY SKEIN_STATIC_ARCHIVES)
  list(APPEND all ${archives})
  list(REMOVE_DUPLICATES all)
  list(SORT all)
  set_property(GLOBAL PROPERTY SKEIN_STATIC_ARCHIVES "${all}")
  set_property(TARGET skein_static_deps PROPERTY INTERFACE_LINK_LIBRARIES
    "-Wl,--start-group" ${all} "-Wl,--end-group" Threads::Threads)
endfunction()

# Also lists the job in <build>/skein_jobs.txt (one path a line, after a
# static_deps=ON|OFF line), which tests/minroot/run.sh checks with ldd.
function(skein_job target)
  set_property(TARGET ${target} PROPERTY SKEIN_JOB ON)
  set_property(GLOBAL APPEND PROPERTY SKEIN_JOB_TARGETS ${target})
  get_property(deferred GLOBAL PROPERTY _SKEIN_JOB_LIST_DEFERRED)
  if(NOT deferred)
    set_property(GLOBAL PROPERTY _SKEIN_JOB_LIST_DEFERRED ON)
    cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL _skein_write_job_list)
  endif()
endfunction()

function(_skein_write_job_list)
  get_property(targets GLOBAL PROPERTY SKEIN_JOB_TARGETS)
  set(content "static_deps=${SKEIN_STATIC_JOBS}\n")
  foreach(t IN LISTS targets)
    string(APPEND content "$<TARGET_FILE:${t}>\n")
  endforeach()
  file(GENERATE OUTPUT ${CMAKE_BINARY_DIR}/skein_jobs.txt CONTENT "${content}")
endfunction()
