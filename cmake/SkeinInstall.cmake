# The installable SDK: `cmake --install <build> [--prefix P] [--component sdk]`
# puts what a job in its own repository needs under P:
#
#   include/skein/...            the public headers (scheduler/ and node/)
#   lib/libskein_*.a             libskein: skein_sdk and the static archives
#                                it links (scheduler, remote, wire, proto)
#   lib/cmake/Skein/             SkeinConfig.cmake, SkeinConfigVersion.cmake,
#                                SkeinTargets*.cmake
#
# so that a job project does
#
#   find_package(Skein 0.1 REQUIRED)
#   add_executable(job main.cpp)
#   target_link_libraries(job Skein::skein)
#
# Why exported archives and not one merged libskein.a: the job's link needs
# more than object code. Skein::skein carries C++20, the run-hook anchor link
# option (--undefined=skein_cluster_run_hook_anchor, node/CMakeLists.txt),
# sanitizer flags in sanitizer builds, and the system libraries (protobuf,
# Abseil, Boost.Context, zlib, threads) the linker needs. install(EXPORT)
# writes all of that from the targets themselves, so it cannot drift from
# what the build tree links; a merged archive would need every one of those
# usage requirements re-stated by hand in the config. Job binaries must stay
# self-contained for `skein submit` (a node has no libskein.so at a known
# path), so the archives are static, like the build tree's.
#
# Self-contained down to libc (issue 10): a node has Skein's runtime, not the
# build machine's -dev packages, so with SKEIN_STATIC_JOB_DEPS=ON (default,
# no sanitizer) a job links the system libraries statically too and needs
# only libc6 (tests/minroot/ runs one in a bare Debian minbase root). In the
# build tree that is chosen per executable (skein_link_third_party() in
# cmake/SkeinHelpers.cmake: daemons link the same archives with shared gRPC
# and protobuf); every consumer of the installed SDK is a job, so the export
# has only the static side: the job-side archives link Skein::static_deps
# ($<INSTALL_INTERFACE:>), an interface target holding -static-libstdc++
# -static-libgcc and one --start-group of absolute paths to the Debian .a
# files (libprotobuf.a, the libabsl_*.a the SDK uses, libboost_context.a,
# libz.a). gRPC is not in it: the job side never calls a stub. The package
# config then finds only Threads and cereal, and checks that those .a files
# exist (they come with libprotobuf-dev, libabsl-dev, libboost-context-dev,
# zlib1g-dev), naming the packages when one is missing. With the option OFF
# the export links the shared imported targets, as the build tree does.
#
# Which archives: every target of this project in skein_sdk's link closure,
# found by walking INTERFACE_LINK_LIBRARIES at configure time. A library some
# folder adds to skein_sdk later is installed and exported without an edit
# here; a dependency from a package this file does not know is reported below
# and fails the out-of-tree test (tests/integration/out_of_tree) rather than
# the configure of everyone's build tree.
#
# This file is included at the end of the root CMakeLists.txt, when every
# target exists (install(TARGETS) of another directory's target needs CMake
# >= 3.13).

if(NOT TARGET skein_sdk)
  # SKEIN_ONLY_SCHED builds (sanitizer CI) have no SDK to install.
  return()
endif()

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(SKEIN_INSTALL_COMPONENT sdk)
set(SKEIN_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/Skein)

