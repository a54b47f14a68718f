// ccr_mock_upstream: a fast mock of the Anthropic Messages API for benchmarks and tests.
//
//   ccr_mock_upstream --listen 127.0.0.1:0 [--threads N] [--port-file F] [--request-log F]
//
// Prints "listening 127.0.0.1:PORT" on stdout (flushed) once every thread accepts, and writes
// PORT to the port file. N threads each run their own io_context and their own acceptor bound to
// the same port with SO_REUSEPORT, so the kernel spreads connections over the threads.
//
// Routes:
//   POST /v1/messages[?...]               "stream": true (top level) -> ~21-event SSE sequence,
//                                         else a ~600-byte Message JSON. "model" is echoed.
//                                         Header x-mock-event-delay-ms: N -> N ms between events.
//                                         Header x-mock-timestamps (any value) -> each event's
//                                         JSON carries "mock_t_ns": "<CLOCK_MONOTONIC ns when
//                                         written>" (20 digits), for per-event latency.
//                                         Both headers may also be spelled
//                                         x-amzn-bedrock-mock-*: cc-relay forwards only the
//                                         x-amzn-bedrock-* headers of a client to Bedrock.
//                                         Header x-mock-status: N (400..599) -> that status
//                                         with an Anthropic error body instead (429
//                                         rate_limit_error, 529 overloaded_error, other 5xx
//                                         api_error, other 4xx invalid_request_error); header
//                                         x-mock-retry-after: S adds `retry-after: S` to it.
//   POST /v1/messages/count_tokens[?...]  {"input_tokens": <body bytes / 4>}
//   POST /anthropic/v1/messages[...]      Azure Foundry: the two routes above under /anthropic.
//   POST /v1/projects/{p}/locations/{r}/publishers/anthropic/models/{model}:rawPredict
//   POST ...models/{model}:streamRawPredict
//                                         Vertex AI: as POST /v1/messages (the body's "stream"
//                                         chooses the answer; :streamRawPredict without it, or
//                                         :rawPredict with it, is a 400), with the URL's model
//                                         echoed (Vertex bodies carry none).
//   POST ...models/count-tokens:rawPredict
//                                         Vertex AI count_tokens: as /v1/messages/count_tokens.
//   POST /model/{id}/invoke-with-response-stream
//                                         Bedrock InvokeModelWithResponseStream: the same ~21
//                                         events as the SSE answer, each one AWS event-stream
//                                         frame (application/vnd.amazon.eventstream; headers
//                                         :event-type chunk, :content-type application/json,
//                                         :message-type event; payload {"bytes":"<base64 of the
//                                         event JSON>"}; CRC-32 per protocols.md 3.8), one HTTP
//                                         chunk per frame. Frames are encoded once at startup
//                                         (message_start, with its id and input_tokens, per
//                                         request); the headers x-mock-event-delay-ms and
//                                         x-mock-timestamps work as above (with timestamps every
//                                         frame is encoded when it is written). The model is
//                                         always claude-sonnet-4-5-20250929. No auth check.
//   POST /model/{id}/invoke               Bedrock InvokeModel: the same Message JSON as above.
//   GET  /v1/models                       Anthropic list shape
//   GET / and HEAD /                      200
// Responses are pre-formatted bytes written with one write per event (one write in total when
// there is no delay); keep-alive is honoured.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <signal.h>
#include <simdjson.h>
#include <zlib.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ccrelay::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::string_view kText = "Hello from the mock upstream.";
constexpr int kOutputTokens = 15;
constexpr std::uint64_t kBodyLimit = 256ull * 1024 * 1024;
constexpr std::size_t kReadBuffer = 64 * 1024;

// The streamed text, split into 15 deltas whose concatenation is kText.
constexpr std::string_view kDeltas[] = {"Hel", "lo", " fr", "om", " t", "he", " m", "oc",
                                        "k",   " u", "ps",  "tr", "ea", "m",  "."};
static_assert(std::size(kDeltas) == kOutputTokens);

// ---------------------------------------------------------------------------------------------
// Request log (off by default).

