# How tally declares its targets. Every library, binary and test goes
# through one of these helpers, so that include paths, warning flags and
# test registration are the same everywhere and a CMakeLists.txt only says
# what is built from what.
#
# Headers are included from the project root ("services/domain/rational.h"),
# so a file's include path, directory and namespace agree.

include(GoogleTest)

# Precompiled headers: gRPC's, protobuf's and GoogleTest's headers are
# most of the compile time of a server or test source. Off when a compiler
# cache is in use (-DCMAKE_CXX_COMPILER_LAUNCHER=ccache): ccache cannot
# cache a source compiled with a precompiled header.
set(TALLY_PCH_DEFAULT ON)
if(CMAKE_CXX_COMPILER_LAUNCHER)
  set(TALLY_PCH_DEFAULT OFF)
endif()
option(TALLY_PCH "Precompile the gRPC, protobuf and GoogleTest headers"
       ${TALLY_PCH_DEFAULT})
set(TALLY_PCH_HEADERS
    <algorithm> <cstdint> <functional> <map> <memory> <optional> <string>
    <string_view> <utility> <vector>
    <absl/status/status.h> <absl/status/statusor.h> <absl/strings/str_cat.h>
    <absl/synchronization/mutex.h> <absl/time/time.h>
    <google/protobuf/message.h> <grpcpp/grpcpp.h>)
if(TALLY_PCH)
  # The owner of the servers' and clients' header (never the pure domain
  # library, which must not see gRPC).
  add_library(tally_pch_grpc OBJECT cmake/pch_anchor.cc)
  target_compile_options(tally_pch_grpc PRIVATE ${TALLY_WARNINGS})
  target_link_libraries(tally_pch_grpc PRIVATE gRPC::grpc++ protobuf::libprotobuf
                        absl::status absl::statusor absl::strings
                        absl::synchronization absl::time)
  target_precompile_headers(tally_pch_grpc PRIVATE ${TALLY_PCH_HEADERS})
endif()
# Lets `target` compile with the gRPC precompiled header.
function(tally_grpc_pch target)
  if(TALLY_PCH)
    target_precompile_headers(${target} REUSE_FROM tally_pch_grpc)
  endif()
endfunction()

# tally_library(NAME SOURCES file... [DEPS target...])
# A static library of tally's own code, compiled with ${TALLY_WARNINGS}.
# DEPS are linked PUBLIC: what a library's headers include, its users need.
function(tally_library name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;DEPS")
  if(arg_UNPARSED_ARGUMENTS OR NOT arg_SOURCES)
    message(FATAL_ERROR "tally_library(${name} SOURCES ... [DEPS ...]): "
                        "unexpected ${arg_UNPARSED_ARGUMENTS}")
  endif()
  add_library(${name} STATIC ${arg_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE ${TALLY_WARNINGS})
  target_link_libraries(${name} PUBLIC ${arg_DEPS})
endfunction()

# tally_binary(NAME SOURCES file... [DEPS target...])
# An executable of tally's own code (a server's main.cc, a tool).
function(tally_binary name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;DEPS")
  if(arg_UNPARSED_ARGUMENTS OR NOT arg_SOURCES)
    message(FATAL_ERROR "tally_binary(${name} SOURCES ... [DEPS ...]): "
                        "unexpected ${arg_UNPARSED_ARGUMENTS}")
  endif()
  add_executable(${name} ${arg_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE ${TALLY_WARNINGS})
  target_link_libraries(${name} PRIVATE ${arg_DEPS})
endfunction()

# tally_test(NAME file...)
# One GoogleTest executable per area, so that failures point at a module;
# every TEST is registered with CTest at build time. Tests know the source
# and build trees (TALLY_SOURCE_DIR, TALLY_BINARY_DIR).
function(tally_test name)
  add_executable(${name} ${ARGN})
  target_compile_options(${name} PRIVATE ${TALLY_WARNINGS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE tally_domain GTest::gtest
                        GTest::gmock GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
      TALLY_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
      TALLY_BINARY_DIR="${PROJECT_BINARY_DIR}")
  if(TALLY_PCH)
    # tests/CMakeLists.txt makes the tests' header.
    target_precompile_headers(${name} REUSE_FROM tally_pch_test)
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 120
                       PROPERTIES TIMEOUT 600)
endfunction()
