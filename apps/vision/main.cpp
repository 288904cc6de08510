#include "vision/cli/cli.hpp"

int main(int argc, char** argv) { return vision::cli::main(argc, argv); }
