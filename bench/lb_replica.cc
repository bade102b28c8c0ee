// A tiny HTTP/1.1 replica for the load-balancer bench (bench/lb.sh): answers every request
// with the same 100-byte body, keep-alive, on N threads (SO_REUSEPORT listeners, one epoll
// each). Deliberately minimal so that the proxies, not the replica, are what gets measured.
// Usage: weft_lb_replica [--port P] [--threads N]; prints "port P" once listening.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

const std::string kResponse = [] {
  const std::string body(99, 'x');
  return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n" + body +
         "\n";
}();

int Listen(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 1024) != 0) {
    std::perror("weft_lb_replica: listen");
    std::exit(1);
  }
  return fd;
}

void Serve(int listen_fd) {
  const int ep = ::epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev);
  std::unordered_map<int, std::string> pending;  // unparsed request bytes per connection
  std::vector<epoll_event> events(256);
  char buf[16384];
  for (;;) {
    const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[static_cast<size_t>(i)].data.fd;
      if (fd == listen_fd) {
        for (;;) {
          const int c = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK);
          if (c < 0) break;
          const int one = 1;
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      const ssize_t got = ::recv(fd, buf, sizeof buf, 0);
      if (got <= 0) {
        pending.erase(fd);
        ::close(fd);
        continue;
      }
      std::string& in = pending[fd];
      in.append(buf, static_cast<size_t>(got));
      std::string out;
      // Requests without bodies (the bench sends GETs): each header end is one request.
      for (size_t end; (end = in.find("\r\n\r\n")) != std::string::npos;) {
        in.erase(0, end + 4);
        out += kResponse;
      }
      if (!out.empty()) (void)::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  int threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--port") port = std::atoi(argv[i + 1]);
    else if (flag == "--threads") threads = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "weft_lb_replica: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  std::vector<int> fds;
  fds.push_back(Listen(port));
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  ::getsockname(fds[0], reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  for (int i = 1; i < threads; ++i) fds.push_back(Listen(port));
  std::printf("port %d\n", port);
  std::fflush(stdout);
  std::vector<std::thread> workers;
  for (int fd : fds) workers.emplace_back(Serve, fd);
  for (std::thread& t : workers) t.join();
}
