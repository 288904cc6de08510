// Ctrl+C / SIGTERM handling for the whole process. `install` routes both signals, whichever
// thread receives them, to a watcher thread, so the reaction runs as ordinary code:
// the first signal sets a flag and runs the registered callbacks (a server's stop(), a
// condition variable's notify); a second signal ends the process at once with code 130.
#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace vision::interrupt {

// Call first thing in main, before any thread starts.
void install();
bool requested();
// The signal that arrived (SIGINT or SIGTERM), 0 when none did.
int signal_number();
// Acts as if a signal arrived; for in-process tests and programmatic stops.
void request();

// Runs `callback` on the watcher thread when a stop is requested (at once when one already
// was). Returns a handle for `remove`.
int on_interrupt(std::function<void()> callback);
void remove(int handle);

// A second signal normally ends the process at once. While `busy` returns a message (e.g.
// "committing 120 acknowledged events"), the second signal prints it and the process goes on
// stopping cleanly; an empty message lets it end the process. nullptr restores the default.
void hold_second_signal(std::function<std::string()> busy);

// Sleeps up to `duration`; returns false when a stop was requested meanwhile.
bool sleep_for(std::chrono::milliseconds duration);

}  // namespace vision::interrupt
