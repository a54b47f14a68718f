#include "controlplane/webui/json_bridge.h"

#include <chrono>
#include <future>

#include "proto/management.pb.h"

#include "dataplane/common/str.h"
#include "absl/status/status.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "nlohmann/json.hpp"

namespace ccrelay::controlplane::webui {
namespace {

using common::StrCat;

constexpr std::chrono::seconds kCallDeadline{30};

// gRPC's code name ("PERMISSION_DENIED"): gRPC's codes are Abseil's, number for number.
std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

}  // namespace

int HttpStatusForGrpc(int grpc_code) {
  switch (static_cast<grpc::StatusCode>(grpc_code)) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::UNIMPLEMENTED:
      return 501;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    default:
      return 500;
  }
}

std::string ErrorJson(std::string_view code, std::string_view message) {
  nlohmann::json j;
  j["error"]["code"] = std::string(code);
  j["error"]["message"] = std::string(message);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

JsonReply CallManagementJson(const std::shared_ptr<grpc::Channel>& channel, std::string_view method,
                             std::string_view body, std::string_view token) {
  const google::protobuf::ServiceDescriptor* service =
      ccrelay::v1::ListProvidersRequest::descriptor()->file()->FindServiceByName("Management");
  const google::protobuf::MethodDescriptor* md =
      service == nullptr ? nullptr : service->FindMethodByName(std::string(method));
  if (md == nullptr || md->client_streaming() || md->server_streaming()) {
    return {404, ErrorJson("NOT_FOUND", StrCat("no such method: ", method))};
  }
  if (channel == nullptr) {
    return {503, ErrorJson("UNAVAILABLE", "the management API is not up yet")};
  }
  google::protobuf::MessageFactory* factory = google::protobuf::MessageFactory::generated_factory();
  std::unique_ptr<google::protobuf::Message> request(
      factory->GetPrototype(md->input_type())->New());
  std::unique_ptr<google::protobuf::Message> response(
      factory->GetPrototype(md->output_type())->New());
  const std::string_view text = common::StripWhitespace(body);
  if (!text.empty()) {
    google::protobuf::util::JsonParseOptions po;
    po.ignore_unknown_fields = false;
    if (const auto st = google::protobuf::util::JsonStringToMessage(text, request.get(), po);
        !st.ok()) {
      return {400, ErrorJson("INVALID_ARGUMENT",
                             StrCat("the body is not a ", md->input_type()->full_name(), ": ",
                                    st.message().as_string()))};
    }
  }
  grpc::ByteBuffer req_buf;
  bool own = false;
  if (!grpc::SerializationTraits<google::protobuf::Message>::Serialize(*request, &req_buf, &own)
           .ok()) {
    return {500, ErrorJson("INTERNAL", "cannot serialize the request")};
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
  if (!token.empty()) {
    ctx.AddMetadata("authorization", StrCat("Bearer ", token));
  }
  grpc::GenericStub stub(channel);
  grpc::ByteBuffer resp_buf;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, StrCat("/", service->full_name(), "/", md->name()), grpc::StubOptions(),
                 &req_buf, &resp_buf, [&done](grpc::Status s) { done.set_value(std::move(s)); });
  const grpc::Status status = done.get_future().get();
  if (!status.ok()) {
    return {HttpStatusForGrpc(status.error_code()),
            ErrorJson(CodeName(status.error_code()), status.error_message())};
  }
  if (!grpc::SerializationTraits<google::protobuf::Message>::Deserialize(&resp_buf, response.get())
           .ok()) {
    return {502, ErrorJson("INTERNAL", "cannot parse the response")};
  }
  google::protobuf::util::JsonPrintOptions jo;
  jo.always_print_primitive_fields = true;
  jo.preserve_proto_field_names = true;
  JsonReply reply;
  if (!google::protobuf::util::MessageToJsonString(*response, &reply.json, jo).ok()) {
    return {500, ErrorJson("INTERNAL", "cannot render the response")};
  }
  return reply;
}

}  // namespace ccrelay::controlplane::webui
