#include "dataplane/proxy/retry_policy.h"

#include "dataplane/common/str.h"

namespace ccrelay::proxy {

RetryPolicy::After RetryPolicy::AfterAnswer(providers::AnswerClass answer) {
  switch (answer) {
    case providers::AnswerClass::kRateLimited:
    case providers::AnswerClass::kKeyRejected:
      return After::kKeyProblem;
    case providers::AnswerClass::kOverloaded:
      return After::kOverloaded;
    default:
      return After::kProviderFailure;
  }
}

bool RetryPolicy::ReconnectAfter(const upstream::UpstreamFailure& failure) {
  if (!failure.stale_pooled_connection || reconnected_) {
    return false;
  }
  reconnected_ = true;
  return true;
}

void RetryPolicy::RecordTransportFailure(const upstream::UpstreamFailure& failure) {
  switch (failure.kind) {
    case upstream::FailureKind::kConnect:
      last_.kind = LastFailure::Kind::kConnect;
      break;
    case upstream::FailureKind::kTimeout:
      last_.kind = LastFailure::Kind::kTimeout;
      break;
    case upstream::FailureKind::kReset:
      last_.kind = LastFailure::Kind::kReset;
      break;
  }
  last_.detail = failure.detail;
  last_.status = 0;
  last_.reason.clear();
  last_.header_lines.clear();
  last_.body.clear();
}

void RetryPolicy::RecordAnswer(int status, std::string_view reason, std::string header_lines) {
  last_.kind = LastFailure::Kind::kStatus;
  last_.detail = common::StrCat("status ", status);
  last_.status = status;
  last_.reason = reason;
  last_.header_lines = std::move(header_lines);
  last_.body.clear();
}

void RetryPolicy::AppendAnswerBody(std::string_view bytes) {
  if (last_.body.size() + bytes.size() <= kMaxKeptBodyBytes) {
    last_.body.append(bytes);
  }
}

}  // namespace ccrelay::proxy
