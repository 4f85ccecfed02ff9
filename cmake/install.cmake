# Installation (`cmake --install <build> [--prefix P]`): the shared and static libraries, both
# public headers, a CMake package and a pkg-config file. The shaders are embedded in the
# library, so nothing else is needed at run time.
#
#   <prefix>/<libdir>/libvkdetr.so.<version> (+ .so.<major>, .so), libvkdetr.a
#   <prefix>/<includedir>/vkdetr.h, vkdetr.hpp
#   <prefix>/<libdir>/cmake/vkdetr/  find_package(vkdetr [<version>] [COMPONENTS shared static]):
#       vkdetr::vkdetr         the shared library (its dependencies stay private to it)
#       vkdetr::vkdetr_static  the static library; its link dependencies (OpenBLAS, cJSON,
#                              Vulkan, libjpeg, pthread, libm) are found again when the
#                              package is loaded (pkg-config, FindVulkan, FindJPEG)
#   <prefix>/<libdir>/pkgconfig/vkdetr.pc  `pkg-config --cflags --libs vkdetr`; for the
#       static library `pkg-config --static --libs vkdetr` (Requires.private, Libs.private)
#
# Both package files are relocatable: the prefix is found from where they lie, so the tree
# may be installed with --prefix and moved. Included by the top-level CMakeLists.txt after the
# library targets are defined.
include(CMakePackageConfigHelpers)

set(VKDETR_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/vkdetr)

# The same names for a project that adds vkdetr with add_subdirectory or FetchContent.
add_library(vkdetr::vkdetr ALIAS vkdetr)
add_library(vkdetr::vkdetr_static ALIAS vkdetr_static)

install(TARGETS vkdetr EXPORT vkdetrTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS vkdetr_static EXPORT vkdetrStaticTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/vkdetr.h ${PROJECT_SOURCE_DIR}/include/vkdetr.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT vkdetrTargets NAMESPACE vkdetr:: DESTINATION ${VKDETR_CMAKE_DIR})
install(EXPORT vkdetrStaticTargets NAMESPACE vkdetr:: DESTINATION ${VKDETR_CMAKE_DIR})

# What the static library was built with, for vkdetrConfig.cmake and vkdetr.pc.
if(JPEG_FOUND)
  set(VKDETR_WITH_JPEG ON)
else()
  set(VKDETR_WITH_JPEG OFF)
endif()
set(VKDETR_WITH_VULKAN ${VKDETR_VULKAN})

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/vkdetrConfig.cmake.in
  ${PROJECT_BINARY_DIR}/vkdetrConfig.cmake INSTALL_DESTINATION ${VKDETR_CMAKE_DIR})
# 0.x: a minor version may change the API; from 1.0 on, SameMajorVersion.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/vkdetrConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/vkdetrConfig.cmake ${PROJECT_BINARY_DIR}/vkdetrConfigVersion.cmake
  DESTINATION ${VKDETR_CMAKE_DIR})

# pkg-config: dependencies with a .pc file go to Requires.private, the others to Libs.private.
set(VKDETR_PC_REQUIRES_PRIVATE "openblas libcjson")
set(VKDETR_PC_LIBS_PRIVATE "")
foreach(dep JPEG VULKAN)
  if(NOT VKDETR_WITH_${dep})
    continue()
  endif()
  string(TOLOWER ${dep} lib)
  set(module ${lib})
  if(dep STREQUAL "JPEG")
    set(module libjpeg)
  endif()
  pkg_check_modules(VKDETR_PC_${dep} QUIET ${module})
  if(VKDETR_PC_${dep}_FOUND)
    string(APPEND VKDETR_PC_REQUIRES_PRIVATE " ${module}")
  else()
    string(APPEND VKDETR_PC_LIBS_PRIVATE " -l${lib}")
  endif()
endforeach()
string(APPEND VKDETR_PC_LIBS_PRIVATE " -lm -pthread")
string(STRIP "${VKDETR_PC_LIBS_PRIVATE}" VKDETR_PC_LIBS_PRIVATE)
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(VKDETR_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(VKDETR_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(VKDETR_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  # <prefix>/<libdir>/pkgconfig back to <prefix>
  file(RELATIVE_PATH up "/vkdetr-root/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/vkdetr-root")
  string(REGEX REPLACE "/$" "" up "${up}")
  set(VKDETR_PC_PREFIX "\${pcfiledir}/${up}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/vkdetr.pc.in ${PROJECT_BINARY_DIR}/vkdetr.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/vkdetr.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