class RequestLog {
 public:
  bool Open(const std::string& path) {
    file_ = std::fopen(path.c_str(), "a");
    return file_ != nullptr;
  }
  bool enabled() const { return file_ != nullptr; }
  void Write(const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    std::fwrite(line.data(), 1, line.size(), file_);
    std::fputc('\n', file_);
    std::fflush(file_);
  }

 private:
  std::mutex mu_;
  std::FILE* file_ = nullptr;
};

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Request body scan: top-level "model" and "stream" only (simdjson on-demand, no DOM).

struct BodyInfo {
  std::string model = "claude-mock";
  bool stream = false;
};

// `body` is followed by at least SIMDJSON_PADDING readable bytes.
BodyInfo ScanBody(simdjson::ondemand::parser& parser, std::string_view body) {
  BodyInfo info;
  if (body.empty()) {
    return info;
  }
  simdjson::padded_string_view view(body.data(), body.size(),
                                    body.size() + simdjson::SIMDJSON_PADDING);
  simdjson::ondemand::document doc;
  if (parser.iterate(view).get(doc) != simdjson::SUCCESS) {
    return info;
  }
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) {
    return info;
  }
  for (auto field_result : obj) {
    simdjson::ondemand::field field;
    if (std::move(field_result).get(field) != simdjson::SUCCESS) {
      break;
    }
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) {
      break;
    }
    if (key == "model") {
      std::string_view model;
      if (field.value().get_string().get(model) == simdjson::SUCCESS) {
        info.model.assign(model);
      }
    } else if (key == "stream") {
      bool stream = false;
      if (field.value().get_bool().get(stream) == simdjson::SUCCESS) {
        info.stream = stream;
      }
    }
  }
  return info;
}

// The model name is echoed into JSON: escape what JSON requires.
std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Response bytes.

std::atomic<std::uint64_t> g_message_counter{0};

std::string MessageId() {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "msg_01Mock%014llx",
                static_cast<unsigned long long>(g_message_counter.fetch_add(1) + 1));
  return buf;
}

std::string UsageJson(std::size_t input_tokens, int output_tokens) {
  return "{\"input_tokens\":" + std::to_string(input_tokens) +
         ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,"
         "\"cache_creation\":{\"ephemeral_5m_input_tokens\":0,\"ephemeral_1h_input_tokens\":0},"
         "\"output_tokens\":" +
         std::to_string(output_tokens) + ",\"service_tier\":\"standard\"}";
}

std::string Head(int status, std::string_view reason, std::string_view content_type,
                 std::size_t content_length, bool keep_alive) {
  std::string h = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
                  "\r\ncontent-type: " + std::string(content_type) +
                  "\r\ncontent-length: " + std::to_string(content_length) +
                  "\r\nrequest-id: req_011CMockUpstream0000000000\r\n";
  if (!keep_alive) {
    h += "connection: close\r\n";
  }
  h += "\r\n";
  return h;
}

std::string JsonResponse(int status, std::string_view reason, const std::string& body,
                         bool keep_alive, bool head_only = false) {
  std::string out = Head(status, reason, "application/json", body.size(), keep_alive);
  if (!head_only) {
    out += body;
  }
  return out;
}

std::string MessageJson(const std::string& model, std::size_t input_tokens) {
  return "{\"id\":\"" + MessageId() +
         "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"" + JsonEscape(model) +
         "\",\"content\":[{\"type\":\"text\",\"text\":\"" + std::string(kText) +
         "\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":" +
         std::to_string(input_tokens) +
         ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,"
         "\"cache_creation\":{\"ephemeral_5m_input_tokens\":0,\"ephemeral_1h_input_tokens\":0},"
         "\"output_tokens\":" +
         std::to_string(kOutputTokens) +
         ",\"server_tool_use\":null,\"service_tier\":\"standard\"},"
         "\"container\":null,\"context_management\":null}";
}

void AppendChunk(std::string& out, std::string_view event_name, const std::string& data) {
  const std::size_t payload =
      std::strlen("event: ") + event_name.size() + std::strlen("\ndata: ") + data.size() + 2;
  char size_line[24];
  std::snprintf(size_line, sizeof(size_line), "%zx\r\n", payload);
  out += size_line;
  out += "event: ";
  out += event_name;
  out += "\ndata: ";
  out += data;
  out += "\n\n\r\n";
}

