# Every dependency is a Debian bookworm package; scripts/setup.sh installs
# them. CAF 0.17 ships no CMake config, so it is found by hand.
find_package(Threads REQUIRED)
find_package(Boost 1.81.0 EXACT CONFIG REQUIRED COMPONENTS json unit_test_framework)
find_package(spdlog REQUIRED)
find_package(CURL REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)

find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
find_library(CAF_CORE_LIBRARY caf_core REQUIRED)
find_library(CAF_IO_LIBRARY caf_io REQUIRED)
add_library(caf::core UNKNOWN IMPORTED)
set_target_properties(caf::core PROPERTIES IMPORTED_LOCATION ${CAF_CORE_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${CAF_INCLUDE_DIR}
  INTERFACE_LINK_LIBRARIES Threads::Threads)
add_library(caf::io UNKNOWN IMPORTED)
set_target_properties(caf::io PROPERTIES IMPORTED_LOCATION ${CAF_IO_LIBRARY}
  INTERFACE_LINK_LIBRARIES caf::core)

find_path(LMDB_INCLUDE_DIR lmdb.h REQUIRED)
find_library(LMDB_LIBRARY lmdb REQUIRED)
add_library(lmdb::lmdb UNKNOWN IMPORTED)
set_target_properties(lmdb::lmdb PROPERTIES IMPORTED_LOCATION ${LMDB_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${LMDB_INCLUDE_DIR})

# The daemon's allocator. Messages are allocated on one thread and freed on
# another (Asio, CAF workers, the store writer); glibc's malloc pays for
# that in arena locks and consolidation, about a fifth of the daemon's CPU
# on the booking path. jemalloc's thread caches do not. Sanitizer builds
# keep the sanitizer's own allocator.
add_library(switchboard_allocator INTERFACE)
if(NOT SWITCHBOARD_SANITIZE)
  find_library(JEMALLOC_LIBRARY jemalloc REQUIRED)
  target_link_libraries(switchboard_allocator INTERFACE ${JEMALLOC_LIBRARY})
endif()

# libsystemd, for the daemon's readiness notification (sd_notify) under a
# unit of Type=notify, such as the Debian package's. Optional: without it
# the daemon is built with the notification left out (and says so when a
# service manager asks for it).
find_package(PkgConfig)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(LIBSYSTEMD IMPORTED_TARGET libsystemd)
endif()
if(NOT LIBSYSTEMD_FOUND)
  message(WARNING "libsystemd not found (libsystemd-dev): the daemon is "
    "built without readiness notification, which the packaged unit needs")
endif()
