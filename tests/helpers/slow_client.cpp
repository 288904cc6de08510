// The slow-header client of slow_client.hpp, on raw sockets so it can stall mid-request.
#include "helpers/slow_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace vision::test {

SlowClient::SlowClient(const std::string& source, int port) : m_fd(socket(AF_INET, SOCK_STREAM, 0)) {
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, source.c_str(), &from.sin_addr);
  bind(m_fd, reinterpret_cast<sockaddr*>(&from), sizeof from);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  m_connected = connect(m_fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
  trickle();
}

SlowClient::~SlowClient() { close(m_fd); }

bool SlowClient::trickle() {
  static const std::string k_text = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
  const char byte = m_sent < k_text.size() ? k_text[m_sent] : 'a';
  ++m_sent;
  return m_connected && send(m_fd, &byte, 1, MSG_NOSIGNAL) == 1 && open();
}

bool SlowClient::open() const {
  char byte = 0;
  const ssize_t got = recv(m_fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK);
  return got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace vision::test
