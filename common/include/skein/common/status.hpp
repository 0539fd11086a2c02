// Status helpers: one error type at every internal, RPC and CLI boundary.
//
// Skein code returns absl::Status / absl::StatusOr<T> (STYLE habit 7a). The
// canonical codes are the same numbers grpc::StatusCode uses, so crossing an
// RPC boundary is a lossless code copy plus the message:
//
//   grpc::Status s = skein::to_grpc(store.put(...));       // in a handler
//   absl::Status a = skein::from_grpc(stub->GetJob(...));  // in a client
//
// SKEIN_RETURN_IF_ERROR(expr) returns a non-OK status from the enclosing
// function; SKEIN_ASSIGN_OR_RETURN(lhs, expr) unwraps a StatusOr or returns
// its error:
//
//   SKEIN_ASSIGN_OR_RETURN(std::string token, load_token(path));
#pragma once

#include <grpcpp/support/status.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace skein {

grpc::Status to_grpc(const absl::Status& status);
absl::Status from_grpc(const grpc::Status& status);

// The name of a code as gRPC prints it ("NOT_FOUND"), for CLI messages.
const char* code_name(absl::StatusCode code);

}  // namespace skein

#define SKEIN_STATUS_CONCAT_INNER_(a, b) a##b
#define SKEIN_STATUS_CONCAT_(a, b) SKEIN_STATUS_CONCAT_INNER_(a, b)

#define SKEIN_RETURN_IF_ERROR(expr)        \
  do {                                     \
    ::absl::Status skein_status_ = (expr); \
    if (!skein_status_.ok()) {             \
      return skein_status_;                \
    }                                      \
  } while (false)

#define SKEIN_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) {                                   \
    return tmp.status();                             \
  }                                                  \
  lhs = std::move(tmp).value()

#define SKEIN_ASSIGN_OR_RETURN(lhs, expr) \
  SKEIN_ASSIGN_OR_RETURN_IMPL_(SKEIN_STATUS_CONCAT_(skein_statusor_, __LINE__), lhs, expr)
