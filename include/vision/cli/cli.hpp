// The `vision` command line: parses argv, runs one subcommand, returns the exit code.
#pragma once

namespace vision::cli {
int main(int argc, char** argv);
}