constexpr std::string_view kStampKey = ",\"mock_t_ns\":\"";
constexpr std::size_t kStampDigits = 20;

std::string StampPlaceholder() {
  return std::string(kStampKey) + std::string(kStampDigits, '0') + "\"";
}

// One Anthropic stream event: its SSE name and its JSON.
struct StreamEvent {
  std::string_view name;
  std::string json;
};

std::string MessageStartJson(const std::string& model, std::size_t input_tokens) {
  return "{\"type\":\"message_start\",\"message\":{\"id\":\"" + MessageId() +
         "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"" + JsonEscape(model) +
         "\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":" +
         UsageJson(input_tokens, 1) + "}}";
}

// The ~21 events of a streamed answer. With `stamps`, every event's JSON gets a fixed-width
// "mock_t_ns" field (FillStamps fills it in just before it is written).
std::vector<StreamEvent> StreamEvents(const std::string& model, std::size_t input_tokens,
                                      bool stamps) {
  std::vector<StreamEvent> ev;
  ev.reserve(3 + kOutputTokens + 3);
  auto event = [&ev, stamps](std::string_view name, std::string data) {
    if (stamps) {
      data.insert(data.size() - 1, StampPlaceholder());
    }
    ev.push_back({name, std::move(data)});
  };
  event("message_start", MessageStartJson(model, input_tokens));
  event("content_block_start",
        "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\","
        "\"text\":\"\"}}");
  event("ping", "{\"type\": \"ping\"}");
  for (std::string_view d : kDeltas) {
    event("content_block_delta",
          "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
          "\"text\":\"" +
              std::string(d) + "\"}}");
  }
  event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}");
  event("message_delta",
        "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":"
        "null},\"usage\":{\"output_tokens\":" +
            std::to_string(kOutputTokens) + "}}");
  event("message_stop", "{\"type\":\"message_stop\"}");
  return ev;
}

std::string ChunkedHead(std::string_view content_type, bool keep_alive) {
  std::string head = "HTTP/1.1 200 OK\r\ncontent-type: " + std::string(content_type) +
                     "\r\ncache-control: no-cache\r\nrequest-id: req_011CMockUpstream0000000000\r\n"
                     "transfer-encoding: chunked\r\n";
  if (!keep_alive) {
    head += "connection: close\r\n";
  }
  head += "\r\n";
  return head;
}

// Each element is the bytes of one write: the first carries the response head.
std::vector<std::string> SseWrites(const std::string& model, std::size_t input_tokens,
                                   bool keep_alive, bool stamps) {
  std::vector<std::string> w;
  for (const StreamEvent& e : StreamEvents(model, input_tokens, stamps)) {
    std::string chunk;
    AppendChunk(chunk, e.name, e.json);
    w.push_back(std::move(chunk));
  }
  w.front().insert(0, ChunkedHead("text/event-stream; charset=utf-8", keep_alive));
  w.back() += "0\r\n\r\n";
  return w;
}

// ---------------------------------------------------------------------------------------------
// Bedrock: AWS event-stream frames (protocols.md 3.8), one HTTP chunk each.

constexpr std::string_view kBedrockModel = "claude-sonnet-4-5-20250929";

void PutU32(std::string& out, std::size_t at, std::uint32_t v) {
  out[at] = static_cast<char>(v >> 24);
  out[at + 1] = static_cast<char>(v >> 16);
  out[at + 2] = static_cast<char>(v >> 8);
  out[at + 3] = static_cast<char>(v);
}

std::uint32_t Crc32(const char* data, std::size_t size) {
  return static_cast<std::uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(data), static_cast<uInt>(size)));
}

