// See remote_dup_fixture_a.cpp.
#include <string>

#include "skein/remote.hpp"

namespace b {
std::string collide(std::string s) { return s; }
}  // namespace b
using b::collide;
SKEIN_REMOTE(collide);
