#include "vision/stats_client/http_stats_transport.hpp"

#include <map>

#include "vision/net/http_client.hpp"

namespace vision {

namespace {

class HttpStatsTransport final : public StatsTransport {
 public:
  HttpStatsTransport(std::string api_key, double timeout_sec) : m_api_key(std::move(api_key)), m_timeout(timeout_sec) {}

  Expected<int> post_json(const std::string& url, const std::string& body) override {
    auto parts = net::split_url(url);
    if (!parts) return std::unexpected(parts.error());
    auto& client = m_clients[parts->first];
    if (!client) client = std::make_unique<net::HttpClient>(net::HttpClientOptions{parts->first, m_timeout, m_api_key});
    auto response = client->post_json(parts->second, body);
    if (!response) return std::unexpected(response.error());
    return response->status;
  }

 private:
  std::string m_api_key;
  double m_timeout;
  std::map<std::string, std::unique_ptr<net::HttpClient>> m_clients;  // one keep-alive connection per server
};

}  // namespace

std::unique_ptr<StatsTransport> make_http_stats_transport(std::string api_key, double timeout_sec) {
  return std::make_unique<HttpStatsTransport>(std::move(api_key), timeout_sec);
}

}  // namespace vision
