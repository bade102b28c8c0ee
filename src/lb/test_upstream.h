// Test support: a tiny HTTP/1.1 upstream on raw sockets (127.0.0.1, port 0) whose behaviour
// the test scripts by path, and a raw client connection. Independent of Asio/Beast on purpose:
// it observes the load balancer from outside.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace weft::lb {

// Paths:
//   /stream  chunked text/event-stream: "data: first", then waits for ReleaseStream(), then
//            "data: second" and the last chunk.
//   /die     header with Content-Length: 1000, 10 bytes of body, then closes.
//   /hang    reads the request and answers nothing until ReleaseStream() or Stop().
//   /hangup  reads the request and closes without answering.
//   /idle-close  answers as "other" below, then closes the kept-alive connection.
//   other    200, keep-alive, body "<name> <METHOD> <target> <request body>".
class TestUpstream {
 public:
  explicit TestUpstream(std::string name);
  ~TestUpstream();  // Stop()s
  TestUpstream(const TestUpstream&) = delete;
  TestUpstream& operator=(const TestUpstream&) = delete;

  int port() const { return port_; }
  int connections() const { return connections_.load(); }
  int requests() const { return requests_.load(); }
  bool stream_started() const { return stream_started_.load(); }
  void ReleaseStream();
  // Closes the listener and every connection, and joins the threads. Idempotent.
  void Stop();

 private:
  void AcceptLoop();
  void Serve(int fd);

  const std::string name_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
  std::atomic<bool> stream_started_{false};
  std::atomic<bool> stopped_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;      // Guarded by mu_.
  std::vector<int> open_fds_;  // Guarded by mu_.
  std::vector<std::thread> threads_;  // Guarded by mu_ (appended by the accept thread).
  std::thread accept_thread_;
};

// A port on 127.0.0.1 where nothing listens (bound, then closed).
int ClosedPort();

// A blocking client connection with a read deadline.
class RawConnection {
 public:
  explicit RawConnection(int port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool ok() const { return fd_ >= 0; }
  bool Send(const std::string& data);
  // Reads until `done(received)` holds, the peer closes, or `timeout` passes. Returns
  // everything received so far; `closed` tells whether the peer closed (or reset).
  std::string ReadUntil(const std::function<bool(const std::string&)>& done,
                        std::chrono::milliseconds timeout, bool* closed = nullptr);

 private:
  int fd_ = -1;
  std::string received_;
};

}  // namespace weft::lb
