// Loopback ports for tests that start servers.
#pragma once

namespace vision::test {

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
int free_tcp_port();

}  // namespace vision::test
