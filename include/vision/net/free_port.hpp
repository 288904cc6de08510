// A free TCP port on the loopback address, for programs that start servers on ports they then
// hand to other processes (the demo, the black-box tests).
#pragma once

namespace vision::net {

// A port on 127.0.0.1 that was free a moment ago: bound to port 0 (the kernel picks an ephemeral
// one), read back, released. Another process may take it in between; 0 when none could be had.
int free_loopback_port();

}  // namespace vision::net
