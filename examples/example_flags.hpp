// Flag parsing shared by the example jobs: `--name N` with N a positive
// integer. Examples stay dependency-free; a real job would use CLI11.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace skein_examples {

// If argv[i] is `name` followed by a positive integer, stores it in out,
// advances i past the value and returns true.
inline bool parse_flag(int argc, char** argv, int& i, const char* name, std::uint64_t& out) {
  if (std::strcmp(argv[i], name) != 0 || i + 1 >= argc) {
    return false;
  }
  char* end = nullptr;
  out = std::strtoull(argv[++i], &end, 10);
  return *end == '\0' && out > 0;
}

}  // namespace skein_examples
