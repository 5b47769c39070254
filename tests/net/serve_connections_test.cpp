// Connection limits through real sockets: a crowd of idle connections from one address cannot shut
// out another client, a client that trickles its header is cut at the header deadline, and
// pipelined and half-closed requests are answered in order.
#include <sys/resource.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include "test_server.h"

namespace troupe {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Each connection is a descriptor on both ends, all in this process.
void raise_open_files(rlim_t want) {
  rlimit r{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &r), 0);
  if (r.rlim_cur < want) {
    r.rlim_cur = std::min(want, r.rlim_max);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &r), 0);
  }
  ASSERT_GE(r.rlim_cur, want) << "the hard open-file limit is too low for this test";
}

// A connection from `source` (any 127.0.0.0/8 address) to the server.
tcp::socket connect_from(asio::io_context& io, const std::string& source, uint16_t port) {
  tcp::socket s(io);
  s.open(tcp::v4());
  s.bind(tcp::endpoint(asio::ip::make_address(source), 0));
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  return s;
}

// Everything the server sends until it closes (or `limit` passes).
std::string read_all(tcp::socket& s) {
  std::string out;
  boost::system::error_code ec;
  asio::read(s, asio::dynamic_buffer(out), ec);
  return out;
}

const std::string kModels = "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n";

// 1,100 idle connections from 127.0.0.3, then a request from 127.0.0.2: answered within a second.
void crowd_then_other_client(test::TestServerOptions o, size_t expect_open_at_most) {
  raise_open_files(4096);
  test::TestServer server(o);
  asio::io_context io;
  std::vector<tcp::socket> crowd;
  for (int i = 0; i < 1100; ++i) crowd.push_back(connect_from(io, "127.0.0.3", server.port()));
  for (int i = 0; i < 200 && server.open_connections() > expect_open_at_most; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_LE(server.open_connections(), expect_open_at_most);
  const auto start = Clock::now();
  tcp::socket other = connect_from(io, "127.0.0.2", server.port());
  asio::write(other, asio::buffer(kModels.substr(0, kModels.size() - 2) + "Connection: close\r\n\r\n"));
  const std::string reply = read_all(other);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply;
  EXPECT_LT(seconds, 1.0);
}

TEST(ServeConnections, PerClientLimitKeepsACrowdFromOneAddressToItsShare) {
  test::TestServerOptions o;
  o.http.http.max_connections = 1024;
  o.http.http.max_connections_per_client = 512;
  crowd_then_other_client(o, 512);
}

TEST(ServeConnections, AtTheGlobalCapTheLongestIdleGivesWay) {
  test::TestServerOptions o;
  o.http.http.max_connections = 1024;
  o.http.http.max_connections_per_client = 0;  // only the global cap protects here
  crowd_then_other_client(o, 1024);
}

TEST(ServeConnections, ATricklingHeaderIsCutAtTheHeaderDeadline) {
  test::TestServerOptions o;
  o.http.http.header_timeout = std::chrono::seconds(1);
  test::TestServer server(o);
  asio::io_context io;
  tcp::socket silent = connect_from(io, "127.0.0.1", server.port());
  tcp::socket slow = connect_from(io, "127.0.0.1", server.port());
  const auto start = Clock::now();
  // One byte of the header every 200 ms: never complete within the deadline.
  boost::system::error_code ec;
  for (size_t i = 0; i < kModels.size() && !ec; ++i) {
    asio::write(slow, asio::buffer(&kModels[i], 1), ec);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (Clock::now() - start > std::chrono::seconds(4)) break;
  }
  const std::string got = read_all(slow);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_EQ(got, "") << "no answer to an incomplete header";
  EXPECT_LT(seconds, 4.0) << "closed at the 1 s deadline, not after the whole trickle";
  EXPECT_EQ(read_all(silent), "") << "a connection that never sends is closed too";
  for (int i = 0; i < 100 && server.open_connections() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(server.open_connections(), 0u);
}

TEST(ServeConnections, PipelinedRequestsAreAnsweredInOrder) {
  test::TestServer server;
  asio::io_context io;
  tcp::socket s = connect_from(io, "127.0.0.1", server.port());
  const std::string completion = json{{"prompt", "pipelined"}, {"max_tokens", 3}, {"temperature", 0}}.dump();
  const std::string both = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                           std::to_string(completion.size()) + "\r\n\r\n" + completion +
                           "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  asio::write(s, asio::buffer(both));  // the second arrives while the first is being answered
  const std::string replies = read_all(s);
  const size_t first = replies.find("HTTP/1.1 200");
  const size_t second = replies.find("HTTP/1.1 200", first + 1);
  ASSERT_NE(first, std::string::npos) << replies;
  ASSERT_NE(second, std::string::npos) << "the pipelined request got no answer:\n" << replies;
  EXPECT_LT(replies.find("\"choices\""), second) << "the completion comes first";
  EXPECT_NE(replies.find(R"({"status":"ok"})", second), std::string::npos) << replies;
}

TEST(ServeConnections, AHalfClosedClientGetsItsAnswer) {
  test::TestServer server;
  asio::io_context io;
  for (bool stream : {false, true}) {
    tcp::socket s = connect_from(io, "127.0.0.1", server.port());
    const std::string body = json{{"prompt", "half closed"}, {"max_tokens", 5}, {"stream", stream}}.dump();
    const std::string req = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body;
    asio::write(s, asio::buffer(req));
    s.shutdown(tcp::socket::shutdown_send);  // FIN: nothing more to send, still reading
    const std::string reply = read_all(s);
    EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply;
    EXPECT_NE(reply.find(stream ? "data: [DONE]" : "\"usage\""), std::string::npos) << reply;
  }
  for (int i = 0; i < 100 && server.metrics().num_requests_running.load() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(server.metrics().num_requests_running.load(), 0);
}

TEST(ServeConnections, AResetStreamIsAbortedAndFreesItsBlocks) {
  test::TestServer server;
  asio::io_context io;
  tcp::socket s = connect_from(io, "127.0.0.1", server.port());
  const std::string body = json{{"prompt", "hang up"}, {"max_tokens", 3000}, {"ignore_eos", true}, {"stream", true}}.dump();
  asio::write(s, asio::buffer("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
                              "\r\n\r\n" + body));
  std::string some;
  asio::read_until(s, asio::dynamic_buffer(some), "data: ");
  s.set_option(asio::socket_base::linger(true, 0));  // close with a reset
  s.close();
  for (int i = 0; i < 500 && server.metrics().num_requests_running.load() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(server.metrics().num_requests_running.load(), 0);
  const auto snap = server.snapshot();
  EXPECT_EQ(snap.num_free_blocks, snap.num_blocks);
}

}  // namespace
}  // namespace troupe
