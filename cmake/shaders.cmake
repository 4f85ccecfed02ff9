# Compiles shaders/*.comp with glslc at build time and embeds them (filled in with the
# Vulkan backend).
function(vkdetr_add_shaders target)
endfunction()