# Depth-first walk of `target`'s link interface. Appends project (non-imported)
# targets to the list named by `internal_var` and imported targets to the one
# named by `imported_var`; each target once, aliases resolved to their target.
function(_skein_link_closure target internal_var imported_var)
  set(internal ${${internal_var}})
  set(imported ${${imported_var}})
  get_target_property(deps ${target} INTERFACE_LINK_LIBRARIES)
  if(NOT deps)
    set(deps "")
  endif()
  foreach(dep IN LISTS deps)
    # Build-tree-only items (the per-executable shared/static choice of
    # skein_link_third_party) are not exported; what is exported instead is
    # $<INSTALL_INTERFACE:dep>.
    if(dep MATCHES "^\\$<BUILD_INTERFACE:")
      continue()
    endif()
    string(REGEX REPLACE "^\\$<INSTALL_INTERFACE:(.*)>$" "\\1" dep "${dep}")
    # PRIVATE dependencies of a static library show up as $<LINK_ONLY:dep>;
    # they are still needed at the job's link.
    string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" dep "${dep}")
    if(dep MATCHES "^\\$<")
      message(WARNING "SkeinInstall: ${target} links '${dep}', a generator expression "
                      "this walk does not follow; check the installed SDK links")
      continue()
    endif()
    if(NOT TARGET ${dep})
      # Imported targets are visible only in the directory that found their
      # package (absl in node/, protobuf in proto/, ...), so from here a
      # name with "::" is an imported target we cannot see; anything else is
      # a plain library name or flag, exported as written.
      if(dep MATCHES "::" AND NOT dep IN_LIST imported)
        list(APPEND imported ${dep})
      endif()
      continue()
    endif()
    get_target_property(aliased ${dep} ALIASED_TARGET)
    if(aliased)
      set(dep ${aliased})
    endif()
    get_target_property(is_imported ${dep} IMPORTED)
    if(is_imported)
      if(NOT dep IN_LIST imported)
        list(APPEND imported ${dep})
      endif()
    elseif(NOT dep IN_LIST internal)
      list(APPEND internal ${dep})
      _skein_link_closure(${dep} internal imported)
    endif()
  endforeach()
  set(${internal_var} ${internal} PARENT_SCOPE)
  set(${imported_var} ${imported} PARENT_SCOPE)
endfunction()

set(skein_sdk_internal skein_sdk)
set(skein_sdk_imported "")
_skein_link_closure(skein_sdk skein_sdk_internal skein_sdk_imported)

# The find_dependency() lines the package config needs, one per package the
# imported targets come from. Order matters only for gRPC, whose config wants
# Protobuf found first (Debian ships no protobuf config, hence the module).
set(skein_dep_protobuf "")
set(skein_dep_other "")
set(skein_boost_components "")
foreach(dep IN LISTS skein_sdk_imported)
  string(REGEX REPLACE "::.*$" "" ns "${dep}")
  if(ns STREQUAL "Boost")
    string(REGEX REPLACE "^Boost::" "" component "${dep}")
    if(NOT component STREQUAL "headers" AND NOT component STREQUAL "boost")
      list(APPEND skein_boost_components ${component})
    endif()
    continue()
  endif()
  if(ns STREQUAL "protobuf")
    set(skein_dep_protobuf "find_dependency(Protobuf)\n")
    continue()
  endif()
  if(ns STREQUAL "absl")
    set(line "find_dependency(absl CONFIG)")
  elseif(ns STREQUAL "gRPC")
    set(line "find_dependency(gRPC CONFIG)")
  elseif(ns STREQUAL "Threads")
    set(line "find_dependency(Threads)")
  elseif(ns STREQUAL "cereal")
    set(line "find_dependency(cereal CONFIG)")
  elseif(ns STREQUAL "OpenSSL")
    set(line "find_dependency(OpenSSL)")
  elseif(ns STREQUAL "spdlog" OR ns STREQUAL "fmt")
    set(line "find_dependency(${ns} CONFIG)")
  else()
    message(WARNING "SkeinInstall: skein_sdk links ${dep}; add its package to the "
                    "find_dependency() list in cmake/SkeinInstall.cmake")
    continue()
  endif()
  string(APPEND skein_dep_other "${line}\n")
endforeach()
list(REMOVE_DUPLICATES skein_boost_components)
set(skein_dep_boost "")
if(skein_boost_components)
  string(JOIN " " comps ${skein_boost_components})
  set(skein_dep_boost "find_dependency(Boost ${Boost_VERSION_MAJOR}.${Boost_VERSION_MINOR} COMPONENTS ${comps})\n")
