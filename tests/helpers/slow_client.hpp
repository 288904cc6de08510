// A client that sends a request's headers one byte at a time and never finishes them (the
// slow-header attack), from a loopback address of its own so that servers see another client.
#pragma once

#include <cstddef>
#include <string>

namespace vision::test {

class SlowClient {
 public:
  // Connects from `source` (e.g. "127.0.0.2") to 127.0.0.1:`port` and sends the first byte.
  SlowClient(const std::string& source, int port);
  ~SlowClient();
  SlowClient(const SlowClient&) = delete;
  SlowClient& operator=(const SlowClient&) = delete;

  // Sends the next byte of an endless header; false once the server has closed the connection.
  bool trickle();
  // False once the server closed its side.
  bool open() const;

 private:
  int m_fd;
  bool m_connected = false;
  std::size_t m_sent = 0;
};

}  // namespace vision::test
