# How tally declares its targets. Every library, binary and test goes
# through one of these helpers, so that include paths, warning flags and
# test registration are the same everywhere and a CMakeLists.txt only says
# what is built from what.
#
# Headers are included from the project root ("services/domain/rational.h"),
# so a file's include path, directory and namespace agree.

include(GoogleTest)

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
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 120
                       PROPERTIES TIMEOUT 600)
endfunction()
