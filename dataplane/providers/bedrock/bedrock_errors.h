#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ccrelay::providers::bedrock {

// Anthropic's error type for a Bedrock exception name, compared without regard to case (stream
// exception frames say `throttlingException`, rest-json answers `ThrottlingException`); "" for
// a name not listed here. protocols.md 3.7 and 3.9:
//   ValidationException                                  invalid_request_error
//   ServiceQuotaExceededException (HTTP 400)             invalid_request_error: a quota that
//       a retry does not lift; the type agrees with the status the client receives
//   IncompleteSignatureException, MissingAuthenticationTokenException, UnrecognizedClientException,
//   InvalidSignatureException, InvalidClientTokenId, SignatureDoesNotMatch,
//   ExpiredTokenException                                authentication_error
//   AccessDeniedException                                permission_error
//   ResourceNotFoundException                            not_found_error
//   ConflictException                                    conflict_error
//   ThrottlingException, TooManyRequestsException        rate_limit_error
//   ModelTimeoutException                                timeout_error
//   ModelNotReadyException, ServiceUnavailableException  overloaded_error
//   InternalServerException, ModelErrorException,
//   ModelStreamErrorException                            api_error
std::string_view AnthropicErrorTypeForException(std::string_view name);

// The bare exception name of an AWS error code as found in x-amzn-ErrorType, `__type` or
// `code` (the AWS SDKs' sanitizeErrorCode): the part before any ',' and ':', after any '#'.
// "ValidationException:http://internal.amazon.com/" -> "ValidationException",
// "com.amazon.coral.service#AccessDeniedException" -> "AccessDeniedException".
std::string_view AwsErrorName(std::string_view code);

// The `message` (else `Message`) string of a JSON error object such as an exception frame's
// payload or an error answer's body; "" when there is none or the body is not a JSON object.
std::string BedrockErrorMessage(std::string_view body);

// Translates a Bedrock rest-json error answer (status >= 400) into Anthropic's error JSON
// {"type":"error","error":{"type":<t>,"message":<m>}}. The exception name comes from
// `error_type_header` (x-amzn-ErrorType, may be empty), else from the body's `__type` or `code`;
// the message from the body's `message` or `Message`. The type is that of the exception name;
// for an unknown name, ErrorTypeForStatus(status); for a body that is not a JSON object and an
// unknown name, api_error. A missing message becomes a generic one naming status and exception.
// `request_id` (Bedrock's x-amzn-RequestId; "" = none) becomes the error's request_id.
std::string TranslateBedrockError(int status, std::string_view error_type_header,
                                  std::string_view body, std::string_view request_id = {});

// Translates a CountTokens answer {"inputTokens":N} into Anthropic's {"input_tokens":N}; an
// error when the body has no integer `inputTokens`.
absl::StatusOr<std::string> TranslateCountTokens(std::string_view body);

}  // namespace ccrelay::providers::bedrock
