# Every dependency comes from Debian packages; scripts/setup.sh installs them.
find_package(OpenMP REQUIRED)
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(Protobuf REQUIRED)

# oneDNN (Debian's libdnnl-dev ships no CMake config for all versions): find it by hand.
find_path(DNNL_INCLUDE_DIR dnnl.h REQUIRED)
find_library(DNNL_LIBRARY NAMES dnnl REQUIRED)
add_library(ember_dnnl INTERFACE)
target_include_directories(ember_dnnl SYSTEM INTERFACE ${DNNL_INCLUDE_DIR})
target_link_libraries(ember_dnnl INTERFACE ${DNNL_LIBRARY})

find_path(UTF8PROC_INCLUDE_DIR utf8proc.h REQUIRED)
find_library(UTF8PROC_LIBRARY NAMES utf8proc REQUIRED)
add_library(ember_utf8proc INTERFACE)
target_include_directories(ember_utf8proc SYSTEM INTERFACE ${UTF8PROC_INCLUDE_DIR})
target_link_libraries(ember_utf8proc INTERFACE ${UTF8PROC_LIBRARY})

# Oniguruma, the regex engine of the `tokenizers` library (ByteLevel, Split patterns).
find_path(ONIG_INCLUDE_DIR oniguruma.h REQUIRED)
find_library(ONIG_LIBRARY NAMES onig REQUIRED)
add_library(ember_onig INTERFACE)
target_include_directories(ember_onig SYSTEM INTERFACE ${ONIG_INCLUDE_DIR})
target_link_libraries(ember_onig INTERFACE ${ONIG_LIBRARY})

# ONNX protobuf messages, for importing initializers of ONNX-only checkpoints.
find_path(ONNX_INCLUDE_DIR onnx/onnx-ml.pb.h REQUIRED)
find_library(ONNX_PROTO_LIBRARY NAMES onnx_proto REQUIRED)
add_library(ember_onnx_proto INTERFACE)
target_include_directories(ember_onnx_proto SYSTEM INTERFACE ${ONNX_INCLUDE_DIR})
target_compile_definitions(ember_onnx_proto INTERFACE ONNX_ML=1 ONNX_NAMESPACE=onnx)
target_link_libraries(ember_onnx_proto INTERFACE ${ONNX_PROTO_LIBRARY} protobuf::libprotobuf)

if(EMBER_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(EMBER_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()

# minizip (zlib's contrib): the zip container of pytorch_model.bin; it reports where a stored
# member's bytes start, so weights are used in place in the mmap.
find_path(MINIZIP_INCLUDE_DIR unzip.h PATH_SUFFIXES minizip REQUIRED)
find_library(MINIZIP_LIBRARY NAMES minizip REQUIRED)
add_library(ember_minizip INTERFACE)
target_include_directories(ember_minizip SYSTEM INTERFACE ${MINIZIP_INCLUDE_DIR})
target_link_libraries(ember_minizip INTERFACE ${MINIZIP_LIBRARY})

# HDF5 (C API): TensorFlow/Keras tf_model.h5 checkpoints. Through pkg-config: CMake's FindHDF5
# needs the C language enabled.
find_package(PkgConfig REQUIRED)
pkg_check_modules(EMBER_HDF5 REQUIRED IMPORTED_TARGET hdf5)
add_library(ember_hdf5 INTERFACE)
target_link_libraries(ember_hdf5 INTERFACE PkgConfig::EMBER_HDF5)
