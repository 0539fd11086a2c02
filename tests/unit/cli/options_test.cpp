#include "options.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace skein::cli {
namespace {

TEST(GlobalOptions, FlagsBeatEnvironmentBeatsStateDirectory) {
  char tmpl[] = "/tmp/optsXXXXXX";
  const std::string state = ::mkdtemp(tmpl);
  ::unsetenv("SKEIN_COORDINATOR");
  ::unsetenv("SKEIN_TOKEN_FILE");
  ::unsetenv("SKEIN_STATE_DIR");
  GlobalOptions o;
  o.state_dir = state;
  // Nothing anywhere: a clear error that names `skein up`.
  auto none = o.resolved_coordinator();
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("skein up"), std::string::npos);
  std::ofstream(state + "/coordinator.addr") << "127.0.0.1:4000\n";
  EXPECT_EQ(*o.resolved_coordinator(), "127.0.0.1:4000");
  EXPECT_EQ(o.resolved_token_file(), state + "/token");
  ::setenv("SKEIN_COORDINATOR", "127.0.0.1:5000", 1);
  ::setenv("SKEIN_TOKEN_FILE", "/env/token", 1);
  EXPECT_EQ(*o.resolved_coordinator(), "127.0.0.1:5000");
  EXPECT_EQ(o.resolved_token_file(), "/env/token");
  o.coordinator = "127.0.0.1:6000";
  o.token_file = "/flag/token";
  EXPECT_EQ(*o.resolved_coordinator(), "127.0.0.1:6000");
  EXPECT_EQ(o.resolved_token_file(), "/flag/token");
  ::unsetenv("SKEIN_COORDINATOR");
  ::unsetenv("SKEIN_TOKEN_FILE");
  std::filesystem::remove_all(state);
}

TEST(GlobalOptions, StateDirDefaultsToHomeDotSkein) {
  ::unsetenv("SKEIN_STATE_DIR");
  ::setenv("HOME", "/home/someone", 1);
  GlobalOptions o;
  EXPECT_EQ(o.resolved_state_dir(), "/home/someone/.skein");
  ::setenv("SKEIN_STATE_DIR", "/elsewhere", 1);
  EXPECT_EQ(o.resolved_state_dir(), "/elsewhere");
  ::unsetenv("SKEIN_STATE_DIR");
}

}  // namespace
}  // namespace skein::cli