endif()
set(skein_dep_other_sorted "")
string(REPLACE "\n" ";" lines "${skein_dep_other}")
list(REMOVE_DUPLICATES lines)
list(REMOVE_ITEM lines "")
list(SORT lines)
foreach(line IN LISTS lines)
  string(APPEND skein_dep_other_sorted "${line}\n")
endforeach()
set(SKEIN_FIND_DEPENDENCIES "${skein_dep_protobuf}${skein_dep_boost}${skein_dep_other_sorted}")

# The static archives Skein::static_deps names by absolute path: present on
# the job's build machine, or a clear message instead of a linker error.
if(TARGET skein_static_deps AND skein_static_deps IN_LIST skein_sdk_internal)
  get_property(skein_static_archives GLOBAL PROPERTY SKEIN_STATIC_ARCHIVES)
  string(JOIN "\n  " archives ${skein_static_archives})
  string(APPEND SKEIN_FIND_DEPENDENCIES "
# Job binaries link these statically (SKEIN_STATIC_JOB_DEPS=ON at the SDK's
# build); Debian: libprotobuf-dev libabsl-dev libboost-context-dev zlib1g-dev.
foreach(_skein_archive IN ITEMS
  ${archives})
  if(NOT EXISTS \"\${_skein_archive}\")
    set(Skein_FOUND FALSE)
    set(Skein_NOT_FOUND_MESSAGE \"Skein::skein links \${_skein_archive} statically, and it is missing: install the -dev package that has it (Debian: libprotobuf-dev libabsl-dev libboost-context-dev zlib1g-dev)\")
    return()
  endif()
endforeach()
unset(_skein_archive)
")
endif()

# The public headers: the source-tree include directories of the closure
# (scheduler/include, node/include). Generated protobuf headers stay out: no
# public header includes them, and the wire contract is not part of the SDK.
set(skein_header_dirs "")
foreach(t IN LISTS skein_sdk_internal)
  get_target_property(dirs ${t} INTERFACE_INCLUDE_DIRECTORIES)
  if(NOT dirs)
    continue()
  endif()
  foreach(d IN LISTS dirs)
    string(REGEX REPLACE "^\\$<BUILD_INTERFACE:(.*)>$" "\\1" d "${d}")
    cmake_path(IS_PREFIX CMAKE_SOURCE_DIR "${d}" NORMALIZE in_source)
    if(in_source AND IS_DIRECTORY "${d}/skein")
      list(APPEND skein_header_dirs "${d}")
    endif()
  endforeach()
endforeach()
list(REMOVE_DUPLICATES skein_header_dirs)
foreach(d IN LISTS skein_header_dirs)
  install(DIRECTORY "${d}/skein" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
          COMPONENT ${SKEIN_INSTALL_COMPONENT} FILES_MATCHING PATTERN "*.hpp")
endforeach()

# The job's handle is Skein::skein; the other archives are exported under their
# own names (Skein::skein_sched, ...) only because Skein::skein links them.
set_target_properties(skein_sdk PROPERTIES EXPORT_NAME skein)
install(TARGETS ${skein_sdk_internal}
        EXPORT SkeinTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT ${SKEIN_INSTALL_COMPONENT}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT SkeinTargets
        NAMESPACE Skein::
        DESTINATION ${SKEIN_INSTALL_CMAKEDIR}
        COMPONENT ${SKEIN_INSTALL_COMPONENT})

configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/SkeinConfig.cmake.in
  ${CMAKE_BINARY_DIR}/cmake/SkeinConfig.cmake
  INSTALL_DESTINATION ${SKEIN_INSTALL_CMAKEDIR})
# 0.x: a minor release may change the API, so a job asking for 0.1 accepts
# 0.1.z only.
write_basic_package_version_file(
  ${CMAKE_BINARY_DIR}/cmake/SkeinConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cmake/SkeinConfig.cmake
              ${CMAKE_BINARY_DIR}/cmake/SkeinConfigVersion.cmake
        DESTINATION ${SKEIN_INSTALL_CMAKEDIR}
        COMPONENT ${SKEIN_INSTALL_COMPONENT})
