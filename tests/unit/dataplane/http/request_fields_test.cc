// The client request's header fields in the session's arena: a request head parsed with no
// malloc per field, the block reused once the request is gone, and the arena outliving its
// session while a request still holds fields in it.
#include "dataplane/http/request_fields.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "gtest/gtest.h"

namespace ccrelay::http {
namespace {

namespace bhttp = boost::beast::http;

using Parser = bhttp::request_parser<bhttp::string_body, ArenaAllocator<char>>;
using Request = bhttp::request<bhttp::string_body, RequestFields>;

constexpr std::string_view kHead =
    "POST /v1/messages?beta=true HTTP/1.1\r\n"
    "Host: relay\r\n"
    "x-api-key: sk-test\r\n"
    "anthropic-version: 2023-06-01\r\n"
    "anthropic-beta: claude-code-20250219,interleaved-thinking-2025-05-14\r\n"
    "User-Agent: claude-cli/2.0.0 (external, cli)\r\n"
    "Content-Length: 2\r\n"
    "\r\n"
    "{}";

Request Parse(FieldArena* arena) {
  Parser parser(std::piecewise_construct, std::make_tuple(),
                std::make_tuple(ArenaAllocator<char>(arena)));
  parser.eager(true);  // the head and the body in one put
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(kHead.data(), kHead.size()), ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_done());
  return parser.release();
}

TEST(FieldArenaTest, AHeadIsParsedIntoTheBlockAndTheBlockIsReusedOnceItIsFreed) {
  FieldArena* arena = FieldArena::New();
  const char* first_field = nullptr;
  {
    Request req = Parse(arena);
    EXPECT_EQ(req.target(), "/v1/messages?beta=true");
    EXPECT_EQ(req["x-api-key"], "sk-test");
    EXPECT_EQ(req["Anthropic-Beta"], "claude-code-20250219,interleaved-thinking-2025-05-14");
    EXPECT_EQ(req.body(), "{}");
    EXPECT_GE(arena->live(), 6u);  // the fields (and the target) are in the block
    EXPECT_GT(arena->used(), 0u);
    first_field = req.begin()->name_string().data();
  }
  EXPECT_EQ(arena->live(), 0u);
  EXPECT_EQ(arena->used(), 0u);  // handed out from the start again
  {
    Request req = Parse(arena);
    EXPECT_EQ(req.begin()->name_string().data(), first_field);  // the same bytes
  }
  arena->Release();
}

TEST(FieldArenaTest, WhatDoesNotFitGoesToTheHeap) {
  FieldArena* arena = FieldArena::New();
  {
    RequestFields fields{ArenaAllocator<char>(arena)};
    const std::string big(FieldArena::kBlockBytes, 'v');
    fields.set("x-small", "1");
    fields.set("x-big", big);  // larger than what is left of the block
    fields.set("x-after", "2");
    EXPECT_EQ(fields["x-big"], big);
    EXPECT_EQ(fields["x-small"], "1");
    EXPECT_EQ(fields["x-after"], "2");
    EXPECT_EQ(arena->live(), 2u);  // the big one is not in the block
    fields.erase("x-big");
    EXPECT_EQ(arena->live(), 2u);
  }
  EXPECT_EQ(arena->live(), 0u);
  arena->Release();
}

TEST(FieldArenaTest, ARequestThatOutlivesItsSessionKeepsTheArenaUntilItGoes) {
  FieldArena* arena = FieldArena::New();
  auto req = std::make_unique<Request>(Parse(arena));
  arena->Release();  // the session is gone; the exchange still holds its request
  EXPECT_EQ((*req)["x-api-key"], "sk-test");
  Request moved = std::move(*req);  // the fields move with their allocator
  req.reset();
  EXPECT_EQ(moved["anthropic-version"], "2023-06-01");
  const auto block = reinterpret_cast<uintptr_t>(arena);
  moved = Request();  // the last fields freed: the arena is recycled (ASan: no leak, no UAF)
  EXPECT_TRUE(moved.begin() == moved.end());
  FieldArena* next = FieldArena::New();  // the next request's: the same block, no malloc
  EXPECT_EQ(reinterpret_cast<uintptr_t>(next), block);
  EXPECT_EQ(next->live(), 0u);
  EXPECT_EQ(next->used(), 0u);
  next->Release();
}

TEST(FieldArenaTest, WithoutAnArenaTheFieldsUseTheHeap) {
  RequestFields fields;
  fields.set("anthropic-version", "2023-06-01");
  RequestFields copy = fields;
  EXPECT_EQ(copy["anthropic-version"], "2023-06-01");
  EXPECT_EQ(copy.get_allocator().arena(), nullptr);
}

}  // namespace
}  // namespace ccrelay::http
