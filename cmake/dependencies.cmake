# Third-party packages, all from Debian 13 (SPEC section 1). Each is linked PRIVATE to the one
# module that owns it.
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(CLI11 REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(OpenCV 4.6 REQUIRED COMPONENTS core imgproc imgcodecs videoio)
find_package(onnxruntime REQUIRED)
find_package(ONNX REQUIRED)

# HTTP (src/net only), SQLite and PostgreSQL (src/stats only) come through pkg-config: Debian
# ships no CMake config for them. cpp-httplib's .pc carries the feature defines
# (CPPHTTPLIB_OPENSSL_SUPPORT, …) that must match how libcpp-httplib.so was built.
find_package(PkgConfig REQUIRED)
pkg_check_modules(cpp_httplib REQUIRED IMPORTED_TARGET cpp-httplib>=0.18)
# The header's inline parts call OpenSSL directly (CPPHTTPLIB_OPENSSL_SUPPORT), and the .pc lists
# it only under Requires.private, so link it explicitly.
find_package(OpenSSL REQUIRED)
find_package(ZLIB REQUIRED)
pkg_check_modules(sqlite3 REQUIRED IMPORTED_TARGET sqlite3>=3.38)
# PostgreSQL storage is optional: without libpqxx, storage = "postgres" answers "not in this build".
pkg_check_modules(libpqxx IMPORTED_TARGET libpqxx>=7.7)

# LibTorch only when the trainer is built (VISION_WITH_TRAINING): edge builds leave it out.
if(VISION_WITH_TRAINING)
  find_package(Torch REQUIRED)
endif()
