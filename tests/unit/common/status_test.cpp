#include "skein/common/status.hpp"

#include <gtest/gtest.h>

namespace skein {
namespace {

absl::StatusOr<int> parse_positive(int v) {
  if (v <= 0) {
    return absl::InvalidArgumentError("not positive");
  }
  return v;
}

absl::Status uses_macros(int v, int* out) {
  SKEIN_ASSIGN_OR_RETURN(int x, parse_positive(v));
  SKEIN_RETURN_IF_ERROR(x > 100 ? absl::OutOfRangeError("too big") : absl::OkStatus());
  *out = x;
  return absl::OkStatus();
}

TEST(Status, CodesAndMessagesSurviveTheRpcBoundary) {
  for (auto code : {absl::StatusCode::kInvalidArgument, absl::StatusCode::kNotFound,
                    absl::StatusCode::kUnauthenticated, absl::StatusCode::kResourceExhausted,
                    absl::StatusCode::kFailedPrecondition}) {
    absl::Status a(code, "job 7 does not exist");
    grpc::Status g = to_grpc(a);
    EXPECT_EQ(static_cast<int>(g.error_code()), static_cast<int>(code));
    EXPECT_EQ(g.error_message(), "job 7 does not exist");
    EXPECT_EQ(from_grpc(g), a);
  }
  EXPECT_TRUE(to_grpc(absl::OkStatus()).ok());
  EXPECT_TRUE(from_grpc(grpc::Status::OK).ok());
}

TEST(Status, MacrosPropagateTheFirstError) {
  int out = 0;
  EXPECT_TRUE(uses_macros(5, &out).ok());
  EXPECT_EQ(out, 5);
  EXPECT_EQ(uses_macros(-1, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(uses_macros(500, &out).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(out, 5);
}

TEST(Status, CodeNamesMatchGrpc) {
  EXPECT_STREQ(code_name(absl::StatusCode::kUnauthenticated), "UNAUTHENTICATED");
  EXPECT_STREQ(code_name(absl::StatusCode::kNotFound), "NOT_FOUND");
}

}  // namespace
}  // namespace skein