// Appends one `chunk` frame carrying `json` (base64 in {"bytes":...}) as one HTTP chunk.
void AppendBedrockChunk(std::string& out, std::string_view json) {
  static const std::string kHeaders = [] {
    std::string h;
    auto header = [&h](std::string_view name, std::string_view value) {
      h.push_back(static_cast<char>(name.size()));
      h += name;
      h.push_back(7);  // string
      h.push_back(static_cast<char>(value.size() >> 8));
      h.push_back(static_cast<char>(value.size() & 0xff));
      h += value;
    };
    header(":event-type", "chunk");
    header(":content-type", "application/json");
    header(":message-type", "event");
    return h;
  }();
  const std::size_t b64 = 4 * ((json.size() + 2) / 3);
  const std::size_t payload = std::strlen("{\"bytes\":\"") + b64 + std::strlen("\"}");
  const std::size_t total = 12 + kHeaders.size() + payload + 4;
  char size_line[24];
  std::snprintf(size_line, sizeof(size_line), "%zx\r\n", total);
  out += size_line;
  const std::size_t frame = out.size();
  out.resize(frame + 12);
  PutU32(out, frame, static_cast<std::uint32_t>(total));
  PutU32(out, frame + 4, static_cast<std::uint32_t>(kHeaders.size()));
  PutU32(out, frame + 8, Crc32(out.data() + frame, 8));
  out += kHeaders;
  out += "{\"bytes\":\"";
  const std::size_t at = out.size();
  out.resize(at + b64);
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + at),
                  reinterpret_cast<const unsigned char*>(json.data()),
                  static_cast<int>(json.size()));
  out += "\"}";
  const std::size_t crc_at = out.size();
  out.resize(crc_at + 4);
  PutU32(out, crc_at, Crc32(out.data() + frame, crc_at - frame));
  out += "\r\n";
}

// The frames after message_start (without timestamps), encoded once.
const std::vector<std::string>& BedrockTailFrames() {
  static const std::vector<std::string> frames = [] {
    std::vector<std::string> f;
    std::vector<StreamEvent> ev = StreamEvents(std::string(kBedrockModel), 0, false);
    for (std::size_t i = 1; i < ev.size(); ++i) {
      std::string chunk;
      AppendBedrockChunk(chunk, ev[i].json);
      f.push_back(std::move(chunk));
    }
    f.back() += "0\r\n\r\n";
    return f;
  }();
  return frames;
}

std::string BedrockHead(bool keep_alive) {
  return ChunkedHead("application/vnd.amazon.eventstream", keep_alive);
}

// Writes the current CLOCK_MONOTONIC time (ns, what std::chrono::steady_clock reads on Linux)
// into every stamp placeholder of `bytes`.
void FillStamps(std::string& bytes) {
  const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count();
  char digits[kStampDigits + 1];
  std::snprintf(digits, sizeof(digits), "%020lld", static_cast<long long>(now));
  for (std::size_t pos = bytes.find(kStampKey); pos != std::string::npos;
       pos = bytes.find(kStampKey, pos + 1)) {
    bytes.replace(pos + kStampKey.size(), kStampDigits, digits, kStampDigits);
  }
}

std::string ModelsJson() {
  return R"({"data":[)"
         R"({"type":"model","id":"claude-opus-4-1-20250805","display_name":"Claude Opus 4.1","created_at":"2025-08-05T00:00:00Z"},)"
         R"({"type":"model","id":"claude-sonnet-4-5-20250929","display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"},)"
         R"({"type":"model","id":"claude-haiku-4-5-20251001","display_name":"Claude Haiku 4.5","created_at":"2025-10-01T00:00:00Z"})"
         R"(],"has_more":false,"first_id":"claude-opus-4-1-20250805","last_id":"claude-haiku-4-5-20251001"})";
}

std::string ErrorJson(std::string_view type, std::string_view message) {
  return "{\"type\":\"error\",\"error\":{\"type\":\"" + std::string(type) + "\",\"message\":\"" +
         std::string(message) + "\"},\"request_id\":\"req_011CMockUpstream0000000000\"}";
}

// The scripted upstream error of header x-mock-status (bench/soak.sh): an Anthropic error body,
// optionally with a retry-after header.
std::string ScriptedError(int status, const std::optional<std::string>& retry_after,
                          bool keep_alive) {
  std::string_view type = "invalid_request_error";
  std::string_view reason = "Bad Request";
  if (status == 429) {
    type = "rate_limit_error";
    reason = "Too Many Requests";
  } else if (status == 529) {
    type = "overloaded_error";
    reason = "Overloaded";
  } else if (status >= 500) {
    type = "api_error";
    reason = "Internal Server Error";
  }
  const std::string body = ErrorJson(type, "Scripted by x-mock-status.");
  std::string out = Head(status, reason, "application/json", body.size(), keep_alive);
  if (retry_after.has_value()) {
    out.insert(out.size() - 2, "retry-after: " + *retry_after + "\r\n");
  }
  return out + body;
}

