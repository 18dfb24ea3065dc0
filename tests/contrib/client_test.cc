// ivshmem-client as a subprocess: doorbells with another client, scripts, ping/echo, and
// what it says about a server that breaks the protocol.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <regex>

#include "test-support.h"

namespace nahanni::ivshmem::test {
namespace {

std::unique_ptr<Subprocess> client(const TempDir& dir, const std::string& sock, std::vector<std::string> args,
                                   SubprocessOptions options = {}) {
  std::vector<std::string> argv{client_binary(), "-S", sock};
  argv.insert(argv.end(), args.begin(), args.end());
  return std::make_unique<Subprocess>(argv, dir, options);
}

bool server_saw(Subprocess& server, const std::string& text) {
  return eventually([&] { return server.err().find(text) != std::string::npos; });
}

TEST(IvshmemClient, two_clients_ring_each_other_on_every_vector) {
  TempDir dir;
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock, {"-n", "4"});
  ASSERT_TRUE(server);
  auto a = client(dir, sock, {"-e", "wait-peer 1 4; int 1 all", "-w", "4", "-t", "25"});
  ASSERT_TRUE(server_saw(*server, "peer 0 connected"));
  auto b = client(dir, sock, {"-e", "wait-peer 0 4; int 0 all", "-w", "4", "-t", "25"});
  EXPECT_EQ(a->wait(), 0) << a->err();
  EXPECT_EQ(b->wait(), 0) << b->err();
  std::string expected;
  for (int v = 0; v < 4; ++v) expected += fmt::format("notification on vector {} (count 1)\n", v);
  // Each vector is its own eventfd, so the four arrive in any order.
  for (auto* c : {a.get(), b.get()}) {
    std::string out = c->out();
    EXPECT_EQ(out.size(), expected.size()) << out;
    for (int v = 0; v < 4; ++v)
      EXPECT_NE(out.find(fmt::format("notification on vector {} (count 1)\n", v)), std::string::npos) << out;
  }
}

TEST(IvshmemClient, int_all_rings_every_vector_of_every_other_peer) {
  TempDir dir;
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock, {"-n", "2"});
  ASSERT_TRUE(server);
  auto a = client(dir, sock, {"-w", "2", "-t", "25"});
  ASSERT_TRUE(server_saw(*server, "peer 0 connected"));
  auto b = client(dir, sock, {"-w", "2", "-t", "25"});
  ASSERT_TRUE(server_saw(*server, "peer 1 connected"));
  auto c = client(dir, sock, {"-e", "wait-peer 0 2; wait-peer 1 2; int all; dump"});
  EXPECT_EQ(c->wait(), 0) << c->err();
  EXPECT_EQ(c->out(), "our id = 2\n  vectors: 2\npeer id = 0\n  vectors: 2\npeer id = 1\n  vectors: 2\n");
  EXPECT_EQ(a->wait(), 0) << a->err();
  EXPECT_EQ(b->wait(), 0) << b->err();
}

TEST(IvshmemClient, ping_measures_round_trips_against_an_echo_peer) {
  TempDir dir;
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock);
  ASSERT_TRUE(server);
  auto echo = client(dir, sock, {"--echo", "-t", "25"});
  ASSERT_TRUE(server_saw(*server, "peer 0 connected"));
  auto ping = client(dir, sock, {"--ping", "0", "--count", "200", "-t", "25"});
  ASSERT_EQ(ping->wait(), 0) << ping->err();
  std::smatch m;
  std::string out = ping->out();
  ASSERT_TRUE(std::regex_match(out, m,
                               std::regex("ping peer 0: 200 round trips, min ([0-9.]+) us, median ([0-9.]+) us, "
                                          "p99 ([0-9.]+) us\n")))
      << out;
  double min = std::stod(m[1]), median = std::stod(m[2]), p99 = std::stod(m[3]);
  EXPECT_LE(min, median);
  EXPECT_LE(median, p99);
  EXPECT_TRUE(echo->running());
}

TEST(IvshmemClient, asks_for_more_vectors_than_the_server_default) {
  TempDir dir;
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock, {"-n", "1"});
  ASSERT_TRUE(server);
  auto a = client(dir, sock, {"--vectors", "3", "-w", "3", "-t", "25"});
  ASSERT_TRUE(server_saw(*server, "peer 0 now has 3 vectors"));
  auto b = client(dir, sock, {"-e", "wait-peer 0 3; int 0 all; dump"});
  EXPECT_EQ(b->wait(), 0) << b->err();
  EXPECT_EQ(b->out(), "our id = 1\n  vectors: 1\npeer id = 0\n  vectors: 3\n");
  EXPECT_EQ(a->wait(), 0) << a->err();
}

