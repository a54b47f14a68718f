#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace grpc {
class Channel;
}

namespace ccrelay::controlplane::webui {

// The answer of one bridged call: an HTTP status and a JSON body.
struct JsonReply {
  int http_status = 200;
  std::string json;
};

// The dashboard's JSON API, one generic bridge to the Management service
// (proto/management.proto), no code per method: `method` ("ListProviders") is looked up in the
// service's descriptor, `body` is parsed into its input type with protobuf's JSON mapping
// (unknown fields refused), the call goes over `channel` carrying `token` (if any) as
// `authorization: Bearer <token>`, so the API's own checks apply, and the output comes back as
// JSON with the proto field names (snake_case) and every primitive field printed. An unknown or
// streaming method is 404; a body that does not parse, 400; a gRPC error maps to an HTTP status
// with {"error":{"code":"PERMISSION_DENIED","message":"..."}}.
JsonReply CallManagementJson(const std::shared_ptr<grpc::Channel>& channel, std::string_view method,
                             std::string_view body, std::string_view token);

// The HTTP status for a gRPC status code (as an int: grpc::StatusCode).
int HttpStatusForGrpc(int grpc_code);
// {"error":{"code":"<name>","message":"<message>"}}, JSON-escaped.
std::string ErrorJson(std::string_view code, std::string_view message);

}  // namespace ccrelay::controlplane::webui
