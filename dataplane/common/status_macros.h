#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Envoy's RETURN_IF_NOT_OK, for Abseil 20220623 which ships neither macro.
#define CCR_STATUS_CONCAT_INNER(a, b) a##b
#define CCR_STATUS_CONCAT(a, b) CCR_STATUS_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                  \
  do {                                         \
    ::absl::Status ccr_status_ = (expr);       \
    if (!ccr_status_.ok()) {                   \
      return ccr_status_;                      \
    }                                          \
  } while (false)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) {                            \
    return tmp.status();                      \
  }                                           \
  lhs = std::move(*tmp)

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(CCR_STATUS_CONCAT(ccr_statusor_, __LINE__), lhs, expr)

// A broken invariant aborts (always on), Envoy's RELEASE_ASSERT.
#define CCR_CHECK(cond)                                      \
  do {                                                       \
    if (!(cond)) {                                           \
      ::ccrelay::common::CheckFailed(#cond, __FILE__, __LINE__); \
    }                                                        \
  } while (false)

#ifdef NDEBUG
#define CCR_DCHECK(cond) \
  do {                   \
  } while (false && (cond))
#else
#define CCR_DCHECK(cond) CCR_CHECK(cond)
#endif

namespace ccrelay::common {
[[noreturn]] void CheckFailed(const char* expr, const char* file, int line);
}  // namespace ccrelay::common