// ---------------------------------------------------------------------------------------------
// Messages API routes, under the URL shapes of cc-relay's providers.

enum class MessagesRoute { kNone, kMessages, kCountTokens };

struct RouteMatch {
  MessagesRoute route = MessagesRoute::kNone;
  std::string_view url_model;  // Vertex: the model named by the URL
  bool vertex_stream = false;  // Vertex: :streamRawPredict
};

// Anthropic: /v1/messages and /v1/messages/count_tokens; Azure Foundry: the same under
// /anthropic; Vertex AI: /v1/projects/{p}/locations/{r}/publishers/anthropic/models/{model}
// followed by :rawPredict or :streamRawPredict, or models/count-tokens:rawPredict.
RouteMatch MatchMessagesRoute(std::string_view path) {
  constexpr std::string_view kAzurePrefix = "/anthropic";
  const std::string_view anthropic =
      path.starts_with(kAzurePrefix) ? path.substr(kAzurePrefix.size()) : path;
  if (anthropic == "/v1/messages") {
    return {MessagesRoute::kMessages, {}, false};
  }
  if (anthropic == "/v1/messages/count_tokens") {
    return {MessagesRoute::kCountTokens, {}, false};
  }
  constexpr std::string_view kProjects = "/v1/projects/";
  constexpr std::string_view kLocations = "/locations/";
  constexpr std::string_view kModels = "/publishers/anthropic/models/";
  const std::size_t models = path.find(kModels);
  if (!path.starts_with(kProjects) || models == std::string_view::npos ||
      path.find(kLocations) > models) {
    return {};
  }
  const std::string_view rest = path.substr(models + kModels.size());
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0 ||
      rest.find('/') != std::string_view::npos) {
    return {};
  }
  const std::string_view model = rest.substr(0, colon);
  const std::string_view method = rest.substr(colon + 1);
  if (model == "count-tokens") {
    return method == "rawPredict" ? RouteMatch{MessagesRoute::kCountTokens, {}, false}
                                 : RouteMatch{};
  }
  if (method == "rawPredict" || method == "streamRawPredict") {
    return {MessagesRoute::kMessages, model, method == "streamRawPredict"};
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// Server.

// The mock's own request header `x-mock-NAME`, or `x-amzn-bedrock-mock-NAME` (cc-relay forwards
// only the x-amzn-bedrock-* headers of a client to Bedrock); nullopt when neither is present.
template <class Request>
std::optional<std::string> MockHeader(const Request& req, std::string_view name) {
  for (std::string_view prefix : {"x-mock-", "x-amzn-bedrock-mock-"}) {
    auto it = req.find(std::string(prefix) + std::string(name));
    if (it != req.end()) {
      return std::string(it->value());
    }
  }
  return std::nullopt;
}

struct Worker {
  asio::io_context ioc{1};
  std::unique_ptr<tcp::acceptor> acceptor;
  asio::steady_timer retry_timer{ioc};
  simdjson::ondemand::parser json_parser;
};

RequestLog g_request_log;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Worker& worker)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), worker_(worker) {
    // Beast reads at most the buffer's free capacity per call (and at least 512 bytes): room
    // for a few calls per header instead of one per 512 bytes.
    buffer_.reserve(kReadBuffer);
  }

  void Start() { ReadRequest(); }

 private:
  // The mock is the load side of the benchmarks and must cost far less per request than the
  // proxies it measures. A body with Content-Length is read straight into body_buf_, which is
  // kept between requests (no zero-fill, no page faults, no copy through the parser); a chunked
  // body goes through Beast's parser.
  void ReadRequest() {
    parser_.emplace();
    parser_->body_limit(kBodyLimit);
    parser_->header_limit(64 * 1024);
    http::async_read_header(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) {
      Close();
      return;
    }
    const auto length = parser_->content_length();
    if (parser_->is_done() || !length.has_value() || parser_->chunked()) {
      http::async_read(
          socket_, buffer_, *parser_,
          [self = shared_from_this()](beast::error_code rec, std::size_t) { self->OnRead(rec); });
      return;
    }
    if (*length > kBodyLimit) {
      Close();
      return;
    }
    const std::size_t total = static_cast<std::size_t>(*length);
    if (body_buf_.size() < total + simdjson::SIMDJSON_PADDING) {
      body_buf_.resize(total + simdjson::SIMDJSON_PADDING);
    }
    const std::size_t have = std::min(buffer_.size(), total);
    asio::buffer_copy(asio::buffer(body_buf_.data(), have), buffer_.data(), have);
    buffer_.consume(have);
    direct_body_ = total;
    asio::async_read(
        socket_, asio::buffer(body_buf_.data() + have, total - have),
        [self = shared_from_this()](beast::error_code rec, std::size_t) { self->OnRead(rec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec) {
      Close();
      return;
    }
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    std::string_view body;
    if (direct_body_.has_value()) {
      body = std::string_view(body_buf_.data(), *direct_body_);
      direct_body_.reset();
    } else {
      req.body().reserve(req.body().size() + simdjson::SIMDJSON_PADDING);
      body = req.body();
    }
    const std::size_t body_bytes = body.size();
    const std::string_view target(req.target().data(), req.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    const http::verb method = req.method();

    BodyInfo info;
    writes_.clear();
    next_write_ = 0;
    delay_ms_ = 0;
    stamps_ = false;
    bedrock_stamps_ = false;
    const RouteMatch route =
        method == http::verb::post ? MatchMessagesRoute(path) : RouteMatch{};
    const std::optional<std::string> scripted_status =
        route.route == MessagesRoute::kMessages ? MockHeader(req, "status") : std::nullopt;
    const int error_status = scripted_status ? std::atoi(scripted_status->c_str()) : 0;
    if (error_status >= 400 && error_status <= 599) {
      info = ScanBody(worker_.json_parser, body);
      writes_.push_back(ScriptedError(error_status, MockHeader(req, "retry-after"), keep_alive_));
    } else if (route.route == MessagesRoute::kMessages) {
      info = ScanBody(worker_.json_parser, body);
      if (!route.url_model.empty()) {
        info.model.assign(route.url_model);
      }
      if (!route.url_model.empty() && route.vertex_stream != info.stream) {
        writes_.push_back(JsonResponse(
            400, "Bad Request",
            ErrorJson("invalid_request_error",
                      info.stream ? "\"stream\": true needs :streamRawPredict"
                                  : ":streamRawPredict needs \"stream\": true"),
            keep_alive_));
      } else if (info.stream) {
        if (auto delay = MockHeader(req, "event-delay-ms")) {
          delay_ms_ = std::atoi(delay->c_str());
        }
        stamps_ = MockHeader(req, "timestamps").has_value();
        writes_ = SseWrites(info.model, body_bytes / 4, keep_alive_, stamps_);
        if (delay_ms_ <= 0) {
          std::string all;
          for (auto& w : writes_) {
            all += w;
          }
          writes_.assign(1, std::move(all));
        }
      } else {
        writes_.push_back(
            JsonResponse(200, "OK", MessageJson(info.model, body_bytes / 4), keep_alive_));
      }
    } else if (method == http::verb::post && path.starts_with("/model/") &&
               path.ends_with("/invoke-with-response-stream")) {
      if (auto delay = MockHeader(req, "event-delay-ms")) {
        delay_ms_ = std::atoi(delay->c_str());
      }
      const std::size_t input_tokens = body_bytes / 4;
      if (MockHeader(req, "timestamps").has_value()) {
        // The event JSONs themselves; WriteNext stamps and encodes them as they go out.
        bedrock_stamps_ = true;
        head_ = BedrockHead(keep_alive_);
        for (StreamEvent& e : StreamEvents(std::string(kBedrockModel), input_tokens, true)) {
          writes_.push_back(std::move(e.json));
        }
      } else {
        std::string first = BedrockHead(keep_alive_);
        AppendBedrockChunk(first, MessageStartJson(std::string(kBedrockModel), input_tokens));
        const std::vector<std::string>& tail = BedrockTailFrames();
        if (delay_ms_ <= 0) {
          for (const std::string& f : tail) {
            first += f;
          }
          writes_.push_back(std::move(first));
        } else {
          writes_.push_back(std::move(first));
          writes_.insert(writes_.end(), tail.begin(), tail.end());
        }
      }
    } else if (method == http::verb::post && path.starts_with("/model/") &&
               path.ends_with("/invoke")) {
      writes_.push_back(JsonResponse(
          200, "OK", MessageJson(std::string(kBedrockModel), body_bytes / 4), keep_alive_));
    } else if (route.route == MessagesRoute::kCountTokens) {
      info = ScanBody(worker_.json_parser, body);
      writes_.push_back(JsonResponse(
          200, "OK", "{\"input_tokens\":" + std::to_string(body_bytes / 4) + "}", keep_alive_));
    } else if (method == http::verb::get && path == "/v1/models") {
      writes_.push_back(JsonResponse(200, "OK", ModelsJson(), keep_alive_));
    } else if ((method == http::verb::get || method == http::verb::head) && path == "/") {
      writes_.push_back(
          JsonResponse(200, "OK", "{\"ok\":true}", keep_alive_, method == http::verb::head));
    } else {
      writes_.push_back(
          JsonResponse(404, "Not Found",
                       ErrorJson("not_found_error", "The requested resource could not be found."),
                       keep_alive_, method == http::verb::head));
    }

    if (g_request_log.enabled()) {
      LogRequest(req, target, body, info);
    }
    parser_.reset();
    WriteNext();
  }

  template <class Request>
  void LogRequest(const Request& req, std::string_view target, std::string_view body,
                  const BodyInfo& info) {
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& field : req) {
      std::string name(field.name_string());
      for (char& c : name) {
        if (c >= 'A' && c <= 'Z') {
          c = static_cast<char>(c - 'A' + 'a');
        }
      }
      std::string value(field.value());
      if (headers.contains(name)) {
        headers[name] = headers[name].get<std::string>() + ", " + value;
      } else {
        headers[name] = value;
      }
    }
    nlohmann::json line = {
        {"method", std::string(req.method_string())},
        {"target", std::string(target)},
        {"headers", std::move(headers)},
        {"body_bytes", body.size()},
        {"body_sha256", Sha256Hex(body)},
        {"model", info.model},
        {"stream", info.stream},
    };
    g_request_log.Write(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }

  void WriteNext() {
    if (bedrock_stamps_) {
      // writes_ holds event JSONs: stamp and encode the next one (all of them without a delay).
      out_.clear();
      if (next_write_ == 0) {
        out_ = head_;
      }
      const std::size_t last = delay_ms_ > 0 ? next_write_ : writes_.size() - 1;
      for (; next_write_ < last; ++next_write_) {
        FillStamps(writes_[next_write_]);
        AppendBedrockChunk(out_, writes_[next_write_]);
      }
      FillStamps(writes_[next_write_]);
      AppendBedrockChunk(out_, writes_[next_write_]);
      if (next_write_ + 1 == writes_.size()) {
        out_ += "0\r\n\r\n";
      }
      asio::async_write(
          socket_, asio::buffer(out_),
          [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnWrite(ec); });
      return;
    }
    if (stamps_) {
      FillStamps(writes_[next_write_]);
    }
    asio::async_write(
        socket_, asio::buffer(writes_[next_write_]),
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnWrite(ec); });
  }

  void OnWrite(beast::error_code ec) {
    if (ec) {
      Close();
      return;
    }
    ++next_write_;
    if (next_write_ < writes_.size()) {
      timer_.expires_after(std::chrono::milliseconds(delay_ms_));
      timer_.async_wait([self = shared_from_this()](beast::error_code tec) {
        if (tec) {
          self->Close();
          return;
        }
        self->WriteNext();
      });
      return;
    }
    if (!keep_alive_) {
      beast::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_send, ignored);
      Close();
      return;
    }
    ReadRequest();
  }

  void Close() {
    beast::error_code ignored;
    socket_.close(ignored);
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  Worker& worker_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string body_buf_;                    // Content-Length bodies; grows, never shrinks
  std::optional<std::size_t> direct_body_;  // set while such a body is being read
  std::vector<std::string> writes_;
  std::size_t next_write_ = 0;
  int delay_ms_ = 0;
  bool stamps_ = false;
  bool bedrock_stamps_ = false;  // writes_ holds event JSONs, encoded into out_ when written
  std::string head_;             // the response head, for bedrock_stamps_
  std::string out_;              // the frames being written, for bedrock_stamps_
  bool keep_alive_ = true;
};

void Accept(Worker& worker) {
  worker.acceptor->async_accept([&worker](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) {
      return;
    }
    if (ec) {
      // E.g. EMFILE: back off briefly instead of spinning, then keep accepting.
      worker.retry_timer.expires_after(std::chrono::milliseconds(10));
      worker.retry_timer.async_wait([&worker](beast::error_code) { Accept(worker); });
      return;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::make_shared<Session>(std::move(socket), worker)->Start();
    Accept(worker);
  });
}

bool OpenAcceptor(Worker& worker, const tcp::endpoint& endpoint, std::string* error) {
  beast::error_code ec;
  worker.acceptor = std::make_unique<tcp::acceptor>(worker.ioc);
  worker.acceptor->open(endpoint.protocol(), ec);
  if (!ec) {
    worker.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    int one = 1;
    if (::setsockopt(worker.acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one,
                     sizeof(one)) != 0) {
      ec = beast::error_code(errno, boost::system::system_category());
    }
  }
  if (!ec) {
    worker.acceptor->bind(endpoint, ec);
  }
  if (!ec) {
    worker.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    *error = ec.message();
    return false;
  }
  return true;
}

int Usage() {
  std::cerr << "usage: ccr_mock_upstream --listen HOST:PORT [--threads N] [--port-file F] "
               "[--request-log F]\n";
  return 2;
}

int Main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0";
  int threads = 1;
  std::string port_file;
  std::string request_log;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto next = [&](std::string* out) {
      if (i + 1 >= argc) {
        return false;
      }
      *out = argv[++i];
      return true;
    };
    std::string value;
    if (arg == "--listen" && next(&value)) {
      listen = value;
    } else if (arg == "--threads" && next(&value)) {
      threads = std::max(1, std::atoi(value.c_str()));
    } else if (arg == "--port-file" && next(&value)) {
      port_file = value;
    } else if (arg == "--request-log" && next(&value)) {
      request_log = value;
    } else {
      return Usage();
    }
  }
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return Usage();
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  beast::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) {
    std::cerr << "ccr_mock_upstream: bad address " << host << ": " << ec.message() << "\n";
    return 2;
  }
  unsigned short port = static_cast<unsigned short>(std::atoi(listen.c_str() + colon + 1));

  if (!request_log.empty() && !g_request_log.Open(request_log)) {
    std::cerr << "ccr_mock_upstream: cannot open request log " << request_log << "\n";
    return 1;
  }
  ::signal(SIGPIPE, SIG_IGN);
  BedrockTailFrames();  // encoded once, before any thread serves

  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < threads; ++t) {
    workers.push_back(std::make_unique<Worker>());
    std::string error;
    if (!OpenAcceptor(*workers.back(), tcp::endpoint(address, port), &error)) {
      std::cerr << "ccr_mock_upstream: listen on " << host << ":" << port << ": " << error << "\n";
      return 1;
    }
    port = workers.back()->acceptor->local_endpoint().port();  // port 0 -> the one chosen
  }

  if (!port_file.empty()) {
    const std::string tmp = port_file + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << port << "\n";
    }
    std::rename(tmp.c_str(), port_file.c_str());
  }

  asio::signal_set signals(workers.front()->ioc, SIGINT, SIGTERM);
  signals.async_wait([&workers](beast::error_code, int) {
    for (auto& w : workers) {
      w->ioc.stop();
    }
  });

  for (auto& w : workers) {
    Accept(*w);
  }
  std::cout << "listening " << (address.is_v6() ? "[" + host + "]" : host) << ":" << port
            << std::endl;

  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < workers.size(); ++t) {
    pool.emplace_back([&w = *workers[t]] { w.ioc.run(); });
  }
  workers.front()->ioc.run();
  for (auto& w : workers) {
    w->ioc.stop();
  }
  for (auto& th : pool) {
    th.join();
  }
  return 0;
}

}  // namespace
}  // namespace ccrelay::bench

int main(int argc, char** argv) { return ccrelay::bench::Main(argc, argv); }
