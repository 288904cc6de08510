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
