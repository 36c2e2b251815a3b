# The CUDA build (BRASS_USE_CUDA=ON), included by CMakeLists.txt after the brass target exists.
# Adds the CUDA sources (listed in cuda_sources.txt) to libbrass: the generated single file
# amalgamation/brass_cuda.cu in amalgamated mode, src/cuda/*.cu in modular mode. Needs nvcc
# only: the result links the static CUDA runtime and loads on machines without a GPU or driver.
#
# With BRASS_CUDA_EMULATION=ON the same sources compile as host C++ against
# src/cuda/emulation.h instead (no nvcc, no CUDA runtime): "GPU" memory is host memory and
# kernels run on the calling thread, so the GPU tests can check the CUDA code's logic anywhere.

# The one ordered CUDA source list, shared with amalgamation/amalgamate.py.
# BRASS_CUDA_SOURCE_LIST (modular builds only) may name another list, e.g. a subset while
# working on some kernels.
set(BRASS_CUDA_SOURCE_LIST cuda_sources.txt CACHE STRING "The CUDA source list (modular builds)")
brass_read_sources(${BRASS_CUDA_SOURCE_LIST} BRASS_CUDA_SOURCES)
if(BRASS_AMALGAMATION)
  set(BRASS_CUDA_UNITS ${AMALG_DIR}/brass_cuda.cu)
  # Runs after the main amalgamation step (which writes brass_cuda.cu too), so the two never
  # write at once; this one also reruns when cuda_sources.txt changes.
  add_custom_command(
    OUTPUT ${AMALG_DIR}/brass_cuda.cu
    COMMAND Python::Interpreter ${CMAKE_CURRENT_SOURCE_DIR}/amalgamation/amalgamate.py -o ${AMALG_DIR} --cuda-only
    DEPENDS ${AMALG_DIR}/brass.cc ${CMAKE_CURRENT_SOURCE_DIR}/amalgamation/amalgamate.py
            ${CMAKE_CURRENT_SOURCE_DIR}/cuda_sources.txt ${BRASS_CUDA_SOURCES}
    COMMENT "Amalgamating the Brass CUDA sources"
    VERBATIM)
else()
  set(BRASS_CUDA_UNITS ${BRASS_CUDA_SOURCES})
endif()
target_compile_definitions(brass PRIVATE BRASS_USE_CUDA)

if(BRASS_CUDA_EMULATION)
  set_source_files_properties(${BRASS_CUDA_UNITS} PROPERTIES LANGUAGE CXX COMPILE_OPTIONS "-xc++")
  target_sources(brass PRIVATE ${BRASS_CUDA_UNITS})
  target_compile_definitions(brass PRIVATE BRASS_CUDA_EMULATION)
  return()
endif()

set(BRASS_CUDA_ARCHS "80-real;90-real;90-virtual" CACHE STRING
    "CUDA architectures (CMAKE_CUDA_ARCHITECTURES syntax): sm_80 and sm_90 code plus sm_90 PTX by default")

# nvcc is often not on PATH; look where the toolkit usually lives.
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
  find_program(BRASS_NVCC nvcc HINTS ENV CUDA_HOME ENV CUDA_PATH /usr/local/cuda PATH_SUFFIXES bin)
  if(BRASS_NVCC)
    set(CMAKE_CUDA_COMPILER ${BRASS_NVCC})
  endif()
endif()
include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  message(FATAL_ERROR "BRASS_USE_CUDA=ON needs nvcc: put it on PATH, or set CUDACXX or "
                      "CMAKE_CUDA_COMPILER (e.g. -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)")
endif()
# Set before enable_language so that CMake does not probe for a default architecture.
set(CMAKE_CUDA_ARCHITECTURES ${BRASS_CUDA_ARCHS})
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)

target_sources(brass PRIVATE ${BRASS_CUDA_UNITS})
set_target_properties(brass PROPERTIES
  CUDA_ARCHITECTURES "${BRASS_CUDA_ARCHS}"
  CUDA_STANDARD 17
  CUDA_STANDARD_REQUIRED ON
  CUDA_VISIBILITY_PRESET hidden
  CUDA_RUNTIME_LIBRARY Static)
target_link_libraries(brass PRIVATE CUDA::cudart_static)
