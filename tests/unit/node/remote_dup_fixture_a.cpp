// Fixture for remote_registry_test: with remote_dup_fixture_b.cpp, registers
// two functions under one name, which must end the program before main.
#include <cstdio>

#include "skein/remote.hpp"

namespace a {
int collide(int x) { return x; }
}  // namespace a
using a::collide;
SKEIN_REMOTE(collide);

int main() {
  std::puts("main ran");
  return 0;
}