TEST(IvshmemClient, interactive_commands_from_stdin) {
  TempDir dir;
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock);
  ASSERT_TRUE(server);
  auto c = client(dir, sock, {}, {.stdin_text = "dump\r\n?;int 5 0\nhelp"});
  EXPECT_EQ(c->wait(), 0);
  std::string out = c->out();
  EXPECT_EQ(out.rfind("our id = 0\n  vectors: 1\n", 0), 0u) << out;
  EXPECT_NE(out.find("int PEER VECTOR: ring PEER on VECTOR\n"), std::string::npos);
  EXPECT_EQ(c->err(), "ivshmem-client: peer 5 is not connected\n");
}

struct Failure {
  std::vector<std::string> args;
  std::string message;
};

TEST(IvshmemClient, reports_errors_and_exits_1) {
  TempDir dir;
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock);
  ASSERT_TRUE(server);
  std::vector<Failure> failures = {
      {{"-e", "int 7 0"}, "ivshmem-client: peer 7 is not connected\n"},
      {{"-e", "int 0 3"}, "ivshmem-client: peer 0 has 1 vectors, no vector 3\n"},
      {{"-e", "frobnicate"}, "ivshmem-client: invalid command 'frobnicate', try 'help'\n"},
      {{"-w", "3", "-t", "0.3"}, "ivshmem-client: timed out after 0.3 s: 0 of 3 notifications received\n"},
      {{"-w", "0"}, "ivshmem-client: cannot parse wait-for '0'\n"},
      {{"--echo", "--ping", "1"}, "ivshmem-client: --echo and --ping exclude each other\n"},
  };
  auto holder = client(dir, sock, {"-t", "25", "--echo"});  // peer 0, so "int 0 3" names a real peer
  ASSERT_TRUE(server_saw(*server, "peer 0 connected"));
  for (auto& f : failures) {
    auto c = client(dir, sock, f.args);
    EXPECT_EQ(c->wait(), 1) << f.args[1];
    EXPECT_EQ(c->err().substr(0, c->err().find('\n') + 1), f.message);
  }
  auto missing = client(dir, dir.file("missing"), {"-e", "dump"});
  EXPECT_EQ(missing->wait(), 1);
  EXPECT_EQ(missing->err(),
            "ivshmem-client: Failed to connect to '" + dir.file("missing") + "': No such file or directory\n");
}

TEST(IvshmemClient, exits_1_when_the_server_goes_away) {
  TempDir dir;
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock);
  ASSERT_TRUE(server);
  auto c = client(dir, sock, {"-w", "1", "-t", "25"});
  ASSERT_TRUE(server_saw(*server, "peer 0 connected"));
  server->signal(SIGTERM);
  EXPECT_EQ(c->wait(), 1);
  EXPECT_EQ(c->err(), "ivshmem-client: server disconnected\n");
}

// A fake server that sends `messages` (value, number of fds) to the first client.
void serve_fake(const std::string& sock_path, const std::vector<std::pair<int64_t, int>>& messages,
                const TempDir& dir, const std::string& expected_error) {
  auto listener = unix_listen(sock_path);
  ASSERT_TRUE(listener.ok());
  auto c = client(dir, sock_path, {"-e", "dump", "-t", "25"});
  UniqueFd conn(::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(conn.valid());
  for (auto& [value, nfds] : messages) {
    std::vector<UniqueFd> owned;
    std::vector<int> fds;
    for (int i = 0; i < nfds; ++i) {
      owned.emplace_back(::eventfd(0, EFD_CLOEXEC));
      fds.push_back(owned.back().get());
    }
    auto bytes = encode_message(value);
    ASSERT_EQ(send_with_fds(conn.get(), bytes, fds), 8);
  }
  EXPECT_EQ(c->wait(), 1);
  EXPECT_EQ(c->err(), "ivshmem-client: " + expected_error + "\n");
  ::unlink(sock_path.c_str());
}

TEST(IvshmemClient, rejects_a_server_that_breaks_the_protocol) {
  TempDir dir;
  std::string sock = dir.file("fake");
  serve_fake(sock, {{1, 0}}, dir, "server sent version 1, expecting 0");
  serve_fake(sock, {{0, 1}}, dir, "server sent invalid version message");
  serve_fake(sock, {{0, 0}, {70000, 0}}, dir, "server sent invalid ID message");
  serve_fake(sock, {{0, 0}, {3, 0}, {-1, 0}}, dir, "server didn't provide fd with shared memory message");
  serve_fake(sock, {{0, 0}, {3, 0}, {-1, 2}}, dir, "server sent 2 file descriptors with one message");
  serve_fake(sock, {{0, 0}, {3, 0}, {-7, 0}}, dir, "server sent invalid message -7");
}

}  // namespace
}  // namespace nahanni::ivshmem::test
