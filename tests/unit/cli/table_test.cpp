#include "table.hpp"

#include <gtest/gtest.h>

namespace skein::cli {
namespace {

TEST(Table, AlignsColumnsAndRightAlignsNumbers) {
  Table t({{"NAME"}, {"COUNT", true}});
  t.add_row({"a", "5"});
  t.add_row({"longer", "12345"});
  EXPECT_EQ(t.render(),
            "NAME    COUNT\n"
            "a           5\n"
            "longer  12345\n");
}

TEST(Table, MissingCellsRenderEmpty) {
  Table t({{"A"}, {"B"}, {"C", true}});
  t.add_row({"x"});
  EXPECT_EQ(t.render(), "A  B  C\nx      \n");
}

TEST(Human, BytesRatesDurations) {
  EXPECT_EQ(human_bytes(512), "512B");
  EXPECT_EQ(human_bytes(1536), "1.5K");
  EXPECT_EQ(human_bytes(10 << 20), "10.0M");
  EXPECT_EQ(human_rate(0), "0");
  EXPECT_EQ(human_rate(12.34), "12.3");
  EXPECT_EQ(human_rate(512), "512");
  EXPECT_EQ(human_rate(12345.6), "12.3k");
  EXPECT_EQ(human_rate(2.5e6), "2.5M");
  EXPECT_EQ(human_duration_ms(-1), "-");
  EXPECT_EQ(human_duration_ms(250), "250ms");
  EXPECT_EQ(human_duration_ms(1500), "1.5s");
  EXPECT_EQ(human_duration_ms(125000), "2m05s");
  EXPECT_EQ(human_duration_ms(3 * 3600000 + 60000), "3h01m");
  EXPECT_EQ(clock_time(0), "-");
}

}  // namespace
}  // namespace skein::cli
