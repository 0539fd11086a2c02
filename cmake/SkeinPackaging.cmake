# Skein installed like a real tool (issue 10): `cmake --install <build>
# --component runtime` and `cpack -G DEB` put
#
#   bin/skein-coordinator, bin/skein-node, bin/skein   the three binaries
#   lib/systemd/system/skein-{coordinator,node}.service
#   lib/sysusers.d/skein.conf                          the `skein` system user
#   share/skein/config/{coordinator,node}.toml         example configs
#   share/skein/k8s/*.yaml, share/skein/Containerfile  the other deployments
#   share/doc/skein/deploy.md
#
# under the prefix (/usr for the .deb). Component `runtime`; the SDK is
# component `sdk` (SkeinInstall.cmake) and stays out of the .deb: a job is
# built on a developer's machine, not on the hosts that run it.
#
# Choices:
# - The units say ExecStart=/usr/bin/...; installed under another prefix
#   (/usr/local, --prefix P) that path is rewritten to the real bindir, so a
#   source install's units start the binaries it installed.
# - No file under /etc: the operator writes /etc/skein/*.toml from the
#   examples (one host runs a coordinator, another a node; a shipped default
#   would start the wrong daemon with the wrong addresses). The package
#   therefore has no conffiles, and its postinst enables nothing.
# - Dependencies come from dpkg-shlibdeps on the binaries
#   (CPACK_DEBIAN_PACKAGE_SHLIBDEPS), so they follow whatever gRPC, protobuf,
#   Abseil and OpenSSL the build linked, never a hand-kept list.
#
# Included from the root CMakeLists.txt right after SkeinInstall, when every
# target exists (install(TARGETS) of another directory's target needs CMake
# >= 3.13).

include(GNUInstallDirs)

set(SKEIN_RUNTIME_COMPONENT runtime)
set(skein_binaries "")
foreach(t skein-coordinator skein-node skein)
  if(TARGET ${t})
    list(APPEND skein_binaries ${t})
  endif()
endforeach()
if(NOT skein_binaries)
  # SKEIN_ONLY_SCHED builds (sanitizer CI) have nothing to deploy.
  return()
endif()

install(TARGETS ${skein_binaries}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT ${SKEIN_RUNTIME_COMPONENT})

set(skein_deploy ${PROJECT_SOURCE_DIR}/deploy)
# The units' ExecStart= is rewritten when installing, not when configuring:
# the prefix is known only then (`--prefix`, CPack's /usr).
if(IS_ABSOLUTE "${CMAKE_INSTALL_BINDIR}")
  set(skein_bindir "${CMAKE_INSTALL_BINDIR}")
else()
  set(skein_bindir "\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}")
endif()
foreach(unit skein-coordinator.service skein-node.service)
  set(staged ${CMAKE_BINARY_DIR}/deploy/systemd/${unit})
  install(CODE "
    file(READ \"${skein_deploy}/systemd/${unit}\" text)
    string(REPLACE \"ExecStart=/usr/bin/\" \"ExecStart=${skein_bindir}/\" text \"\${text}\")
    file(WRITE \"${staged}\" \"\${text}\")
    file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\"
         TYPE FILE FILES \"${staged}\")
    " COMPONENT ${SKEIN_RUNTIME_COMPONENT})
endforeach()
install(FILES ${skein_deploy}/debian/skein.sysusers
        DESTINATION lib/sysusers.d RENAME skein.conf COMPONENT ${SKEIN_RUNTIME_COMPONENT})
install(FILES ${skein_deploy}/config/coordinator.toml ${skein_deploy}/config/node.toml
        DESTINATION ${CMAKE_INSTALL_DATADIR}/skein/config COMPONENT ${SKEIN_RUNTIME_COMPONENT})
install(DIRECTORY ${skein_deploy}/k8s/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/skein/k8s COMPONENT ${SKEIN_RUNTIME_COMPONENT}
        FILES_MATCHING PATTERN "*.yaml")
install(FILES ${skein_deploy}/Containerfile
        DESTINATION ${CMAKE_INSTALL_DATADIR}/skein COMPONENT ${SKEIN_RUNTIME_COMPONENT})
if(EXISTS ${PROJECT_SOURCE_DIR}/docs/deploy.md)
  install(FILES ${PROJECT_SOURCE_DIR}/docs/deploy.md
          DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT ${SKEIN_RUNTIME_COMPONENT})
endif()

# CPack: one Debian package, `skein`, holding the runtime component only.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME skein)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "Skein")
set(CPACK_PACKAGE_CONTACT "Skein maintainers <skein-maintainers@example.org>")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Skein distributed runtime: coordinator, node agent and CLI")
# The long description, one string (a list would join its lines with ';');
# CPack puts the summary above it as the control file's first line.
string(CONCAT CPACK_DEBIAN_PACKAGE_DESCRIPTION
  "skein-coordinator keeps a cluster's membership, jobs, binaries and\n"
  "certificates; skein-node runs and supervises job workers on each host;\n"
  "skein submits and watches jobs. Ships systemd units (enabled by hand),\n"
  "example configs in /usr/share/skein/config and Kubernetes manifests.")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# The build tree keeps debug info (RelWithDebInfo); the package does not.
set(CPACK_STRIP_FILES TRUE)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# adduser is the postinst's fallback when systemd-sysusers is missing.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${skein_deploy}/debian/postinst ${skein_deploy}/debian/prerm ${skein_deploy}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
# Monolithic package of one component: build dir, project, component, subdir.
set(CPACK_INSTALL_CMAKE_PROJECTS "${CMAKE_BINARY_DIR};${PROJECT_NAME};${SKEIN_RUNTIME_COMPONENT};/")
include(CPack)
