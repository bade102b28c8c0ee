#include "lb/test_upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace weft::lb {

namespace {

int ListenOnLoopback(int* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 128) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string Chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return std::string(size) + std::string(data) + "\r\n";
}

}  // namespace

TestUpstream::TestUpstream(std::string name) : name_(std::move(name)) {
  listen_fd_ = ListenOnLoopback(&port_);
  if (listen_fd_ >= 0) accept_thread_ = std::thread([this] { AcceptLoop(); });
}

TestUpstream::~TestUpstream() { Stop(); }

void TestUpstream::ReleaseStream() {
  std::lock_guard lock(mu_);
  released_ = true;
  cv_.notify_all();
}

void TestUpstream::Stop() {
  if (stopped_.exchange(true)) return;
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  if (accept_thread_.joinable()) accept_thread_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void TestUpstream::AcceptLoop() {
  for (;;) {
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) return;  // shut down
    std::lock_guard lock(mu_);
    if (stopped_.load()) {
      ::close(fd);
      return;
    }
    ++connections_;
    open_fds_.push_back(fd);
    threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

void TestUpstream::Serve(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::string in;
  char buf[4096];
  for (bool open = true; open;) {
    // Header.
    std::size_t end;
    while ((end = in.find("\r\n\r\n")) == std::string::npos) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        open = false;
        break;
      }
      in.append(buf, static_cast<std::size_t>(n));
    }
    if (!open) break;
    const std::string head = in.substr(0, end);
    in.erase(0, end + 4);
    std::size_t content_length = 0;
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const std::size_t cl = lower.find("\r\ncontent-length:");
    if (cl != std::string::npos) content_length = std::strtoul(head.c_str() + cl + 17, nullptr, 10);
    while (in.size() < content_length) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, static_cast<std::size_t>(n));
    }
    const std::string body = in.substr(0, std::min(content_length, in.size()));
    in.erase(0, body.size());
    ++requests_;
    const std::size_t sp1 = head.find(' ');
    const std::size_t sp2 = head.find(' ', sp1 + 1);
    const std::string method = head.substr(0, sp1);
    const std::string target = head.substr(sp1 + 1, sp2 - sp1 - 1);

    if (target == "/stream") {
      open = SendAll(fd,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n" +
                         Chunk("data: first\n\n"));
      stream_started_ = true;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return released_; });
      }
      open = open && SendAll(fd, Chunk("data: second\n\n") + "0\r\n\r\n");
    } else if (target == "/die") {
      SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
      open = false;
    } else if (target == "/hang") {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return released_; });
      open = false;
    } else if (target == "/hangup") {
      open = false;
    } else {
      const std::string reply = name_ + " " + method + " " + target + " " + body;
      // "/idle-close": like an idle keep-alive timeout right after answering.
      if (target == "/idle-close") open = false;
      open = SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                             std::to_string(reply.size()) + "\r\n\r\n" + reply) &&
             open;
    }
  }
  std::lock_guard lock(mu_);
  ::close(fd);
  open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
}

int ClosedPort() {
  int port = 0;
  const int fd = ListenOnLoopback(&port);
  ::close(fd);
  return port;
}

RawConnection::RawConnection(int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::Send(const std::string& data) { return fd_ >= 0 && SendAll(fd_, data); }

std::string RawConnection::ReadUntil(const std::function<bool(const std::string&)>& done,
                                     std::chrono::milliseconds timeout, bool* closed) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (closed != nullptr) *closed = false;
  char buf[4096];
  while (!done(received_)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      if (closed != nullptr) *closed = true;
      break;
    }
    received_.append(buf, static_cast<std::size_t>(n));
  }
  return received_;
}

}  // namespace weft::lb
